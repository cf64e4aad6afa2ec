"""Fake third-party programs for tests and benchmarks."""
