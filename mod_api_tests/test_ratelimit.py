"""Rate limits through HTTP on the real app (in-memory storage): budgets, headers, the 429, client addresses."""
import time

import pytest
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from mod_api.db import db
from mod_api.models import ApiToken
from mod_api.ratelimit import LIMITER_RETRY_AFTER
from mod_api_tests import factories

ITEM = '/api/v1/probe/items/1'
ITEMS = '/api/v1/probe/items'
TOKENS = '/api/v1/auth/tokens'
RATE_HEADERS = ('X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset')


@pytest.fixture()
def probe_app(make_app):
    """Build an app with the probe routes; keyword arguments override config."""
    return lambda **config: factories.register_probe(make_app(**config))


def _tokens(app, count=1, **kwargs):
    with app.app_context():
        return [factories.make_token(factories.make_user(), **kwargs) for _ in range(count)]


def _credentials(app, **extra):
    with app.app_context():
        email = factories.make_user().email
    return {'email': email, 'password': factories.PASSWORD, 'token_name': 'ci', **extra}


def _remaining(response):
    return int(response.headers['X-RateLimit-Remaining'])


def test_default_budgets_are_the_contracts(probe_app):
    app = probe_app()
    client = app.test_client()
    (token,) = _tokens(app)
    assert client.get(ITEM, headers=factories.bearer(token)).headers['X-RateLimit-Limit'] == '120'
    written = client.post(ITEMS, json={'name': 'a'}, headers=factories.bearer(token))
    assert written.status_code == 201
    assert written.headers['X-RateLimit-Limit'] == '20'
    statuses = [client.post(TOKENS, data='{', content_type='application/json').status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]
    assert client.post(TOKENS, json={}).get_json()['details'] == {
        'retry_after': pytest.approx(900, abs=5), 'limit': 5, 'window': '900s', 'budget': 'auth'}


def test_read_and_write_budgets_are_separate_and_per_token(probe_app):
    app = probe_app(API_READ_LIMIT='3/minute', API_WRITE_LIMIT='2/minute')
    client = app.test_client()
    first, second = _tokens(app, 2)
    reads = [client.get(ITEM, headers=factories.bearer(first)) for _ in range(4)]
    assert [response.status_code for response in reads] == [200, 200, 200, 429]
    assert [_remaining(response) for response in reads] == [2, 1, 0, 0]
    writes = [client.post(ITEMS, json={'name': 'a'}, headers=factories.bearer(first)) for _ in range(3)]
    assert [response.status_code for response in writes] == [201, 201, 429]
    assert client.get(ITEM, headers=factories.bearer(second)).status_code == 200


def test_a_429_carries_retry_after_and_the_contracts_body(probe_app):
    app = probe_app(API_READ_LIMIT='1/minute')
    client = app.test_client()
    (token,) = _tokens(app)
    client.get(ITEM, headers=factories.bearer(token))
    response = client.get(ITEM, headers=factories.bearer(token))
    assert response.status_code == 429
    assert response.mimetype == 'application/json'
    body = response.get_json()
    assert body['code'] == 'rate_limited'
    assert body['details']['limit'] == 1
    assert body['details']['window'] == '60s'
    assert 1 <= body['details']['retry_after'] <= 60
    assert response.headers['Retry-After'] == str(body['details']['retry_after'])
    assert LIMITER_RETRY_AFTER not in response.headers
    assert response.headers['X-RateLimit-Remaining'] == '0'


def _request(client, kind, token, weak_token):
    auth = factories.bearer(token)
    return {
        200: lambda: client.get(ITEM, headers=auth),
        400: lambda: client.get('/api/v1/probe/items/0', headers=auth),
        401: lambda: client.get(ITEM),
        403: lambda: client.get(ITEM, headers=factories.bearer(weak_token)),
        404: lambda: client.get('/api/v1/no/such/thing'),
        '404-redirect': lambda: client.get('/api/v1//probe/items/1', headers=auth),
        405: lambda: client.delete('/api/v1/system/health'),
        413: lambda: client.post(ITEMS, data=b'{' * 70000, content_type='application/json', headers=auth),
        415: lambda: client.post(ITEMS, data='name=a', content_type='text/plain', headers=auth),
        500: lambda: client.get('/api/v1/probe/boom'),
    }[kind]()


@pytest.mark.parametrize('kind', [200, 400, 401, 403, 404, '404-redirect', 405, 413, 415, 500])
def test_every_response_carries_the_rate_limit_headers_and_no_retry_after(probe_app, kind):
    app = probe_app()
    token, weak = _tokens(app) + _tokens(app, scopes=['results:read'])
    before = int(time.time())
    response = _request(app.test_client(), kind, token, weak)
    assert response.status_code == (404 if kind == '404-redirect' else kind)
    assert all(response.headers.get(name, '').isdigit() for name in RATE_HEADERS)
    assert before <= int(response.headers['X-RateLimit-Reset']) <= time.time() + 61
    assert 'Retry-After' not in response.headers
    assert LIMITER_RETRY_AFTER not in response.headers


def test_token_creation_counts_every_attempt_per_client_address(probe_app):
    app = probe_app(API_AUTH_LIMIT='4/15 minutes')
    client = app.test_client()
    good = _credentials(app)
    attempts = [
        client.post(TOKENS, json=good),
        client.post(TOKENS, json={**good, 'password': 'wrong password'}),
        client.post(TOKENS, data='{"email":', content_type='application/json'),
        client.post(TOKENS, data='email=x', content_type='application/x-www-form-urlencoded'),
        client.post(TOKENS, json={**good, 'token_name': 'other'}),
    ]
    assert [response.status_code for response in attempts] == [201, 401, 400, 415, 429]
    assert attempts[-1].get_json()['details']['budget'] == 'auth'
    other_address = client.post(TOKENS, json={**good, 'token_name': 'third'},
                                environ_base={'REMOTE_ADDR': '192.0.2.77'})
    assert other_address.status_code == 201


def test_garbage_tokens_share_one_anonymous_budget_per_address(probe_app):
    app = probe_app(API_ANONYMOUS_LIMIT='3/minute', API_READ_LIMIT='3/minute')
    client = app.test_client()
    (token,) = _tokens(app)
    unknown = factories.bearer('ccx_0123456789abcdef_' + 'A' * 43)
    garbage = [client.get(ITEM, headers=headers) for headers in
               (unknown, factories.bearer('not-a-token'), {'Authorization': 'Basic eDp5'}, {})]
    assert [response.status_code for response in garbage] == [401, 401, 401, 429]
    assert garbage[-1].get_json()['details']['budget'] == 'anonymous'
    assert client.get(ITEM, headers=factories.bearer(token)).status_code == 200


def test_anonymous_traffic_cannot_lock_anyone_out_of_token_creation(probe_app):
    app = probe_app(API_ANONYMOUS_LIMIT='2/minute', API_AUTH_LIMIT='2/15 minutes')
    client = app.test_client()
    statuses = [client.get(ITEM).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert client.post(TOKENS, json=_credentials(app)).status_code == 201


def test_spoofed_forwarded_for_gets_no_fresh_auth_budget(probe_app):
    app = probe_app(API_AUTH_LIMIT='2/15 minutes')
    client = app.test_client()
    for _ in range(2):
        client.post(TOKENS, json={})
    spoofed = client.post(TOKENS, json={}, headers={'X-Forwarded-For': '203.0.113.9'})
    assert spoofed.status_code == 429


def test_a_proxy_fix_of_the_host_app_does_not_make_forwarded_for_trusted(probe_app):
    app = probe_app(API_AUTH_LIMIT='1/15 minutes')
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)
    client = app.test_client()
    assert client.post(TOKENS, json={}, headers={'X-Forwarded-For': '203.0.113.1'}).status_code == 400
    assert client.post(TOKENS, json={}, headers={'X-Forwarded-For': '203.0.113.2'}).status_code == 429


def test_one_trusted_proxy_hop_picks_the_address_the_proxy_saw(probe_app):
    app = probe_app(API_AUTH_LIMIT='2/15 minutes', API_TRUSTED_PROXY_HOPS=1)
    client = app.test_client()
    proxy = {'REMOTE_ADDR': '10.0.0.1'}

    def attempt(forwarded_for):
        return client.post(TOKENS, json={}, environ_base=proxy, headers={'X-Forwarded-For': forwarded_for})

    assert [attempt('198.51.100.7').status_code for _ in range(2)] == [400, 400]
    assert attempt('198.51.100.7').status_code == 429
    assert attempt('203.0.113.9, 198.51.100.7').status_code == 429  # the client's own entry is not trusted
    assert attempt('198.51.100.8').status_code == 400


def test_requests_outside_the_api_are_neither_limited_nor_authenticated(probe_app):
    app = probe_app(API_ANONYMOUS_LIMIT='1/minute', API_READ_LIMIT='1/minute')
    app.add_url_rule('/elsewhere', 'elsewhere', lambda: 'host page')
    client = app.test_client()
    (token,) = _tokens(app)
    responses = [client.get('/elsewhere', headers=factories.bearer(token)) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert not any(name in responses[-1].headers for name in RATE_HEADERS)
    with app.app_context():
        assert db.session.execute(select(ApiToken.last_used_at)).scalar_one() is None
