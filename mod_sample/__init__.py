"""Samples, their extra files, tags, linked issues and upload filters (legacy-compatible models only)."""
