"""Redis (the rate-limit storage) failing under a served API (gunicorn, 4 workers), through a fault proxy.

Stopped or hung: the API keeps answering under the documented fallback (per-process in-memory budgets, the
``X-RateLimit-*`` headers still sent, nothing 5xx) and health says ``degraded``; once Redis is back every worker
returns to the shared budgets (flask-limiter pings it again after a back-off of 1, 2, 4, ... s). Expected
behaviour: ``mod_api/docs/faults.md``.
"""
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from mod_api_tests.reliability.conftest import FULL_ONLY, SHARED_REDIS, server_config
from mod_api_tests.reliability.fault_proxy import FaultProxy
from mod_api_tests.reliability.served import Gunicorn, burst
from mod_api_tests.run_writes_data import caller

LIMIT = 10
REQUESTS = 3 * LIMIT
HEALTH = '/api/v1/system/health'
READ = '/api/v1/environments'
RESUME_BOUND_SECONDS = 70  # the back-off reaches 32 s after a long outage; a short one resumes much sooner
pytestmark = pytest.mark.usefixtures('fresh_budgets')


@pytest.fixture(scope='module')
def redis_link(proxies: Callable[[str, int], FaultProxy]) -> FaultProxy:
    return proxies(*SHARED_REDIS)


@pytest.fixture(scope='module')
def server(serve: Callable[..., Gunicorn], database_uri: str, redis_link: FaultProxy, key_prefix: str,
           repository: Path) -> Gunicorn:
    return serve(server_config(database_uri, key_prefix, repository, redis_link.address,
                               API_READ_LIMIT=f'{LIMIT}/minute'))


def storage_statuses(server: Gunicorn) -> set[tuple[int, str, str]]:
    """(HTTP status, overall status, rate_limit_storage status) of eight health answers (every worker)."""
    answers = burst(server, 'GET', [HEALTH] * 8)
    return {(answer.status, answer.body['status'],
             next(item['status'] for item in answer.body['dependencies'] if item['name'] == 'rate_limit_storage'))
            for answer in answers}


@pytest.mark.parametrize('fault', ['stopped', pytest.param('hung', marks=FULL_ONLY)])
def test_without_redis_the_api_serves_per_process_limits_then_shared_limits_resume(app, server: Gunicorn,
                                                                                   redis_link: FaultProxy,
                                                                                   fault: str, record) -> None:
    redis_link.pass_through()
    assert storage_statuses(server) == {(200, 'ok', 'ok')}

    redis_link.refuse() if fault == 'stopped' else redis_link.blackhole()
    _, headers = caller('user')
    started = time.monotonic()
    during = burst(server, 'GET', [READ] * REQUESTS, headers)
    elapsed = time.monotonic() - started
    statuses = Counter(answer.status for answer in during)

    assert set(statuses) <= {200, 429}, statuses  # nothing 5xx
    assert statuses[200] >= LIMIT  # each worker admits up to its own budget
    assert all('x-ratelimit-remaining' in answer.headers for answer in during)
    assert storage_statuses(server) == {(200, 'degraded', 'degraded')}

    redis_link.pass_through()
    redis_link.cut()  # connections stalled in the blackhole are dropped, as when Redis comes back
    back = time.monotonic()
    while storage_statuses(server) != {(200, 'ok', 'ok')}:
        assert time.monotonic() - back < RESUME_BOUND_SECONDS, 'the shared limits did not resume'
        time.sleep(1)
    resumed = time.monotonic() - back

    _, fresh_headers = caller('user')
    after = Counter(answer.status for answer in burst(server, 'GET', [READ] * REQUESTS, fresh_headers))
    assert after == {200: LIMIT, 429: REQUESTS - LIMIT}  # one budget shared by every worker again
    record(f'Redis {fault}', f'{REQUESTS} reads of one token during the outage answered in {elapsed:.1f} s: '
                             f'{statuses[200]} admitted on per-worker budgets, {statuses[429]} 429, 0 5xx; health '
                             f'degraded; back: shared budget ({LIMIT} admitted of {REQUESTS}) after {resumed:.1f} s')
