"""``/auth/tokens``: create an API token from platform credentials, and revoke the token in use."""
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NoReturn

from flask import Blueprint, Response, current_app, jsonify
from marshmallow import fields, validate
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mod_api import audit, tokens
from mod_api.access import (
    ALL_SCOPES,
    DEFAULT_SCOPES,
    allowed_scopes,
    describe_scopes_by_role,
    require_principal,
    role_name,
)
from mod_api.db import db
from mod_api.errors import ApiError
from mod_api.http import client_ip
from mod_api.legacy import User
from mod_api.models import ApiToken
from mod_api.operations import operation
from mod_api.schemas import ResponseSchema
from mod_api.timeutil import isoformat_z, utcnow
from mod_api.validation import FullMatch, StrictSchema, UniqueItems

blueprint = Blueprint('auth', __name__, url_prefix='/auth')

CREATE_TOKEN_DESCRIPTION = (
    'Rate-limited to 5 requests per 15 minutes per IP. Tokens are opaque and stored server-side (only a hash); '
    'the value is shown once. Scopes are additive; request only what you need (default: '
    f'{", ".join(DEFAULT_SCOPES)}). Tokens expire after expires_in_days (default 30, max 90). The scopes a '
    f'token may hold depend on its user\'s platform role ({describe_scopes_by_role()}; no role counts as user); '
    'asking for more answers 403 with the allowed scopes. token_name is unique among your live tokens (409).'
)


class TokenCreateRequestSchema(StrictSchema):
    """The contract's TokenCreateRequest."""

    email = fields.Email(required=True, validate=validate.Length(max=255))
    password = fields.String(required=True, validate=validate.Length(min=8, max=128),
                             metadata={'format': 'password'})
    token_name = fields.String(required=True, validate=[validate.Length(max=50), FullMatch(r'^[a-zA-Z0-9_-]+$')])
    expires_in_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=90), load_default=None,
                                     allow_none=False, metadata={'default': 30})
    scopes = fields.List(fields.String(validate=validate.OneOf(ALL_SCOPES)),
                         validate=[validate.Length(max=8), UniqueItems()],
                         load_default=lambda: list(DEFAULT_SCOPES),
                         metadata={'default': list(DEFAULT_SCOPES), 'uniqueItems': True})


class AuthTokenSchema(ResponseSchema):
    """The contract's AuthToken: the token value is shown here once and never again."""

    token = fields.String(required=True, validate=validate.Length(max=512))
    token_type = fields.String(required=True, validate=validate.OneOf(['Bearer']))
    token_name = fields.String(required=True, validate=validate.Length(max=50))
    scopes = fields.List(fields.String(validate=validate.OneOf(ALL_SCOPES)), required=True,
                         validate=validate.Length(max=8), metadata={'uniqueItems': True})
    expires_at = fields.DateTime(required=True)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash made like the platform's own (same cost), of a random password nobody knows."""
    return User.generate_hash(tokens.mint_token().value)


def _verdict(user: User, password: str) -> bool | None:
    """The legacy model's verdict on ``password``, or None when the stored hash or the password is unusable."""
    try:
        return bool(user.is_password_valid(password))
    except (ValueError, TypeError):
        return None


def _password_matches(user: User | None, password: str) -> bool:
    """Check a password the platform's way; every failure (unknown email, unusable hash) costs one verification."""
    verdict = _verdict(user, password) if user is not None else None
    if verdict is None:
        _verdict(User('unknown', password=_dummy_hash()), password)
    return bool(verdict)


def _refuse(error: ApiError, outcome: str, user_id: int | None, body: dict[str, Any], **details: Any) -> NoReturn:
    """Audit a failed creation attempt (committed on its own) and answer ``error``."""
    audit.record('token.create', outcome, user_id=user_id, token_name=body['token_name'], **details)
    db.session.commit()
    raise error


def _free_dead_name(user_id: int, name: str, now: datetime) -> None:
    """Release ``name`` from the user's expired token, so only a live token can hold it.

    The expired token is found by a plain read and updated by its primary key: an UPDATE searching the
    (user_id, live_name) index would lock its gaps on MariaDB, and concurrent creations of the user's tokens
    would then deadlock on their INSERTs (503s).
    """
    dead = db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == user_id, ApiToken.live_name == name,
                                                        ApiToken.expires_at <= now)).all()
    if dead:
        db.session.execute(update(ApiToken).where(ApiToken.id.in_(dead)).values(live_name=None))


@blueprint.route('/tokens', methods=['POST'])
@operation('Create an API token', ('Auth',), public=True, body=TokenCreateRequestSchema, no_store=True,
           responses={201: ('Token created. Store the token value; it will not be shown again.', AuthTokenSchema),
                      401: 'Invalid credentials', 403: 'Requested scopes exceed what the role allows',
                      409: 'token_name already used by a live token'},
           description=CREATE_TOKEN_DESCRIPTION)
def create_token(query: dict[str, Any], body: dict[str, Any]) -> Any:
    """Verify platform credentials and mint a scoped token (shown once; only its hash is stored)."""
    user = db.session.execute(select(User).where(User.email == body['email'])).scalars().first()
    matched = _password_matches(user, body['password'])
    if user is None or not matched:
        _refuse(ApiError(401, 'invalid_credentials', 'Email or password is incorrect.', {}),
                'invalid_credentials', user.id if user else None, body, email=body['email'])
    user_id, role = user.id, role_name(user.role)
    allowed = allowed_scopes(role)
    refused = [scope for scope in body['scopes'] if scope not in allowed]
    if refused:
        _refuse(ApiError(403, 'scope_not_allowed', f'Role {role} may not hold the requested scopes.',
                         {'refused_scopes': refused, 'allowed_scopes': list(allowed), 'user_role': role}),
                'scope_not_allowed', user_id, body, refused_scopes=refused)
    now = utcnow().replace(microsecond=0)
    expires_at = now + timedelta(days=body['expires_in_days'] or current_app.config['API_TOKEN_DEFAULT_DAYS'])
    minted = tokens.mint_token()
    token = ApiToken(key_id=minted.key_id, secret_hash=minted.secret_hash, user_id=user_id, name=body['token_name'],
                     scopes=' '.join(body['scopes']), created_at=now, expires_at=expires_at, created_ip=client_ip())
    _free_dead_name(user_id, body['token_name'], now)
    db.session.add(token)
    try:
        db.session.flush()
    except IntegrityError:  # the unique (user_id, live_name): a live token of this user has the name
        db.session.rollback()
        _refuse(ApiError(409, 'conflict', 'You already have a live token with this token_name.',
                         {'field': 'token_name', 'value': body['token_name']}), 'name_conflict', user_id, body)
    audit.record('token.create', 'created', user_id=user_id, token_name=body['token_name'],
                 target_type='api_token', target_id=token.id, scopes=body['scopes'])
    db.session.commit()
    return jsonify({'token': minted.value, 'token_type': 'Bearer', 'token_name': body['token_name'],
                    'scopes': body['scopes'], 'expires_at': isoformat_z(expires_at)}), 201


@blueprint.route('/tokens/current', methods=['DELETE'])
@operation('Revoke the current API token', ('Auth',), no_store=True, responses={204: 'Token revoked'},
           description='Immediately invalidates the token used in the Authorization header. Subsequent requests '
                       'with the same token will receive 401.')
def revoke_current_token(query: dict[str, Any]) -> Any:
    """Revoke the token this request was authenticated with; later requests with it get 401."""
    principal = require_principal()
    db.session.execute(update(ApiToken).where(ApiToken.id == principal.token_id)
                       .values(revoked_at=utcnow(), live_name=None))
    audit.record('token.revoke', 'revoked', principal, target_type='api_token', target_id=principal.token_id)
    db.session.commit()
    return Response(status=204, mimetype='application/json')
