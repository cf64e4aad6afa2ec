"""Runs (the Sync process log) and attempts (the Error log, REFRESH LOGS): their shapes and pages."""
