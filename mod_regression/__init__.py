"""Regression tests, their categories and expected outputs (legacy-compatible models only)."""
