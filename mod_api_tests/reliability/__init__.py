"""Reliability suite (issue #9): load, concurrent writes and injected faults."""
