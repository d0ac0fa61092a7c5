"""Rate limits with flask-limiter: one budget per request, chosen from who is calling and how.

* ``POST /auth/tokens``: the auth budget per client IP, counting every attempt (good, bad or malformed).
* a valid token: its read budget (GET/HEAD/OPTIONS) or its write budget (everything else), per token.
* no valid token: the anonymous budget per client IP, so garbage tokens cannot mint fresh buckets and
  anonymous traffic never touches anyone's token-creation budget.

The storage is a URI (``memory://`` embedded, ``redis://`` in production so limits hold across workers and
hosts). When Redis is unreachable the API stays up on per-process in-memory limits (flask-limiter's in-memory
fallback) and retries Redis with back-off; the health endpoint reports the storage as degraded meanwhile.
"""
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from sqlalchemy.exc import SQLAlchemyError

from mod_api.access import current_principal
from mod_api.errors import ApiError, register_translator
from mod_api.http import client_ip, is_api_request

READ_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Budget:
    """The bucket a request is charged to: its name, storage key and limit string."""

    name: str
    key: str
    limit: str


def current_budget() -> Budget:
    """The budget of the current request, decided once and cached on ``g``."""
    if 'budget' not in g:
        g.budget = _choose_budget()
    return g.budget


def _choose_budget() -> Budget:
    config = current_app.config
    if request.method == 'POST' and request.path == current_app.extensions['mod_api'].prefix + '/auth/tokens':
        return Budget('auth', f'auth:{client_ip()}', config['API_AUTH_LIMIT'])
    try:
        principal = current_principal()
    except SQLAlchemyError:
        principal = None  # the database is down: the handler answers 503; charge the caller's address
    if principal is None:
        return Budget('anonymous', f'anonymous:{client_ip()}', config['API_ANONYMOUS_LIMIT'])
    if request.method in READ_METHODS:
        return Budget('read', f'token:{principal.token_id}:read', config['API_READ_LIMIT'])
    return Budget('write', f'token:{principal.token_id}:write', config['API_WRITE_LIMIT'])


def _request_identifier() -> str:
    """Unrouted API requests (404/405) still get an identity, so they are limited and get headers."""
    if request.endpoint:
        return request.endpoint
    return 'mod_api.unrouted' if is_api_request() else ''


def create_limiter(app: Flask) -> Limiter:
    """A Limiter for ``app`` charging every API request to its budget (and nothing outside the API)."""
    uri = app.config['API_RATELIMIT_STORAGE_URI']
    options: dict[str, Any] = {}
    if uri.startswith(('redis://', 'rediss://', 'redis+')):
        options = {'socket_connect_timeout': REDIS_TIMEOUT_SECONDS, 'socket_timeout': REDIS_TIMEOUT_SECONDS}
    limiter = Limiter(
        key_func=lambda: current_budget().key,
        application_limits=[lambda: current_budget().limit],
        application_limits_exempt_when=lambda: not is_api_request(),
        request_identifier=_request_identifier,
        storage_uri=uri,
        storage_options=options,
        strategy='fixed-window',
        headers_enabled=True,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        key_prefix='mod_api',
    )
    limiter.init_app(app)
    return limiter


def storage_is_healthy(limiter: Limiter) -> bool:
    """True when the rate-limit storage answers (False while the in-memory fallback is in use)."""
    try:
        return bool(limiter.storage.check())
    except Exception:  # noqa: BLE001 - any storage failure means "not healthy"
        return False


def rate_limited_error(error: RateLimitExceeded) -> ApiError:
    """The contract's 429 body for a breached budget, with ``Retry-After`` in seconds."""
    item = error.limit.limit
    current = current_app.extensions['mod_api'].limiter.current_limit
    reset_at = current.reset_at if current is not None else int(time.time()) + item.get_expiry()
    retry_after = max(1, int(reset_at - time.time()))
    return ApiError(429, 'rate_limited', f'Rate limit exceeded. Retry after {retry_after} seconds.',
                    {'retry_after': retry_after, 'limit': item.amount, 'window': f'{item.get_expiry()}s',
                     'budget': current_budget().name},
                    {'Retry-After': str(retry_after)})


register_translator(RateLimitExceeded, rate_limited_error)
