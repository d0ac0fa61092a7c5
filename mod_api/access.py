"""Who is calling, and what they may do: bearer-token authentication, scopes and roles.

The caller is resolved at most once per request and cached on ``g``. The user's role is read from the platform's
``user`` row at request time, so a demoted user loses write access at once. Only ``Authorization: Bearer`` with
an API token is accepted: the CI worker's per-run token, session cookies and HTTP Basic never are.
"""
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional, Sequence

from flask import g, request
from sqlalchemy import or_, select, update

from mod_api import tokens
from mod_api.db import db
from mod_api.errors import ApiError
from mod_api.legacy import User
from mod_api.models import ApiToken
from mod_api.timeutil import utcnow

ALL_SCOPES = ('runs:read', 'runs:write', 'results:read', 'baselines:write', 'system:read')
DEFAULT_SCOPES = ('runs:read', 'results:read')
READ_SCOPES = ('runs:read', 'results:read', 'system:read')

# The scopes a token may hold, by the platform role of its user (a NULL role counts as 'user').
SCOPES_BY_ROLE = {
    'admin': ALL_SCOPES,
    'contributor': ALL_SCOPES,
    'tester': ('runs:read', 'runs:write', 'results:read', 'system:read'),
    'user': READ_SCOPES,
}
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token used and the user behind it (role as of this request)."""

    token_id: int
    token_name: str
    user_id: int
    email: Optional[str]
    role: str
    scopes: tuple[str, ...]


def role_name(user: User) -> str:
    """The stored value of a user's role; users without a role are plain users."""
    return user.role.value if user.role is not None else 'user'


def current_principal() -> Optional[Principal]:
    """The authenticated caller of this request, or None (the reason is kept in ``g.auth_failure``)."""
    if 'principal' not in g:
        g.principal, g.auth_failure = _authenticate()
    return g.principal


def require_principal() -> Principal:
    """The caller, or a 401 that says why the credentials were refused."""
    principal = current_principal()
    if principal is None:
        raise ApiError(401, 'unauthorized', 'Bearer token is missing, expired, or invalid.',
                       {'reason': g.auth_failure}, {'WWW-Authenticate': 'Bearer'})
    return principal


def require_scope(principal: Principal, scope: Optional[str]) -> None:
    """403 unless the token holds ``scope``."""
    if scope is not None and scope not in principal.scopes:
        raise ApiError(403, 'forbidden', 'Token does not have the required scope for this operation.',
                       {'required_scope': scope, 'token_scopes': list(principal.scopes)})


def require_role(principal: Principal, roles: Sequence[str]) -> None:
    """403 unless the caller's current platform role is one of ``roles``."""
    if roles and principal.role not in roles:
        raise ApiError(403, 'forbidden', 'Your platform role does not allow this operation.',
                       {'required_roles': list(roles), 'user_role': principal.role})


def _authenticate() -> tuple[Optional[Principal], Optional[str]]:
    header = request.headers.get('Authorization')
    if not header:
        return None, 'missing'
    scheme, _, value = header.partition(' ')
    if scheme.lower() != 'bearer':
        return None, 'unsupported_scheme'
    value = value.strip()
    key_id = tokens.parse_key_id(value)
    if key_id is None:
        return None, 'malformed'
    row = db.session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.key_id == key_id)
    ).first()
    if row is None or not tokens.matches(value, row.ApiToken.secret_hash):
        return None, 'invalid'
    token, user = row.ApiToken, row.User
    now = utcnow()
    if token.revoked_at is not None:
        return None, 'revoked'
    if token.expires_at <= now:
        return None, 'expired'
    _touch(token, now)
    return Principal(token.id, token.name, user.id, user.email, role_name(user), tuple(token.scope_list)), None


def _touch(token: ApiToken, now) -> None:
    """Record the token's use, at most once a minute (one conditional UPDATE)."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token.id,
               or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
    )
    db.session.commit()
