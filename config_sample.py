"""Configuration template: copy to config.py (the demo command does this for you) and adjust.

Every key the project reads is listed here. An environment variable with the same name overrides each key.
Paths default to the embedded set-up: an SQLite file and a sample repository under ``instance/``.
"""
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_INSTANCE = os.path.join(_HERE, 'instance')

# --- Legacy platform keys (same names and meaning as the sample platform's config.py) ---
# SQLAlchemy URI of the platform database (production: mysql+mysqldb://user:password@host:3306/platform).
DATABASE_URI = 'sqlite:///' + os.path.join(_INSTANCE, 'platform.db')
# Root folder of TestFiles/, TestResults/, LogFiles/ (in production the gcsfuse mount of the bucket).
SAMPLE_REPOSITORY = os.path.join(_INSTANCE, 'repository')
# The platform checkout; masked out of error stacks, and the base of SERVICE_ACCOUNT_FILE.
INSTALL_FOLDER = _HERE
# GCS service-account JSON file, relative to INSTALL_FOLDER (empty: default Google credentials).
SERVICE_ACCOUNT_FILE = ''
# GCS bucket that mirrors SAMPLE_REPOSITORY; empty disables the GCS backend.
GCS_BUCKET_NAME = ''
# Lifetime in minutes of the platform's own signed download URLs (the API caps its own, see below).
GCS_SIGNED_URL_EXPIRY_LIMIT = 720
# Owner and name of the main CCExtractor repository on GitHub (main-repository detection).
GITHUB_OWNER = 'CCExtractor'
GITHUB_REPOSITORY = 'ccextractor'
# Image families of the CI VMs, shown as each environment's runner_label.
LINUX_INSTANCE_FAMILY_NAME = 'ubuntu-minimal-2404-lts-amd64'
WINDOWS_INSTANCE_FAMILY_NAME = 'windows-2019'

# --- The API's own keys ---
# Secret (16+ characters) signing cursors and download URLs; falls back to SECRET_KEY when empty.
API_SECRET_KEY = ''
# flask-limiter storage: memory:// (one process) or redis://127.0.0.1:6379 (shared by all workers and hosts).
API_RATELIMIT_STORAGE_URI = 'memory://'
# Prefix of the rate-limit keys in that storage (distinct per deployment sharing one Redis).
API_RATELIMIT_KEY_PREFIX = 'mod_api'
# Read budget per token (GET), write budget per token (POST/DELETE), token creation per client IP.
API_READ_LIMIT = '120/minute'
API_WRITE_LIMIT = '20/minute'
API_AUTH_LIMIT = '5/15 minutes'
# Budget per client IP for requests without a valid token.
API_ANONYMOUS_LIMIT = '60/minute'
# Token lifetime in days when a client does not ask for one (1-90).
API_TOKEN_DEFAULT_DAYS = 30
# Number of reverse proxies whose X-Forwarded-For is trusted for the client IP (0: trust none).
API_TRUSTED_PROXY_HOPS = 0
# Largest request body accepted, in bytes (larger: 413).
API_MAX_BODY_BYTES = 65536
# Origins allowed to call the API from a browser (comma-separated); empty: no CORS headers at all.
API_CORS_ORIGINS = ''
# GCS API endpoint override, e.g. http://127.0.0.1:9023 for gcp-storage-emulator; empty: Google.
API_GCS_ENDPOINT = ''
# Longest wait in seconds for one MySQL read or write (1-20); a hung database is answered 503 after at most this
# plus the 5 s connect timeout, before gunicorn's 30 s worker timeout.
API_DB_READ_TIMEOUT_SECONDS = 10
# Timeout in seconds of one GCS call made by the API.
API_GCS_TIMEOUT_SECONDS = 2
# Lifetime in minutes of the download URLs the API hands out.
API_SIGNED_URL_MINUTES = 5
# A branch (GET /branches) is active while one of its runs was created within this many days (1-3650).
API_BRANCH_ACTIVE_DAYS = 30
