"""Every API response is JSON with the contract's error body, a request id and the security headers.

Host-app tests build the host by hand, registering the host's own hooks and handlers BEFORE ``init_app``, the
way the platform's ``run.py`` does.
"""
import logging
import re
import time

import pytest
from flask import Flask, session
from werkzeug.exceptions import HTTPException

import mod_api
from mod_api.db import db
from mod_api_tests import factories
from mod_api_tests.conftest import SECRET

ITEM = '/api/v1/probe/items/1'
HEX_ID = re.compile(r'[0-9a-f]{32}')
DEAD_DATABASE = 'mysql+mysqldb://root:@127.0.0.1:1/x'


@pytest.fixture()
def probe_app(make_app):
    """Build an app with the probe routes; keyword arguments override config."""
    return lambda **config: factories.register_probe(make_app(**config))


@pytest.fixture()
def host_app(tmp_path):
    """Build a production-like host app (TESTING off, an empty SQLite file): ``setup(app)`` runs before init_app."""
    apps = []

    def build(setup=lambda app: None, **config):
        app = Flask(f'host_{len(apps)}')
        app.config.update({'DATABASE_URI': f"sqlite:///{tmp_path / 'host.db'}", 'SAMPLE_REPOSITORY': str(tmp_path),
                           'API_SECRET_KEY': SECRET, 'SECRET_KEY': SECRET, **config})
        setup(app)
        mod_api.init_app(app)
        apps.append(factories.register_probe(app))
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _token(app, **kwargs):
    with app.app_context():
        return factories.make_token(factories.make_user(), **kwargs)


@pytest.mark.parametrize('incoming', ['abc-123', 'run:42.retry_1', 'A' * 64])
def test_a_well_formed_incoming_request_id_is_kept(client, incoming):
    response = client.get('/api/v1/system/health', headers={'X-Request-Id': incoming})
    assert response.headers['X-Request-Id'] == incoming


@pytest.mark.parametrize('incoming', ['A' * 65, 'has space', '<script>', ''])
def test_a_malformed_request_id_is_replaced(client, incoming):
    response = client.get('/api/v1/system/health', headers={'X-Request-Id': incoming})
    assert HEX_ID.fullmatch(response.headers['X-Request-Id'])


def test_an_unhandled_exception_is_a_logged_json_500_without_internals(probe_app, caplog):
    caplog.set_level(logging.ERROR, logger='mod_api')
    response = probe_app().test_client().get('/api/v1/probe/boom', headers={'X-Request-Id': 'req-500'})
    assert factories.assert_error(response, 500, 'internal_error') == {'request_id': 'req-500'}
    assert response.headers['X-Request-Id'] == 'req-500'
    text = response.get_data(as_text=True)
    assert 'secret' not in text and 'Traceback' not in text and 'RuntimeError' not in text
    (record,) = [record for record in caplog.records if record.name == 'mod_api']
    assert 'req-500' in record.getMessage()
    assert record.exc_info is not None


def test_an_exception_in_a_host_hook_registered_before_init_app_is_json(host_app, caplog):
    def failing_hook(app):
        @app.before_request
        def explode():
            raise RuntimeError('host hook failed')

    client = host_app(failing_hook).test_client()
    response = client.get('/api/v1/system/health')
    details = factories.assert_error(response, 500, 'internal_error')
    assert details == {'request_id': response.headers['X-Request-Id']}
    assert response.headers['X-RateLimit-Remaining'].isdigit()
    assert any(details['request_id'] in record.getMessage() for record in caplog.records)
    assert client.get('/elsewhere').status_code == 500  # the host's own paths keep the host's behaviour


def test_an_exception_in_a_host_after_request_hook_is_a_logged_json_500(host_app, caplog):
    def failing_hook(app):
        @app.after_request
        def explode(response):
            raise RuntimeError('host after-request hook failed')

    response = host_app(failing_hook).test_client().get('/api/v1/system/health')
    details = factories.assert_error(response, 500, 'internal_error')
    assert details == {'request_id': response.headers['X-Request-Id']}
    assert any(details['request_id'] in record.getMessage() and record.exc_info for record in caplog.records)


def test_host_error_handlers_keep_serving_the_hosts_paths(host_app):
    def html_handlers(app):
        app.register_error_handler(404, lambda error: ('<p>host 404 page</p>', 404))
        app.register_error_handler(HTTPException, lambda error: (f'<p>host {error.code}</p>', error.code))
        app.register_error_handler(Exception, lambda error: ('<p>host oops</p>', 500))
        app.add_url_rule('/page', 'page', lambda: 'a page')
        app.add_url_rule('/explode', 'explode', lambda: 1 / 0)

    client = host_app(html_handlers).test_client()
    assert client.get('/missing').get_data(as_text=True) == '<p>host 404 page</p>'
    assert client.post('/page').get_data(as_text=True) == '<p>host 405</p>'
    assert client.get('/explode').get_data(as_text=True) == '<p>host oops</p>'
    factories.assert_error(client.get('/api/v1/missing'), 404, 'not_found')
    factories.assert_error(client.post('/api/v1/system/health'), 405, 'method_not_allowed')
    factories.assert_error(client.get('/api/v1/probe/boom'), 500, 'internal_error')


def test_a_dead_database_is_a_fast_json_503(host_app, caplog):
    app = host_app(DATABASE_URI=DEAD_DATABASE)
    client = app.test_client()
    started = time.monotonic()
    response = client.get(ITEM, headers=factories.bearer('ccx_0123456789abcdef_' + 'A' * 43))
    details = factories.assert_error(response, 503, 'service_unavailable')
    assert details == {'dependency': 'database', 'request_id': response.headers['X-Request-Id']}
    assert response.headers['Retry-After'] == '5'  # the database's hint, not the rate-limit window
    assert response.headers['X-RateLimit-Remaining'].isdigit()
    assert any(details['request_id'] in record.getMessage() for record in caplog.records)
    health = client.get('/api/v1/system/health')
    assert health.status_code == 503
    assert health.get_json()['status'] == 'down'
    assert health.get_json()['dependencies'][0] == {
        'name': 'database', 'status': 'down', 'message': 'database unreachable (OperationalError)'}
    assert time.monotonic() - started < 5


def _cors_headers(response):
    return [name for name, _ in response.headers if name.startswith('Access-Control-')]


def _responses(client, token):
    """A response of each kind the API gives, with an Origin header on every request."""
    origin = {'Origin': 'https://evil.example'}
    auth = {**origin, **factories.bearer(token)}
    return {
        200: client.get('/api/v1/system/health', headers=origin),
        204: client.delete('/api/v1/auth/tokens/current', headers=auth),
        401: client.get(ITEM, headers=origin),
        404: client.get('/api/v1/nowhere', headers=origin),
        405: client.put('/api/v1/system/health', headers=origin),
        500: client.get('/api/v1/probe/boom', headers=origin),
        'session': client.get('/api/v1/probe/session', headers=origin),
    }


def test_every_response_is_json_with_the_security_headers_and_no_cookie_or_cors(probe_app):
    app = probe_app(SECRET_KEY=SECRET)
    for kind, response in _responses(app.test_client(), _token(app)).items():
        assert response.status_code == (200 if kind == 'session' else kind)
        assert response.headers['Content-Type'] == 'application/json', kind
        assert response.headers['X-Content-Type-Options'] == 'nosniff', kind
        assert HEX_ID.fullmatch(response.headers['X-Request-Id']), kind
        assert 'Set-Cookie' not in response.headers, kind
        assert not _cors_headers(response), kind


def test_a_host_session_modified_for_every_request_sets_no_cookie_on_api_responses(host_app):
    def session_hook(app):
        @app.before_request
        def remember():
            session['seen'] = True

        app.add_url_rule('/page', 'page', lambda: 'a page')

    client = host_app(session_hook).test_client()
    assert 'Set-Cookie' in client.get('/page').headers
    assert 'Set-Cookie' not in client.get('/api/v1/system/health').headers


def test_cors_headers_only_for_listed_origins(probe_app):
    app = probe_app(API_CORS_ORIGINS='https://ok.example, https://also.example')
    client = app.test_client()
    allowed = client.get('/api/v1/system/health', headers={'Origin': 'https://ok.example'})
    assert allowed.headers['Access-Control-Allow-Origin'] == 'https://ok.example'
    assert 'X-RateLimit-Remaining' in allowed.headers['Access-Control-Expose-Headers']
    assert 'Origin' in allowed.headers['Vary']
    refused = client.get('/api/v1/system/health', headers={'Origin': 'https://evil.example'})
    assert not _cors_headers(refused)
    preflight = client.options(ITEM, headers={'Origin': 'https://also.example',
                                              'Access-Control-Request-Method': 'GET'})
    assert preflight.status_code == 200
    assert 'GET' in preflight.headers['Access-Control-Allow-Methods']
    assert 'Authorization' in preflight.headers['Access-Control-Allow-Headers']
