"""``/auth/tokens``: create an API token from platform credentials, and revoke the token in use."""
from datetime import timedelta
from typing import Any, Optional

from flask import Blueprint, Response, current_app, jsonify
from marshmallow import fields, validate
from sqlalchemy import select

from mod_api import audit, tokens
from mod_api.access import ALL_SCOPES, DEFAULT_SCOPES, SCOPES_BY_ROLE, require_principal, role_name
from mod_api.db import db
from mod_api.errors import ApiError
from mod_api.http import client_ip
from mod_api.legacy import User
from mod_api.models import ApiToken
from mod_api.operations import operation
from mod_api.timeutil import isoformat_z, utcnow
from mod_api.validation import FullMatch, StrictSchema, UniqueItems

blueprint = Blueprint('auth', __name__, url_prefix='/auth')


class TokenCreateRequestSchema(StrictSchema):
    """The contract's TokenCreateRequest."""

    email = fields.Email(required=True, validate=validate.Length(max=255))
    password = fields.String(required=True, validate=validate.Length(min=8, max=128),
                             metadata={'format': 'password'})
    token_name = fields.String(required=True, validate=[validate.Length(max=50), FullMatch(r'^[a-zA-Z0-9_-]+$')])
    expires_in_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=90), load_default=None,
                                     metadata={'default': 30})
    scopes = fields.List(fields.String(validate=validate.OneOf(ALL_SCOPES)),
                         validate=[validate.Length(max=8), UniqueItems()],
                         load_default=lambda: list(DEFAULT_SCOPES),
                         metadata={'default': list(DEFAULT_SCOPES), 'uniqueItems': True})


class AuthTokenSchema(StrictSchema):
    """The contract's AuthToken: the token value is shown here once and never again."""

    token = fields.String(required=True, validate=validate.Length(max=512))
    token_type = fields.String(required=True, validate=validate.OneOf(['Bearer']))
    token_name = fields.String(required=True, validate=validate.Length(max=50))
    scopes = fields.List(fields.String(validate=validate.OneOf(ALL_SCOPES)), required=True,
                         validate=validate.Length(max=8), metadata={'uniqueItems': True})
    expires_at = fields.DateTime(required=True)


class _DummyPassword:
    """A hash as costly as the platform's own, verified when the email is unknown (same answer, same time)."""

    value: Optional[str] = None

    @classmethod
    def get(cls) -> str:
        if cls.value is None:
            cls.value = User.generate_hash(tokens.mint_token().value)
        return cls.value


def _password_matches(user: Optional[User], password: str) -> bool:
    """Check a password through the legacy user model; unknown users and unusable hashes never match."""
    candidate = user if user is not None else User('unknown', password=_DummyPassword.get())
    try:
        matched = bool(candidate.is_password_valid(password))
    except (ValueError, TypeError):
        return False
    return matched and user is not None


@blueprint.route('/tokens', methods=['POST'])
@operation('Create an API token', ('Auth',), public=True, body=TokenCreateRequestSchema, no_store=True,
           responses={201: ('Token created. Store the token value; it will not be shown again.', AuthTokenSchema),
                      401: 'Invalid credentials', 403: 'Requested scopes exceed what the role allows',
                      409: 'token_name already used by a live token'},
           description='Rate-limited to 5 requests per 15 minutes per IP. Tokens expire after expires_in_days '
                       '(default 30, max 90).')
def create_token(query: dict[str, Any], body: dict[str, Any]) -> Any:
    """Verify platform credentials and mint a scoped token (shown once; only its hash is stored)."""
    user = db.session.execute(select(User).where(User.email == body['email'])).scalars().first()
    if not _password_matches(user, body['password']):
        audit.record('token.create', 'invalid_credentials', user_id=user.id if user else None)
        db.session.commit()
        raise ApiError(401, 'invalid_credentials', 'Email or password is incorrect.', {})
    assert user is not None
    role = role_name(user)
    allowed = SCOPES_BY_ROLE.get(role, SCOPES_BY_ROLE['user'])
    refused = [scope for scope in body['scopes'] if scope not in allowed]
    if refused:
        raise ApiError(403, 'scope_not_allowed', f'Role {role} may not hold the requested scopes.',
                       {'refused_scopes': refused, 'allowed_scopes': list(allowed), 'user_role': role})
    now = utcnow()
    clash = db.session.execute(select(ApiToken.id).where(
        ApiToken.user_id == user.id, ApiToken.name == body['token_name'],
        ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)).first()
    if clash is not None:
        raise ApiError(409, 'conflict', 'You already have a live token with this token_name.',
                       {'field': 'token_name', 'value': body['token_name']})
    days = body['expires_in_days'] or current_app.config['API_TOKEN_DEFAULT_DAYS']
    minted = tokens.mint_token()
    token = ApiToken(key_id=minted.key_id, secret_hash=minted.secret_hash, user_id=user.id,
                     name=body['token_name'], scopes=' '.join(body['scopes']), created_at=now,
                     expires_at=now + timedelta(days=days), created_ip=client_ip())
    db.session.add(token)
    db.session.flush()
    audit.record('token.create', 'created', user_id=user.id, target_type='api_token', target_id=token.id,
                 token_name=token.name, scopes=token.scope_list)
    db.session.commit()
    payload = {'token': minted.value, 'token_type': 'Bearer', 'token_name': token.name,
               'scopes': token.scope_list, 'expires_at': isoformat_z(token.expires_at)}
    return jsonify(payload), 201


@blueprint.route('/tokens/current', methods=['DELETE'])
@operation('Revoke the current API token', ('Auth',), responses={204: 'Token revoked'},
           description='Immediately invalidates the token used in the Authorization header.')
def revoke_current_token(query: dict[str, Any]) -> Any:
    """Revoke the token this request was authenticated with; later requests with it get 401."""
    principal = require_principal()
    token = db.session.get(ApiToken, principal.token_id)
    token.revoked_at = utcnow()
    audit.record('token.revoke', 'revoked', principal, target_type='api_token', target_id=token.id)
    db.session.commit()
    return Response(status=204, mimetype='application/json')
