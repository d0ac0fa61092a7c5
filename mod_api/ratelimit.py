"""Rate limits with flask-limiter: one budget per request, chosen from who is calling and how.

* ``POST /auth/tokens``: the auth budget per client IP, counting every attempt (good, bad or malformed).
* a valid token: its read budget (GET/HEAD/OPTIONS) or its write budget (everything else), per token.
* no valid token: the anonymous budget per client IP, so garbage tokens cannot mint fresh buckets and
  anonymous traffic never touches anyone's token-creation budget.

The storage is a URI (``memory://`` embedded, ``redis://`` in production so limits hold across workers and
hosts). When Redis is unreachable the API stays up on per-process in-memory limits (flask-limiter's in-memory
fallback) and retries Redis with back-off; the health endpoint reports the storage as degraded meanwhile.
In detail (flask-limiter's behaviour, pinned by ``test_ratelimit_redis.py``):

* a Redis call that fails (connection refused, or no answer within ``REDIS_TIMEOUT_SECONDS``) switches the
  limiter to an in-memory storage of its own: every budget then holds per process, starting from zero, and
  the response still carries the ``X-RateLimit-*`` headers; nothing is answered 500;
* while in that mode, a request pings Redis again once 1, 2, 4, ... 32 seconds have passed since the last
  ping (then the back-off starts over at 1); the first ping answered switches back to the shared Redis
  budgets (counters that lived only in memory are forgotten);
* ``GET /system/health`` reports ``rate_limit_storage`` degraded, and the overall status degraded, whenever
  Redis does not answer or the limiter is still on its in-memory fallback.

The limiter's ``before_request`` runs right after :func:`mod_api.http.begin_api_request`, ahead of the host
app's own hooks, so a request is charged (and gets the headers) even when a later hook fails.

Conditional reads (GET/HEAD/OPTIONS with ``If-None-Match``) are the exception: a 304 is not charged, and whether
the answer is 304 is only known after the handler ran. So the budget is declared as two application limits with
the same limit string, key function and (shared) scope ``global`` — flask-limiter 4.1.1 builds the storage key
from exactly those (``RuntimeLimit.scope_for`` ignores the endpoint for shared limits; ``key_for(prefix, key,
scope)``), so both charge one bucket:

* the plain limit, exempt for conditional reads: tested and charged up front, atomically (``hit``);
* the conditional limit, exempt for every other request: tested up front (an exhausted budget still answers 429)
  and charged after the response unless it is a 304 (``deduct_when``), before the rate-limit headers are written.
"""
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import ApplicationLimit, HeaderNames, Limiter, RateLimitExceeded
from sqlalchemy.exc import SQLAlchemyError

from mod_api.access import current_principal
from mod_api.errors import ApiError, register_translator
from mod_api.http import begin_api_request, client_ip, is_api_request

BUDGET_ENVIRON_KEY = 'mod_api.budget'
READ_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})
CONDITIONAL_HEADER = 'If-None-Match'
REDIS_TIMEOUT_SECONDS = 0.5
# flask-limiter computes a Retry-After for every response (the end of the window, even on a 503); it is written
# under this name and dropped. The 429 sets the real header itself.
LIMITER_RETRY_AFTER = 'X-Mod-Api-Limiter-Retry-After'


@dataclass(frozen=True)
class Budget:
    """The bucket a request is charged to: its name, storage key and limit string."""

    name: str
    key: str
    limit: str


def current_budget() -> Budget:
    """The budget of the current request, decided once and cached in the request's environ."""
    if BUDGET_ENVIRON_KEY not in request.environ:
        request.environ[BUDGET_ENVIRON_KEY] = _choose_budget()
    return request.environ[BUDGET_ENVIRON_KEY]


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


def _charged_after_response() -> bool:
    """A conditional read: charged once its response is known, and not at all when that is a 304."""
    return request.method in READ_METHODS and CONDITIONAL_HEADER in request.headers


def _not_modified(response: Response) -> bool:
    """``deduct_when`` of the conditional limit: charge everything but a 304."""
    return response.status_code != 304


def _budget_limits() -> list[str | Callable[[], str] | ApplicationLimit]:
    """The budget as two limits sharing one bucket: plain requests charged up front, conditional reads after."""
    def limit() -> str:
        return current_budget().limit

    return [ApplicationLimit(limit_provider=limit, exempt_when=_charged_after_response),
            ApplicationLimit(limit_provider=limit, exempt_when=lambda: not _charged_after_response(),
                             deduct_when=_not_modified)]


def _request_identifier() -> str:
    """API requests, routed or not (404/405), are limited; anything else is exempt (an empty identity)."""
    if not is_api_request():
        return ''
    return request.endpoint or 'mod_api.unrouted'


def create_limiter(app: Flask) -> Limiter:
    """A Limiter for ``app`` charging every API request to its budget (and nothing outside the API)."""
    uri = app.config['API_RATELIMIT_STORAGE_URI']
    options: dict[str, Any] = {}
    if uri.startswith(('redis://', 'rediss://', 'redis+')):
        options = {'socket_connect_timeout': REDIS_TIMEOUT_SECONDS, 'socket_timeout': REDIS_TIMEOUT_SECONDS}
    limiter = Limiter(
        key_func=lambda: current_budget().key,
        application_limits=_budget_limits(),
        request_identifier=_request_identifier,
        storage_uri=uri,
        storage_options=options,
        strategy='fixed-window',
        headers_enabled=True,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        key_prefix=app.config['API_RATELIMIT_KEY_PREFIX'],
        header_name_mapping={HeaderNames.RETRY_AFTER: LIMITER_RETRY_AFTER},
    )
    app.after_request(_drop_limiter_retry_after)  # registered first, so it runs after the limiter's own hook
    limiter.init_app(app)
    _run_right_after_request_id(app, limiter)
    return limiter


def _drop_limiter_retry_after(response: Response) -> Response:
    """Remove flask-limiter's Retry-After: a response keeps only the one its error set (429 or 503)."""
    response.headers.remove(LIMITER_RETRY_AFTER)
    return response


def _run_right_after_request_id(app: Flask, limiter: Limiter) -> None:
    """Move the limiter's check right after ``begin_api_request``, ahead of the host app's own hooks."""
    hooks = app.before_request_funcs[None]
    check = next(hook for hook in hooks if getattr(hook, '__self__', None) is limiter)
    hooks.remove(check)
    hooks.insert(hooks.index(begin_api_request) + 1, check)


def storage_is_healthy(limiter: Limiter) -> bool:
    """True when the configured storage answers and is in use (False while the in-memory fallback is)."""
    if limiter.limiter.storage is not limiter.storage:
        return False
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
