"""Webhooks from the programs: verify, read, store once; processing happens in a job."""
