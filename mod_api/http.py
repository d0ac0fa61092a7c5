"""Per-request plumbing of the API: which requests are ours, request ids, client IP and response headers."""
import re
import uuid
from typing import Any, Iterable

from flask import Flask, Response, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from mod_api.errors import ApiError

REQUEST_ID_PATTERN = re.compile(r'[A-Za-z0-9._:-]{1,64}')
PEER_ADDRESS_KEY = 'mod_api.peer_address'
NO_STORE_ENDPOINTS_KEY = 'no_store'


def is_api_request() -> bool:
    """True when the current request's path is under the API prefix (routed or not)."""
    prefix = current_app.extensions['mod_api'].prefix
    return request.path == prefix or request.path.startswith(prefix + '/')


def client_ip() -> str:
    """The client address: the socket peer, or the configured number of trusted X-Forwarded-For hops."""
    peer = request.environ.get(PEER_ADDRESS_KEY, request.remote_addr) or 'unknown'
    hops = current_app.config['API_TRUSTED_PROXY_HOPS']
    if not hops:
        return str(peer)
    resolved: dict[str, Any] = {}

    def capture(environ: dict[str, Any], _start_response: Any) -> Iterable[bytes]:
        resolved['address'] = environ.get('REMOTE_ADDR')
        return []

    environ = dict(request.environ, REMOTE_ADDR=peer)
    ProxyFix(capture, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)(environ, lambda *args: None)
    return str(resolved.get('address') or peer)


class PeerAddressMiddleware:
    """Outermost WSGI wrapper remembering the socket peer before any ProxyFix of the host app rewrites it."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ.setdefault(PEER_ADDRESS_KEY, environ.get('REMOTE_ADDR'))
        return self.wsgi_app(environ, start_response)


def begin_api_request() -> None:
    """Before every API request (routed or not): request id, body size cap, no slash-merging redirects."""
    if not is_api_request():
        return
    incoming = request.headers.get('X-Request-Id', '')
    g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
    request.max_content_length = current_app.config['API_MAX_BODY_BYTES']
    if isinstance(request.routing_exception, RequestRedirect):
        raise ApiError(404, 'not_found', 'No API resource at this URL.', {})


def finish_api_response(response: Response) -> Response:
    """After every API response: request id, JSON-only hygiene and security headers."""
    if not is_api_request():
        return response
    response.headers['X-Request-Id'] = g.get('request_id') or uuid.uuid4().hex
    response.headers['X-Content-Type-Options'] = 'nosniff'
    if response.status_code in (204, 304) or request.method == 'OPTIONS':
        response.mimetype = 'application/json'
    if g.get(NO_STORE_ENDPOINTS_KEY):
        response.headers['Cache-Control'] = 'no-store'
    if response.status_code not in (429, 503):
        response.headers.remove('Retry-After')
    response.headers.remove('Set-Cookie')
    _apply_cors(response)
    return response


def _apply_cors(response: Response) -> None:
    origins = current_app.config['API_CORS_ORIGINS']
    origin = request.headers.get('Origin')
    if origin and origin in origins:
        response.headers['Access-Control-Allow-Origin'] = origin
        response.headers['Vary'] = 'Origin'


def install_request_hooks(app: Flask) -> None:
    """Wire the API's request hooks and the peer-address middleware into the host app."""
    app.wsgi_app = PeerAddressMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(begin_api_request)
    app.after_request(finish_api_response)
