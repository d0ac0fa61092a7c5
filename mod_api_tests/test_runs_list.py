"""``GET /runs`` through HTTP on both backends: filters, sorts, pagination, validation and the query count."""
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.legacy import TestStatus, TestType
from mod_api_tests import factories
from mod_api_tests.runs_data import (
    BASE_TIME,
    DONE,
    REF,
    add_api_cancellation,
    add_category,
    add_fork,
    add_record,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
)
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/runs'
HOUR = timedelta(hours=1)


@pytest.fixture()
def headers(app: Flask) -> dict[str, str]:
    return factories.bearer(factories.make_token(factories.make_user('contributor')))


@pytest.fixture()
def get(client: FlaskClient, headers: dict[str, str]) -> Callable[..., dict[str, Any]]:
    def fetch(**params: Any) -> dict[str, Any]:
        response = client.get(URL, query_string=params, headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()
    return fetch


def ids(body: dict[str, Any]) -> list[int]:
    return [run['run_id'] for run in body['data']]


def at(hours: float) -> tuple[Any, ...]:
    """Progress rows of a finished run starting ``hours`` after BASE_TIME."""
    start = BASE_TIME + timedelta(hours=hours)
    return tuple((status, message, start + timedelta(minutes=index)) for index, (status, message) in enumerate(DONE))


def every_status() -> dict[str, int]:
    """One run per status (ids by status value)."""
    category = add_category()
    regression_test, (output,) = add_regression_test(category, outputs=((REF, False),))
    user = factories.make_user('tester')
    runs = {
        'queued': add_run(),
        'running': add_run(vm=True),
        'pass': add_run(progress=at(1)),
        'fail': add_run(progress=at(2)),
        'incomplete': add_run(progress=at(3)),
        'error': add_run(progress=((TestStatus.preparation, 'Loaded'), (TestStatus.canceled, 'artifact'))),
        'canceled': add_run(progress=((TestStatus.preparation, 'Loaded'),)),
    }
    add_result(runs['pass'], regression_test)
    add_result_file(runs['pass'], regression_test, output)
    add_result(runs['fail'], regression_test, exit_code=1)
    add_result_file(runs['incomplete'], regression_test, output)  # matched, but the result never arrived
    add_api_cancellation(runs['canceled'], user, message='Stopped through the API')
    db.session.commit()
    return {status: run.id for status, run in runs.items()}


# --- filters ---------------------------------------------------------------------------------------------------

def test_every_derived_status_filters_in_sql(app: Flask, get: Callable[..., dict[str, Any]]) -> None:
    runs = every_status()
    for status, run_id in runs.items():
        body = get(status=status)
        assert ids(body) == [run_id], status
        assert body['data'][0]['status'] == status
        assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 1, 'next_offset': None}
    assert get()['pagination']['total'] == 7


def test_branch_matches_exactly_commit_and_repository_case_insensitively(
        app: Flask, get: Callable[..., dict[str, Any]]) -> None:
    other_fork = add_fork('https://github.com/Someone/Sample-Platform.git')
    master = add_run(commit='a' * 40)
    pull = add_run(branch='pull_request', pr_nr=12, test_type=TestType.pull_request, commit='b' * 40)
    fork_run = add_run(fork=other_fork, commit='a' * 40)
    db.session.commit()

    assert ids(get(branch='master', sort='run_id')) == [master.id, fork_run.id]
    assert ids(get(branch='Master')) == []
    assert ids(get(branch='pull_request')) == [pull.id]
    assert get(branch='pull_request')['data'][0]['pull_request'] == 12
    assert ids(get(commit_sha='A' * 40, sort='run_id')) == [master.id, fork_run.id]
    assert ids(get(commit_sha='c' * 40)) == []
    assert ids(get(repository='someone/sample-platform')) == [fork_run.id]
    assert get(repository='someone/sample-platform')['data'][0]['repository'] == 'Someone/Sample-Platform'
    assert ids(get(repository='test_owner/test_repo', sort='run_id')) == [master.id, pull.id]
    assert ids(get(repository='test_owner/other')) == []
    assert ids(get(repository='test_owner/test_repo', branch='master', commit_sha='a' * 40)) == [master.id]


def test_platform_filter(app: Flask, get: Callable[..., dict[str, Any]]) -> None:
    linux, windows = add_run('linux'), add_run('windows')
    db.session.commit()
    assert ids(get(platform='linux')) == [linux.id]
    assert ids(get(platform='windows')) == [windows.id]
    assert get(platform='windows')['data'][0]['platform'] == 'windows'


@pytest.fixture()
def host_on_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The platform host's local time is UTC (VM rows are stored in its local time)."""
    monkeypatch.setenv('TZ', 'UTC0')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_created_after_and_before_compare_the_derived_creation_time(
        app: Flask, get: Callable[..., dict[str, Any]], host_on_utc: None) -> None:
    recorded = add_run(progress=at(5))
    add_record(recorded, BASE_TIME - HOUR)  # the API's record wins over the progress rows
    from_progress = add_run(progress=at(1))  # created 13:00 UTC
    from_vm = add_run(vm=True, vm_time=BASE_TIME + 3 * HOUR)  # local time; UTC on the test machines
    db.session.commit()

    assert ids(get(created_after='2024-05-17T12:30:00Z', sort='run_id')) == [from_progress.id, from_vm.id]
    assert ids(get(created_before='2024-05-17T12:30:00', sort='run_id')) == [recorded.id]  # naive means UTC
    assert ids(get(created_after='2024-05-17T14:30:00+02:00', sort='run_id')) == [from_progress.id, from_vm.id]
    assert ids(get(created_after='2024-05-17T13:00:00Z')) == [from_vm.id]  # strictly after
    assert ids(get(created_before='2024-05-17T13:00:00Z')) == [recorded.id]  # strictly before
    assert ids(get(created_after='2024-05-17T12:00:00Z', created_before='2024-05-17T15:00:00.000001Z')) == [
        from_vm.id, from_progress.id]
    assert ids(get(created_after='2024-05-17T08:30:00-05:00')) == [from_vm.id]  # 13:30 UTC
    assert ids(get(created_after='0001-01-01T00:00:00+01:00', sort='run_id')) == [recorded.id, from_progress.id,
                                                                                  from_vm.id]
    assert ids(get(created_before='9999-12-31T23:59:59-01:00', sort='run_id')) == [recorded.id, from_progress.id,
                                                                                   from_vm.id]
    assert get(sort='run_id')['data'][2]['created_at'] == '2024-05-17T15:00:00Z'


# --- sorts and pagination ------------------------------------------------------------------------------------------

def sort_scenario() -> None:
    """Runs with equal and distinct creation/start times, and runs that have not started."""
    add_run(progress=at(2))
    add_run(progress=at(1))
    add_run(progress=at(2))  # same times as the first
    add_record(add_run(), BASE_TIME + 2 * HOUR)  # queued, created with the others: no start
    add_record(add_run(progress=at(3)), BASE_TIME)  # created first, started last
    add_run(vm=True, vm_time=BASE_TIME + 4 * HOUR)
    add_record(add_run(), BASE_TIME + 5 * HOUR)
    db.session.commit()


def expected_order(runs: list[dict[str, Any]], sort: str) -> list[int]:
    """Run ids in ``sort`` order computed from the documents: nulls last, ties by run id in the same direction."""
    field, descending = sort.lstrip('-'), sort.startswith('-')
    present = [run for run in runs if run[field] is not None]
    absent = [run for run in runs if run[field] is None]
    key = (lambda run: (run[field], run['run_id'])) if field != 'run_id' else (lambda run: run['run_id'])
    return ([run['run_id'] for run in sorted(present, key=key, reverse=descending)]
            + [run['run_id'] for run in sorted(absent, key=lambda run: run['run_id'], reverse=descending)])


@pytest.mark.parametrize('sort', ['created_at', '-created_at', 'started_at', '-started_at', 'run_id', '-run_id'])
def test_every_sort_orders_by_the_documents_times(app: Flask, get: Callable[..., dict[str, Any]], sort: str,
                                                 host_on_utc: None) -> None:
    sort_scenario()
    body = get(sort=sort)
    assert ids(body) == expected_order(body['data'], sort)
    assert len(body['data']) == 7
    pages = [ids(get(sort=sort, limit=3, offset=offset)) for offset in (0, 3, 6)]
    assert sum(pages, []) == ids(body)  # stable across pages


def test_default_sort_is_newest_first(app: Flask, get: Callable[..., dict[str, Any]], host_on_utc: None) -> None:
    sort_scenario()
    body = get()
    assert ids(body) == expected_order(body['data'], '-created_at')
    assert body['data'][0]['created_at'] == '2024-05-17T17:00:00Z'
    times = [run['created_at'] for run in body['data']]
    assert times == sorted(times, reverse=True)


def test_pagination_is_exact(app: Flask, get: Callable[..., dict[str, Any]]) -> None:
    for _ in range(5):
        add_run()
    db.session.commit()
    assert get(limit=2, sort='run_id')['pagination'] == {'limit': 2, 'offset': 0, 'total': 5, 'next_offset': 2}
    assert get(limit=2, offset=2)['pagination']['next_offset'] == 4
    last = get(limit=2, offset=4)
    assert (len(last['data']), last['pagination']['next_offset'], last['pagination']['total']) == (1, None, 5)
    beyond = get(limit=2, offset=50)
    assert beyond == {'data': [], 'pagination': {'limit': 2, 'offset': 50, 'total': 5, 'next_offset': None}}
    assert get(limit=5)['pagination']['next_offset'] is None
    assert len(get(limit=100)['data']) == 5


def test_a_run_listed_queued_keeps_its_creation_time(app: Flask, get: Callable[..., dict[str, Any]]) -> None:
    run = add_run()
    db.session.commit()
    first = get()['data'][0]['created_at']
    assert get()['data'][0]['created_at'] == first
    assert get(created_before=first)['data'] == []
    assert ids(get(created_after=(datetime.fromisoformat(first) - timedelta(seconds=1)).isoformat())) == [run.id]


# --- validation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('params, field', [
    ({'commit_sha': 'a' * 39}, 'commit_sha'),
    ({'commit_sha': 'g' * 40}, 'commit_sha'),
    ({'commit_sha': 'a' * 40 + '\n'}, 'commit_sha'),
    ({'repository': 'owner'}, 'repository'),
    ({'repository': 'owner/repo\n'}, 'repository'),
    ({'repository': 'o/' + 'r' * 100}, 'repository'),
    ({'branch': 'b' * 101}, 'branch'),
    ({'platform': 'mac'}, 'platform'),
    ({'status': 'done'}, 'status'),
    ({'sort': 'status'}, 'sort'),
    ({'sort': '+run_id'}, 'sort'),
    ({'limit': 0}, 'limit'),
    ({'limit': 101}, 'limit'),
    ({'offset': -1}, 'offset'),
    ({'created_after': 'yesterday'}, 'created_after'),
    ({'created_before': '2024-13-01T00:00:00Z'}, 'created_before'),
    ({'created_after': '2024-05-17T12:00:00Z\n'}, 'created_after'),
    ({'owner': 'x'}, 'owner'),
])
def test_invalid_parameters_are_400(client: FlaskClient, headers: dict[str, str], params: dict[str, Any],
                                    field: str) -> None:
    response = client.get(URL, query_string=params, headers=headers)
    details = factories.assert_error(response, 400, 'validation_error')
    assert field in details['fields']


def test_a_token_without_runs_read_is_refused(client: FlaskClient, app: Flask) -> None:
    token = factories.make_token(factories.make_user('contributor'), scopes=['system:read'])
    factories.assert_error(client.get(URL, headers=factories.bearer(token)), 403, 'forbidden')
    factories.assert_error(client.get(URL), 401, 'unauthorized')


# --- cost ------------------------------------------------------------------------------------------------------

def test_a_page_costs_the_same_number_of_queries_for_1_and_50_runs(client: FlaskClient, headers: dict[str, str],
                                                                   app: Flask) -> None:
    category = add_category()
    tests = [add_regression_test(category, outputs=((REF, False), (REF, None)))[0] for _ in range(4)]
    fork = add_fork()
    for number in range(50):
        run = add_run(fork=fork, progress=at(number / 10), vm=number % 3 == 0, customized=[tests[0].id] * (number % 2))
        for regression_test in tests:
            add_result(run, regression_test, exit_code=number % 2)
    db.session.commit()

    def statements(**params: Any) -> list[str]:
        with counted_queries() as executed:
            response = client.get(URL, query_string=params, headers=headers)
        assert response.status_code == 200
        return [statement for statement in executed if 'api_token' not in statement]

    one, fifty = statements(limit=1), statements(limit=50)
    assert len(one) == len(fifty), (one, fifty)
    filtered_one, filtered_fifty = statements(limit=1, status='fail'), statements(limit=50, status='fail')
    assert len(filtered_one) == len(filtered_fifty) == len(one)
    assert len(fifty) <= 18  # 17, and the change mark saying stored rows may not serve (they are not installed)


def test_times_of_the_documents_are_utc_with_z(app: Flask, get: Callable[..., dict[str, Any]]) -> None:
    add_run(progress=((TestStatus.preparation, 'Loaded', datetime(2024, 5, 17, 12, 0, tzinfo=UTC)),
                      (TestStatus.completed, 'Ran all', datetime(2024, 5, 17, 12, 10))))
    db.session.commit()
    run = get()['data'][0]
    assert (run['created_at'], run['started_at'], run['completed_at'], run['duration_ms']) == (
        '2024-05-17T12:00:00Z', '2024-05-17T12:00:00Z', '2024-05-17T12:10:00Z', 600000)


def test_listed_documents_are_the_runs_own_documents(app: Flask, client: FlaskClient, headers: dict[str, str],
                                                      get: Callable[..., dict[str, Any]]) -> None:
    """The list judges no sample (its statuses come from SQL): every listed Run equals GET /runs/{run_id}."""
    runs = every_status()
    listed = {run['run_id']: run for run in get()['data']}
    assert set(listed) == set(runs.values())
    for status, run_id in runs.items():
        own = client.get(f'{URL}/{run_id}', headers=headers).get_json()
        assert listed[run_id] == own, status
