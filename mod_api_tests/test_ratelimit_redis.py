"""Rate limits on a real Redis: one budget shared by several app instances, and life without Redis.

The shared Redis (127.0.0.1:6379) is used with a random key prefix per test; outage tests run a Redis of their
own on a spare port and shut it down. flask-limiter re-checks a dead storage with back-off (1, 2, 4, ... s);
the tests move flask-limiter's clock past that back-off instead of sleeping.
"""
import shutil
import socket
import subprocess
import time
import uuid
from types import SimpleNamespace

import flask_limiter._extension
import pytest
import redis

from mod_api_tests import factories

ITEM = '/api/v1/probe/items/1'
SHARED_REDIS = 'redis://127.0.0.1:6379/0'


@pytest.fixture()
def key_prefix():
    """A fresh rate-limit key prefix; its keys are deleted from the shared Redis afterwards."""
    prefix = f'mod_api_test_{uuid.uuid4().hex}'
    yield prefix
    client = redis.Redis.from_url(SHARED_REDIS)
    for key in client.scan_iter(match=f'*{prefix}*'):
        client.delete(key)
    client.close()


def _spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class RedisServer:
    """A throw-away redis-server on a spare port, started and stopped by the test."""

    def __init__(self, directory) -> None:
        self.port = _spare_port()
        self.directory = directory
        self.process = None

    @property
    def uri(self) -> str:
        return f'redis://127.0.0.1:{self.port}/0'

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which('redis-server'), '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no', '--dir', str(self.directory)], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, 'redis-server did not start'
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture()
def own_redis(tmp_path):
    """A running RedisServer of this test (stopped at the end whatever happens)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def probe_app(make_app):
    """Build an app with the probe routes; keyword arguments override config."""
    return lambda **config: factories.register_probe(make_app(**config))


def _token(app):
    with app.app_context():
        return factories.bearer(factories.make_token(factories.make_user()))


def _health(app):
    response = app.test_client().get('/api/v1/system/health')
    storage = next(item for item in response.get_json()['dependencies'] if item['name'] == 'rate_limit_storage')
    return response.status_code, response.get_json()['status'], storage['status']


def _shift_limiter_clock(monkeypatch, seconds):
    """Move flask-limiter's clock: an hour back, no back-off ever elapses; an hour ahead, every one has."""
    monkeypatch.setattr(flask_limiter._extension, 'time',
                        SimpleNamespace(time=lambda: time.time() + seconds, mktime=time.mktime))


def test_two_app_instances_share_one_budget(probe_app, key_prefix):
    config = {'API_RATELIMIT_STORAGE_URI': SHARED_REDIS, 'API_RATELIMIT_KEY_PREFIX': key_prefix,
              'API_READ_LIMIT': '4/minute', 'API_WRITE_LIMIT': '2/minute'}
    first, second = probe_app(**config).test_client(), probe_app(**config).test_client()
    auth = _token(first.application)
    reads = [client.get(ITEM, headers=auth) for client in (first, first, second, second, first, second)]
    assert [response.status_code for response in reads] == [200, 200, 200, 200, 429, 429]
    assert [response.headers['X-RateLimit-Remaining'] for response in reads[:4]] == ['3', '2', '1', '0']
    writes = [client.post('/api/v1/probe/items', json={'name': 'a'}, headers=auth) for client in (second, first)]
    assert [response.status_code for response in writes] == [201, 201]
    assert first.post('/api/v1/probe/items', json={'name': 'a'}, headers=auth).status_code == 429


def test_unreachable_redis_leaves_the_api_up_on_per_process_limits(probe_app):
    app = probe_app(API_RATELIMIT_STORAGE_URI=f'redis://127.0.0.1:{_spare_port()}/0', API_READ_LIMIT='3/minute')
    client = app.test_client()
    auth = _token(app)
    started = time.monotonic()
    responses = [client.get(ITEM, headers=auth) for _ in range(4)]
    assert time.monotonic() - started < 5
    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert all('X-RateLimit-Remaining' in response.headers for response in responses)
    assert _health(app) == (200, 'degraded', 'degraded')


def test_redis_outage_falls_back_then_shared_limits_resume(probe_app, own_redis, monkeypatch):
    config = {'API_RATELIMIT_STORAGE_URI': own_redis.uri, 'API_READ_LIMIT': '3/minute'}
    first, second = probe_app(**config).test_client(), probe_app(**config).test_client()
    auth = _token(first.application)
    assert first.get(ITEM, headers=auth).headers['X-RateLimit-Remaining'] == '2'
    assert _health(first.application) == (200, 'ok', 'ok')

    own_redis.stop()
    during = [client.get(ITEM, headers=auth) for client in (first, first, first, first, second)]
    assert [response.status_code for response in during] == [200, 200, 200, 429, 200]  # each process on its own
    assert _health(first.application) == (200, 'degraded', 'degraded')

    own_redis.start()
    _shift_limiter_clock(monkeypatch, -3600)
    assert _health(first.application) == (200, 'degraded', 'degraded')  # Redis answers; limits still per process
    _shift_limiter_clock(monkeypatch, 3600)
    after = [client.get(ITEM, headers=auth) for client in (first, second, second, first)]
    assert [response.status_code for response in after] == [200, 200, 200, 429]  # one shared budget again
    assert [response.headers['X-RateLimit-Remaining'] for response in after] == ['2', '1', '0', '0']
    assert _health(first.application) == (200, 'ok', 'ok')
