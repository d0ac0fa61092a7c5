"""The database failing under a served API (gunicorn, 4 workers), through a fault proxy in front of MariaDB.

Stopped (connections refused, open ones cut) or hung (nothing answers): every request is a JSON 503
``service_unavailable`` within a bounded time and health is ``down`` 503; once it is back the same workers serve
again within seconds, without a restart. SQLite is a file opened by each worker: it cannot stop while serving, so
these tests run on MariaDB only. Expected behaviour: ``mod_api/docs/faults.md``.
"""
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mod_api_tests.reliability.conftest import server_config, through
from mod_api_tests.reliability.fault_proxy import FaultProxy
from mod_api_tests.reliability.served import Answer, Gunicorn, burst, call
from mod_api_tests.run_writes_data import caller

READ_TIMEOUT = 2
# What one request may cost: the pre-ping's read timeout + one connect timeout, plus slack on a busy machine.
BOUND_SECONDS = {'stopped': 2, 'hung': READ_TIMEOUT + 5 + 2}
RECOVERY_BOUND_SECONDS = 10
WORKERS = 4
REQUESTS = 2 * WORKERS  # so every worker meets the fault; with a hung database the second half waits its turn
HEALTH = '/api/v1/system/health'


@pytest.fixture(scope='module')
def database(database_uri: str, proxies: Callable[[str, int], FaultProxy]) -> FaultProxy:
    if not database_uri.startswith('mysql'):
        pytest.skip('SQLite is a file each worker opens: it cannot be stopped while serving (tested on MariaDB)')
    return proxies('127.0.0.1', 3306)


@pytest.fixture(scope='module')
def server(serve: Callable[..., Gunicorn], database_uri: str, database: FaultProxy, key_prefix: str,
           repository: Path) -> Gunicorn:
    return serve(server_config(through(database_uri, database), key_prefix, repository, '127.0.0.1:6379',
                               API_DB_READ_TIMEOUT_SECONDS=READ_TIMEOUT))


@pytest.fixture()
def healthy(database: FaultProxy) -> None:
    database.pass_through()
    yield
    database.pass_through()


def unavailable(answer: Answer) -> bool:
    return (answer.status == 503 and answer.headers['content-type'] == 'application/json'
            and answer.body['code'] == 'service_unavailable' and answer.body['details']['dependency'] == 'database'
            and answer.headers['retry-after'] == '5')


def recover(server: Gunicorn, headers: dict[str, str]) -> float:
    """Seconds until every worker serves the read again (REQUESTS answers 200 in a row)."""
    started = time.monotonic()
    while not all(answer.status == 200 for answer in burst(server, 'GET', ['/api/v1/runs'] * REQUESTS, headers)):
        assert time.monotonic() - started < RECOVERY_BOUND_SECONDS, 'the workers did not recover'
        time.sleep(0.2)
    return time.monotonic() - started


def booted_workers(server: Gunicorn) -> int:
    return server.log.read_text().count('Booting worker')


@pytest.mark.usefixtures('healthy')
@pytest.mark.parametrize('fault', ['stopped', 'hung'])
def test_a_lost_database_is_a_bounded_json_503_and_the_same_workers_recover(app, server: Gunicorn,
                                                                            database: FaultProxy, fault: str,
                                                                            record) -> None:
    _, headers = caller('user')
    assert {answer.status for answer in burst(server, 'GET', ['/api/v1/runs'] * REQUESTS, headers)} == {200}
    workers = booted_workers(server)

    if fault == 'stopped':
        database.refuse()
    else:
        database.blackhole()  # pooled connections stall too
    during = burst(server, 'GET', ['/api/v1/runs'] * REQUESTS, headers)
    health = call(server, 'GET', HEALTH)

    assert all(unavailable(answer) for answer in during), [(a.status, a.body) for a in during]
    served = server.served_seconds('/api/v1/runs', 503)[-REQUESTS:]
    slowest = max(served)
    assert slowest < BOUND_SECONDS[fault]  # inside a worker
    assert max(answer.seconds for answer in during) < 2 * BOUND_SECONDS[fault]  # two rounds of four workers
    assert (health.status, health.body['status']) == (503, 'down')
    assert health.seconds < 2

    database.pass_through()
    database.cut()  # connections stalled in the blackhole are dropped, as when the server comes back
    recovery = recover(server, headers)
    assert booted_workers(server) == workers  # no worker was replaced
    assert call(server, 'GET', HEALTH).body['status'] == 'ok'
    record(f'database {fault} while serving',
           f'{REQUESTS} requests: all JSON 503 service_unavailable, slowest {slowest:.1f} s in a worker; health 503 '
           f'down in {health.seconds:.1f} s; back: every worker served again after {recovery:.1f} s, no restart')
