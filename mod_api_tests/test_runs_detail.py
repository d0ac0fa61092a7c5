"""``GET /runs/{run_id}`` and its summary, progress and config through HTTP on both backends, with ETags."""
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.legacy import Test as Run
from mod_api.legacy import TestStatus, TestType
from mod_api_tests import factories
from mod_api_tests.runs_data import (
    BASE_TIME,
    DONE,
    REF,
    VARIANT,
    add_api_cancellation,
    add_category,
    add_customized,
    add_fork,
    add_owner,
    add_progress,
    add_record,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
    add_variant,
)

URL = '/api/v1/runs'
SUFFIXES = ('', '/summary', '/progress', '/config')


@pytest.fixture()
def headers(app: Flask) -> dict[str, str]:
    return factories.bearer(factories.make_token(factories.make_user('contributor')))


def fetch(client: FlaskClient, headers: dict[str, str], path: str, **params: Any) -> dict[str, Any]:
    response = client.get(f'{URL}/{path}', query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def judged_run() -> tuple[int, dict[str, int]]:
    """A completed PR run with one sample of each status a finished run can have; returns run id and test ids."""
    category = add_category('DVB')
    passed, (passed_output,) = add_regression_test(category, outputs=((REF, False),))
    varied, (varied_output,) = add_regression_test(category, outputs=((REF, False),))
    add_variant(varied_output, VARIANT)
    failed, (failed_output,) = add_regression_test(category, outputs=((REF, False),))
    wrong_code, _ = add_regression_test(category, expected_rc=0)
    missing, _ = add_regression_test(category, outputs=((REF, False), (REF, None)))
    skipped, _ = add_regression_test(category, outputs=((REF, True), (REF, None)))
    add_regression_test(outputs=((REF, False),))  # in no category: never a sample
    run = add_run(fork=add_fork('https://github.com/Contributor/ccextractor.git'), progress=DONE,
                  branch='pull_request', pr_nr=1601, test_type=TestType.pull_request, commit='0123456789' * 4)
    add_result(run, passed)
    add_result_file(run, passed, passed_output)
    add_result(run, varied)
    add_result_file(run, varied, varied_output, got=VARIANT)
    add_result(run, failed)
    add_result_file(run, failed, failed_output, got='e' * 64)
    add_result(run, wrong_code, exit_code=3, expected_rc=0)
    db.session.commit()
    return run.id, {'pass': passed.id, 'fail': failed.id, 'missing': missing.id, 'skipped': skipped.id}


# --- detail ----------------------------------------------------------------------------------------------------

def test_a_finished_run_has_every_field(client: FlaskClient, headers: dict[str, str]) -> None:
    run_id, _ = judged_run()
    owner = factories.make_user('contributor', email='owner@example.org')
    add_owner(db.session.get(Run, run_id), owner)
    db.session.commit()

    run = fetch(client, headers, str(run_id))

    base = f'http://localhost/api/v1/runs/{run_id}'
    assert run == {
        'run_id': run_id, 'status': 'fail', 'repository': 'Contributor/ccextractor', 'branch': 'pull_request',
        'commit_sha': '0123456789' * 4, 'commit_short': '0123456', 'pull_request': 1601, 'platform': 'linux',
        'run_errors': 'no', 'triggered_by': 'owner@example.org', 'created_at': '2024-05-17T12:00:00Z',
        'queued_at': '2024-05-17T12:00:00Z', 'started_at': '2024-05-17T12:00:00Z',
        'completed_at': '2024-05-17T12:02:00Z', 'duration_ms': 120000,
        'links': {'self': base, 'summary': f'{base}/summary', 'progress': f'{base}/progress',
                  'samples': f'{base}/samples', 'config': f'{base}/config', 'errors': f'{base}/errors',
                  'error_summary': f'{base}/error-summary', 'infrastructure_errors': f'{base}/infrastructure-errors',
                  'logs': f'{base}/logs', 'artifacts': f'{base}/artifacts'}}


def test_a_run_created_through_the_api_shows_its_record(client: FlaskClient, headers: dict[str, str]) -> None:
    run = add_run('windows')
    add_record(run, datetime(2024, 5, 1, 8, 30), triggered_by='x' * 120)
    db.session.commit()

    document = fetch(client, headers, str(run.id))

    assert (document['status'], document['run_errors'], document['created_at'], document['queued_at']) == (
        'queued', 'unknown', '2024-05-01T08:30:00Z', '2024-05-01T08:30:00Z')
    assert (document['started_at'], document['completed_at'], document['duration_ms']) == (None, None, None)
    assert document['triggered_by'] == 'x' * 100
    assert document['pull_request'] is None


@pytest.mark.parametrize('suffix', SUFFIXES)
def test_an_unknown_run_is_404(client: FlaskClient, headers: dict[str, str], suffix: str) -> None:
    details = factories.assert_error(client.get(f'{URL}/424242{suffix}', headers=headers), 404, 'not_found')
    assert details == {'resource': 'run', 'id': 424242}


@pytest.mark.parametrize('suffix', SUFFIXES)
def test_unknown_parameters_and_bad_ids_are_400(client: FlaskClient, headers: dict[str, str], suffix: str) -> None:
    run = add_run()
    db.session.commit()
    details = factories.assert_error(client.get(f'{URL}/{run.id}{suffix}?colour=red', headers=headers), 400,
                                     'validation_error')
    assert 'colour' in details['fields']
    factories.assert_error(client.get(f'{URL}/0{suffix}', headers=headers), 400, 'validation_error')


# --- summary ---------------------------------------------------------------------------------------------------

def test_summary_counts_come_from_the_results_and_partition_the_total(client: FlaskClient,
                                                                      headers: dict[str, str]) -> None:
    run_id, _ = judged_run()
    assert fetch(client, headers, f'{run_id}/summary') == {
        'run_id': run_id, 'total_samples': 6, 'pass_count': 2, 'fail_count': 2, 'skipped_count': 1,
        'missing_output_count': 1, 'error_count': 0, 'duration_ms': 120000, 'triggered_by': None}


def test_fail_count_ignores_test_failed(client: FlaskClient, headers: dict[str, str]) -> None:
    """A canceled run (test.failed) whose reported tests passed has no failure; unreached tests are skipped."""
    category = add_category()
    first, (output,) = add_regression_test(category, outputs=((REF, False),))
    second, _ = add_regression_test(category, outputs=((REF, False),))
    stopped = add_run(progress=((TestStatus.preparation, 'Loaded'), (TestStatus.testing, 'Running'),
                                (TestStatus.canceled, 'Canceled by user')))
    add_result(stopped, first)
    add_result_file(stopped, first, output)
    running = add_run(progress=((TestStatus.preparation, 'Loaded'), (TestStatus.testing, 'Running')))
    add_result(running, first, exit_code=1)
    db.session.commit()

    stopped_summary = fetch(client, headers, f'{stopped.id}/summary')
    assert (stopped_summary['pass_count'], stopped_summary['fail_count'], stopped_summary['missing_output_count'],
            stopped_summary['total_samples']) == (1, 0, 1, 2)
    assert fetch(client, headers, str(stopped.id))['run_errors'] == 'yes'
    running_summary = fetch(client, headers, f'{running.id}/summary')
    assert (running_summary['fail_count'], running_summary['skipped_count'], running_summary['duration_ms']) == (
        1, 1, None)


# --- progress --------------------------------------------------------------------------------------------------

def test_progress_maps_rows_naive_or_aware_to_utc_with_z(client: FlaskClient, headers: dict[str, str]) -> None:
    run = add_run(progress=((TestStatus.preparation, 'Loaded', datetime(2024, 5, 17, 12, 0, 0)),
                            (TestStatus.testing, 'Running tests', datetime(2024, 5, 17, 12, 5, 0, tzinfo=UTC)),
                            (TestStatus.canceled, ' Canceled by user\n', datetime(2024, 5, 17, 12, 6)),
                            (TestStatus.testing, 'Revived', datetime(2024, 5, 17, 12, 7)),
                            (TestStatus.canceled, 'Duplicate Entries', datetime(2024, 5, 17, 12, 8)),
                            (TestStatus.completed, 'Ran all tests', datetime(2024, 5, 17, 12, 9))))
    db.session.commit()

    body = fetch(client, headers, f'{run.id}/progress')

    assert body['data'] == [
        {'timestamp': '2024-05-17T12:00:00Z', 'status': 'preparation', 'message': 'Loaded', 'step': 0},
        {'timestamp': '2024-05-17T12:05:00Z', 'status': 'testing', 'message': 'Running tests', 'step': 1},
        {'timestamp': '2024-05-17T12:06:00Z', 'status': 'canceled', 'message': ' Canceled by user\n', 'step': None},
        {'timestamp': '2024-05-17T12:07:00Z', 'status': 'testing', 'message': 'Revived', 'step': 1},
        {'timestamp': '2024-05-17T12:08:00Z', 'status': 'error', 'message': 'Duplicate Entries', 'step': None},
        {'timestamp': '2024-05-17T12:09:00Z', 'status': 'completed', 'message': 'Ran all tests', 'step': 2}]
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 6, 'next_offset': None}


def test_progress_filters_and_pages(client: FlaskClient, headers: dict[str, str]) -> None:
    run = add_run(progress=DONE)
    user = factories.make_user('admin')
    add_api_cancellation(run, user, message='Stopped from the API')
    add_progress(run, (TestStatus.testing, 'Again', BASE_TIME + timedelta(hours=2)))
    db.session.commit()
    path = f'{run.id}/progress'

    assert [event['status'] for event in fetch(client, headers, path)['data']] == [
        'preparation', 'testing', 'completed', 'canceled', 'testing']
    testing = fetch(client, headers, path, status='testing')
    assert [event['message'] for event in testing['data']] == ['Running tests', 'Again']
    assert testing['pagination']['total'] == 2
    assert fetch(client, headers, path, status='canceled')['data'][0]['message'] == 'Stopped from the API'
    assert fetch(client, headers, path, status='queued')['data'] == []
    page = fetch(client, headers, path, limit=2, offset=2)
    assert [event['status'] for event in page['data']] == ['completed', 'canceled']
    assert page['pagination'] == {'limit': 2, 'offset': 2, 'total': 5, 'next_offset': 4}
    assert fetch(client, headers, path, offset=9)['data'] == []
    for params in ({'status': 'running'}, {'limit': 0}, {'limit': 101}, {'offset': -1}):
        response = client.get(f'{URL}/{path}', query_string=params, headers=headers)
        assert next(iter(params)) in factories.assert_error(response, 400, 'validation_error')['fields']


def test_a_queued_run_has_one_queued_event_at_its_creation(client: FlaskClient, headers: dict[str, str]) -> None:
    recorded = add_run()
    add_record(recorded, datetime(2024, 5, 1, 8, 30))
    starting = add_run(vm=True)
    db.session.commit()

    assert fetch(client, headers, f'{recorded.id}/progress')['data'] == [
        {'timestamp': '2024-05-01T08:30:00Z', 'status': 'queued', 'message': 'Queued', 'step': None}]
    starting_event = fetch(client, headers, f'{starting.id}/progress')['data']
    assert [event['status'] for event in starting_event] == ['queued']
    assert starting_event[0]['timestamp'] == fetch(client, headers, str(starting.id))['created_at']


# --- config ----------------------------------------------------------------------------------------------------

def test_config_of_a_customized_run_lists_its_tests_active_or_not(client: FlaskClient,
                                                                  headers: dict[str, str]) -> None:
    first, second = add_category('Teletext'), add_category('DVB')
    sample = add_sample()
    chosen, _ = add_regression_test(second, first, sample=sample, command='-out=srt', expected_rc=10)
    inactive, _ = add_regression_test(active=False, command='-stdout')
    add_regression_test(first)  # not chosen
    run = add_run('windows')
    add_customized(run, inactive.id, chosen.id, chosen.id)
    add_record(run, BASE_TIME, environment_id='linux')
    db.session.commit()

    config = fetch(client, headers, f'{run.id}/config')

    assert config['run_id'] == run.id
    assert config['regression_test_ids'] == [chosen.id, inactive.id]
    assert config['matrix'] == [
        {'regression_id': chosen.id, 'sample_id': sample.id, 'command': '-out=srt', 'category': 'Teletext',
         'active': True, 'expected_rc': 10},
        {'regression_id': inactive.id, 'sample_id': None, 'command': '-stdout', 'category': None, 'active': False,
         'expected_rc': 0}]
    assert config['environment']['environment_id'] == 'linux'  # the environment it was created for
    assert set(config['environment']) == {'environment_id', 'platform', 'active', 'runner_label',
                                          'average_duration_ms'}
    assert config['command_defaults'] == []


def test_config_without_customized_tests_lists_the_active_ones(client: FlaskClient, headers: dict[str, str]) -> None:
    category = add_category()
    active, _ = add_regression_test(category)
    add_regression_test(category, active=False)
    uncategorised, _ = add_regression_test()
    run = add_run('windows')
    db.session.commit()

    config = fetch(client, headers, f'{run.id}/config')

    assert config['regression_test_ids'] == [active.id, uncategorised.id]
    assert [item['active'] for item in config['matrix']] == [True, True]
    assert config['environment']['environment_id'] == 'windows'


# --- ETag and the read budget --------------------------------------------------------------------------------------

@pytest.mark.parametrize('suffix', ['', '/summary', '/progress'])
def test_conditional_reads_answer_304(client: FlaskClient, headers: dict[str, str], suffix: str) -> None:
    run = add_run(progress=DONE[:1])
    db.session.commit()
    url = f'{URL}/{run.id}{suffix}'
    first = client.get(url, headers=headers)
    tag = first.headers['ETag']
    assert tag.startswith('"') and not tag.startswith('W/')

    for header in (tag, f'"other", {tag}', f'W/{tag}', '*'):
        unchanged = client.get(url, headers={**headers, 'If-None-Match': header})
        assert (unchanged.status_code, unchanged.data, unchanged.headers['ETag']) == (304, b'', tag), header
    assert client.get(url, headers={**headers, 'If-None-Match': '"other"'}).status_code == 200

    add_progress(run, (TestStatus.completed, 'Ran all tests', BASE_TIME + timedelta(minutes=1)))
    db.session.commit()
    changed = client.get(url, headers={**headers, 'If-None-Match': tag})
    assert changed.status_code == 200 and changed.headers['ETag'] != tag
    assert changed.get_json() != first.get_json()


def remaining(response: Any) -> int:
    return int(response.headers['X-RateLimit-Remaining'])


def test_a_304_is_not_charged_to_the_read_budget(make_app: Any) -> None:
    app = make_app(API_READ_LIMIT='10/minute')
    client = app.test_client()
    with app.app_context():
        headers = factories.bearer(factories.make_token(factories.make_user('contributor')))
        run_id = add_run(progress=DONE[:1]).id
        db.session.commit()
    url = f'{URL}/{run_id}'

    plain = client.get(url, headers=headers)
    tag, after_plain = plain.headers['ETag'], remaining(plain)
    assert after_plain == 9
    conditional = {**headers, 'If-None-Match': tag}
    unchanged = [client.get(url, headers=conditional) for _ in range(15)]
    assert {response.status_code for response in unchanged} == {304}
    assert [remaining(response) for response in unchanged] == [after_plain] * 15
    assert all(response.headers['X-RateLimit-Limit'] == '10' and response.headers['X-RateLimit-Reset']
               for response in unchanged)

    charged = client.get(url, headers={**headers, 'If-None-Match': '"stale"'})
    assert (charged.status_code, remaining(charged)) == (200, after_plain - 1)
    assert remaining(client.get(url, headers=headers)) == after_plain - 2  # one bucket for both kinds
    missing = client.get(f'{URL}/424242', headers=conditional)
    assert (missing.status_code, remaining(missing)) == (404, after_plain - 3)


def test_conditional_reads_are_refused_once_the_budget_is_spent(make_app: Any) -> None:
    app = make_app(API_READ_LIMIT='2/minute')
    client = app.test_client()
    with app.app_context():
        headers = factories.bearer(factories.make_token(factories.make_user('contributor')))
        run_id = add_run().id
        db.session.commit()
    url = f'{URL}/{run_id}'
    tag = client.get(url, headers=headers).headers['ETag']
    assert client.get(url, headers=headers).status_code == 200
    refused = client.get(url, headers={**headers, 'If-None-Match': tag})
    assert (refused.status_code, remaining(refused)) == (429, 0)
