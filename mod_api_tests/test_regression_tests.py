"""GET /regression-tests on both backends: fields, OutputFile references and their storage status, filters, pages."""
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.content_types import content_type_for
from mod_api.legacy import Category, RegressionTest, RegressionTestOutput, Sample
from mod_api.regression_query import QUERY_COUNT
from mod_api.resources.regression_tests import RegressionTestPageSchema
from mod_api_tests.factories import assert_error
from mod_api_tests.runs_data import REF, VARIANT, add_category, add_regression_test, add_sample, store
from mod_api_tests.samples_data import add_tag, page_ids, reader, tag_sample, write_file
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/regression-tests'


def listing(client: FlaskClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(URL, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert RegressionTestPageSchema().validate(body) == {}
    return body


def add_output(test: RegressionTest, correct: str | None, extension: str = '.srt') -> RegressionTestOutput:
    output = RegressionTestOutput(test.id, correct, extension, '')  # type: ignore[arg-type]
    store(output)
    return output


@pytest.mark.parametrize('extension, expected', [
    ('.srt', 'application/x-subrip'), ('srt', 'application/x-subrip'), ('.SRT', 'application/x-subrip'),
    ('.txt', 'text/plain'), ('.ttxt', 'text/plain'), ('.xml', 'application/xml'), ('.dfxp', 'application/xml'),
    ('.vtt', 'text/vtt'), ('.bin', 'application/octet-stream'), ('', 'application/octet-stream'),
    (None, 'application/octet-stream')])
def test_content_types_by_extension(extension: str | None, expected: str) -> None:
    assert content_type_for(extension) == expected


# --- documents -------------------------------------------------------------------------------------------------

def test_a_regression_test_has_every_field(app: Flask, client: FlaskClient) -> None:
    sample = add_sample()
    tag_sample(sample, add_tag('DVB'))
    second, first = add_category('Second'), add_category('First')  # first by id: 'Second'
    test, (reference,) = add_regression_test(first, second, sample=sample, command='-autoprogram -out=srt',
                                             outputs=((REF, False),))
    write_file(f'TestResults/{REF}.srt', b'1\n00:00:01,000 --> 00:00:02,000\nHello\n')
    body = listing(client, reader())
    assert body['data'] == [{
        'regression_id': test.id, 'sample_id': sample.id, 'command': '-autoprogram -out=srt', 'active': True,
        'category': 'Second', 'tags': ['DVB'],
        'expected_outputs': [{
            'run_id': None, 'sample_id': sample.id, 'regression_id': test.id, 'output_id': reference.id,
            'filename': f'{REF}.srt', 'content_type': 'application/x-subrip', 'encoding': 'base64', 'content': '',
            'sha256': REF, 'storage_status': 'ok'}],
    }]
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 1, 'next_offset': None}


def test_output_references_of_odd_rows(app: Flask, client: FlaskClient) -> None:
    test, _ = add_regression_test(sample=add_sample())
    legacy = add_output(test, 'test1', 'srt')  # the legacy installer: no dot, not a hash
    write_file('TestResults/test1srt', b'legacy')
    absent = add_output(test, VARIANT, '.vtt')
    empty = add_output(test, None, '.xml')
    unsafe = add_output(test, '../../etc/passwd', '.txt')
    write_file('etc/passwd.txt', b'outside TestResults')
    references = {item['output_id']: item for item in listing(client, reader())['data'][0]['expected_outputs']}
    assert references[legacy.id]['filename'] == 'test1srt'
    assert references[legacy.id]['storage_status'] == 'ok'
    assert references[legacy.id]['content_type'] == 'application/x-subrip'
    assert 'sha256' not in references[legacy.id]
    assert references[absent.id]['storage_status'] == 'missing'
    assert references[absent.id]['sha256'] == VARIANT
    assert references[absent.id]['content_type'] == 'text/vtt'
    assert references[empty.id]['filename'] == f'output_{empty.id}'
    assert references[empty.id]['storage_status'] == 'missing'
    assert references[unsafe.id]['storage_status'] == 'missing'
    assert references[unsafe.id]['filename'] == '.._.._etc_passwd.txt'


def test_contract_bounds(app: Flask, client: FlaskClient) -> None:
    test, outputs = add_regression_test(sample=add_sample(), command='x' * 600,
                                        outputs=[(f'{index:064x}', False) for index in range(25)])
    test.active = None
    store(test)
    (item,) = listing(client, reader())['data']
    assert item['command'] == 'x' * 500
    assert item['active'] is False
    assert 'category' not in item
    assert [output['output_id'] for output in item['expected_outputs']] == [output.id for output in outputs[:20]]


def test_tests_without_a_sample_are_not_listed(app: Flask, client: FlaskClient) -> None:
    add_regression_test()
    kept, _ = add_regression_test(sample=add_sample())
    body = listing(client, reader())
    assert page_ids(body, 'regression_id') == [kept.id]
    assert body['pagination']['total'] == 1


@pytest.mark.parametrize('local, remote, expected', [
    (True, True, 'ok'), (True, False, 'degraded'), (False, True, 'degraded'), (False, False, 'missing')])
def test_storage_status_with_gcs(make_app: Any, gcs_emulator: Any, gcs_config: dict, local: bool, remote: bool,
                                 expected: str) -> None:
    app = make_app(**gcs_config)
    with app.app_context():
        add_regression_test(sample=add_sample(), outputs=((REF, False),))
        if local:
            write_file(f'TestResults/{REF}.srt', b'local', app)
        if remote:
            gcs_emulator.put(f'TestResults/{REF}.srt', b'remote')
        (item,) = listing(app.test_client(), reader())['data']
    assert item['expected_outputs'][0]['storage_status'] == expected


def test_gcs_down_counts_as_absent(make_app: Any, gcs_emulator: Any, gcs_config: dict) -> None:
    app = make_app(**gcs_config)
    with app.app_context():
        add_regression_test(sample=add_sample(), outputs=((REF, False), (VARIANT, False)))
        write_file(f'TestResults/{REF}.srt', b'local', app)
        headers = reader()
        gcs_emulator.stop()
        (item,) = listing(app.test_client(), headers)['data']
    assert [output['storage_status'] for output in item['expected_outputs']] == ['degraded', 'missing']


# --- filters and pages -----------------------------------------------------------------------------------------

@pytest.fixture()
def definitions(app: Flask) -> dict[str, Any]:
    """Tests over two samples: active/inactive/NULL flags, categories (first by id decides), tags."""
    dvb, dvd = add_sample(), add_sample()
    tag_sample(dvb, add_tag('DVB'))
    tag_sample(dvd, add_tag('DVD'), add_tag('Teletext'))
    general, broken = add_category('General'), add_category('Broken')
    tests = {
        'general': add_regression_test(general, sample=dvb)[0],
        'both': add_regression_test(broken, general, sample=dvb, active=False)[0],  # shown: General (lower id)
        'broken': add_regression_test(broken, sample=dvd)[0],
        'null': add_regression_test(sample=dvd)[0],
    }
    tests['null'].active = None
    store(tests['null'])
    return {'tests': tests, 'dvb': dvb, 'dvd': dvd}


@pytest.mark.parametrize('params, expected', [
    ({}, ['general', 'both', 'broken', 'null']),
    ({'active': 'true'}, ['general', 'broken']),
    ({'active': 'false'}, ['both', 'null']),
    ({'category': 'general'}, ['general', 'both']),
    ({'category': 'BROKEN'}, ['broken']),
    ({'category': 'Gen'}, []),
    ({'tag': 'teletext'}, ['broken', 'null']),
    ({'tag': 'DVB'}, ['general', 'both']),
    ({'sample': 'dvd'}, ['broken', 'null']),
    ({'sample': 'dvb', 'active': 'false'}, ['both']),
    ({'category': 'General', 'active': 'true', 'tag': 'dvb'}, ['general']),
])
def test_filters(client: FlaskClient, definitions: dict[str, Any], params: dict[str, str],
                 expected: list[str]) -> None:
    query = {('sample_id' if name == 'sample' else name): (definitions[value].id if name == 'sample' else value)
             for name, value in params.items()}
    body = listing(client, reader(), **query)
    assert page_ids(body, 'regression_id') == [definitions['tests'][name].id for name in expected]
    assert body['pagination']['total'] == len(expected)


def test_shown_category_is_the_one_filtered(client: FlaskClient, definitions: dict[str, Any]) -> None:
    body = listing(client, reader())
    assert {item['regression_id']: item.get('category') for item in body['data']} == {
        definitions['tests']['general'].id: 'General', definitions['tests']['both'].id: 'General',
        definitions['tests']['broken'].id: 'Broken', definitions['tests']['null'].id: None}


def test_pagination_by_id(client: FlaskClient, definitions: dict[str, Any]) -> None:
    headers = reader()
    ordered = sorted(test.id for test in definitions['tests'].values())
    first = listing(client, headers, limit=3)
    assert page_ids(first, 'regression_id') == ordered[:3]
    assert first['pagination'] == {'limit': 3, 'offset': 0, 'total': 4, 'next_offset': 3}
    last = listing(client, headers, limit=3, offset=3)
    assert page_ids(last, 'regression_id') == ordered[3:]
    assert last['pagination']['next_offset'] is None


@pytest.mark.parametrize('params, field', [
    ({'active': 'yes'}, 'active'), ({'active': '1'}, 'active'), ({'active': 'True'}, 'active'),
    ({'sample_id': '0'}, 'sample_id'), ({'sample_id': 'x'}, 'sample_id'), ({'sample_id': '2147483648'}, 'sample_id'),
    ({'category': 'c' * 51}, 'category'), ({'tag': 't' * 51}, 'tag'), ({'limit': '0'}, 'limit'),
    ({'offset': '-1'}, 'offset'), ({'name': 'x'}, 'name'),
])
def test_invalid_queries_are_400(app: Flask, client: FlaskClient, params: dict[str, str], field: str) -> None:
    details = assert_error(client.get(URL, headers=reader(), query_string=params), 400, 'validation_error')
    assert field in details['fields']


def test_needs_a_token(app: Flask, client: FlaskClient) -> None:
    assert_error(client.get(URL), 401, 'unauthorized')


def test_query_count_is_constant_in_page_size(app: Flask, client: FlaskClient) -> None:
    categories: list[Category] = [add_category(f'C{index}') for index in range(3)]
    samples: list[Sample] = [add_sample() for _ in range(3)]
    for index, sample in enumerate(samples):
        tag_sample(sample, add_tag(f'tag-{index}'))
    for index in range(30):
        add_regression_test(categories[index % 3], sample=samples[index % 3],
                            outputs=[(f'{index * 10 + output:064x}', False) for output in range(3)])
    headers = reader()
    listing(client, headers)  # the token's first use is recorded once
    with counted_queries() as one:
        assert len(listing(client, headers, limit=1)['data']) == 1
    with counted_queries() as many:
        assert len(listing(client, headers, limit=30)['data']) == 30
    assert len(one) == len(many) == 1 + QUERY_COUNT  # + the token lookup
