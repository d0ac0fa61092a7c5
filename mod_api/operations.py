"""Declaring an API operation next to its route, and enforcing the declaration before the handler runs.

``@operation(...)`` records the contract's ``x-required-scope`` / ``x-required-roles``, the marshmallow schemas
of the query string, the request headers it reads and the body, and the documented responses. The same record
drives enforcement (401, 403, 400 before any handler code), the served OpenAPI document, and the test that walks
every route.
"""
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import request

from mod_api import access
from mod_api.errors import validation_error
from mod_api.http import NO_STORE_ENVIRON_KEY
from mod_api.validation import MAX_DB_INTEGER, parse_body, parse_headers, parse_query

ResponseSpec = str | tuple[str, Any]


@dataclass(frozen=True)
class Operation:
    """What an operation requires and accepts, as declared beside its route."""

    summary: str
    tags: tuple[str, ...]
    scope: str | None = None
    roles: tuple[str, ...] = ()
    public: bool = False
    query: Any = None
    headers: Any = None
    body: Any = None
    body_required: bool = True
    responses: dict[int, ResponseSpec] = field(default_factory=dict)
    description: str = ''
    no_store: bool = False


def operation(summary: str, tags: tuple[str, ...], **declared: Any) -> Callable[[Callable], Callable]:
    """Declare and enforce an operation: authentication, scope, roles, path ids, query and body."""
    spec = Operation(summary=summary, tags=tags, **declared)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def enforced(**path_args: Any) -> Any:
            if spec.no_store:
                request.environ[NO_STORE_ENVIRON_KEY] = True
            if not spec.public:
                principal = access.require_principal()
                access.require_scope(principal, spec.scope)
                access.require_role(principal, spec.roles)
            _check_path_ids(path_args)
            path_args['query'] = parse_query(spec.query() if spec.query else None)
            if spec.headers is not None:
                path_args['headers'] = parse_headers(spec.headers())
            if spec.body is not None:
                path_args['body'] = parse_body(spec.body(), spec.body_required)
            return view(**path_args)

        enforced.api_operation = spec  # type: ignore[attr-defined]
        return enforced

    return decorate


def declared_operation(view: Callable) -> Operation | None:
    """The Operation declared on a view function, or None when it has none."""
    return getattr(view, 'api_operation', None)


def _check_path_ids(path_args: dict[str, Any]) -> None:
    """Integer path ids must be within 1..the database's integer range (400 naming the parameter)."""
    bad = {name: f'Must be an integer from 1 to {MAX_DB_INTEGER}.' for name, value in path_args.items()
           if isinstance(value, int) and not 1 <= value <= MAX_DB_INTEGER}
    if bad:
        raise validation_error(bad)
