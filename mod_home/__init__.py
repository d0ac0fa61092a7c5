"""Key/value platform data and CCExtractor releases (legacy-compatible models only)."""
