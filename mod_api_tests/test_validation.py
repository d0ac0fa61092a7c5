"""Strict parsing of path ids, query strings and JSON bodies, through the probe routes of the real app."""
import io

import pytest

from mod_api_tests import factories

ITEMS = '/api/v1/probe/items'
SHA = 'ab' * 20


@pytest.fixture()
def probe_app(make_app):
    """Build an app with the probe routes; keyword arguments override config."""
    return lambda **config: factories.register_probe(make_app(**config))


@pytest.fixture()
def call(probe_app):
    """A client of a probe app, and the Authorization header of a token with every scope."""
    app = probe_app()
    with app.app_context():
        auth = factories.bearer(factories.make_token(factories.make_user()))
    return app.test_client(), auth


def fields_of(response):
    """The ``details.fields`` of a 400 validation_error."""
    return factories.assert_error(response, 400, 'validation_error')['fields']


@pytest.mark.parametrize('item_id', ['0', '2147483648', '99999999999999999999999'])
def test_path_ids_out_of_range_are_400(call, item_id):
    client, auth = call
    assert set(fields_of(client.get(f'{ITEMS}/{item_id}', headers=auth))) == {'item_id'}


def test_largest_database_id_is_accepted(call):
    client, auth = call
    response = client.get(f'{ITEMS}/2147483647', headers=auth)
    assert response.status_code == 200
    assert response.get_json()['item_id'] == 2147483647


@pytest.mark.parametrize('query, field', [
    ('unknown=1', 'unknown'),
    ('limit=abc', 'limit'),
    ('limit=0', 'limit'),
    ('limit=101', 'limit'),
    ('limit=1&limit=2', 'limit'),
    (f'sha={SHA}%0A', 'sha'),
    (f'sha={SHA.upper()}', 'sha'),
    ('name=' + 'x' * 11, 'name'),
    ('tags=a&tags=a', 'tags'),
    ('parent_id=0', 'parent_id'),
    ('parent_id=2147483648', 'parent_id'),
    ('parent_id=1_0', 'parent_id'),
    ('parent_id=%205', 'parent_id'),
    ('parent_id=%D9%A5', 'parent_id'),  # ARABIC-INDIC DIGIT FIVE: int() would take it
])
def test_bad_query_parameters_are_named(call, query, field):
    client, auth = call
    assert set(fields_of(client.get(f'{ITEMS}/1?{query}', headers=auth))) == {field}


def test_every_bad_query_parameter_is_named_at_once(call):
    client, auth = call
    response = client.get(f'{ITEMS}/1?limit=0&sha=zz&name={"x" * 11}&other=1', headers=auth)
    assert set(fields_of(response)) == {'limit', 'sha', 'name', 'other'}


def test_a_valid_query_is_parsed(call):
    client, auth = call
    response = client.get(f'{ITEMS}/7?limit=100&sha={SHA}&tags=a&tags=b&parent_id=3', headers=auth)
    assert response.status_code == 200
    assert response.get_json() == {'item_id': 7, 'query': {'limit': 100, 'sha': SHA, 'tags': ['a', 'b'],
                                                           'parent_id': 3}}


@pytest.mark.parametrize('body, field', [
    ({'name': 'a', 'admin': True}, 'admin'),
    ({}, 'name'),
    ({'name': 7}, 'name'),
    ({'name': 'abc\n'}, 'name'),
    ({'name': 'x' * 11}, 'name'),
    ({'name': 'a', 'count': '3'}, 'count'),
    ({'name': 'a', 'count': 6}, 'count'),
    ({'name': 'a', 'count': True}, 'count'),
    ({'name': 'a', 'tags': ['x', 'x']}, 'tags'),
    ({'name': 'a', 'tags': ['w', 'x', 'y', 'z']}, 'tags'),
    ({'name': 'a', 'labels': [{'k': 1}, {'k': 1}]}, 'labels'),
    ({'name': 'a', 'parent_id': 5.5}, 'parent_id'),
    ({'name': 'a', 'parent_id': '5'}, 'parent_id'),
    ({'name': 'a', 'parent_id': 2 ** 31}, 'parent_id'),
])
def test_bad_body_fields_are_named(call, body, field):
    client, auth = call
    assert set(fields_of(client.post(ITEMS, json=body, headers=auth))) == {field}


def test_a_valid_body_is_parsed(call):
    client, auth = call
    body = {'name': 'abc', 'count': 5, 'tags': ['x', 'y'], 'labels': [{'k': 1}, {'k': 2}], 'parent_id': 9}
    response = client.post(ITEMS, json=body, headers=auth)
    assert response.status_code == 201
    assert response.get_json() == body


@pytest.mark.parametrize('payload', [
    b'{"name": ',
    b'{"name": "\xff"}',
    b'{"name": "a", "name": "b"}',
    b'{"name": "a", "count": NaN}',
    '{"name": "a"}'.encode('utf-16'),
])
def test_bodies_that_are_not_strict_utf8_json_are_400(call, payload):
    client, auth = call
    factories.assert_error(client.post(ITEMS, data=payload, content_type='application/json', headers=auth),
                 400, 'malformed_json')


@pytest.mark.parametrize('payload', [b'[]', b'"name"', b'null', b'1'])
def test_a_body_that_is_not_an_object_is_400(call, payload):
    client, auth = call
    response = client.post(ITEMS, data=payload, content_type='application/json', headers=auth)
    assert set(fields_of(response)) == {'_body'}


def test_deeply_nested_json_is_400(probe_app):
    app = probe_app(API_MAX_BODY_BYTES=200_000)
    with app.app_context():
        auth = factories.bearer(factories.make_token(factories.make_user()))
    response = app.test_client().post(ITEMS, data=b'[' * 100_000, content_type='application/json', headers=auth)
    factories.assert_error(response, 400, 'malformed_json')


def test_a_missing_body_is_400(call):
    client, auth = call
    factories.assert_error(client.post(ITEMS, headers=auth), 400, 'body_required')


@pytest.mark.parametrize('content_type', ['text/plain', 'application/x-www-form-urlencoded', 'application/xml'])
def test_a_body_of_another_content_type_is_415(call, content_type):
    client, auth = call
    response = client.post(ITEMS, data='{"name": "a"}', content_type=content_type, headers=auth)
    assert factories.assert_error(response, 415, 'unsupported_media_type') == {'content_type': content_type}


def test_a_body_over_the_cap_is_413(probe_app):
    app = probe_app(API_MAX_BODY_BYTES=1024)
    with app.app_context():
        auth = factories.bearer(factories.make_token(factories.make_user()))
    client = app.test_client()
    padded = b'{"name": "a", "tags": ["' + b'x' * 1000 + b'"]}'
    factories.assert_error(client.post(ITEMS, data=padded, content_type='application/json', headers=auth),
                 413, 'payload_too_large')


def _streamed(client, auth, payload):
    """POST ``payload`` chunked, without Content-Length, from a server that terminates the input stream."""
    return client.post(ITEMS, input_stream=io.BytesIO(payload), content_type='application/json',
                       headers={**auth, 'Transfer-Encoding': 'chunked'},
                       environ_overrides={'wsgi.input_terminated': True})


def test_a_streamed_body_over_the_cap_is_413_not_truncated(probe_app):
    app = probe_app(API_MAX_BODY_BYTES=1024)
    with app.app_context():
        auth = factories.bearer(factories.make_token(factories.make_user()))
    client = app.test_client()
    small = b'{"name": "a"}'
    assert _streamed(client, auth, small).status_code == 201
    valid_prefix = small + b' ' * (1024 - len(small)) + b'garbage beyond the cap'
    factories.assert_error(_streamed(client, auth, valid_prefix), 413, 'payload_too_large')
