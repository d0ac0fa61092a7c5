"""GCS failing under a served API (gunicorn, 4 workers): the emulator behind a fault proxy, refused, hung or slow.

Storage statuses of a run's artifacts fall back to what the local repository holds (``degraded`` for a local file,
``missing`` for a GCS-only one) within one GCS timeout plus a second, nothing answers 5xx, local files are still
downloaded, and health reports GCS ``degraded``. Expected behaviour: ``mod_api/docs/faults.md``.
"""
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mod_api_tests.gcs_emulator import GcsEmulator
from mod_api_tests.logs_data import put_local
from mod_api_tests.reliability.conftest import FULL_ONLY, server_config
from mod_api_tests.reliability.fault_proxy import FaultProxy
from mod_api_tests.reliability.served import Gunicorn, call
from mod_api_tests.test_artifacts import GOT, REF1, artifact_run, results_reader, statuses

GCS_TIMEOUT = 1
BOUND_SECONDS = GCS_TIMEOUT + 1 + 1  # the listing's budget (timeout + 1 s) and slack on a busy machine
pytestmark = pytest.mark.usefixtures('fresh_budgets')


@pytest.fixture(scope='module')
def gcs_link(gcs_emulator_server: GcsEmulator, proxies: Callable[[str, int], FaultProxy]) -> FaultProxy:
    return proxies(gcs_emulator_server.host, gcs_emulator_server.port)


@pytest.fixture(scope='module')
def server(serve: Callable[..., Gunicorn], database_uri: str, gcs_link: FaultProxy, gcs_emulator_server: GcsEmulator,
           key_prefix: str, repository: Path) -> Gunicorn:
    return serve(server_config(database_uri, key_prefix, repository, '127.0.0.1:6379',
                               GCS_BUCKET_NAME=gcs_emulator_server.bucket_name,
                               API_GCS_ENDPOINT=f'http://{gcs_link.address}', API_GCS_TIMEOUT_SECONDS=GCS_TIMEOUT))


@pytest.fixture()
def link(gcs_link: FaultProxy, gcs_emulator: GcsEmulator) -> Iterator[FaultProxy]:
    gcs_link.pass_through()
    yield gcs_link
    gcs_emulator.latency = 0
    gcs_link.pass_through()
    gcs_link.cut()


def gcs_health(server: Gunicorn) -> tuple[int, str, str]:
    answer = call(server, 'GET', '/api/v1/system/health')
    gcs = next(item['status'] for item in answer.body['dependencies'] if item['name'] == 'gcs')
    return answer.status, answer.body['status'], gcs


@pytest.mark.parametrize('fault', ['refused', pytest.param('hung', marks=FULL_ONLY),
                                   pytest.param('slow', marks=FULL_ONLY)])
def test_gcs_failing_leaves_local_files_served_and_statuses_bounded(app, server: Gunicorn, repository: Path,
                                                                    link: FaultProxy, gcs_emulator: GcsEmulator,
                                                                    fault: str, record) -> None:
    scenario = artifact_run()
    headers = results_reader()
    paths = scenario.paths()
    for key in ('log', 'got'):
        put_local(repository, paths[key], b'local copy')
    for key in ('log', 'got', 'ref1'):
        gcs_emulator.put(paths[key], b'gcs copy')
    url = f'/api/v1/runs/{scenario.run.id}/artifacts'
    log, got, ref1 = f'{scenario.run.id}.txt', f'{GOT}.srt', f'{REF1}.srt'
    healthy = statuses(call(server, 'GET', url, headers).body)
    assert [healthy[name][0] for name in (log, got, ref1)] == ['ok', 'ok', 'degraded']

    {'refused': link.refuse, 'hung': link.blackhole, 'slow': lambda: setattr(gcs_emulator, 'latency', 3)}[fault]()
    answer = call(server, 'GET', url, headers)
    health = gcs_health(server)

    assert answer.status == 200 and answer.seconds < BOUND_SECONDS, (answer.status, answer.seconds)
    found = statuses(answer.body)
    assert [found[name][0] for name in (log, got, ref1)] == ['degraded', 'degraded', 'missing']
    assert not found[ref1][2]  # no download URL for a file no storage can confirm
    item = next(item for item in answer.body['data'] if item['filename'] == log)
    download = call(server, 'GET', item['download_url'].split(f':{server.port}', 1)[1])
    assert download.status == 200
    assert health == (200, 'degraded', 'degraded')
    started = time.monotonic()
    second = call(server, 'GET', url, headers)
    assert second.status == 200 and time.monotonic() - started < BOUND_SECONDS
    record(f'GCS {fault}', f'artifact list 200 in {answer.seconds:.1f} s (local files degraded, GCS-only missing), '
                           f'local download 200, health degraded; no 5xx')
