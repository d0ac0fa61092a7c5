"""API4:2023 Unrestricted Resource Consumption: budgets, body and page caps, bounded answers to huge inputs.

Budgets (the contract's defaults, in-memory storage): a token's reads stop at 120 a minute, anonymous calls at 60
per IP, token creation at 5 per 15 minutes per IP; each refusal is a JSON 429 with ``Retry-After`` and every
answer carries the ``X-RateLimit-*`` headers. Every write operation of the served document refuses a body over
``API_MAX_BODY_BYTES`` with 413 and a deeply nested one with 400. Every list operation declares a ``limit`` capped
at 100 and refuses 101; an offset past the end is an empty page. Query strings of 100 KB or with 10,000 repeated
parameters are refused as JSON 400 without work. Files far larger than an answer may carry (a 5 MB reference
output, a 19 MB worker log) give bounded answers (a page, a truncated diff, or 413 ``output_too_large``).
"""
import time
from pathlib import Path

import pytest

from mod_api.errors import MAX_ERROR_FIELDS
from mod_api.validation import MAX_DB_INTEGER
from mod_api_tests.factories import PASSWORD, assert_error, bearer, make_token, make_user
from mod_api_tests.security.served import served_operations

PAGE_CAP = 100
RATE_HEADERS = ('X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset')


def assert_throttled(response, limit):
    """A JSON 429 with the rate-limit headers of a spent budget of ``limit`` and a positive Retry-After."""
    assert_error(response, 429, response.get_json()['code'])
    assert response.headers['X-RateLimit-Limit'] == str(limit)
    assert response.headers['X-RateLimit-Remaining'] == '0'
    assert int(response.headers['X-RateLimit-Reset']) > time.time()
    assert 0 < int(response.headers['Retry-After']) <= 15 * 60


@pytest.fixture()
def strict(make_app, dataset):
    """A client of an app with the contract's default budgets, on the dataset's database."""
    return make_app().test_client()


def test_a_tokens_reads_stop_at_its_budget(strict, dataset):
    token = bearer(make_token(make_user('user'), ['runs:read']))
    remaining = [int(strict.get('/api/v1/environments', headers=token).headers['X-RateLimit-Remaining'])
                 for _ in range(120)]
    assert remaining == list(range(119, -1, -1))
    assert_throttled(strict.get('/api/v1/runs', headers=token), 120)
    other = bearer(make_token(make_user('user'), ['runs:read']))
    assert strict.get('/api/v1/environments', headers=other).status_code == 200  # budgets are per token


def test_anonymous_calls_and_token_creation_stop_at_their_budgets(strict):
    for _ in range(60):
        assert strict.get('/api/v1/system/health').status_code in (200, 503)
    assert_throttled(strict.get('/api/v1/system/health'), 60)
    assert_throttled(strict.get('/api/v1/runs', headers=bearer('ccx_' + '0' * 16 + '_' + 'A' * 43)), 60)
    user = make_user('user')
    attempts = [strict.post('/api/v1/auth/tokens', json={'email': user.email, 'password': PASSWORD + str(index),
                                                         'token_name': f'guess{index}'}) for index in range(5)]
    assert {response.status_code for response in attempts} == {401}
    right = strict.post('/api/v1/auth/tokens', json={'email': user.email, 'password': PASSWORD, 'token_name': 'ok'})
    assert_throttled(right, 5)  # even the right password, once the budget is spent


def test_every_answer_carries_the_rate_limit_headers(client, dataset, document):
    missing = []
    for operation in served_operations(document):
        response = client.open(operation.url(dataset.path_values), method=operation.method, json={},
                               headers=dataset.headers_for(operation))
        missing += [f'{operation}: {name}' for name in RATE_HEADERS if not response.headers.get(name)]
    assert missing == []


def test_every_write_refuses_an_oversized_or_deeply_nested_body(client, dataset, document):
    limit = client.application.config['API_MAX_BODY_BYTES']
    writes = [operation for operation in served_operations(document) if operation.body]
    assert len(writes) >= 5
    for operation in writes:
        url, headers = operation.url(dataset.path_values), {**dataset.admin, 'Content-Type': 'application/json'}
        oversized = '{"reason": "' + 'x' * limit + '"}'
        assert_error(client.open(url, method=operation.method, data=oversized, headers=headers),
                     413, 'payload_too_large')
        nested = '[' * 20000 + ']' * 20000
        assert client.open(url, method=operation.method, data=nested, headers=headers).status_code == 400


def _list_operations(document):
    """GET operations whose 200 answer holds a ``data`` array: the lists."""
    lists = []
    for operation in served_operations(document):
        spec = document['paths'][operation.path][operation.method.lower()]
        schema = spec['responses'].get('200', {}).get('content', {}).get('application/json', {}).get('schema', {})
        name = schema.get('$ref', '').rsplit('/', 1)[-1]
        if operation.method == 'GET' and 'data' in document['components']['schemas'].get(name, {}).get(
                'properties', {}):
            lists.append(operation)
    return lists


def test_every_list_is_capped_at_100_per_page(client, dataset, document):
    lists = _list_operations(document)
    assert len(lists) >= 15
    for operation in lists:
        limits = {parameter['name']: parameter['schema'] for parameter in operation.in_location('query')}
        assert limits.get('limit', {}).get('maximum') == PAGE_CAP, operation
        url = operation.url(dataset.path_values)
        fields = assert_error(client.get(f'{url}?limit={PAGE_CAP + 1}', headers=dataset.admin), 400,
                              'validation_error')['fields']
        assert 'limit' in fields, operation
        page = client.get(f'{url}?limit={PAGE_CAP}', headers=dataset.admin)
        assert page.status_code == 200 and len(page.get_json()['data']) <= PAGE_CAP, operation
        if 'offset' in limits:
            beyond = client.get(f'{url}?offset={MAX_DB_INTEGER}', headers=dataset.admin)
            assert beyond.status_code == 200 and beyond.get_json()['data'] == [], operation
            assert client.get(f'{url}?offset={MAX_DB_INTEGER + 1}', headers=dataset.admin).status_code == 400


def test_long_and_repetitive_query_strings_are_a_cheap_400(client, dataset):
    for query in ('name=' + 'a' * 100_000, '&'.join(['tag=a'] * 10_000), '&'.join(f'p{index}=1' for index in
                                                                                   range(5000))):
        started = time.monotonic()
        response = client.get(f'/api/v1/samples?{query}', headers=dataset.admin)
        assert response.status_code in (400, 414), query[:20]
        assert_error(response, response.status_code, response.get_json()['code'])
        assert time.monotonic() - started < 2
        assert len(response.data) < 25_000  # at most MAX_ERROR_FIELDS fields are named
    assert response.get_json()['details']['omitted_fields'] == 5000 - MAX_ERROR_FIELDS


def test_huge_files_give_answers_of_bounded_size(app, client, dataset):
    repository = app.config['SAMPLE_REPOSITORY']
    run_id, sample_id = dataset.path_values['run_id'], dataset.path_values['sample_id']
    picks = '&'.join(f'{name}={value}' for name, value in dataset.query_values.items())
    regression_id = dataset.query_values['regression_id']
    sample = client.get(f'/api/v1/runs/{run_id}/samples/{sample_id}?regression_id={regression_id}',
                        headers=dataset.admin).get_json()
    expected = next(output['expected_hash'] for output in sample['outputs']
                    if output['output_id'] == dataset.query_values['output_id'])
    for path in Path(repository, 'TestResults').glob(f'{expected}*'):
        path.write_bytes(b'1\n00:00:01,000 --> 00:00:02,000\n' + b'A very long subtitle line. ' * 200_000)
    Path(repository, 'LogFiles', f'{run_id}.txt').write_bytes(b'[INFO] ' + b'x' * 1_000_000 + b'\n' * 20
                                                               + b'[INFO] line\n' * 1_500_000)
    bounds = {f'/api/v1/runs/{run_id}/samples/{sample_id}/expected?{picks}': 1_500_000,
              f'/api/v1/runs/{run_id}/samples/{sample_id}/expected?{picks}&format=text': 1_500_000,
              f'/api/v1/runs/{run_id}/samples/{sample_id}/diff?{picks}': 1_500_000,
              f'/api/v1/runs/{run_id}/logs?limit={PAGE_CAP}': 500_000,
              f'/api/v1/runs/{run_id}/samples/{sample_id}/logs?limit={PAGE_CAP}': 500_000}
    for url, bound in bounds.items():
        response = client.get(url, headers=dataset.admin)
        assert response.status_code in (200, 413, 422) and response.is_json, (url, response.status_code)
        assert len(response.data) < bound, (url, len(response.data))
