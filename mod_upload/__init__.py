"""Sample uploads, the upload queue and FTP accounts (legacy-compatible models only)."""
