"""GET /system/health: each dependency, the overall status, and a bounded answer time when a dependency hangs."""
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import pytest
from flask import Flask

from mod_api.resources import system
from mod_api_tests.gcs_emulator import GcsEmulator

URL = '/api/v1/system/health'
ANSWER_WITHIN_SECONDS = 1.5


@pytest.fixture(scope='module')
def emulator() -> Iterator[GcsEmulator]:
    server = GcsEmulator()
    server.start()
    yield server
    server.stop()


@contextmanager
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """An HTTP endpoint on loopback that accepts connections and never answers; yields its URL and connections."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(64)
    listener.settimeout(0.05)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # the accept timeout, or the listener closed
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f'http://127.0.0.1:{listener.getsockname()[1]}', accepted
    finally:
        done.set()
        acceptor.join()
        for connection in [*accepted, listener]:
            connection.close()


def refused_endpoint() -> str:
    """An HTTP endpoint on loopback where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return f'http://127.0.0.1:{probe.getsockname()[1]}'


def timed_health(app: Flask) -> tuple[Any, float]:
    started = time.monotonic()
    response = app.test_client().get(URL)
    return response, time.monotonic() - started


def settled_health(app: Flask) -> Any:
    """Health once every check has had time to answer (the first GCS call of a process loads its client, ~1 s)."""
    timed_health(app)
    for future in system._running_checks[app].values():
        future.result(timeout=10)
    return timed_health(app)[0]


def statuses(response: Any) -> dict[str, tuple[str, str | None]]:
    return {item['name']: (item['status'], item['message']) for item in response.get_json()['dependencies']}


def test_everything_up_without_gcs_is_ok(make_app: Callable[..., Flask]) -> None:
    response, _ = timed_health(make_app())

    body = response.get_json()
    assert response.status_code == 200
    assert body['status'] == 'ok' and body['checked_at'].endswith('Z')
    assert statuses(response) == {'database': ('ok', None), 'sample_repository': ('ok', None),
                                  'gcs': ('ok', 'not configured'), 'rate_limit_storage': ('ok', None)}


def test_gcs_with_its_bucket_is_ok(make_app: Callable[..., Flask], emulator: GcsEmulator) -> None:
    response = settled_health(make_app(**emulator.config()))

    assert (response.status_code, response.get_json()['status']) == (200, 'ok')
    assert statuses(response)['gcs'] == ('ok', None)
    assert system.SystemHealthSchema().validate(response.get_json()) == {}


def test_a_missing_bucket_is_degraded(make_app: Callable[..., Flask], emulator: GcsEmulator) -> None:
    response = settled_health(make_app(**{**emulator.config(), 'GCS_BUCKET_NAME': 'no-such-bucket'}))

    assert (response.status_code, response.get_json()['status']) == (200, 'degraded')
    assert statuses(response)['gcs'] == ('degraded', 'bucket no-such-bucket does not exist')


def test_gcs_refusing_connections_is_degraded_and_fast(make_app: Callable[..., Flask]) -> None:
    app = make_app(GCS_BUCKET_NAME='bucket', API_GCS_ENDPOINT=refused_endpoint())

    response, elapsed = timed_health(app)
    settled = settled_health(app)

    assert elapsed < ANSWER_WITHIN_SECONDS
    for answer in (response, settled):
        assert (answer.status_code, answer.get_json()['status']) == (200, 'degraded')
        assert statuses(answer)['gcs'][0] == 'degraded'
    assert statuses(settled)['gcs'][1].startswith('GCS unreachable')


def test_a_hanging_gcs_endpoint_costs_under_a_second_and_one_call(make_app: Callable[..., Flask]) -> None:
    with silent_endpoint() as (endpoint, connections):
        app = make_app(GCS_BUCKET_NAME='bucket', API_GCS_ENDPOINT=endpoint)  # GCS timeout: 2 s
        answers = [timed_health(app) for _ in range(3)]  # all within the first check's timeout

        assert len(connections) == 1  # the check still waiting is awaited again, not started once more
    for response, elapsed in answers:
        assert elapsed < ANSWER_WITHIN_SECONDS
        assert (response.status_code, response.get_json()['status']) == (200, 'degraded')
        assert statuses(response)['database'] == ('ok', None)
        assert statuses(response)['gcs'][0] == 'degraded'
    assert statuses(answers[0][0])['gcs'][1] == f'no answer within {system.HEALTH_BUDGET_SECONDS}s'


def test_a_hanging_database_is_down_503_within_the_budget(make_app: Callable[..., Flask],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    hanging = tuple((name, (lambda app: release.wait(30)) if name == 'database' else check, failed)
                    for name, check, failed in system.CHECKS)
    monkeypatch.setattr(system, 'CHECKS', hanging)
    try:
        response, elapsed = timed_health(make_app())
    finally:
        release.set()

    assert elapsed < ANSWER_WITHIN_SECONDS
    assert (response.status_code, response.get_json()['status']) == (503, 'down')
    assert statuses(response)['database'] == ('down', f'no answer within {system.HEALTH_BUDGET_SECONDS}s')


def test_a_failing_check_is_reported_not_raised(make_app: Callable[..., Flask],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(app: Flask) -> None:
        raise PermissionError('no access')

    monkeypatch.setattr(system, 'CHECKS', tuple((name, explode if name == 'sample_repository' else check, failed)
                                                for name, check, failed in system.CHECKS))

    response, _ = timed_health(make_app())

    assert (response.status_code, response.get_json()['status']) == (200, 'degraded')
    assert statuses(response)['sample_repository'] == ('degraded', 'check failed (PermissionError)')


def test_a_missing_sample_repository_is_degraded(make_app: Callable[..., Flask], tmp_path: Any) -> None:
    response, _ = timed_health(make_app(SAMPLE_REPOSITORY=str(tmp_path / 'absent')))

    assert (response.status_code, response.get_json()['status']) == (200, 'degraded')
    assert statuses(response)['sample_repository'] == ('degraded', 'absent is not a folder')


def test_unreachable_rate_limit_storage_is_degraded(make_app: Callable[..., Flask]) -> None:
    app = make_app(API_RATELIMIT_STORAGE_URI=refused_endpoint().replace('http://', 'redis://'))

    response, elapsed = timed_health(app)

    assert (response.status_code, response.get_json()['status']) == (200, 'degraded')
    assert statuses(response)['rate_limit_storage'][0] == 'degraded'
    assert elapsed < ANSWER_WITHIN_SECONDS


def test_health_takes_no_parameters(make_app: Callable[..., Flask]) -> None:
    response = make_app().test_client().get(URL, query_string={'verbose': 'true'})

    assert response.status_code == 400
    assert response.get_json()['code'] == 'validation_error'
