"""Who is calling, and what they may do: bearer-token authentication, scopes and roles.

Only ``Authorization: Bearer <API token>`` authenticates. The CI worker's per-run token, browser session cookies
and HTTP Basic credentials never do. The caller is resolved at most once per request and cached in the request's
environ (not on ``g``, which outlives the request when the host app pushed an app context of its own). The
user's role is read from the platform's ``user`` row at request time, so a demoted user loses write access at
once (operations that need more than a scope declare ``roles``).

The scopes a token may hold depend on the platform role of its user (``SCOPES_BY_ROLE``; a user without a role
counts as ``user``); requesting any other scope at token creation is refused with 403:

* admin: runs:read, runs:write, results:read, baselines:write, system:read
* contributor: runs:read, runs:write, results:read, baselines:write, system:read
* tester: runs:read, runs:write, results:read, system:read
* user: runs:read, results:read, system:read
"""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import request
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from mod_api import tokens
from mod_api.db import db
from mod_api.errors import ApiError
from mod_api.legacy import Role, User
from mod_api.models import ApiToken
from mod_api.timeutil import utcnow

ALL_SCOPES = ('runs:read', 'runs:write', 'results:read', 'baselines:write', 'system:read')
DEFAULT_SCOPES = ('runs:read', 'results:read')
READ_SCOPES = ('runs:read', 'results:read', 'system:read')
DEFAULT_ROLE = 'user'

SCOPES_BY_ROLE = {
    'admin': ALL_SCOPES,
    'contributor': ALL_SCOPES,
    'tester': ('runs:read', 'runs:write', 'results:read', 'system:read'),
    DEFAULT_ROLE: READ_SCOPES,
}
LAST_USED_RESOLUTION = timedelta(minutes=1)
AUTH_ENVIRON_KEY = 'mod_api.auth'
UNKNOWN_KEY_HASH = tokens.hash_token('ccx_unknown-key')  # compared against when no token has the key id
# The token of a key id and its user's role, as plain columns (no ORM objects to build on every request), in one
# statement built once (SQLAlchemy memoises its cache key, so it is compiled once per process too).
CALLER_QUERY = (
    select(ApiToken.id, ApiToken.name, ApiToken.secret_hash, ApiToken.scopes, ApiToken.expires_at,
           ApiToken.last_used_at, ApiToken.revoked_at, User.id.label('user_id'), User.email, User.role)
    .join(User, User.id == ApiToken.user_id).where(ApiToken.key_id == bindparam('key_id'))
)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token used and the user behind it (role as of this request)."""

    token_id: int
    token_name: str
    user_id: int
    email: str | None
    role: str
    scopes: tuple[str, ...]


def role_name(role: Role | None) -> str:
    """The stored value of a user's role (``User.role``); users without a role are plain users."""
    return role.value if role is not None else DEFAULT_ROLE


def allowed_scopes(role: str) -> tuple[str, ...]:
    """The scopes a user with ``role`` may put on a token (a role unknown to the API gets a plain user's)."""
    return SCOPES_BY_ROLE.get(role, SCOPES_BY_ROLE[DEFAULT_ROLE])


def describe_scopes_by_role() -> str:
    """``SCOPES_BY_ROLE`` as one sentence, for the OpenAPI document."""
    return '; '.join(f'{role}: {", ".join(scopes)}' for role, scopes in SCOPES_BY_ROLE.items())


def current_principal() -> Principal | None:
    """The authenticated caller of this request, or None."""
    return _resolve()[0]


def require_principal() -> Principal:
    """The caller, or a 401 that says why the credentials were refused."""
    principal, failure = _resolve()
    if principal is None:
        raise ApiError(401, 'unauthorized', 'Bearer token is missing, expired, or invalid.',
                       {'reason': failure}, {'WWW-Authenticate': 'Bearer'})
    return principal


def require_scope(principal: Principal, scope: str | None) -> None:
    """403 unless the token holds ``scope``."""
    if scope is not None and scope not in principal.scopes:
        raise ApiError(403, 'forbidden', 'Token does not have the required scope for this operation.',
                       {'required_scope': scope, 'token_scopes': list(principal.scopes)})


def require_role(principal: Principal, roles: Sequence[str]) -> None:
    """403 unless the caller's current platform role is one of ``roles``."""
    if roles and principal.role not in roles:
        raise ApiError(403, 'forbidden', 'Your platform role does not allow this operation.',
                       {'required_roles': list(roles), 'user_role': principal.role})


def _resolve() -> tuple[Principal | None, str | None]:
    """The caller and why there is none, authenticated once per request.

    A database error is kept too and raised again to later callers, so an unreachable database costs the request
    one wait for it (the rate limiter asks first and falls back to the caller's address), not one per caller.
    """
    if AUTH_ENVIRON_KEY not in request.environ:
        try:
            request.environ[AUTH_ENVIRON_KEY] = _authenticate()
        except SQLAlchemyError as error:
            request.environ[AUTH_ENVIRON_KEY] = error
    resolved = request.environ[AUTH_ENVIRON_KEY]
    if isinstance(resolved, SQLAlchemyError):
        raise resolved
    return resolved


def _authenticate() -> tuple[Principal | None, str | None]:
    """Resolve the bearer token: one indexed lookup by key id, then a constant-time hash comparison."""
    header = request.headers.get('Authorization')
    if not header:
        return None, 'missing'
    scheme, _, value = header.partition(' ')
    if scheme.lower() != 'bearer':
        return None, 'unsupported_scheme'
    value = value.strip(' ')  # ASCII spaces only: no Unicode look-alikes around the token
    key_id = tokens.parse_key_id(value)
    if key_id is None:
        return None, 'malformed'
    token = db.session.execute(CALLER_QUERY, {'key_id': key_id}).first()
    # An unknown key id costs the same hash comparison as a wrong secret: response times do not tell them apart.
    if not tokens.matches(value, token.secret_hash if token is not None else UNKNOWN_KEY_HASH) or token is None:
        return None, 'invalid'
    now = utcnow()
    if token.revoked_at is not None:
        return None, 'revoked'
    if token.expires_at <= now:
        return None, 'expired'
    principal = Principal(token.id, token.name, token.user_id, token.email, role_name(token.role),
                          tuple(token.scopes.split()))
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        _touch(token.id, now)
    return principal, None


def _touch(token_id: int, now: datetime) -> None:
    """Record the token's use, at most once a minute even under concurrent requests (one conditional UPDATE)."""
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id,
               or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
    )
    db.session.commit()
