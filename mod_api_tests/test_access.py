"""Bearer-token authentication and authorization through HTTP on the real app.

What is refused with 401, and when a valid token is not enough (403). Routes come from a test-only probe gated
like the contract's run writes.
"""
import base64
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mod_api import access, legacy
from mod_api.db import db
from mod_api.legacy import Role
from mod_api.models import ApiToken
from mod_api.timeutil import utcnow
from mod_api_tests.factories import PASSWORD, bearer, make_token, make_user, register_access_probe


@pytest.fixture()
def probe(app):
    """Base URL of the probe routes mounted on the default app."""
    return register_access_probe(app)


def assert_unauthorized(response, reason=None):
    """A 401 ErrorResponse asking for a bearer token (and naming ``reason`` when given)."""
    assert response.status_code == 401, response.get_data(as_text=True)
    body = response.get_json()
    assert body['code'] == 'unauthorized'
    assert response.headers['WWW-Authenticate'] == 'Bearer'
    if reason is not None:
        assert body['details'] == {'reason': reason}


def test_a_live_token_authenticates(client, probe):
    token = make_token(make_user('user'), scopes=['runs:read'])
    assert client.get(f'{probe}/items/1', headers=bearer(token)).get_json() == {'item_id': 1}
    assert client.get(f'{probe}/items/1', headers={'Authorization': f'bearer {token}'}).status_code == 200


def test_no_credentials_is_401(client, probe):
    assert_unauthorized(client.get(f'{probe}/items/1'), 'missing')


def test_an_expired_token_is_401(client, probe):
    token = make_token(make_user(), expires_in=timedelta(seconds=-1))
    assert_unauthorized(client.get(f'{probe}/items/1', headers=bearer(token)), 'expired')


def test_a_revoked_token_is_401(client, probe):
    token = make_token(make_user())
    db.session.execute(update(ApiToken).values(revoked_at=utcnow()))
    db.session.commit()
    assert_unauthorized(client.get(f'{probe}/items/1', headers=bearer(token)), 'revoked')


def test_the_token_of_a_deleted_user_is_401(client, probe):
    user = make_user()
    token = make_token(user)
    assert client.get(f'{probe}/items/1', headers=bearer(token)).status_code == 200
    db.session.delete(user)
    db.session.commit()
    assert_unauthorized(client.get(f'{probe}/items/1', headers=bearer(token)), 'invalid')


def test_the_ci_worker_token_is_never_accepted(client, probe):
    run = legacy.Test(legacy.TestPlatform.linux, legacy.TestType.commit, None, 'master', 'a' * 40)
    db.session.add(run)
    db.session.commit()
    worker_token = run.token
    assert len(worker_token) == 64 and worker_token.isalnum()
    assert_unauthorized(client.get(f'{probe}/items/1', headers=bearer(worker_token)), 'malformed')
    assert_unauthorized(client.get(f'{probe}/items/1', headers={'Authorization': worker_token}))
    assert_unauthorized(client.get(f'{probe}/items/1?token={worker_token}'))
    assert_unauthorized(client.post(f'{probe}/write', data={'token': worker_token}))


def test_http_basic_is_never_accepted(client, probe):
    user = make_user()
    token = make_token(user)
    for username, password in ((user.email, PASSWORD), ('token', token), (token, '')):
        credentials = base64.b64encode(f'{username}:{password}'.encode()).decode()
        response = client.get(f'{probe}/items/1', headers={'Authorization': f'Basic {credentials}'})
        assert_unauthorized(response, 'unsupported_scheme')


def test_a_browser_session_cookie_is_never_accepted(make_app):
    app = make_app(SECRET_KEY='platform-session-secret-0123456789')
    probe = register_access_probe(app)
    client = app.test_client()
    with app.app_context():
        user = make_user('admin')
        with client.session_transaction() as session:
            session['user_id'] = user.id  # what the platform's login stores
        assert client.get_cookie('session') is not None
        assert_unauthorized(client.get(f'{probe}/items/1'), 'missing')
        assert_unauthorized(client.post(f'{probe}/write'), 'missing')


def _replace_secret_char(token, character):
    return token[:-1] + character


LOOK_ALIKES = {
    'uppercase key id': lambda token: token[:4] + token[4:20].upper() + token[20:],
    'cyrillic prefix': lambda token: '\u0441' + token[1:],
    'cyrillic a in secret': lambda token: _replace_secret_char(token, '\u0430'),
    'fullwidth digit in key id': lambda token: token[:4] + '\uff11' + token[5:],
    'utf-8 seen as latin-1': lambda token: _replace_secret_char(token, '\u0430'.encode().decode('latin-1')),
    'zero-width space': lambda token: token + '\u200b',
    'no-break space before': lambda token: '\u00a0' + token,
    'truncated': lambda token: token[:-1],
    'one character more': lambda token: token + 'A',
    'no prefix': lambda token: token[4:],
    'other prefix': lambda token: 'ghp_' + token[4:],
    'dashes for underscores': lambda token: token.replace('_', '-'),
    'empty': lambda token: '',
    'two values': lambda token: f'{token} {token}',
}


@pytest.mark.parametrize('alter', LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_malformed_and_look_alike_tokens_are_401(client, probe, alter):
    token = make_token(make_user())
    altered = alter(token)
    assert altered != token
    response = client.get(f'{probe}/items/1', headers={'Authorization': f'Bearer {altered}'})
    assert_unauthorized(response)
    assert response.get_json()['details']['reason'] in ('malformed', 'invalid')


def test_a_well_formed_token_with_a_wrong_secret_is_401(client, probe):
    user = make_user()
    first, second = make_token(user), make_token(user)
    key_of_first, secret_of_second = first[:len('ccx_') + 16], second[len('ccx_') + 16:]
    assert_unauthorized(client.get(f'{probe}/items/1', headers=bearer(key_of_first + secret_of_second)), 'invalid')


def test_the_role_is_read_at_request_time(client, probe):
    user = make_user('admin')
    token = make_token(user, scopes=['runs:write'])
    assert client.post(f'{probe}/write', headers=bearer(token)).get_json() == {'role': 'admin'}
    for demoted, seen_as in ((Role.user, 'user'), (None, 'user')):
        user.role = demoted
        db.session.commit()
        response = client.post(f'{probe}/write', headers=bearer(token))
        assert response.status_code == 403
        assert response.get_json()['details'] == {'required_roles': ['admin', 'contributor', 'tester'],
                                                  'user_role': seen_as}
    user.role = Role.tester
    db.session.commit()
    assert client.post(f'{probe}/write', headers=bearer(token)).get_json() == {'role': 'tester'}


def test_a_token_lacking_the_scope_is_403_naming_both(client, probe):
    token = make_token(make_user('admin'), scopes=['results:read', 'system:read'])
    response = client.get(f'{probe}/items/1', headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json()['details'] == {'required_scope': 'runs:read',
                                              'token_scopes': ['results:read', 'system:read']}


def _last_used(token):
    return db.session.execute(select(ApiToken.last_used_at).where(ApiToken.key_id == token[4:20])).scalar_one()


def _set_last_used(token, moment):
    db.session.execute(update(ApiToken).where(ApiToken.key_id == token[4:20]).values(last_used_at=moment))
    db.session.commit()


def test_last_used_at_is_written_at_most_once_a_minute(client, probe):
    token = make_token(make_user())
    assert _last_used(token) is None
    client.get(f'{probe}/items/1', headers=bearer(token))
    first = _last_used(token)
    assert abs(first - utcnow()) < timedelta(seconds=5)
    _set_last_used(token, first - timedelta(seconds=30))
    client.get(f'{probe}/items/1', headers=bearer(token))
    assert _last_used(token) == first - timedelta(seconds=30)
    _set_last_used(token, first - timedelta(seconds=61))
    client.get(f'{probe}/items/1', headers=bearer(token))
    assert abs(_last_used(token) - utcnow()) < timedelta(seconds=5)


def test_every_role_may_hold_the_default_scopes_and_only_known_scopes():
    for role in Role:
        assert role.value in access.SCOPES_BY_ROLE
    for scopes in access.SCOPES_BY_ROLE.values():
        assert set(access.DEFAULT_SCOPES) <= set(scopes) <= set(access.ALL_SCOPES)
    assert access.allowed_scopes('no-such-role') == access.SCOPES_BY_ROLE['user']


def test_the_module_docstring_documents_scopes_by_role():
    documented = {line[2:].split(': ')[0]: tuple(line.split(': ')[1].split(', '))
                  for line in access.__doc__.splitlines() if line.startswith('* ')}
    assert documented == access.SCOPES_BY_ROLE
