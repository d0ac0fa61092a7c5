"""``POST /auth/tokens`` and ``DELETE /auth/tokens/current`` through HTTP on the real app, as the contract says."""
import hashlib
import logging
import time
from datetime import datetime, timedelta
from functools import partial

import pytest
from passlib.hash import sha256_crypt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mod_api import access, tokens
from mod_api.db import db
from mod_api.legacy import Base, Role, User
from mod_api.models import ApiToken, AuditLogEntry
from mod_api.timeutil import utcnow
from mod_api_tests.factories import PASSWORD, bearer, fast_hash, make_token, make_user

TOKENS_URL = '/api/v1/auth/tokens'
CURRENT_URL = '/api/v1/auth/tokens/current'
CLIENT_IP = '203.0.113.9'
INVALID_CREDENTIALS = {'code': 'invalid_credentials', 'message': 'Email or password is incorrect.', 'details': {}}


@pytest.fixture()
def app(make_app):
    """The default app, with a token-creation budget large enough for a test's many attempts."""
    application = make_app(API_AUTH_LIMIT='1000/minute')
    with application.app_context():
        yield application


def create(client, email, request_id=None, **fields):
    """POST /auth/tokens from CLIENT_IP with the factory password and token_name 'agent' unless overridden."""
    body = {'email': email, 'password': PASSWORD, 'token_name': 'agent', **fields}
    headers = {'X-Request-Id': request_id} if request_id else {}
    return client.post(TOKENS_URL, json=body, headers=headers, environ_base={'REMOTE_ADDR': CLIENT_IP})


def parse_time(text):
    """A naive UTC datetime from the API's ISO 8601 ``...Z``."""
    assert text.endswith('Z')
    return datetime.fromisoformat(text[:-1])


def secret_part(token):
    """The part of a token value that is secret (after ``ccx_<key id>_``)."""
    return token.split('_', 2)[2]


def fragments(secret, size=8):
    """Every substring of ``secret`` of ``size`` characters."""
    return {secret[start:start + size] for start in range(len(secret) - size + 1)}


def stored_text():
    """Every value of every row of every table, as text."""
    from mod_api import models  # noqa: F401  (mod_api's tables)
    tables = list(Base.metadata.sorted_tables) + list(db.metadata.sorted_tables)
    return '\n'.join(repr(tuple(row)) for table in tables for row in db.session.execute(table.select()))


def test_defaults_and_the_token_format(client):
    user = make_user('user')
    response = create(client, user.email)
    assert response.status_code == 201
    assert response.headers['Cache-Control'] == 'no-store'
    body = response.get_json()
    assert set(body) == {'token', 'token_type', 'token_name', 'scopes', 'expires_at'}
    assert body['token_type'] == 'Bearer'
    assert body['token_name'] == 'agent'
    assert body['scopes'] == ['runs:read', 'results:read']
    assert abs(parse_time(body['expires_at']) - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    token = body['token']
    assert token.startswith('ccx_') and tokens.TOKEN_PATTERN.fullmatch(token)
    assert len(secret_part(token)) == 43  # base64url of 32 random bytes: 256 bits
    assert create(client, user.email, token_name='other').get_json()['token'] != token
    assert client.delete(CURRENT_URL, headers=bearer(token)).status_code == 204


@pytest.mark.parametrize('days', [1, 90])
def test_expiry_can_be_chosen_up_to_90_days(client, days):
    response = create(client, make_user().email, expires_in_days=days)
    assert response.status_code == 201
    expected = utcnow() + timedelta(days=days)
    assert abs(parse_time(response.get_json()['expires_at']) - expected) < timedelta(minutes=1)
    stored = db.session.execute(select(ApiToken.expires_at)).scalar_one()
    assert abs(stored - expected) < timedelta(minutes=1)


@pytest.mark.parametrize('days', [0, 91, -1, '30', 30.5, True, None])
def test_expiry_outside_1_to_90_days_is_400(client, days):
    response = create(client, make_user().email, expires_in_days=days)
    assert response.status_code == 400
    body = response.get_json()
    assert body['code'] == 'validation_error'
    assert set(body['details']['fields']) == {'expires_in_days'}
    assert response.headers['Cache-Control'] == 'no-store'


@pytest.mark.parametrize('role, scopes, status', [
    ('user', ['runs:read', 'results:read', 'system:read'], 201),
    ('user', ['runs:read', 'runs:write'], 403),
    (None, ['baselines:write'], 403),
    ('tester', ['runs:write', 'system:read'], 201),
    ('tester', ['baselines:write'], 403),
    ('contributor', ['baselines:write', 'runs:write'], 201),
    ('admin', list(access.ALL_SCOPES), 201),
])
def test_requested_scopes_must_be_within_the_role(client, role, scopes, status):
    response = create(client, make_user(role).email, scopes=scopes)
    assert response.status_code == status
    body = response.get_json()
    if status == 201:
        assert body['scopes'] == scopes
        return
    allowed = access.SCOPES_BY_ROLE[role or 'user']
    assert body['code'] == 'scope_not_allowed'
    assert body['details'] == {'allowed_scopes': list(allowed), 'user_role': role or 'user',
                               'refused_scopes': [scope for scope in scopes if scope not in allowed]}
    assert db.session.execute(select(ApiToken)).first() is None


def test_unknown_scopes_and_duplicates_are_400(client):
    user = make_user()
    for scopes in (['runs:delete'], ['runs:read', 'runs:read'], ['runs:read'] * 9, 'runs:read'):
        response = create(client, user.email, scopes=scopes)
        assert response.status_code == 400
        assert all(field.startswith('scopes') for field in response.get_json()['details']['fields'])


def test_a_live_token_name_clashes_and_is_free_again_after_revocation(client):
    user = make_user()
    first = create(client, user.email).get_json()['token']
    clash = create(client, user.email)
    assert clash.status_code == 409
    assert clash.get_json() == {'code': 'conflict', 'message': 'You already have a live token with this token_name.',
                                'details': {'field': 'token_name', 'value': 'agent'}}
    assert create(client, make_user().email).status_code == 201  # another user's name
    assert create(client, user.email, token_name='Agent').status_code == 201  # names are case-sensitive
    assert client.delete(CURRENT_URL, headers=bearer(first)).status_code == 204
    assert create(client, user.email).status_code == 201


def test_an_expired_token_frees_its_name(client):
    user = make_user()
    make_token(user, name='agent', expires_in=timedelta(seconds=-1))
    make_token(user, name='busy')
    assert create(client, user.email).status_code == 201
    assert create(client, user.email, token_name='busy').status_code == 409


def test_the_database_keeps_live_names_unique_under_races(app):
    user = make_user()
    make_token(user, name='agent')
    with pytest.raises(IntegrityError):
        make_token(user, name='agent')
    db.session.rollback()


def test_credential_failures_all_look_the_same(client):
    known = make_user('admin')
    deactivated = make_user('user')
    deactivated.password = User.create_random_password()  # what the platform's deactivation stores (SCHEMA §10)
    db.session.commit()
    attempts = [
        create(client, 'nobody@example.org'),
        create(client, known.email, password='wrong password'),
        create(client, deactivated.email),
        create(client, deactivated.email, password=deactivated.password),
        create(client, known.email, password='pass\x00word'),
    ]
    for response in attempts:
        assert response.status_code == 401
        assert response.get_json() == INVALID_CREDENTIALS
        assert response.headers['Cache-Control'] == 'no-store'


def test_every_credential_failure_costs_a_password_verification(client):
    """Unknown email, wrong password and an unusable stored hash all take at least one real verification."""
    platform_hash = User.generate_hash(PASSWORD)  # the platform's own cost
    known = make_user('user')
    known.password = platform_hash
    deactivated = make_user('user')
    deactivated.password = User.create_random_password()
    emails = known.email, deactivated.email
    db.session.commit()
    create(client, 'warm-up@example.org')  # the dummy hash is made once per process
    verify = partial(User('x', password=platform_hash).is_password_valid, 'wrong password')
    verification = min(timed(verify)[1] for _ in range(2))
    for email, password in (('nobody@example.org', PASSWORD), (emails[0], 'wrong password'), (emails[1], PASSWORD)):
        response, elapsed = timed(partial(create, client, email, password=password))
        assert response.status_code == 401
        assert elapsed >= 0.5 * verification, (email, elapsed, verification)
    assert create(client, emails[0]).status_code == 201  # and the platform's hash verifies


def timed(action):
    """What ``action()`` returns, and the seconds it took."""
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


@pytest.mark.parametrize('stored', [fast_hash(), sha256_crypt.using(rounds=5000).hash(PASSWORD)],
                         ids=['sha512_crypt', 'sha256_crypt'])
def test_existing_platform_hashes_verify(client, stored):
    user = make_user()
    user.password = stored
    db.session.commit()
    assert create(client, user.email).status_code == 201


def test_the_token_is_stored_only_as_a_hash(client):
    user = make_user()
    token = create(client, user.email).get_json()['token']
    row = db.session.execute(select(ApiToken)).scalar_one()
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.key_id == token[4:20]
    dump = stored_text()
    assert not [fragment for fragment in fragments(secret_part(token)) if fragment in dump]


def test_token_rows_and_audit_rows_record_who_when_and_from_where(client):
    user = make_user('tester')
    before = utcnow() - timedelta(seconds=2)
    token = create(client, user.email, request_id='req-create').get_json()['token']
    row = db.session.execute(select(ApiToken)).scalar_one()
    assert (row.user_id, row.name, row.created_ip, row.last_used_at, row.revoked_at) == (
        user.id, 'agent', CLIENT_IP, None, None)
    assert before <= row.created_at <= utcnow()
    response = client.delete(CURRENT_URL, headers={**bearer(token), 'X-Request-Id': 'req-revoke'},
                             environ_base={'REMOTE_ADDR': CLIENT_IP})
    assert response.status_code == 204
    assert response.headers['Cache-Control'] == 'no-store'
    db.session.refresh(row)
    assert before <= row.revoked_at <= utcnow()
    create(client, user.email, password='wrong password', request_id='req-wrong', token_name='second')
    create(client, 'nobody@example.org', request_id='req-unknown')
    create(client, user.email, scopes=['baselines:write'], request_id='req-scope')
    make_token(user, name='busy')
    create(client, user.email, token_name='busy', request_id='req-clash')
    entries = db.session.execute(select(AuditLogEntry).order_by(AuditLogEntry.id)).scalars().all()
    seen = [(entry.request_id, entry.action, entry.outcome, entry.user_id, entry.token_name, entry.ip,
             entry.target_type, entry.target_id) for entry in entries]
    assert seen == [
        ('req-create', 'token.create', 'created', user.id, 'agent', CLIENT_IP, 'api_token', str(row.id)),
        ('req-revoke', 'token.revoke', 'revoked', user.id, 'agent', CLIENT_IP, 'api_token', str(row.id)),
        ('req-wrong', 'token.create', 'invalid_credentials', user.id, 'second', CLIENT_IP, None, None),
        ('req-unknown', 'token.create', 'invalid_credentials', None, 'agent', CLIENT_IP, None, None),
        ('req-scope', 'token.create', 'scope_not_allowed', user.id, 'agent', CLIENT_IP, None, None),
        ('req-clash', 'token.create', 'name_conflict', user.id, 'busy', CLIENT_IP, None, None),
    ]
    assert entries[1].token_id == row.id
    assert '"email": "nobody@example.org"' in entries[3].details
    assert all(before <= entry.created_at <= utcnow() for entry in entries)


def test_password_and_token_never_appear_after_creation(client, caplog):
    caplog.set_level(logging.DEBUG)
    user = make_user('admin')
    created = create(client, user.email, scopes=['runs:read'])
    token = created.get_json()['token']
    later = [
        create(client, user.email),  # 409, with the right password
        create(client, user.email, scopes=['runs:read', 'runs:read']),  # 400
        client.post(TOKENS_URL, json={'email': user.email, 'password': PASSWORD, 'token_name': 'x', 'extra': PASSWORD}),
        client.post(TOKENS_URL, json={'email': PASSWORD, 'password': PASSWORD, 'token_name': 'x'}),
        create(client, user.email, password=PASSWORD + 'x' * 200),
        create(client, 'nobody@example.org'),
        client.get('/api/v1/openapi.json', headers=bearer(token)),
        client.delete(CURRENT_URL, headers=bearer(token)),
        client.delete(CURRENT_URL, headers=bearer(token)),
    ]
    assert [response.status_code for response in later] == [409, 400, 400, 400, 400, 401, 200, 204, 401]
    responses = [created] + later
    exposed = '\n'.join(f'{response.headers}\n{response.get_data(as_text=True)}' for response in responses)
    logged = '\n'.join(f'{record.getMessage()} {record.exc_text or ""}' for record in caplog.records)
    secrets = fragments(secret_part(token)) | {PASSWORD}
    for place, text in (('responses', exposed.replace(token, '<the one creation response>', 1)),
                        ('logs', logged), ('database', stored_text())):
        assert not [secret for secret in secrets if secret in text], place


def test_revoking_needs_a_live_token(client):
    token = make_token(make_user())  # no POST first: no-store must come from the DELETE itself
    for headers in ({}, {'Authorization': 'Bearer nonsense'}):
        response = client.delete(CURRENT_URL, headers=headers)
        assert response.status_code == 401
        assert response.headers['Cache-Control'] == 'no-store'
    assert client.delete(CURRENT_URL, headers=bearer(token)).status_code == 204
    again = client.delete(CURRENT_URL, headers=bearer(token))
    assert again.status_code == 401
    assert again.get_json()['details'] == {'reason': 'revoked'}


def test_the_openapi_document_states_scopes_by_role(client):
    document = client.get('/api/v1/openapi.json').get_json()
    description = document['paths']['/auth/tokens']['post']['description']
    for role in Role:
        assert f'{role.value}: {", ".join(access.SCOPES_BY_ROLE[role.value])}' in description
    assert document['paths']['/auth/tokens/current']['delete']['security'] == [{'bearerAuth': []}]
