"""GET /system/queue: queued and running runs as the cron sees them, per platform, on SQLite and MariaDB."""
import random
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.legacy import GcpInstance, TestStatus
from mod_api.models import RunRecord
from mod_api.queue import QUERY_COUNT
from mod_api.resources.system import QueuePageSchema
from mod_api.run_data import load_run_facts
from mod_api.run_view import vm_time_as_utc
from mod_api.timeutil import isoformat_z
from mod_api.verdicts import RunStatus, judge
from mod_api_tests import factories
from mod_api_tests.system_data import NOON, add_fork, add_run, finished, reader, set_maintenance, store
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/system/queue'
LATER = NOON + timedelta(hours=1)
PREPARATION, TESTING = (TestStatus.preparation, NOON), (TestStatus.testing, LATER)
CANCELED = (TestStatus.canceled, NOON + timedelta(minutes=5))


@pytest.fixture()
def headers(client: FlaskClient) -> dict[str, str]:
    return reader(client, ['system:read'])


def get(client: FlaskClient, headers: dict[str, str], **params: object) -> dict:
    response = client.get(URL, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def scenario() -> dict[str, int]:
    """Runs in every state; the comment says what the queue must make of each."""
    fork = add_fork()
    runs = {
        'queued_linux_1': add_run(fork),
        'starting_linux': add_run(fork, vm_at=NOON),  # VM created, no progress: running
        'queued_windows_1': add_run(fork, 'windows'),
        'preparing_windows': add_run(fork, 'windows', progress=[PREPARATION], vm_at=NOON),
        'completed_with_vm_left': add_run(fork, progress=finished(), vm_at=NOON),  # not in the queue
        'queued_linux_2': add_run(fork),
        'stuck_testing_linux': add_run(fork, progress=[PREPARATION, TESTING]),  # no VM row: still running
        'canceled_linux': add_run(fork, progress=[PREPARATION, CANCELED]),  # not in the queue
        'revived_linux': add_run(fork, progress=[PREPARATION, CANCELED, TESTING]),  # last row testing: running
        'recorded_windows': add_run(fork, 'windows', recorded_at=datetime(2024, 5, 1, 8, 30)),
    }
    db.session.commit()
    return runs


def test_queued_and_running_runs_with_positions_and_times(client: FlaskClient, headers: dict[str, str]) -> None:
    runs = scenario()

    body = get(client, headers)

    assert QueuePageSchema().validate(body) == {}  # what the served document promises
    assert [(job['run_id'], job['status'], job['platform'], job['position']) for job in body['data']] == [
        (runs['starting_linux'], 'running', 'linux', None),
        (runs['preparing_windows'], 'running', 'windows', None),
        (runs['stuck_testing_linux'], 'running', 'linux', None),
        (runs['revived_linux'], 'running', 'linux', None),
        (runs['queued_linux_1'], 'queued', 'linux', 1),
        (runs['queued_windows_1'], 'queued', 'windows', 1),
        (runs['queued_linux_2'], 'queued', 'linux', 2),
        (runs['recorded_windows'], 'queued', 'windows', 2),
    ]
    assert (body['queue_depth'], body['running_count']) == (4, 4)
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 8, 'next_offset': None}
    assert body['platforms'] == [
        {'platform': 'linux', 'queue_depth': 2, 'running_count': 3, 'blocked_by': []},
        {'platform': 'windows', 'queue_depth': 2, 'running_count': 1, 'blocked_by': []}]
    jobs = {job['run_id']: job for job in body['data']}
    vm_time = isoformat_z(vm_time_as_utc(NOON))
    assert jobs[runs['starting_linux']]['started_at'] == jobs[runs['starting_linux']]['queued_at'] == vm_time
    assert jobs[runs['preparing_windows']]['started_at'] == '2024-05-17T12:00:00Z'  # progress before the VM row
    assert jobs[runs['revived_linux']]['started_at'] == '2024-05-17T12:00:00Z'  # the earliest row, not the last
    assert jobs[runs['recorded_windows']]['queued_at'] == '2024-05-01T08:30:00Z'
    assert all(job['started_at'] is None for job in body['data'] if job['status'] == 'queued')


def test_queued_at_of_a_run_seen_first_by_the_queue_never_changes(client: FlaskClient,
                                                                  headers: dict[str, str]) -> None:
    runs = scenario()

    first = {job['run_id']: job['queued_at'] for job in get(client, headers)['data']}
    second = {job['run_id']: job['queued_at'] for job in get(client, headers, platform='linux')['data']}

    assert first[runs['queued_linux_1']] == second[runs['queued_linux_1']]
    assert db.session.get(RunRecord, runs['queued_linux_1']) is not None
    assert db.session.get(RunRecord, runs['starting_linux']) is None  # a running run needs no record


def test_filters_by_platform_and_status(client: FlaskClient, headers: dict[str, str]) -> None:
    runs = scenario()

    linux = get(client, headers, platform='linux')
    running = get(client, headers, status='running')
    queued_windows = get(client, headers, platform='windows', status='queued')

    assert {job['platform'] for job in linux['data']} == {'linux'}
    assert (linux['queue_depth'], linux['running_count'], linux['pagination']['total']) == (2, 3, 5)
    assert [platform['platform'] for platform in linux['platforms']] == ['linux']
    assert [job['run_id'] for job in running['data']] == [
        runs['starting_linux'], runs['preparing_windows'], runs['stuck_testing_linux'], runs['revived_linux']]
    assert (running['queue_depth'], running['running_count'], running['pagination']['total']) == (4, 4, 4)
    assert [(job['run_id'], job['position']) for job in queued_windows['data']] == [
        (runs['queued_windows_1'], 1), (runs['recorded_windows'], 2)]
    assert (queued_windows['queue_depth'], queued_windows['running_count']) == (2, 1)


def test_pages_are_stable_and_positions_are_per_platform(client: FlaskClient, headers: dict[str, str]) -> None:
    fork = add_fork()
    ids = [add_run(fork, 'linux' if number % 3 else 'windows') for number in range(7)]
    db.session.commit()

    pages = [get(client, headers, limit=3, offset=offset) for offset in (0, 3, 6)]

    assert [page['pagination']['next_offset'] for page in pages] == [3, 6, None]
    assert [job['run_id'] for page in pages for job in page['data']] == ids
    positions = [(job['platform'], job['position']) for page in pages for job in page['data']]
    assert positions == [('windows', 1), ('linux', 1), ('linux', 2), ('windows', 2), ('linux', 3), ('linux', 4),
                         ('windows', 3)]
    assert get(client, headers, offset=50) == {
        'data': [], 'pagination': {'limit': 50, 'offset': 50, 'total': 7, 'next_offset': None},
        'queue_depth': 7, 'running_count': 0, 'platforms': pages[0]['platforms']}


def test_what_blocks_a_platforms_cron_is_listed(client: FlaskClient, headers: dict[str, str]) -> None:
    scenario()
    set_maintenance('windows', True)
    set_maintenance('linux', True)
    set_maintenance('linux', False)  # the newest row of a platform decides
    db.session.commit()

    blocked = get(client, headers)['platforms']
    store(GcpInstance('linux-lost', None))  # trap 14: the cron's NOT IN then matches nothing
    db.session.commit()
    stopped = get(client, headers)

    assert QueuePageSchema().validate(stopped) == {}
    assert [platform['blocked_by'] for platform in blocked] == [[], ['maintenance']]
    assert [platform['blocked_by'] for platform in stopped['platforms']] == [
        ['vm_row_without_run'], ['maintenance', 'vm_row_without_run']]
    assert [job['position'] for job in stopped['data'] if job['status'] == 'queued'] == [1, 1, 2, 2]


def test_an_empty_queue(client: FlaskClient, headers: dict[str, str]) -> None:
    add_run(add_fork(), progress=finished())
    db.session.commit()

    assert get(client, headers, platform='windows') == {
        'data': [], 'pagination': {'limit': 50, 'offset': 0, 'total': 0, 'next_offset': None},
        'queue_depth': 0, 'running_count': 0,
        'platforms': [{'platform': 'windows', 'queue_depth': 0, 'running_count': 0, 'blocked_by': []}]}


def test_the_scope_is_system_read(client: FlaskClient) -> None:
    factories.assert_error(client.get(URL), 401, 'unauthorized')
    factories.assert_error(client.get(URL, headers=reader(client, ['runs:read', 'results:read'])), 403, 'forbidden')
    assert client.get(URL, headers=reader(client, ['system:read'])).status_code == 200


@pytest.mark.parametrize('params', [{'platform': 'mac'}, {'status': 'pass'}, {'limit': 0}, {'limit': 101},
                                    {'offset': -1}, {'offset': '1.5'}, {'state': 'queued'}])
def test_bad_parameters_are_refused(client: FlaskClient, headers: dict[str, str], params: dict) -> None:
    details = factories.assert_error(client.get(URL, headers=headers, query_string=params), 400, 'validation_error')
    assert set(details['fields']) == set(params)


def test_the_number_of_queries_does_not_depend_on_the_page_size(app: Flask, client: FlaskClient,
                                                                headers: dict[str, str]) -> None:
    fork = add_fork()
    add_run(fork, vm_at=NOON)
    add_run(fork)  # queued, first seen by this request: both pages record runs
    db.session.commit()
    with counted_queries() as one:
        assert len(get(client, headers)['data']) == 2
    for number in range(60):
        add_run(fork, 'windows' if number % 2 else 'linux', progress=[PREPARATION] * (number % 3 == 0),
                vm_at=NOON if number % 4 == 0 else None)
    db.session.commit()
    with counted_queries() as many:
        assert len(get(client, headers)['data']) == 50

    ours = [[statement for statement in statements if 'api_token' not in statement] for statements in (one, many)]
    # and asking whether stored statuses may serve (they are not installed here)
    assert len(ours[0]) == len(ours[1]) == QUERY_COUNT + 1, ours


def test_queue_membership_agrees_with_the_verdicts_over_generated_runs(client: FlaskClient,
                                                                       headers: dict[str, str]) -> None:
    """The SQL of the queue and verdicts.judge agree on queued/running for every generated run."""
    generator = random.Random(20260101)
    statuses = [TestStatus.preparation, TestStatus.testing, TestStatus.completed, TestStatus.canceled]
    fork = add_fork()
    ids = []
    for _ in range(200):
        rows = [(generator.choice(statuses), NOON + timedelta(minutes=minute))
                for minute in range(generator.choice([0, 0, 1, 2, 3, 4]))]
        ids.append(add_run(fork, generator.choice(['linux', 'windows']), progress=rows,
                           vm_at=NOON if generator.random() < 0.4 else None))
    db.session.commit()
    verdicts = {run_id: judge(facts).status for run_id, facts in load_run_facts(ids).items()}
    expected = {run_id: status.value for run_id, status in verdicts.items()
                if status in (RunStatus.QUEUED, RunStatus.RUNNING)}

    served: dict[int, str] = {}
    offset = 0
    while offset is not None:
        body = get(client, headers, limit=100, offset=offset)
        served.update({job['run_id']: job['status'] for job in body['data']})
        offset = body['pagination']['next_offset']

    assert served == expected
    assert {'queued', 'running'} <= set(expected.values()) and len(expected) < len(ids)
