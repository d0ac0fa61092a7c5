"""CI VM bookkeeping, maintenance mode and blocked users (legacy-compatible models only)."""
