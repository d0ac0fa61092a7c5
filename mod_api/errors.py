"""The contract's ErrorResponse (``{code, message, details}``) for every error under the API prefix.

Handlers are chained in front of the host app's own: a request under the API prefix always gets JSON (even a
routing 404/405, a 413 raised by Werkzeug, or an exception raised outside mod_api's routes); any other request
gets the host app's handler that Flask would have picked without mod_api (or Flask's default). A 5xx body
names the request id, and an unexpected exception is logged with it.
"""
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, default_exceptions

from mod_api.db import mysql_error_code

log = logging.getLogger('mod_api')

MAX_ERROR_FIELDS = 20  # fields named by one validation_error
MAX_ERROR_TEXT = 500  # characters of a field name or message in it
HTTP_ERROR_CODES = {
    400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed',
    406: 'not_acceptable', 409: 'conflict', 411: 'length_required', 413: 'payload_too_large',
    414: 'uri_too_long', 415: 'unsupported_media_type', 422: 'unprocessable', 429: 'rate_limited',
    431: 'headers_too_large', 500: 'internal_error', 501: 'not_implemented', 503: 'service_unavailable',
}


TRANSLATORS: dict[type, Callable[[Any], 'ApiError']] = {}


class ApiError(Exception):
    """An error the API answers on purpose, with the contract's ErrorResponse body."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def not_found(resource: str, identifier: Any) -> ApiError:
    """404 naming the resource kind and the id that does not exist."""
    label = resource.replace('_', ' ').capitalize()
    return ApiError(404, 'not_found', f'{label} {identifier} not found.', {'resource': resource, 'id': identifier})


def validation_error(fields: dict[str, Any], message: str = 'Request failed schema validation.') -> ApiError:
    """400 ``validation_error`` whose ``details.fields`` maps each offending field to what is wrong with it.

    The answer never grows with a hostile request: at most :data:`MAX_ERROR_FIELDS` fields are named (the first
    ones, names and messages cut at :data:`MAX_ERROR_TEXT` characters) and ``details.omitted_fields`` counts the rest.
    """
    shown = {_cut(str(name)): _cut(text) if isinstance(text, str) else text
             for name, text in list(fields.items())[:MAX_ERROR_FIELDS]}
    details: dict[str, Any] = {'fields': shown}
    if len(fields) > MAX_ERROR_FIELDS:
        details['omitted_fields'] = len(fields) - MAX_ERROR_FIELDS
    return ApiError(400, 'validation_error', message, details)


def _cut(text: str) -> str:
    """``text``, or its first :data:`MAX_ERROR_TEXT` characters and an ellipsis."""
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + '…'


def error_response(error: ApiError) -> Response:
    """Render an ApiError as JSON with its status and headers; a 5xx names the request id in ``details``."""
    details = dict(error.details)
    if error.status >= 500:
        details.setdefault('request_id', g.get('request_id'))
    response = jsonify({'code': error.code, 'message': error.message, 'details': details})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def from_http_exception(error: HTTPException) -> ApiError:
    """Translate a Werkzeug/Flask HTTP exception (routing 404/405, 413, ...) to an ApiError."""
    status = error.code or 500
    code = HTTP_ERROR_CODES.get(status, 'http_error')
    headers: dict[str, str] = {}
    details: dict[str, Any] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        allowed = sorted(error.valid_methods)
        headers['Allow'] = ', '.join(allowed)
        details['allowed_methods'] = allowed
    message = {
        404: 'No API resource at this URL.',
        405: 'Method not allowed for this URL.',
        413: 'Request body is too large.',
    }.get(status, (error.description or error.name).split('\n')[0])
    return ApiError(status, code, message, details, headers)


def register_translator(exception_class: type, translate: Callable[[Any], ApiError]) -> None:
    """Let another module turn its own exception type into an ApiError (e.g. the rate limiter's 429)."""
    TRANSLATORS[exception_class] = translate


def from_exception(error: BaseException) -> ApiError:
    """Translate any exception raised while serving an API request; unknown ones become a logged 500."""
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        error = error.original_exception  # Flask's wrapper of an exception no handler took
    if isinstance(error, ApiError):
        return error
    for exception_class, translate in TRANSLATORS.items():
        if isinstance(error, exception_class):
            return translate(error)
    if isinstance(error, HTTPException):
        return from_http_exception(error)
    request_id = g.get('request_id')
    if isinstance(error, (OperationalError, PoolTimeoutError)) or (
            isinstance(error, DBAPIError) and error.connection_invalidated):
        log.error('database unavailable (request %s): %s (MySQL error %s)', request_id, type(error).__name__,
                  mysql_error_code(error))
        return ApiError(503, 'service_unavailable', 'The database is unavailable; retry later.',
                        {'dependency': 'database'}, {'Retry-After': '5'})
    log.exception('unhandled error (request %s)', request_id)
    return ApiError(500, 'internal_error', 'Internal server error.')


def install_error_handlers(app: Flask, is_api_request: Callable[[], bool]) -> None:
    """Chain JSON handlers for API requests in front of the host app's handlers, per status code."""
    for status, exception_class in default_exceptions.items():
        _chain(app, status, exception_class, is_api_request)
    _chain(app, None, Exception, is_api_request)


def _chain(app: Flask, status: int | None, exception_class: type, is_api_request: Callable[[], bool]) -> None:
    def handle(error: Exception) -> Any:
        if is_api_request():
            _rollback()
            return error_response(from_exception(error))
        host_handler = _host_handler(app, error)
        if host_handler is not None:
            return host_handler(error)
        if isinstance(error, HTTPException):
            return error
        raise error

    handle.host_handler = app.error_handler_spec.get(None, {}).get(status, {}).get(exception_class)  # type: ignore
    app.register_error_handler(status or exception_class, handle)


def _host_handler(app: Flask, error: Exception) -> Callable[[Exception], Any] | None:
    """The app-level handler Flask would pick for ``error`` if mod_api had registered none (or None)."""
    spec = app.error_handler_spec.get(None, {})
    code = error.code if isinstance(error, HTTPException) else None
    for key in ((code, None) if code is not None else (None,)):
        for exception_class in type(error).__mro__:
            handler = spec.get(key, {}).get(exception_class)
            handler = getattr(handler, 'host_handler', handler)  # one of ours stands for what it replaced
            if handler is not None:
                return handler
    return None


def _rollback() -> None:
    """Leave nothing half-done when a request fails."""
    from mod_api.db import db
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the database may be the thing that failed
        log.warning('rollback failed (request %s)', g.get('request_id'))
