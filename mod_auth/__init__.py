"""Platform users and their roles (legacy-compatible models only)."""
