"""Customized runs: regression tests in scope of a run and who started it (legacy-compatible models only)."""
