"""``GET /runs/{run_id}/error-summary``: the run's test errors grouped five ways, on both backends."""
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.error_items import ErrorType, Finding, RegressionPlace, RunError, Severity, summarize
from mod_api.resources.run_errors import ErrorSummaryPageSchema
from mod_api_tests import factories
from mod_api_tests.run_errors_data import (
    FINISHED_AT,
    FailingRun,
    failing_run,
    get_page,
    results_reader,
    run_with_diffs,
)
from mod_api_tests.runs_data import DONE, add_run
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/runs/{}/error-summary'


@pytest.fixture()
def world(app: Flask) -> FailingRun:
    return failing_run()


@pytest.fixture()
def headers(world: FailingRun) -> dict[str, str]:
    return results_reader()


def summary(client: FlaskClient, headers: dict[str, str], run_id: int, **params: Any) -> dict[str, Any]:
    return get_page(client, URL.format(run_id), headers, ErrorSummaryPageSchema, **params)


def buckets(body: dict[str, Any]) -> list[tuple[str, int, str, list[int]]]:
    return [(bucket['key'], bucket['count'], bucket['severity'], bucket['sample_ids']) for bucket in body['data']]


def expected_buckets(world: FailingRun, group_by: str) -> list[tuple[str, int, str, list[int]]]:
    """The buckets of :func:`failing_run` (see its docstring for the seven errors)."""
    shared, crash, missing = (world.samples[name].id for name in ('shared', 'crash', 'missing'))
    test = {name: str(regression.id) for name, regression in world.tests.items()}
    return {
        'type': [('exit_code_mismatch', 3, 'critical', sorted([shared, crash])),
                 ('diff_mismatch', 2, 'error', sorted([crash, shared])),
                 ('missing_output', 2, 'error', sorted([shared, missing]))],
        'sample_id': [(str(shared), 3, 'error', [shared]), (str(crash), 2, 'critical', [crash]),
                      (str(missing), 1, 'error', [missing]), ('', 1, 'error', [])],
        'regression_id': [(test['exit'], 2, 'error', [shared]), (test['crash'], 2, 'critical', [crash]),
                          (test['diff'], 1, 'error', [shared]), (test['missing'], 1, 'error', [missing]),
                          (test['orphan'], 1, 'error', [])],
        'category': [('Alpha', 5, 'critical', sorted([shared, crash, missing])), ('Beta', 2, 'error', [shared])],
        'severity': [('error', 5, 'error', sorted([shared, missing])), ('critical', 1, 'critical', [crash]),
                     ('warning', 1, 'warning', [crash])],
    }[group_by]


@pytest.mark.parametrize('group_by', ['type', 'sample_id', 'regression_id', 'category', 'severity'])
def test_grouping(client: FlaskClient, world: FailingRun, headers: dict[str, str], group_by: str) -> None:
    body = summary(client, headers, world.run_id, group_by=group_by)

    assert buckets(body) == expected_buckets(world, group_by)
    assert body['pagination']['total'] == len(body['data'])
    assert all(bucket['first_seen_at'] == bucket['last_seen_at'] == FINISHED_AT for bucket in body['data'])


def test_type_is_the_default_grouping(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    assert summary(client, headers, world.run_id) == summary(client, headers, world.run_id, group_by='type')


def test_bucket_counts_add_up_to_the_errors(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    total = client.get(f'/api/v1/runs/{world.run_id}/errors', headers=headers).get_json()['pagination']['total']

    for group_by in ('type', 'sample_id', 'regression_id', 'category', 'severity'):
        assert sum(bucket['count'] for bucket in summary(client, headers, world.run_id, group_by=group_by)['data']) \
            == total


@pytest.mark.parametrize(('params', 'expected'), [
    ({'severity': 'error'}, [('exit_code_mismatch', 2, 'error'), ('missing_output', 2, 'error'),
                             ('diff_mismatch', 1, 'error')]),
    ({'severity': 'warning'}, [('diff_mismatch', 1, 'warning')]),
    ({'severity': 'info'}, []),
    ({'severity': 'critical', 'group_by': 'category'}, [('Alpha', 1, 'critical')]),
])
def test_the_severity_filter_applies_before_grouping(client: FlaskClient, world: FailingRun, headers: dict[str, str],
                                                     params: dict[str, str], expected: list[tuple]) -> None:
    body = summary(client, headers, world.run_id, **params)

    assert [(bucket['key'], bucket['count'], bucket['severity']) for bucket in body['data']] == expected


def test_pages(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    everything = summary(client, headers, world.run_id, group_by='regression_id')['data']

    first = summary(client, headers, world.run_id, group_by='regression_id', limit=2)
    last = summary(client, headers, world.run_id, group_by='regression_id', limit=2, offset=4)

    assert first['data'] == everything[:2]
    assert first['pagination'] == {'limit': 2, 'offset': 0, 'total': 5, 'next_offset': 2}
    assert last['data'] == everything[4:]
    assert last['pagination'] == {'limit': 2, 'offset': 4, 'total': 5, 'next_offset': None}


def test_a_run_without_errors_has_no_buckets(client: FlaskClient, app: Flask) -> None:
    run = add_run(progress=DONE)
    headers = results_reader()

    body = summary(client, headers, run.id, group_by='sample_id')

    assert body == {'data': [], 'pagination': {'limit': 50, 'offset': 0, 'total': 0, 'next_offset': None}}


@pytest.mark.parametrize(('params', 'field'), [
    ({'group_by': 'output_id'}, 'group_by'), ({'group_by': ''}, 'group_by'), ({'severity': 'fatal'}, 'severity'),
    ({'type': 'diff_mismatch'}, 'type'), ({'limit': '101'}, 'limit'), ({'offset': 'x'}, 'offset'),
])
def test_invalid_queries_are_400(client: FlaskClient, world: FailingRun, headers: dict[str, str],
                                 params: dict[str, str], field: str) -> None:
    response = client.get(URL.format(world.run_id), headers=headers, query_string=params)

    assert field in factories.assert_error(response, 400, 'validation_error')['fields']


def test_an_unknown_run_is_404(client: FlaskClient, world: FailingRun, headers: dict[str, str]) -> None:
    details = factories.assert_error(client.get(URL.format(world.run_id + 1000), headers=headers), 404, 'not_found')

    assert details == {'resource': 'run', 'id': world.run_id + 1000}


def test_reading_needs_results_read(client: FlaskClient, world: FailingRun) -> None:
    without = factories.bearer(factories.make_token(factories.make_user('admin'), ['runs:read', 'system:read']))

    factories.assert_error(client.get(URL.format(world.run_id)), 401, 'unauthorized')
    factories.assert_error(client.get(URL.format(world.run_id), headers=without), 403, 'forbidden')


# --- without a database --------------------------------------------------------------------------------------------

def error(regression_id: int, sample_id: int | None, severity: Severity = Severity.ERROR,
          at: datetime = datetime(2024, 1, 1)) -> RunError:
    finding = Finding(regression_id, None, ErrorType.EXIT_CODE_MISMATCH, severity, 'x')
    return RunError(1, finding, at, RegressionPlace('', sample_id, None, None, None), None)


def test_sample_ids_are_capped_at_1000_in_ascending_order() -> None:
    (bucket,) = summarize([error(number, 2000 - number) for number in range(1, 1202)], 'type')

    assert bucket['count'] == 1201
    assert bucket['sample_ids'] == list(range(799, 1799))


def test_first_and_last_seen_are_the_earliest_and_latest_error() -> None:
    start = datetime(2024, 1, 1, 8)
    members = [error(1, 1, at=start + timedelta(minutes=30)), error(2, 1, at=start), error(3, 1, at=start
                                                                                              + timedelta(hours=2))]

    (bucket,) = summarize(members, 'sample_id')

    assert (bucket['first_seen_at'], bucket['last_seen_at']) == ('2024-01-01T08:00:00Z', '2024-01-01T10:00:00Z')


def test_ties_are_broken_by_key_with_ids_in_numeric_order() -> None:
    members = [error(10, 10), error(9, 9), error(100, None), error(2, 2), error(2, 2)]

    assert [bucket['key'] for bucket in summarize(members, 'sample_id')] == ['2', '9', '10', '']


def test_the_bucket_severity_is_the_highest() -> None:
    for severities, expected in (((Severity.INFO, Severity.WARNING), 'warning'),
                                 ((Severity.CRITICAL, Severity.INFO, Severity.ERROR), 'critical')):
        members = [error(1, 1, severity) for severity in severities]
        assert summarize(members, 'type')[0]['severity'] == expected


# --- cost ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('group_by', ['sample_id', 'category'])
def test_the_number_of_queries_does_not_depend_on_the_number_of_errors(client: FlaskClient, app: Flask,
                                                                       group_by: str) -> None:
    small, big = run_with_diffs(1), run_with_diffs(60)
    headers = results_reader()
    summary(client, headers, small)  # the token's first use records its last-used time: not counted below
    counts = []
    for run_id in (small, big):
        with counted_queries() as statements:
            summary(client, headers, run_id, group_by=group_by, limit=50)
        counts.append(len(statements))

    assert counts[0] == counts[1]
