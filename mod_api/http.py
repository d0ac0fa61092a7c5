"""Per-request plumbing of the API: which requests are ours, request ids, client IP and response headers.

Hook order matters and is fixed by :func:`install_request_hooks`: :func:`begin_api_request` runs before any
other ``before_request`` function (also those the host app registered earlier), so every later failure has a
request id; the rate limiter is slotted in right after it (see :mod:`mod_api.ratelimit`).
"""
import re
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.routing import RequestRedirect

from mod_api.errors import ApiError

REQUEST_ID_PATTERN = re.compile(r'[A-Za-z0-9._:-]{1,64}')
PEER_ADDRESS_KEY = 'mod_api.peer_address'
NO_STORE_ENVIRON_KEY = 'mod_api.no_store'
CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, X-Request-Id, If-None-Match, Idempotency-Key'
CORS_EXPOSED_HEADERS = ('X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, '
                         'ETag, Location')
# On every API response (OWASP REST cheat sheet): nothing it returns may be framed or run as active content.
SECURITY_HEADERS = {'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY',
                    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'"}


def is_api_request() -> bool:
    """True when the current request's path is under the API prefix (routed or not)."""
    return is_api_path(request.path, current_app.extensions['mod_api'].prefix)


def is_api_path(path: str, prefix: str) -> bool:
    """True when ``path`` is ``prefix`` itself or below it."""
    return path == prefix or path.startswith(prefix + '/')


def client_ip() -> str:
    """The client address: the socket peer, or the configured number of trusted X-Forwarded-For hops.

    Werkzeug's ProxyFix semantics: with ``hops`` trusted proxies, the client is the ``hops``-th address from
    the right of X-Forwarded-For (entries further left were written by the client and prove nothing); with
    fewer entries than that, the socket peer. A ProxyFix of the host app never changes this.
    """
    proxy_fix_original = request.environ.get('werkzeug.proxy_fix.orig', {})
    peer = proxy_fix_original.get('REMOTE_ADDR') or request.environ.get(PEER_ADDRESS_KEY) or request.remote_addr
    hops = current_app.config['API_TRUSTED_PROXY_HOPS']
    forwarded = request.headers.get('X-Forwarded-For', '').split(',')
    if hops and len(forwarded) >= hops and forwarded[-hops].strip():
        return forwarded[-hops].strip()
    return peer or 'unknown'


class ApiWsgiMiddleware:
    """Outermost WSGI wrapper: the socket peer, and no cookies on API responses.

    It remembers the socket peer before any ProxyFix of the host app rewrites it, and drops ``Set-Cookie``
    from API responses (Flask saves the host's session after every ``after_request`` function has run).
    """

    def __init__(self, wsgi_app: Any, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Serve one WSGI request through the host app."""
        environ.setdefault(PEER_ADDRESS_KEY, environ.get('REMOTE_ADDR'))
        if not is_api_path(environ.get('PATH_INFO', ''), self.app.extensions['mod_api'].prefix):
            return self.wsgi_app(environ, start_response)

        def start_without_cookies(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [(name, value) for name, value in headers
                                           if name.lower() != 'set-cookie'], *args)

        return self.wsgi_app(environ, start_without_cookies)


def begin_api_request() -> None:
    """First thing for every API request (routed or not): the request id and the body size cap."""
    if not is_api_request():
        return
    incoming = request.headers.get('X-Request-Id', '')
    g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
    request.max_content_length = current_app.config['API_MAX_BODY_BYTES']


def refuse_redirects() -> None:
    """An API URL that Werkzeug would redirect (merged slashes, ...) is answered 404, never 308."""
    if is_api_request() and isinstance(request.routing_exception, RequestRedirect):
        raise ApiError(404, 'not_found', 'No API resource at this URL.', {})


def finish_api_response(response: Response) -> Response:
    """After every API response: request id, JSON-only hygiene and security headers."""
    if not is_api_request():
        return response
    response.headers['X-Request-Id'] = g.get('request_id') or uuid.uuid4().hex
    response.headers.update(SECURITY_HEADERS)
    if response.status_code in (204, 304) or request.method == 'OPTIONS':
        response.mimetype = 'application/json'
    if request.environ.get(NO_STORE_ENVIRON_KEY):
        response.headers['Cache-Control'] = 'no-store'
    if response.status_code not in (429, 503):
        response.headers.remove('Retry-After')
    _apply_cors(response)
    return response


def _apply_cors(response: Response) -> None:
    """CORS headers only for an origin listed in ``API_CORS_ORIGINS`` (preflights answered from ``Allow``)."""
    origin = request.headers.get('Origin')
    if not origin or origin not in current_app.config['API_CORS_ORIGINS']:
        return
    response.headers['Access-Control-Allow-Origin'] = origin
    response.headers['Access-Control-Expose-Headers'] = CORS_EXPOSED_HEADERS
    response.vary.add('Origin')
    if request.method == 'OPTIONS' and 'Access-Control-Request-Method' in request.headers:
        response.headers['Access-Control-Allow-Methods'] = response.headers.get('Allow', '')
        response.headers['Access-Control-Allow-Headers'] = CORS_ALLOWED_HEADERS
        response.headers['Access-Control-Max-Age'] = '600'


def install_request_hooks(app: Flask) -> None:
    """Wire the API's request hooks (``begin_api_request`` first of all) and its WSGI wrapper into the host."""
    app.wsgi_app = ApiWsgiMiddleware(app.wsgi_app, app)  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, begin_api_request)
    app.before_request(refuse_redirects)
    app.after_request(finish_api_response)
