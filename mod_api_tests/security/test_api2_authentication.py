"""API2:2023 Broken Authentication: only a live bearer token of ours, in the Authorization header, authenticates.

Over every operation of the served document that needs a token: expired (also expiring this very second),
revoked, CI worker, other-kind (a download token, a Basic credential), look-alike (case, Unicode, truncation) and
misplaced tokens (query string, cookie, form body, another header) are a 401 with ``WWW-Authenticate: Bearer``
before anything is read or written. An unknown key id costs the same constant-time hash comparison as a wrong
secret, so response times do not reveal which key ids exist.
"""
from datetime import timedelta

from sqlalchemy import func, select, update

from mod_api import tokens
from mod_api.access import allowed_scopes
from mod_api.db import db
from mod_api.legacy import Test as Run
from mod_api.models import ApiToken, AuditLogEntry
from mod_api.timeutil import utcnow
from mod_api_tests.factories import bearer, make_token, make_user
from mod_api_tests.security.served import served_operations
from mod_api_tests.test_access import LOOK_ALIKES, assert_unauthorized


def _token(**kwargs):
    return make_token(make_user('admin'), allowed_scopes('admin'), **kwargs)


def _refused_credentials(dataset):
    """(label, request keyword arguments, the 401 reason or None for any) that must never authenticate."""
    expired, expiring_now, revoked, live = (_token(expires_in=timedelta(seconds=-1)), _token(expires_in=timedelta()),
                                            _token(), _token())
    db.session.execute(update(ApiToken).where(ApiToken.key_id == tokens.parse_key_id(revoked))
                       .values(revoked_at=utcnow()))
    db.session.commit()
    worker = db.session.scalars(select(Run.token)).first()
    return [
        ('expired', {'headers': bearer(expired)}, 'expired'),
        ('expiring now', {'headers': bearer(expiring_now)}, 'expired'),
        ('revoked', {'headers': bearer(revoked)}, 'revoked'),
        ('worker token', {'headers': bearer(worker)}, 'malformed'),
        ('worker token bare', {'headers': {'Authorization': worker}}, 'unsupported_scheme'),
        ('download token', {'headers': bearer(dataset.path_values['token'])}, 'malformed'),
        ('basic', {'headers': {'Authorization': 'Basic YWRtaW46cGFzc3dvcmQ='}}, 'unsupported_scheme'),
        ('token scheme', {'headers': {'Authorization': f'Token {live}'}}, 'unsupported_scheme'),
        ('query string', {'query_string': {'access_token': live, 'token': live}}, 'missing'),
        ('cookie', {'headers': {'Cookie': f'token={live}; session={live}; access_token={live}'}}, 'missing'),
        ('other header', {'headers': {'X-Api-Key': live, 'X-Auth-Token': live}}, 'missing'),
        ('proxy header', {'headers': {'Proxy-Authorization': f'Bearer {live}'}}, 'missing'),
    ]


def _rows():
    db.session.rollback()
    return {entity.__name__: db.session.scalar(select(func.count()).select_from(entity))
            for entity in (Run, ApiToken, AuditLogEntry)}


def test_no_refused_credential_authenticates_any_operation(client, dataset, document):
    guarded = [operation for operation in served_operations(document) if not operation.public]
    assert len(guarded) >= 25
    credentials = _refused_credentials(dataset)
    before = _rows()
    problems = []
    for operation in guarded:
        url = operation.url(dataset.path_values)
        for label, request, reason in credentials:
            response = client.open(url, method=operation.method, json={}, **request)
            body = response.get_json(silent=True) or {}
            if (response.status_code, body.get('code'), response.headers.get('WWW-Authenticate'),
                    body.get('details', {}).get('reason')) != (401, 'unauthorized', 'Bearer', reason):
                problems.append(f'{operation} {label}: {response.status_code} {body}')
    assert problems == []
    assert _rows() == before


def test_look_alikes_of_a_live_token_do_not_open_a_real_operation(client):
    token = _token()
    assert client.get('/api/v1/runs', headers=bearer(token)).status_code == 200
    for label, alter in LOOK_ALIKES.items():
        response = client.get('/api/v1/runs', headers={'Authorization': f'Bearer {alter(token)}'})
        assert_unauthorized(response)
        assert response.get_json()['details']['reason'] in ('malformed', 'invalid'), label


def test_an_unknown_key_id_costs_the_same_hash_comparison_as_a_wrong_secret(client, monkeypatch):
    live = _token()
    compared = []
    real = tokens.matches
    monkeypatch.setattr(tokens, 'matches', lambda value, stored: compared.append(stored) or real(value, stored))
    wrong_secret = live[:-4] + ('AAAA' if not live.endswith('AAAA') else 'BBBB')
    unknown_key = tokens.mint_token().value
    for value in (wrong_secret, unknown_key):
        response = client.get('/api/v1/runs', headers=bearer(value))
        assert_unauthorized(response, 'invalid')
    assert len(compared) == 2
    assert all(len(stored) == 64 for stored in compared)
