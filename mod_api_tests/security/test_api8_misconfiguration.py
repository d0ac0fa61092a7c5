"""API8:2023 Security Misconfiguration: headers, methods, error bodies, cookies, CORS and debug, on every operation.

Every operation of the served document is asked in the ways that give each status it can give (200, 400, 401,
403, 404, 405): every answer carries the security headers, sets no cookie and no CORS header (no origin is
configured: the contract's stance is same-origin only unless ``API_CORS_ORIGINS`` lists one), and every error is
the JSON ErrorResponse without internals. Methods a path does not serve (TRACE, PUT, PATCH, DELETE, CONNECT, ...)
are a JSON 405 whose ``Allow`` lists what it serves. A host running with ``DEBUG`` on still answers a JSON 500
without a stack trace: Werkzeug's debugger is never reachable through the API.
"""
import pytest

from mod_api.access import ALL_SCOPES
from mod_api.validation import MAX_DB_INTEGER
from mod_api_tests.factories import assert_error, bearer, make_token, make_user, register_probe
from mod_api_tests.security.served import crawl_gets, served_operations

SECURITY_HEADERS = {'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY',
                    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'"}
UNSERVED_METHODS = ('TRACE', 'PUT', 'PATCH', 'DELETE', 'POST', 'CONNECT', 'PROPFIND')
ORIGIN = {'Origin': 'https://evil.example'}


def header_problems(asked, response):
    """What is wrong with an API response's headers and, for an error, its body."""
    problems = [f'{asked}: {name} is {response.headers.get(name)!r}' for name, value in SECURITY_HEADERS.items()
                if response.headers.get(name) != value]
    if not response.headers.get('X-Request-Id'):
        problems.append(f'{asked}: no X-Request-Id')
    problems += [f'{asked}: {name}' for name, _ in response.headers
                 if name == 'Set-Cookie' or name.startswith('Access-Control-')]
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        if response.mimetype != 'application/json' or not body or set(body) != {'code', 'message', 'details'}:
            problems.append(f'{asked}: {response.status_code} is not an ErrorResponse')
        if b'Traceback' in response.data or b'File "' in response.data:
            problems.append(f'{asked}: a stack trace')
    return problems


def _each_status(client, dataset, document):
    """(what was asked, response) for every operation in every way that gives it a different status."""
    no_scope = bearer(make_token(make_user('admin'), [scope for scope in ALL_SCOPES if scope == 'system:read']))
    for operation in served_operations(document):
        url = operation.url(dataset.path_values)
        admin = dataset.headers_for(operation)
        for label, headers, target in (('anonymous', {}, url),
                                       ('no scope', no_scope, url),
                                       ('admin, bad query', admin, url + '?limit=0&unknown=1'),
                                       ('admin, unknown id', admin,
                                        operation.url({name: MAX_DB_INTEGER for name in dataset.path_values}))):
            yield (f'{operation} {label}',
                   client.open(target, method=operation.method, headers={**ORIGIN, **headers}, json={}))


def test_every_status_of_every_operation_has_the_security_headers_and_a_clean_body(client, dataset, document):
    problems, statuses = [], set()
    for asked, response in _each_status(client, dataset, document):
        statuses.add(response.status_code)
        problems += header_problems(asked, response)
    for asked, response in crawl_gets(client, dataset, document):
        statuses.add(response.status_code)
        problems += header_problems(asked, response)
    assert problems == []
    assert {200, 400, 401, 403, 404} <= statuses


def test_methods_a_path_does_not_serve_are_a_json_405_with_allow(client, dataset, document):
    problems = []
    urls = {operation.path: operation.url(dataset.path_values) for operation in served_operations(document)}
    for path, item in document['paths'].items():
        served = {method.upper() for method in item if method != 'parameters'}
        allowed = served | {'OPTIONS'} | ({'HEAD'} if 'GET' in served else set())
        url = urls[path]
        for method in sorted(set(UNSERVED_METHODS) - served):
            response = client.open(url, method=method, headers=dataset.admin)
            details = assert_error(response, 405, 'method_not_allowed')
            if set(response.headers['Allow'].split(', ')) != allowed or set(details['allowed_methods']) != allowed:
                problems.append(f'{method} {path}: Allow {response.headers["Allow"]}, expected {sorted(allowed)}')
            problems += header_problems(f'{method} {path}', response)
        options = client.options(url, headers=ORIGIN)
        assert options.status_code == 200 and options.data == b'', path
        assert set(options.headers['Allow'].split(', ')) == allowed, path
    assert problems == []


@pytest.mark.parametrize('debug', [True, False])
def test_a_host_in_debug_mode_still_answers_a_json_500_without_internals(make_app, debug):
    app = register_probe(make_app(DEBUG=debug, TESTING=False, PROPAGATE_EXCEPTIONS=None))
    assert app.debug is debug
    response = app.test_client().get('/api/v1/probe/boom', headers={'X-Werkzeug-Debugger': '1'})
    assert_error(response, 500, 'internal_error')
    assert header_problems('boom', response) == []
    text = response.get_data(as_text=True)
    assert 'secret' not in text and 'RuntimeError' not in text and '__debugger__' not in text
    debugger = app.test_client().get('/api/v1/probe/boom?__debugger__=yes&cmd=resource&f=style.css')
    assert_error(debugger, 400, 'validation_error')  # the debugger's resource URL is just a bad query string
    assert b'Werkzeug' not in debugger.data


def test_cors_is_off_unless_origins_are_configured(client, dataset):
    preflight = client.options('/api/v1/runs', headers={**ORIGIN, 'Access-Control-Request-Method': 'POST',
                                                        'Access-Control-Request-Headers': 'Authorization'})
    assert not [name for name, _ in preflight.headers if name.startswith('Access-Control-')]
    read = client.get('/api/v1/runs', headers={**ORIGIN, **dataset.admin})
    assert read.status_code == 200
    assert not [name for name, _ in read.headers if name.startswith('Access-Control-')]
