"""Test data built through the platform's models (fast password hashes, tokens without the HTTP budget)."""
from datetime import timedelta
from typing import Optional, Sequence

from passlib.hash import sha512_crypt

from mod_api import tokens
from mod_api.access import ALL_SCOPES
from mod_api.db import db
from mod_api.legacy import Role, User
from mod_api.models import ApiToken
from mod_api.timeutil import utcnow

PASSWORD = 'correct horse battery'
# The operation that revokes the token it is called with: generated callers give it a token of its own.
REVOKES_ITS_TOKEN = ('DELETE', '/auth/tokens/current')


def fast_hash(password: str = PASSWORD) -> str:
    """A real sha512_crypt hash with few rounds: verifies like the platform's, but quickly."""
    return sha512_crypt.using(rounds=5000).hash(password)


def make_user(role: Optional[str] = 'admin', email: Optional[str] = None, password: str = PASSWORD) -> User:
    """Add a platform user with the given role name (None: a NULL role) and a fast password hash."""
    email = email or f'{role or "norole"}-{tokens.mint_token().key_id}@example.org'
    user = User(email.split('@')[0], Role.from_string(role) if role else None, email, fast_hash(password))
    if role is None:
        user.role = None
    db.session.add(user)
    db.session.commit()
    return user


def make_token(user: User, scopes: Sequence[str] = ALL_SCOPES, name: Optional[str] = None,
               expires_in: timedelta = timedelta(days=30)) -> str:
    """Store an API token for ``user`` directly and return its value (no HTTP, no rate-limit budget)."""
    minted = tokens.mint_token()
    now = utcnow()
    db.session.add(ApiToken(key_id=minted.key_id, secret_hash=minted.secret_hash, user_id=user.id,
                            name=name or f'token-{minted.key_id}', scopes=' '.join(scopes), created_at=now,
                            expires_at=now + expires_in, created_ip='127.0.0.1'))
    db.session.commit()
    return minted.value


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {'Authorization': f'Bearer {token}'}


def register_probe(app, url_prefix: str = '/api/v1/probe'):
    """Mount a test-only blueprint of ``@operation`` routes on ``app`` (the real resources are not needed).

    ``GET  items/<int:item_id>``  scope runs:read, strict query schema (parent_id, limit, sha, name, tags)
    ``POST items``                scope runs:write, strict JSON body schema (name, count, tags, labels, parent_id)
    ``GET  boom``                 public, raises an unhandled exception
    ``GET  session``              public, modifies the host app's cookie session
    """
    from flask import Blueprint, jsonify, session
    from marshmallow import fields, validate

    from mod_api.operations import operation
    from mod_api.validation import FullMatch, StrictSchema, UniqueItems, integer_id

    class ProbeQuery(StrictSchema):
        parent_id = integer_id()
        limit = fields.Integer(validate=validate.Range(min=1, max=100))
        sha = fields.String(validate=FullMatch(r'^[a-f0-9]{40}$'))
        name = fields.String(validate=validate.Length(max=10))
        tags = fields.List(fields.String(validate=validate.Length(max=10)), validate=UniqueItems())

    class ProbeBody(StrictSchema):
        name = fields.String(required=True, validate=[validate.Length(max=10), FullMatch(r'^[a-z]+$')])
        count = fields.Integer(strict=True, validate=validate.Range(min=1, max=5))
        tags = fields.List(fields.String(), validate=[validate.Length(max=3), UniqueItems()])
        labels = fields.List(fields.Dict(), validate=UniqueItems())
        parent_id = integer_id(strict=True)

    blueprint = Blueprint('probe', __name__)

    @blueprint.route('/items/<int:item_id>', methods=['GET'])
    @operation('Probe: read an item', ('Probe',), scope='runs:read', query=ProbeQuery)
    def read_item(item_id: int, query: dict):
        return jsonify({'item_id': item_id, 'query': query})

    @blueprint.route('/items', methods=['POST'])
    @operation('Probe: write an item', ('Probe',), scope='runs:write', body=ProbeBody)
    def write_item(query: dict, body: dict):
        return jsonify(body), 201

    @blueprint.route('/boom', methods=['GET'])
    @operation('Probe: fail', ('Probe',), public=True)
    def boom(query: dict):
        raise RuntimeError('internal detail /srv/secret/path')

    @blueprint.route('/session', methods=['GET'])
    @operation('Probe: touch the session', ('Probe',), public=True)
    def touch_session(query: dict):
        session['visited'] = True
        return jsonify({})

    app.register_blueprint(blueprint, url_prefix=url_prefix)
    return app


def register_access_probe(app, url_prefix: str = '/api/v1/access-probe') -> str:
    """Mount test-only operations gated like the contract's run writes on ``app``; returns their base URL.

    ``POST write``                 scope runs:write, roles admin/contributor/tester; answers the caller's role
    ``GET  items/<int:item_id>``   scope runs:read
    """
    from flask import Blueprint, jsonify

    from mod_api.access import require_principal
    from mod_api.operations import operation

    blueprint = Blueprint('access_probe', __name__)

    @blueprint.route('/write', methods=['POST'])
    @operation('Access probe: role-gated write', ('Probe',), scope='runs:write',
               roles=('admin', 'contributor', 'tester'))
    def write(query: dict):
        return jsonify({'role': require_principal().role})

    @blueprint.route('/items/<int:item_id>', methods=['GET'])
    @operation('Access probe: read', ('Probe',), scope='runs:read')
    def read(item_id: int, query: dict):
        return jsonify({'item_id': item_id})

    app.register_blueprint(blueprint, url_prefix=url_prefix)
    return url_prefix


def assert_error(response, status: int, code: str) -> dict:
    """Assert ``response`` is the contract's ErrorResponse with this status and code; return its details."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == 'application/json'
    body = response.get_json()
    assert set(body) == {'code', 'message', 'details'}
    assert body['code'] == code
    assert isinstance(body['message'], str) and body['message']
    assert isinstance(body['details'], dict)
    return body['details']
