"""GET /runs/{run_id}/samples/{sample_id}/expected and /actual: whole output files, on both database backends.

The id mix also covers /diff (tested further in test_diff.py).

Storage: the local repository alone, and with the GCS emulator (file in one backend, both, neither; backend down or
hanging). Ids: every mix of runs, samples, regression tests and outputs is resolved like the platform's data says,
and the 404 names the first id that does not fit.
"""
import base64
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.legacy import RegressionTest, RegressionTestOutput
from mod_api.legacy import TestResultFile as RunResultFile
from mod_api.resources.results import SIZE_LIMITS, OutputFileSchema
from mod_api_tests import factories
from mod_api_tests.results_data import (
    ACTUAL_TEXT,
    BINARY_ACTUAL,
    BINARY_EXPECTED,
    EXPECTED_TEXT,
    FOREIGN_TEXT,
    OTHER_RUN_TEXT,
    SAME_TEXT,
    World,
    build_world,
    repository,
    results_path,
    store_files,
)

EXPECTED, ACTUAL = '/api/v1/runs/{}/samples/{}/expected', '/api/v1/runs/{}/samples/{}/actual'
DIFF = '/api/v1/runs/{}/samples/{}/diff'
UNKNOWN = 999_999


def reader(scopes: tuple[str, ...] = ('results:read',)) -> dict[str, str]:
    """Headers of a plain user's token with ``scopes``."""
    return factories.bearer(factories.make_token(factories.make_user('user'), list(scopes)))


@pytest.fixture()
def world(app: Flask) -> World:
    built = build_world()
    store_files(app, built.files)
    return built


@pytest.fixture()
def headers(world: World) -> dict[str, str]:
    return reader()


def get(client: FlaskClient, url: str, run: int, sample: int, headers: dict[str, str], **params: Any) -> Any:
    return client.get(url.format(run, sample), headers=headers, query_string=params)


def file_body(response: Any) -> dict[str, Any]:
    """A 200 OutputFile, checked against the response schema; its content decoded back to bytes as ``data``."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert OutputFileSchema().validate(body) == {}
    text = body['encoding'] == 'utf-8'
    body['data'] = body['content'].encode('utf-8') if text else base64.b64decode(body['content'], validate=True)
    assert body['sha256'] == hashlib.sha256(body['data']).hexdigest()
    assert body['size'] == len(body['data'])
    return body


# --- /expected -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('encoding', ['text', 'base64', None])
def test_expected_serves_the_reference_file_whole(client: FlaskClient, world: World, headers: dict[str, str],
                                                  encoding: str | None) -> None:
    params = world.params('main', 'text', **({'format': encoding} if encoding else {}))
    body = file_body(get(client, EXPECTED, world.done, world.first.id, headers, **params))

    assert body['data'] == EXPECTED_TEXT
    assert body['encoding'] == ('utf-8' if encoding == 'text' else 'base64')
    if encoding == 'text':
        assert body['content'] == EXPECTED_TEXT.decode()  # CRLF line ends kept
    expected_name = results_path(EXPECTED_TEXT).split('/')[1]
    assert {key: body[key] for key in ('run_id', 'sample_id', 'regression_id', 'output_id', 'filename',
                                       'content_type', 'storage_status')} == {
        'run_id': world.done, 'sample_id': world.first.id, 'regression_id': world.tests['main'].id,
        'output_id': world.outputs['text'], 'filename': expected_name, 'content_type': 'application/x-subrip',
        'storage_status': 'ok'}  # GCS is not configured: the local folder is all the storage there is


def test_non_ascii_text_is_served_as_utf8(client: FlaskClient, world: World, headers: dict[str, str]) -> None:
    body = file_body(get(client, EXPECTED, world.done, world.first.id, headers,
                         **world.params('main', 'same', format='text')))
    assert body['content'] == 'Grüße, 字幕\n'
    assert body['data'] == SAME_TEXT


def test_a_binary_file_is_base64_only(client: FlaskClient, world: World, headers: dict[str, str]) -> None:
    params = world.params('main', 'binary')
    body = file_body(get(client, EXPECTED, world.done, world.first.id, headers, **params))
    assert body['data'] == BINARY_EXPECTED

    refused = get(client, EXPECTED, world.done, world.first.id, headers, **params, format='text')
    details = factories.assert_error(refused, 400, 'not_utf8')
    assert details == {'format': 'text', 'offset': 128, 'size': len(BINARY_EXPECTED)}
    assert 'format=base64' in refused.get_json()['message']


def test_an_empty_file_is_served(client: FlaskClient, app: Flask, world: World, headers: dict[str, str]) -> None:
    (repository(app) / results_path(EXPECTED_TEXT)).write_bytes(b'')
    for encoding in ('text', 'base64'):
        body = file_body(get(client, EXPECTED, world.done, world.first.id, headers,
                             **world.params('main', 'text', format=encoding)))
        assert (body['content'], body['size']) == ('', 0)
        assert body['sha256'] == hashlib.sha256(b'').hexdigest()


def test_a_reference_in_no_backend_is_404(client: FlaskClient, world: World, headers: dict[str, str]) -> None:
    response = get(client, EXPECTED, world.done, world.second.id, headers, **world.params('gone', 'unreferenced'))
    details = factories.assert_error(response, 404, 'file_not_found')
    assert details['resource'] == 'expected_output'
    assert details['checked'] == ['local']
    assert details['path'].startswith('TestResults/')


def test_an_output_without_a_reference_name_is_404(client: FlaskClient, world: World,
                                                    headers: dict[str, str]) -> None:
    db.session.get(RegressionTestOutput, world.outputs['text']).correct = None
    db.session.commit()
    response = get(client, EXPECTED, world.done, world.first.id, headers, **world.params('main', 'text'))
    assert factories.assert_error(response, 404, 'file_not_found') == {
        'resource': 'expected_output', 'path': None, 'checked': []}


def test_a_reference_name_that_is_no_safe_path_is_never_looked_up(client: FlaskClient, app: Flask, world: World,
                                                                   headers: dict[str, str]) -> None:
    (repository(app) / 'secret.srt').write_bytes(b'outside TestResults')
    db.session.get(RegressionTestOutput, world.outputs['text']).correct = '../secret'
    db.session.commit()
    response = get(client, EXPECTED, world.done, world.first.id, headers, **world.params('main', 'text'))
    assert factories.assert_error(response, 404, 'file_not_found')['path'] is None


# --- sizes ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('encoding', ['text', 'base64'])
def test_the_largest_file_is_served_whole_and_one_byte_more_is_413(client: FlaskClient, app: Flask, world: World,
                                                                   headers: dict[str, str], encoding: str) -> None:
    limit = SIZE_LIMITS[encoding]
    path = repository(app) / results_path(EXPECTED_TEXT)
    path.write_bytes(b'x' * limit)
    params = world.params('main', 'text', format=encoding)
    body = file_body(get(client, EXPECTED, world.done, world.first.id, headers, **params))
    assert len(body['content']) <= 1024 * 1024 and body['size'] == limit

    path.write_bytes(b'x' * (limit + 1))
    response = get(client, EXPECTED, world.done, world.first.id, headers, **params)
    details = factories.assert_error(response, 413, 'output_too_large')
    assert details == {'size': limit + 1, 'limit': limit, 'format': encoding,
                       'path': results_path(EXPECTED_TEXT),
                       'artifacts_url': f'http://localhost/api/v1/runs/{world.done}/artifacts'}


def test_limits_fit_the_contracts_content_length() -> None:
    assert SIZE_LIMITS == {'text': 1024 * 1024, 'base64': 786432}
    assert len(base64.b64encode(b'x' * SIZE_LIMITS['base64'])) == 1024 * 1024


# --- /actual -------------------------------------------------------------------------------------------------------

def test_actual_serves_the_runs_differing_output(client: FlaskClient, world: World, headers: dict[str, str]) -> None:
    body = file_body(get(client, ACTUAL, world.done, world.first.id, headers,
                         **world.params('main', 'text', format='text')))
    assert body['data'] == ACTUAL_TEXT
    assert (body['run_id'], body['filename'], body['storage_status']) == (
        world.done, results_path(ACTUAL_TEXT).split('/')[1], 'ok')

    other = file_body(get(client, ACTUAL, world.rerun, world.first.id, headers, **world.params('main', 'text')))
    assert other['data'] == OTHER_RUN_TEXT  # each run serves its own output

    binary = file_body(get(client, ACTUAL, world.done, world.first.id, headers, **world.params('main', 'binary')))
    assert binary['data'] == BINARY_ACTUAL
    refused = get(client, ACTUAL, world.done, world.first.id, headers, **world.params('main', 'binary', format='text'))
    factories.assert_error(refused, 400, 'not_utf8')


def test_an_output_equal_to_a_variant_is_served_too(client: FlaskClient, world: World,
                                                    headers: dict[str, str]) -> None:
    body = file_body(get(client, ACTUAL, world.done, world.second.id, headers, **world.params('variant', 'accepted')))
    assert body['sha256'] == db.session.get(RunResultFile, (world.done, world.tests['variant'].id,
                                                             world.outputs['accepted'])).got


@pytest.mark.parametrize('test, output, sample', [('main', 'same', 'first'), ('main', 'foreign', 'first')])
def test_a_matched_output_is_204_without_a_body(client: FlaskClient, world: World, headers: dict[str, str],
                                                test: str, output: str, sample: str) -> None:
    response = get(client, ACTUAL, world.done, getattr(world, sample).id, headers, **world.params(test, output))
    assert response.status_code == 204
    assert response.get_data() == b''


def test_the_platforms_missing_output_is_404_missing_output(client: FlaskClient, world: World,
                                                           headers: dict[str, str]) -> None:
    response = get(client, ACTUAL, world.done, world.first.id, headers, **world.params('missing', 'lost'))
    assert factories.assert_error(response, 404, 'missing_output') == {
        'resource': 'actual_output', 'run_id': world.done, 'regression_id': world.tests['missing'].id,
        'output_id': world.outputs['lost']}


@pytest.mark.parametrize('run, test, output, status', [
    ('done', 'main', 'ignored', None),  # an ignored output without a row
    ('unfinished', 'main', 'text', None),  # the run has not got that far
    ('rerun', 'main', 'same', 'missing_expected'),  # not reported while another output was
])
def test_no_row_for_the_output_otherwise_is_404_output_not_reported(client: FlaskClient, world: World,
                                                                    headers: dict[str, str], run: str, test: str,
                                                                    output: str, status: str | None) -> None:
    response = get(client, ACTUAL, getattr(world, run), world.first.id, headers, **world.params(test, output))
    details = factories.assert_error(response, 404, 'output_not_reported')
    assert (details['resource'], details['output_status']) == ('actual_output', status)


def test_an_actual_output_in_no_backend_is_404(client: FlaskClient, world: World, headers: dict[str, str]) -> None:
    response = get(client, ACTUAL, world.done, world.second.id, headers, **world.params('gone', 'vanished'))
    details = factories.assert_error(response, 404, 'file_not_found')
    assert (details['resource'], details['checked']) == ('actual_output', ['local'])


def test_a_file_vanishing_between_check_and_read_is_404(client: FlaskClient, app: Flask, world: World,
                                                        headers: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    storage = app.extensions['mod_api'].storage
    read_bytes = storage.read_bytes

    def vanish(path: str, max_bytes: int) -> bytes:
        (repository(app) / path).unlink()
        return read_bytes(path, max_bytes)

    monkeypatch.setattr(storage, 'read_bytes', vanish)
    response = get(client, ACTUAL, world.done, world.first.id, headers, **world.params('main', 'text'))
    assert factories.assert_error(response, 404, 'file_not_found')['problems'] == {'read': 'FileMissing'}


# --- both storage backends -----------------------------------------------------------------------------------------

@pytest.fixture()
def gcs_app(make_app: Any, gcs_config: dict[str, Any]) -> Iterator[Flask]:
    application = make_app(API_GCS_TIMEOUT_SECONDS=1, **gcs_config)
    with application.app_context():
        yield application


@pytest.mark.parametrize('where, status', [('both', 'ok'), ('local', 'degraded'), ('gcs', 'degraded')])
@pytest.mark.parametrize('url', [EXPECTED, ACTUAL])
def test_storage_status_with_gcs(gcs_app: Flask, gcs_emulator: Any, where: str, status: str, url: str) -> None:
    world = build_world()
    store_files(gcs_app, world.files, where, gcs_emulator)
    body = file_body(get(gcs_app.test_client(), url, world.done, world.first.id, reader(),
                         **world.params('main', 'text')))
    assert body['storage_status'] == status
    assert body['data'] == (EXPECTED_TEXT if url == EXPECTED else ACTUAL_TEXT)


def test_a_file_in_neither_backend_is_404_naming_both(gcs_app: Flask, gcs_emulator: Any) -> None:
    world = build_world()
    response = get(gcs_app.test_client(), EXPECTED, world.done, world.first.id, reader(),
                   **world.params('main', 'text'))
    details = factories.assert_error(response, 404, 'file_not_found')
    assert (details['checked'], details['problems']) == (['local', 'gcs'], {})


def test_a_gcs_backend_that_is_down_counts_as_not_having_the_file(gcs_app: Flask, gcs_emulator: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    world = build_world()
    store_files(gcs_app, {results_path(EXPECTED_TEXT): EXPECTED_TEXT}, 'both', gcs_emulator)
    store_files(gcs_app, {results_path(ACTUAL_TEXT): ACTUAL_TEXT}, 'gcs', gcs_emulator)
    gcs_emulator.stop()
    client, headers = gcs_app.test_client(), reader()

    expected = file_body(get(client, EXPECTED, world.done, world.first.id, headers, **world.params('main', 'text')))
    assert (expected['data'], expected['storage_status']) == (EXPECTED_TEXT, 'degraded')
    response = get(client, ACTUAL, world.done, world.first.id, headers, **world.params('main', 'text'))
    details = factories.assert_error(response, 404, 'file_not_found')
    assert details['checked'] == ['local', 'gcs'] and 'gcs' in details['problems']
    assert 'GCS check of' in caplog.text


def test_a_hanging_gcs_backend_times_out_into_degraded(gcs_app: Flask, gcs_emulator: Any) -> None:
    world = build_world()
    store_files(gcs_app, {results_path(EXPECTED_TEXT): EXPECTED_TEXT}, 'both', gcs_emulator)
    with gcs_emulator.hang():
        body = file_body(get(gcs_app.test_client(), EXPECTED, world.done, world.first.id, reader(),
                             **world.params('main', 'text')))
    assert (body['data'], body['storage_status']) == (EXPECTED_TEXT, 'degraded')


def test_a_large_gcs_file_is_refused_from_its_metadata(gcs_app: Flask, gcs_emulator: Any) -> None:
    world = build_world()
    store_files(gcs_app, {results_path(EXPECTED_TEXT): b'y' * (2 * 1024 * 1024)}, 'gcs', gcs_emulator)
    before = gcs_emulator.requests
    response = get(gcs_app.test_client(), EXPECTED, world.done, world.first.id, reader(),
                   **world.params('main', 'text'))
    assert factories.assert_error(response, 413, 'output_too_large')['size'] == 2 * 1024 * 1024
    assert gcs_emulator.requests - before == 2  # two metadata lookups (status, then open), no download


# --- ids -----------------------------------------------------------------------------------------------------------

def first_misfit(world: World, run: int, sample: int, regression: int, output: int) -> str | None:
    """The resource the API must name in its 404 for these ids (None: they fit), from the world's own data."""
    if run not in (world.done, world.rerun, world.narrow, world.unfinished):
        return 'run'
    if sample not in (world.first.id, world.second.id):
        return 'sample'
    test = db.session.get(RegressionTest, regression)
    in_scope = run != world.narrow or regression == world.tests['variant'].id
    if test is None or test.sample_id != sample or not in_scope:
        return 'regression_test'
    owner = db.session.get(RegressionTestOutput, output)
    row = db.session.get(RunResultFile, (run, regression, output))
    if owner is None or (owner.regression_id != regression and row is None):
        return 'output'
    return None


@pytest.fixture()
def roomy_app(make_app: Any) -> Iterator[Flask]:
    """An app whose read budget lets one token make hundreds of requests."""
    application = make_app(API_READ_LIMIT='100000/minute')
    with application.app_context():
        yield application


@pytest.mark.parametrize('url', [EXPECTED, ACTUAL, DIFF])
def test_every_mix_of_ids_is_resolved_or_names_the_misfit(roomy_app: Flask, url: str) -> None:
    world = build_world()
    store_files(roomy_app, world.files)
    client, headers = roomy_app.test_client(), reader()
    runs = (world.done, world.rerun, world.narrow, UNKNOWN)
    samples = (world.first.id, world.second.id, UNKNOWN)
    tests = tuple(test.id for test in world.tests.values()) + (UNKNOWN,)
    outputs = tuple(world.outputs.values()) + (UNKNOWN,)
    checked = reached = 0
    for run, sample, regression, output in itertools.product(runs, samples, tests, outputs):
        misfit = first_misfit(world, run, sample, regression, output)
        response = get(client, url, run, sample, headers, regression_id=regression, output_id=output)
        if misfit is None:
            reached += 1
            assert response.status_code in (200, 204, 404), response.get_data(as_text=True)
            if response.status_code == 404:
                assert response.get_json()['code'] in ('file_not_found', 'missing_output', 'output_not_reported')
            if response.status_code == 200:
                assert (response.get_json()['run_id'], response.get_json()['output_id']) == (run, output)
        else:
            details = factories.assert_error(response, 404, 'not_found')
            expected_id = {'run': run, 'sample': sample, 'regression_test': regression, 'output': output}[misfit]
            assert (details['resource'], details['id']) == (misfit, expected_id), (run, sample, regression, output)
        checked += 1
    assert checked == 4 * 3 * 6 * 10 and reached == 10 + 9 + 1  # done, rerun (no foreign row), narrow


def test_an_output_compared_by_another_tests_row_is_reachable_only_in_that_run(client: FlaskClient, world: World,
                                                                              headers: dict[str, str]) -> None:
    params = world.params('main', 'foreign')
    body = file_body(get(client, EXPECTED, world.done, world.first.id, headers, **params))
    assert body['data'] == FOREIGN_TEXT
    refused = get(client, EXPECTED, world.rerun, world.first.id, headers, **params)
    assert factories.assert_error(refused, 404, 'not_found')['resource'] == 'output'


# --- validation and access -----------------------------------------------------------------------------------------

@pytest.mark.parametrize('params, field', [
    ({'output_id': 1}, 'regression_id'),
    ({'regression_id': 1}, 'output_id'),
    ({'regression_id': 1, 'output_id': 0}, 'output_id'),
    ({'regression_id': -1, 'output_id': 1}, 'regression_id'),
    ({'regression_id': 'x', 'output_id': 1}, 'regression_id'),
    ({'regression_id': 1, 'output_id': 2**31}, 'output_id'),
    ({'regression_id': 1, 'output_id': 1, 'format': 'utf-8'}, 'format'),
    ({'regression_id': 1, 'output_id': 1, 'format': 'unified'}, 'format'),
    ({'regression_id': 1, 'output_id': 1, 'context_lines': 3}, 'context_lines'),
])
@pytest.mark.parametrize('url', [EXPECTED, ACTUAL])
def test_invalid_queries_are_400(client: FlaskClient, world: World, headers: dict[str, str], url: str,
                                 params: dict[str, Any], field: str) -> None:
    response = get(client, url, world.done, world.first.id, headers, **params)
    assert field in factories.assert_error(response, 400, 'validation_error')['fields']


def test_reading_needs_a_token_with_results_read(client: FlaskClient, world: World) -> None:
    params = world.params('main', 'text')
    unauthenticated = client.get(EXPECTED.format(world.done, world.first.id), query_string=params)
    factories.assert_error(unauthenticated, 401, 'unauthorized')
    without_scope = get(client, ACTUAL, world.done, world.first.id, reader(('runs:read',)), **params)
    assert factories.assert_error(without_scope, 403, 'forbidden')['required_scope'] == 'results:read'
