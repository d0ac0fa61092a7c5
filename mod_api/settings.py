"""Every configuration key mod_api reads: defaults, parsing, validation and environment overrides.

Keys come from the host app's config (the legacy ``config.py``); an environment variable with the same name
overrides each one, so a checkout can be pointed at another database or sample repository without editing
files. A missing or malformed required key stops start-up with a one-line message naming the key.
"""
import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import limits
import limits.storage
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

REQUIRED = object()
DB_READ_TIMEOUT_SECONDS = 10  # default of API_DB_READ_TIMEOUT_SECONDS (also for callers of init_db without settings)


class ConfigError(Exception):
    """A configuration key is missing or malformed; the message is one line naming the key."""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError('must be a string')
    return value


def _non_empty_text(value: Any) -> str:
    if not _text(value).strip():
        raise ValueError('must not be empty')
    return value


def _secret(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode('latin-1')
    if len(_text(value)) < 16:
        raise ValueError('must be at least 16 characters')
    return value


def _integer(low: int, high: int) -> Callable[[Any], int]:
    """A parser of whole numbers from ``low`` to ``high``: an int, or a string of digits (environment)."""
    message = f'must be an integer from {low} to {high}'

    def parse(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r'\s*-?[0-9]{1,12}\s*', value):
            value = int(value)
        if type(value) is not int or not low <= value <= high:
            raise ValueError(message)
        return value
    return parse


def _rate_limit(value: Any) -> str:
    try:
        items = limits.parse_many(_text(value))
    except (TypeError, ValueError):
        items = []
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError('must be one rate limit of at least 1 request, such as "120/minute"')
    return value


def _string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(',') if item.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError('must be a comma-separated string or a list of strings')


def _database_uri(value: Any) -> str:
    try:
        make_url(_non_empty_text(value)).get_dialect()
    except (ArgumentError, NoSuchModuleError):
        raise ValueError('must be an SQLAlchemy URL of an installed dialect') from None
    return value


def _storage_uri(value: Any) -> str:
    scheme = _text(value).partition('://')[0]
    if '://' not in value or scheme not in limits.storage.SCHEMES or scheme.startswith('async+'):
        raise ValueError('must be a flask-limiter storage URI such as memory:// or redis://host:6379/0')
    return value


@dataclass(frozen=True)
class Setting:
    """One configuration key: its parser, its default (or REQUIRED) and what it is for."""

    key: str
    parse: Callable[[Any], Any]
    default: Any
    description: str
    secret: bool = False  # never echo the value in an error (passwords, keys)


SETTINGS: tuple[Setting, ...] = (
    # Legacy platform keys (same names and meaning as the platform's config.py).
    Setting('DATABASE_URI', _database_uri, REQUIRED, 'SQLAlchemy URI of the platform database', True),
    Setting('SAMPLE_REPOSITORY', _non_empty_text, REQUIRED, 'root folder of TestFiles/, TestResults/, LogFiles/'),
    Setting('INSTALL_FOLDER', _text, '', 'platform checkout folder; masked in error stacks'),
    Setting('SERVICE_ACCOUNT_FILE', _text, '', 'GCS service-account JSON, relative to INSTALL_FOLDER'),
    Setting('GCS_BUCKET_NAME', _text, '', 'GCS bucket mirroring SAMPLE_REPOSITORY; empty disables GCS'),
    Setting('GCS_SIGNED_URL_EXPIRY_LIMIT', _integer(1, 10080), 720, 'platform signed-URL lifetime (minutes)'),
    Setting('GITHUB_OWNER', _non_empty_text, 'CCExtractor', 'owner of the main repository'),
    Setting('GITHUB_REPOSITORY', _non_empty_text, 'ccextractor', 'name of the main repository'),
    Setting('LINUX_INSTANCE_FAMILY_NAME', _non_empty_text, 'ubuntu-minimal-2404-lts-amd64',
            'image family of Linux CI VMs (runner_label of the linux environment)'),
    Setting('WINDOWS_INSTANCE_FAMILY_NAME', _non_empty_text, 'windows-2019',
            'image family of Windows CI VMs (runner_label of the windows environment)'),
    # The API's own keys.
    Setting('API_SECRET_KEY', _secret, REQUIRED, 'signs cursors and download URLs (falls back to SECRET_KEY)',
            True),
    Setting('API_RATELIMIT_STORAGE_URI', _storage_uri, 'memory://', 'flask-limiter storage (redis://... in prod)',
            True),
    Setting('API_RATELIMIT_KEY_PREFIX', _non_empty_text, 'mod_api', 'prefix of rate-limit keys in the storage'),
    Setting('API_READ_LIMIT', _rate_limit, '120/minute', 'read budget per token'),
    Setting('API_WRITE_LIMIT', _rate_limit, '20/minute', 'write budget per token'),
    Setting('API_AUTH_LIMIT', _rate_limit, '5/15 minutes', 'POST /auth/tokens budget per client IP'),
    Setting('API_ANONYMOUS_LIMIT', _rate_limit, '60/minute', 'budget per client IP without a valid token'),
    Setting('API_TOKEN_DEFAULT_DAYS', _integer(1, 90), 30, 'token lifetime when expires_in_days is omitted'),
    Setting('API_TRUSTED_PROXY_HOPS', _integer(0, 10), 0, 'X-Forwarded-For hops to trust (0 = none)'),
    Setting('API_MAX_BODY_BYTES', _integer(1024, 10 * 1024 * 1024), 64 * 1024, 'largest accepted request body'),
    Setting('API_CORS_ORIGINS', _string_list, (), 'origins allowed by CORS; empty sends no CORS headers'),
    Setting('API_GCS_ENDPOINT', _text, '', 'GCS API endpoint override (emulator); empty = Google'),
    Setting('API_DB_READ_TIMEOUT_SECONDS', _integer(1, 20), DB_READ_TIMEOUT_SECONDS,
            'longest wait for one MySQL read or write; with the 5 s connect timeout it stays under gunicorn\'s 30 s'),
    Setting('API_GCS_TIMEOUT_SECONDS', _integer(1, 60), 2, 'timeout of one GCS call'),
    Setting('API_SIGNED_URL_MINUTES', _integer(1, 60), 5, 'lifetime of download URLs the API hands out'),
    Setting('API_BRANCH_ACTIVE_DAYS', _integer(1, 3650), 30,
            'a branch is active while it has a run created in this many last days'),
)


def apply_settings(config: MutableMapping[str, Any], environ: Mapping[str, str] = os.environ) -> None:
    """Resolve every key of SETTINGS into ``config``: environment first, then config, then the default."""
    if not config.get('API_SECRET_KEY') and config.get('SECRET_KEY'):
        config['API_SECRET_KEY'] = config['SECRET_KEY']
    for setting in SETTINGS:
        if setting.key in environ:
            raw = environ[setting.key]
        elif config.get(setting.key) is not None:
            raw = config[setting.key]
        elif setting.default is REQUIRED:
            raise ConfigError(f'config key {setting.key} is missing ({setting.description})')
        else:
            config[setting.key] = setting.default
            continue
        try:
            config[setting.key] = setting.parse(raw)
        except (TypeError, ValueError) as error:
            shown = '' if setting.secret else f', got {raw!r}'
            raise ConfigError(f'config key {setting.key} {error}{shown}') from None
