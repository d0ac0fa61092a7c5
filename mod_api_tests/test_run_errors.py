"""``GET /runs/{run_id}/errors``: the test errors of a run, read off the verdicts, on both backends.

The derivation is also checked without a database: against the platform's ``get_test_results`` over the generated
worlds of ``test_verdicts`` (a test has errors iff the platform marks it in error).
"""
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.error_items import ErrorType, Finding, RunError, Severity, findings
from mod_api.resources.run_errors import ErrorPageSchema
from mod_api.verdicts import OutputStatus, OutputVerdict, Result, SampleFacts, SampleStatus, SampleVerdict, judge
from mod_api_tests import factories
from mod_api_tests.run_errors_data import (
    FINISHED_AT,
    FailingRun,
    failing_run,
    get_page,
    results_reader,
    run_with_diffs,
)
from mod_api_tests.runs_data import (
    BASE_TIME,
    DONE,
    OTHER,
    REF,
    add_category,
    add_customized,
    add_record,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
)
from mod_api_tests.test_run_data import counted_queries
from mod_api_tests.test_verdicts import CASES_PER_SEED, derive, platform_get_test_results, random_world

URL = '/api/v1/runs/{}/errors'


@pytest.fixture()
def world(app: Flask) -> FailingRun:
    return failing_run()


@pytest.fixture()
def headers(world: FailingRun) -> dict[str, str]:
    return results_reader()


def errors(client: FlaskClient, headers: dict[str, str], run_id: int, **params: Any) -> dict[str, Any]:
    return get_page(client, URL.format(run_id), headers, ErrorPageSchema, **params)


def kinds(body: dict[str, Any]) -> list[tuple[int, str]]:
    return [(item['regression_id'], item['type']) for item in body['data']]


# --- documents -----------------------------------------------------------------------------------------------------

def test_one_item_per_failing_test_and_output_in_order(client: FlaskClient, world: FailingRun,
                                                       headers: dict[str, str]) -> None:
    body = errors(client, headers, world.run_id)

    t = {name: test.id for name, test in world.tests.items()}
    assert kinds(body) == [
        (t['exit'], 'exit_code_mismatch'), (t['exit'], 'missing_output'),
        (t['crash'], 'exit_code_mismatch'), (t['crash'], 'diff_mismatch'),
        (t['diff'], 'diff_mismatch'), (t['missing'], 'missing_output'), (t['orphan'], 'exit_code_mismatch')]
    assert [item['severity'] for item in body['data']] == [
        'error', 'error', 'critical', 'warning', 'error', 'error', 'error']
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 7, 'next_offset': None}


def test_every_field_of_an_exit_code_mismatch(client: FlaskClient, world: FailingRun,
                                              headers: dict[str, str]) -> None:
    item = errors(client, headers, world.run_id)['data'][0]

    test, sample = world.tests['exit'], world.samples['shared']
    assert item == {
        'error_id': f'err_{world.run_id}_{test.id}_exit_code_mismatch',
        'run_id': world.run_id,
        'sample_id': sample.id,
        'regression_id': test.id,
        'type': 'exit_code_mismatch',
        'severity': 'error',
        'message': f'Regression test {test.id} exited with code 3, expected 0',
        'location': {'sample': {'id': sample.id, 'sha': sample.sha, 'name': 'shared clip'},
                     'regression_test': {'id': test.id, 'command': '-autoprogram -out=srt'},
                     'output': None, 'category': 'Alpha'},
        'occurred_at': FINISHED_AT,
    }


def test_a_missing_output_names_the_expected_file(client: FlaskClient, world: FailingRun,
                                                  headers: dict[str, str]) -> None:
    item = errors(client, headers, world.run_id, type='missing_output')['data'][1]

    test, output = world.tests['missing'], world.outputs['missing']
    assert item['error_id'] == f'err_{world.run_id}_{test.id}_{output.id}_missing_output'
    assert item['message'] == (f'Regression test {test.id}: no output generated for expected output {output.id}, '
                               f'but there should be')
    assert item['location']['output'] == {'id': output.id, 'expected_file': REF + '.srt', 'actual_file': None}
    assert item['location']['sample']['name'] == 'silent clip'


def test_a_diff_mismatch_names_both_files_and_says_when_the_exit_code_failed_first(
        client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    crash, diff = errors(client, headers, world.run_id, type='diff_mismatch')['data']

    assert diff['severity'] == 'error'
    assert diff['location']['output'] == {'id': world.outputs['diff'].id, 'expected_file': REF + '.srt',
                                          'actual_file': OTHER + '.srt'}
    assert diff['location']['category'] == 'Beta'  # linked to Gamma first, but Beta has the lower id
    assert diff['message'].endswith('differs from the expected file and every accepted variant')
    assert crash['severity'] == 'warning'
    assert 'the platform does not compare outputs once the exit code is wrong' in crash['message']


def test_a_crash_is_critical(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    item = errors(client, headers, world.run_id, severity='critical')['data']

    assert [(entry['regression_id'], entry['type']) for entry in item] == [
        (world.tests['crash'].id, 'exit_code_mismatch')]
    assert item[0]['message'].endswith('exited with code -11, expected 0 (killed by a signal or crashed)')


def test_a_test_whose_sample_was_deleted_has_no_sample(client: FlaskClient, world: FailingRun,
                                                       headers: dict[str, str]) -> None:
    item = errors(client, headers, world.run_id)['data'][-1]

    assert item['sample_id'] is None
    assert item['location']['sample'] is None
    assert item['location']['category'] == 'Beta'


def test_error_ids_are_stable_and_unique(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    first = [item['error_id'] for item in errors(client, headers, world.run_id)['data']]
    again = [item['error_id'] for item in errors(client, headers, world.run_id)['data']]
    paged = [item['error_id'] for offset in range(0, 7, 3)
             for item in errors(client, headers, world.run_id, limit=3, offset=offset)['data']]

    assert first == again == paged
    assert len(set(first)) == 7
    assert all(len(error_id) <= 100 for error_id in first)


def test_the_largest_error_id_fits_the_contract() -> None:
    largest = 2**31 - 1
    finding = Finding(largest, largest, ErrorType.EXIT_CODE_MISMATCH, Severity.ERROR, 'x')
    assert len(RunError(largest, finding, datetime(2024, 1, 1), None, None).error_id) <= 100


# --- filters and pages ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('params', 'expected'), [
    ({'type': 'exit_code_mismatch'}, [('exit', 'exit_code_mismatch'), ('crash', 'exit_code_mismatch'),
                                      ('orphan', 'exit_code_mismatch')]),
    ({'type': 'missing_output'}, [('exit', 'missing_output'), ('missing', 'missing_output')]),
    ({'type': 'diff_mismatch'}, [('crash', 'diff_mismatch'), ('diff', 'diff_mismatch')]),
    ({'type': 'test_failure'}, []),
    ({'severity': 'warning'}, [('crash', 'diff_mismatch')]),
    ({'severity': 'info'}, []),
    ({'severity': 'error', 'type': 'diff_mismatch'}, [('diff', 'diff_mismatch')]),
    ({'sample': 'shared'}, [('exit', 'exit_code_mismatch'), ('exit', 'missing_output'), ('diff', 'diff_mismatch')]),
    ({'sample': 'shared', 'type': 'missing_output'}, [('exit', 'missing_output')]),
    ({'sample': 'passed'}, []),
])
def test_filters(client: FlaskClient, world: FailingRun, headers: dict[str, str], params: dict[str, Any],
                 expected: list[tuple[str, str]]) -> None:
    query = {key: value for key, value in params.items() if key != 'sample'}
    if 'sample' in params:
        query['sample_id'] = world.samples[params['sample']].id
    body = errors(client, headers, world.run_id, **query)

    assert kinds(body) == [(world.tests[name].id, kind) for name, kind in expected]
    assert body['pagination']['total'] == len(expected)


def test_an_unknown_sample_id_matches_nothing(client: FlaskClient, world: FailingRun,
                                              headers: dict[str, str]) -> None:
    assert errors(client, headers, world.run_id, sample_id=2**31 - 1)['data'] == []


def test_pages(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    everything = errors(client, headers, world.run_id)['data']

    first = errors(client, headers, world.run_id, limit=3)
    last = errors(client, headers, world.run_id, limit=3, offset=6)
    beyond = errors(client, headers, world.run_id, limit=3, offset=50)

    assert first['data'] == everything[:3]
    assert first['pagination'] == {'limit': 3, 'offset': 0, 'total': 7, 'next_offset': 3}
    assert last['data'] == everything[6:]
    assert last['pagination']['next_offset'] is None
    assert beyond['data'] == [] and beyond['pagination']['total'] == 7


@pytest.mark.parametrize(('params', 'field'), [
    ({'type': 'bogus'}, 'type'), ({'type': 'vm_provisioning'}, 'type'), ({'severity': 'fatal'}, 'severity'),
    ({'sample_id': '0'}, 'sample_id'), ({'sample_id': 'x'}, 'sample_id'), ({'sample_id': str(2**31)}, 'sample_id'),
    ({'limit': '0'}, 'limit'), ({'limit': '101'}, 'limit'), ({'offset': '-1'}, 'offset'),
    ({'group_by': 'type'}, 'group_by'),
])
def test_invalid_queries_are_400(client: FlaskClient, world: FailingRun, headers: dict[str, str],
                                 params: dict[str, str], field: str) -> None:
    response = client.get(URL.format(world.run_id), headers=headers, query_string=params)

    assert field in factories.assert_error(response, 400, 'validation_error')['fields']


def test_an_unknown_run_is_404(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    details = factories.assert_error(client.get(URL.format(world.run_id + 1000), headers=headers), 404, 'not_found')

    assert details == {'resource': 'run', 'id': world.run_id + 1000}


def test_reading_needs_results_read(client: FlaskClient, world: FailingRun) -> None:
    runs_only = factories.bearer(factories.make_token(factories.make_user('admin'), ['runs:read', 'system:read']))

    factories.assert_error(client.get(URL.format(world.run_id)), 401, 'unauthorized')
    factories.assert_error(client.get(URL.format(world.run_id), headers=runs_only), 403, 'forbidden')


# --- runs in other states ------------------------------------------------------------------------------------------

def test_passing_and_unstarted_runs_have_no_errors(client: FlaskClient, app: Flask) -> None:
    category = add_category()
    test, (output,) = add_regression_test(category, outputs=((REF, False),), sample=add_sample())
    passed = add_run(progress=DONE)
    add_result(passed, test)
    add_result_file(passed, test, output)
    queued = add_run()
    testing = add_run(progress=DONE[:2])
    headers = results_reader()

    for run in (passed, queued, testing):
        assert errors(client, headers, run.id)['data'] == []


def test_an_unfinished_run_reports_what_has_already_failed_at_its_last_row(client: FlaskClient, app: Flask) -> None:
    category = add_category()
    test, _ = add_regression_test(category, sample=add_sample())
    other, _ = add_regression_test(category, sample=add_sample())
    run = add_run(progress=DONE[:2])
    add_result(run, test, exit_code=2)
    headers = results_reader()

    body = errors(client, headers, run.id)

    assert kinds(body) == [(test.id, 'exit_code_mismatch')]  # ``other`` is still running: no error yet
    assert body['data'][0]['occurred_at'] == '2024-05-17T12:01:00Z'
    assert other.id not in [item['regression_id'] for item in body['data']]


def test_a_run_without_progress_rows_reports_at_its_creation_time(client: FlaskClient, app: Flask) -> None:
    test, _ = add_regression_test(add_category(), sample=add_sample())
    run = add_run()
    add_record(run, BASE_TIME - timedelta(hours=3))
    add_result(run, test, exit_code=2)
    headers = results_reader()

    assert errors(client, headers, run.id)['data'][0]['occurred_at'] == '2024-05-17T09:00:00Z'


def test_only_tests_in_scope_are_reported(client: FlaskClient, app: Flask) -> None:
    category = add_category()
    chosen, _ = add_regression_test(category, sample=add_sample())
    left_out, _ = add_regression_test(category, sample=add_sample())
    uncategorised, _ = add_regression_test(sample=add_sample())
    run = add_run(progress=DONE)
    add_customized(run, chosen.id, left_out.id, uncategorised.id)
    run_two = add_run(progress=DONE)
    add_customized(run_two, chosen.id)
    for target in (run, run_two):
        for test in (chosen, left_out, uncategorised):
            add_result(target, test, exit_code=5)
    headers = results_reader()

    assert kinds(errors(client, headers, run.id)) == [(chosen.id, 'exit_code_mismatch'),
                                                      (left_out.id, 'exit_code_mismatch')]
    assert kinds(errors(client, headers, run_two.id)) == [(chosen.id, 'exit_code_mismatch')]


# --- cost ----------------------------------------------------------------------------------------------------------

def test_the_number_of_queries_does_not_depend_on_the_number_of_errors(client: FlaskClient, app: Flask) -> None:
    small, big = run_with_diffs(1), run_with_diffs(60)
    headers = results_reader()
    errors(client, headers, small)  # the token's first use records its last-used time: not counted below
    counts = []
    for run_id, expected in ((small, 1), (big, 50)):
        with counted_queries() as statements:
            body = errors(client, headers, run_id, limit=50)
        assert len(body['data']) == expected
        counts.append(len(statements))

    assert counts[0] == counts[1]


# --- agreement with the platform (no database) ---------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(3))
def test_a_test_has_errors_iff_the_platform_marks_it_in_error(seed: int) -> None:
    rng = random.Random(seed)
    for case in range(CASES_PER_SEED):
        world = random_world(rng)
        facts = derive(world)
        verdict = judge(facts)
        found = findings(zip(facts.samples, verdict.samples))
        in_error = {item['test'] for category in platform_get_test_results(world) for item in category['tests']
                    if item['error']}
        context = f'seed {seed}, case {case}: {world}'

        assert {finding.regression_id for finding in found} == in_error, context
        assert all(finding.type is not ErrorType.TEST_FAILURE for finding in found), context
        mismatched = {test for test, (code, expected) in world.results.items() if code != expected}
        assert {finding.regression_id for finding in found
                if finding.type is ErrorType.EXIT_CODE_MISMATCH} == mismatched & in_error, context


def test_a_failing_test_nothing_else_explains_is_a_test_failure() -> None:
    facts = SampleFacts(7, result=Result(0, 0))
    found = findings([(facts, SampleVerdict(7, SampleStatus.FAIL, ()))])

    assert [(finding.type, finding.severity, finding.output_id) for finding in found] == [
        (ErrorType.TEST_FAILURE, Severity.ERROR, None)]
    assert found[0].message == 'Regression test 7 failed (status fail)'


def test_passing_samples_and_matching_outputs_are_not_errors() -> None:
    facts = SampleFacts(3, result=Result(0, 0))
    outputs = (OutputVerdict(1, OutputStatus.MATCH, None, None), OutputVerdict(2, OutputStatus.MISSING_EXPECTED,
                                                                                None, None))
    assert findings([(facts, SampleVerdict(3, SampleStatus.PASS, outputs))]) == []
    assert [finding.type for finding in findings([(facts, SampleVerdict(3, SampleStatus.FAIL, outputs))])] == [
        ErrorType.TEST_FAILURE]
