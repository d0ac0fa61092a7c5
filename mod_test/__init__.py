"""CI runs, their progress log and their results (legacy-compatible models only)."""
