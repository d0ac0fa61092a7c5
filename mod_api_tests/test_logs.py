"""GET /runs/{run_id}/logs and /runs/{run_id}/samples/{sample_id}/logs on SQLite and MariaDB.

Line interpretation is unit-tested in test_log_lines.py; here: every line shape through HTTP, filters, cursor
chains (inherited state across pages), refused cursors (tampered, foreign, expired, stale, offset), the storage
backends (local, GCS via the emulator: present, absent, stopped), the sample-log rule, a 100 MB log served page by
page in bounded memory and time, and constant query counts.
"""
import math
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner

from mod_api.db import db
from mod_api.log_cursor import CursorCodec, Position, binding
from mod_api.resources.logs import SCAN_BYTES, LogPageSchema
from mod_api_tests import factories
from mod_api_tests.factories import assert_error
from mod_api_tests.logs_data import SHAPES, log_bytes, sample_log, sample_run, write_log
from mod_api_tests.runs_data import DONE, add_category, add_regression_test, add_run, add_sample
from mod_api_tests.test_run_data import counted_queries

RUN_URL = '/api/v1/runs/{}/logs'
SAMPLE_URL = '/api/v1/runs/{}/samples/{}/logs'
MTIME = SHAPES[0][1]
MEMORY_LIMIT = 4 * 1024 * 1024


def reader() -> dict[str, str]:
    """Headers of a plain user's token holding system:read (commits the session)."""
    db.session.commit()
    return factories.bearer(factories.make_token(factories.make_user('user'), ['system:read']))


def repository(app: Flask) -> Path:
    return Path(app.config['SAMPLE_REPOSITORY'])


def new_run() -> int:
    run = add_run(progress=DONE)
    db.session.commit()
    return run.id


def page(client: FlaskClient, headers: dict[str, str], url: str, **params: Any) -> dict[str, Any]:
    """A 200 CursorPage, checked against the response schema."""
    response = client.get(url, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert LogPageSchema().validate(body) == {}
    assert body['pagination']['limit'] == params.get('limit', 50)
    return body


def every_line(client: FlaskClient, headers: dict[str, str], url: str, **params: Any) -> tuple[list[dict], int]:
    """All lines of a listing, following next_cursor, and the number of pages it took."""
    lines, pages, cursor = [], 0, None
    while True:
        body = page(client, headers, url, **params, **({'cursor': cursor} if cursor else {}))
        lines += body['data']
        pages += 1
        cursor = body['pagination']['next_cursor']
        if cursor is None:
            return lines, pages
        assert len(cursor) <= 255
        assert pages < 1000


def expected(shapes: list[tuple[str, str, str, str, str]], run_id: int, sample_id: int | None = None) -> list[dict]:
    return [{'timestamp': stamp, 'level': level, 'source': source, 'message': message, 'run_id': run_id,
             'sample_id': sample_id} for _, stamp, level, source, message in shapes]


# --- run logs ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('limit', [1, 7, 100])
def test_every_line_shape_is_served_as_its_log_line_across_pages(app, client, limit):
    run_id = new_run()
    write_log(repository(app), run_id, log_bytes([shape[0] for shape in SHAPES]))
    lines, pages = every_line(client, reader(), RUN_URL.format(run_id), limit=limit)
    assert lines == expected(SHAPES, run_id)
    assert pages == math.ceil(len(SHAPES) / limit)


@pytest.mark.parametrize('params', [
    {'level': 'error'}, {'level': 'critical'}, {'level': 'debug'}, {'source': 'build'}, {'source': 'web'},
    {'source': 'orchestrator', 'level': 'error'}, {'contains': 'REGRESSION test'}, {'contains': 'ü'},
    {'contains': 'tester', 'source': 'test_runner', 'level': 'error'}, {'contains': ''},
])
def test_filters(app, client, params):
    run_id = new_run()
    write_log(repository(app), run_id, log_bytes([shape[0] for shape in SHAPES]))
    lines, _ = every_line(client, reader(), RUN_URL.format(run_id), limit=3, **params)
    wanted = [shape for shape in SHAPES
              if params.get('level', shape[2]) == shape[2] and params.get('source', shape[3]) == shape[3]
              and params.get('contains', '').casefold() in shape[4].casefold()]
    assert lines == expected(wanted, run_id)
    assert lines or params['contains'] == 'ü'


def test_lines_on_later_pages_inherit_the_time_the_earlier_pages_left(app, client):
    run_id = new_run()
    texts = ['leading line', 'another', '2024-05-17 10:00:00 stamped', 'inherits', '[23:00:00] late', 'inherits',
             '[01:00:00] after midnight', 'inherits the next day']
    write_log(repository(app), run_id, log_bytes(texts, blank_after=None))
    lines, pages = every_line(client, reader(), RUN_URL.format(run_id), limit=1)
    assert pages == len(texts)
    assert [line['timestamp'] for line in lines] == [
        MTIME, MTIME, '2024-05-17T10:00:00Z', '2024-05-17T10:00:00Z', '2024-05-17T23:00:00Z', '2024-05-17T23:00:00Z',
        '2024-05-18T01:00:00Z', '2024-05-18T01:00:00Z']


def test_next_cursor_is_null_exactly_at_the_end(app, client):
    headers = reader()
    run_id = new_run()
    url = RUN_URL.format(run_id)
    write_log(repository(app), run_id, b'one\ntwo\nthree\nfour')  # no final line feed
    assert page(client, headers, url, limit=4)['pagination']['next_cursor'] is None
    first = page(client, headers, url, limit=2)
    second = page(client, headers, url, limit=2, cursor=first['pagination']['next_cursor'])
    assert [line['message'] for line in second['data']] == ['three', 'four']
    assert second['pagination']['next_cursor'] is None
    write_log(repository(app), run_id, b'')
    assert page(client, headers, url) == {'data': [], 'pagination': {'limit': 50, 'next_cursor': None}}
    write_log(repository(app), run_id, b'\n  \n\n')
    assert page(client, headers, url)['data'] == []


@pytest.mark.parametrize('url', [RUN_URL.format(1), SAMPLE_URL.format(1, 1)])
def test_offset_is_refused_with_a_pointer_to_cursors(client, url):
    response = client.get(url, headers=reader(), query_string={'offset': 0, 'limit': 5})
    message = assert_error(response, 400, 'validation_error')['fields']['offset']
    assert 'cursor' in message


@pytest.mark.parametrize('params, field', [
    ({'cursor': 'x' * 256}, 'cursor'), ({'contains': 'x' * 101}, 'contains'), ({'level': 'warn'}, 'level'),
    ({'source': 'vm'}, 'source'), ({'limit': 0}, 'limit'), ({'limit': 101}, 'limit'),
])
def test_parameters_are_validated(client, params, field):
    response = client.get(RUN_URL.format(1), headers=reader(), query_string=params)
    assert field in assert_error(response, 400, 'validation_error')['fields']


def test_source_is_not_a_parameter_of_sample_logs(client):
    response = client.get(SAMPLE_URL.format(1, 1), headers=reader(), query_string={'source': 'web'})
    assert 'source' in assert_error(response, 400, 'validation_error')['fields']


def first_cursor(client: FlaskClient, headers: dict[str, str], url: str, **params: Any) -> str:
    cursor = page(client, headers, url, limit=1, **params)['pagination']['next_cursor']
    assert cursor
    return cursor


def assert_invalid_cursor(response: Any, reason: str) -> None:
    details = assert_error(response, 400, 'invalid_cursor')
    assert details == {'parameter': 'cursor', 'reason': reason}


def test_a_tampered_cursor_is_refused(app, client):
    headers = reader()
    run_id = new_run()
    write_log(repository(app), run_id, b'a\nb\nc\n')
    url = RUN_URL.format(run_id)
    cursor = first_cursor(client, headers, url)
    payload, _, signature = cursor.partition('.')
    for forged in (cursor[:-2] + ('AA' if cursor[-2:] != 'AA' else 'BB'), 'WzEsMl0' + '.' + signature, 'garbage',
                   cursor[: len(cursor) // 2]):
        assert_invalid_cursor(client.get(url, headers=headers, query_string={'cursor': forged}), 'tampered')


def test_a_cursor_of_another_listing_is_refused(app, client):
    headers = reader()
    scenario = sample_run()
    other = new_run()
    lines, _ = sample_log(scenario)
    for run_id in (scenario.run.id, other):
        write_log(repository(app), run_id, log_bytes(lines, blank_after=None))
    run_url = RUN_URL.format(scenario.run.id)
    a_url, b_url = (SAMPLE_URL.format(scenario.run.id, sample.id) for sample in (scenario.a, scenario.b))
    refused = [
        (first_cursor(client, headers, run_url), RUN_URL.format(other), {}),
        (first_cursor(client, headers, run_url), run_url, {'level': 'info'}),
        (first_cursor(client, headers, run_url, contains='tester'), run_url, {'contains': 'Tester'}),
        (first_cursor(client, headers, run_url, source='test_runner'), run_url, {}),
        (first_cursor(client, headers, a_url), b_url, {}),
        (first_cursor(client, headers, a_url), run_url, {}),
        (first_cursor(client, headers, run_url), a_url, {}),
    ]
    for cursor, url, params in refused:
        assert_invalid_cursor(client.get(url, headers=headers, query_string={**params, 'cursor': cursor}), 'foreign')


def test_an_expired_cursor_is_refused(app, client, monkeypatch):
    headers = reader()
    run_id = new_run()
    write_log(repository(app), run_id, b'a\nb\nc\n')
    url = RUN_URL.format(run_id)
    now = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, 'get_timestamp', lambda self: now(self) - 3601)
    cursor = first_cursor(client, headers, url)
    monkeypatch.undo()
    assert_invalid_cursor(client.get(url, headers=headers, query_string={'cursor': cursor}), 'expired')
    monkeypatch.setattr(TimestampSigner, 'get_timestamp', lambda self: now(self) - 3500)
    cursor = first_cursor(client, headers, url)
    monkeypatch.undo()
    assert page(client, headers, url, cursor=cursor)['data'][0]['message'] == 'b'


def test_a_cursor_into_a_replaced_log_is_stale(app, client):
    headers = reader()
    run_id = new_run()
    write_log(repository(app), run_id, b'a\nb\nc\n')
    url = RUN_URL.format(run_id)
    cursor = first_cursor(client, headers, url)
    write_log(repository(app), run_id, b'a re-run wrote\nanother log\n')
    assert_invalid_cursor(client.get(url, headers=headers, query_string={'cursor': cursor}), 'stale')


def test_an_unknown_run_is_not_found_before_anything_else(client):
    response = client.get(RUN_URL.format(999999), headers=reader(), query_string={'cursor': 'garbage'})
    assert assert_error(response, 404, 'not_found') == {'resource': 'run', 'id': 999999}


def test_a_log_in_no_backend_is_log_not_found(client):
    run_id = new_run()
    headers = reader()
    response = client.get(RUN_URL.format(run_id), headers=headers)
    assert assert_error(response, 404, 'log_not_found') == {'run_id': run_id, 'checked': ['local']}
    assert response.get_json()['message'] == f'Log file for run {run_id} does not exist in any storage backend.'
    response = client.get(RUN_URL.format(run_id), headers=headers, query_string={'cursor': 'garbage'})
    assert assert_error(response, 404, 'log_not_found') == {'run_id': run_id, 'checked': ['local']}


# --- GCS -----------------------------------------------------------------------------------------------------------

SIMPLE = b'2024-05-17 12:00:00 [INFO] runCI: start\ntester: working\n2024-05-17 12:00:05 [ERROR] tester: broke\n'
SIMPLE_LINES = [('2024-05-17T12:00:00Z', 'info', 'orchestrator', 'runCI: start'),
                ('2024-05-17T12:00:00Z', 'info', 'test_runner', 'tester: working'),
                ('2024-05-17T12:00:05Z', 'error', 'test_runner', 'tester: broke')]


def simple(lines: list[dict]) -> list[tuple]:
    return [(line['timestamp'], line['level'], line['source'], line['message']) for line in lines]


def test_a_log_only_in_gcs_is_served_page_by_page(make_app, gcs_config, gcs_emulator):
    app = make_app(**gcs_config)
    with app.app_context():
        run_id = new_run()
        headers = reader()
        gcs_emulator.put(f'LogFiles/{run_id}.txt', SIMPLE)
        lines, pages = every_line(app.test_client(), headers, RUN_URL.format(run_id), limit=2)
    assert simple(lines) == SIMPLE_LINES and pages == 2


def test_a_log_in_neither_backend_names_both(make_app, gcs_config, gcs_emulator):
    app = make_app(**gcs_config)
    with app.app_context():
        run_id = new_run()
        response = app.test_client().get(RUN_URL.format(run_id), headers=reader())
    assert assert_error(response, 404, 'log_not_found') == {'run_id': run_id, 'checked': ['local', 'gcs']}


def test_with_gcs_stopped_a_local_log_is_served_and_an_absent_one_is_unavailable(make_app, gcs_config, gcs_emulator):
    app = make_app(**gcs_config)
    with app.app_context():
        here, elsewhere = new_run(), new_run()
        headers = reader()
        write_log(repository(app), here, SIMPLE)
        gcs_emulator.put(f'LogFiles/{elsewhere}.txt', SIMPLE)
        gcs_emulator.stop()
        client = app.test_client()
        assert simple(page(client, headers, RUN_URL.format(here))['data']) == SIMPLE_LINES
        started = time.monotonic()
        response = client.get(RUN_URL.format(elsewhere), headers=headers)
    assert time.monotonic() - started < app.config['API_GCS_TIMEOUT_SECONDS'] + 2
    details = assert_error(response, 503, 'storage_unavailable')
    assert details['run_id'] == elsewhere and set(details['problems']) == {'gcs'}
    assert response.headers['Retry-After'] == '5'


# --- sample logs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('limit', [1, 2, 50])
def test_a_sample_log_is_the_lines_of_its_regression_tests(app, client, limit):
    headers = reader()
    scenario = sample_run()
    lines, owned = sample_log(scenario)
    write_log(repository(app), scenario.run.id, log_bytes(lines, blank_after=None))
    for key, sample in (('a', scenario.a), ('b', scenario.b)):
        served, _ = every_line(client, headers, SAMPLE_URL.format(scenario.run.id, sample.id), limit=limit)
        assert [line['message'] for line in served] == [lines[index].split('] ', 1)[1] for index in owned[key]]
        assert {(line['run_id'], line['sample_id']) for line in served} == {(scenario.run.id, sample.id)}


def test_sample_log_filters(app, client):
    headers = reader()
    scenario = sample_run()
    lines, _ = sample_log(scenario)
    write_log(repository(app), scenario.run.id, log_bytes(lines, blank_after=None))
    b_url, a_url = SAMPLE_URL.format(scenario.run.id, scenario.b.id), SAMPLE_URL.format(scenario.run.id, scenario.a.id)
    assert [line['level'] for line in page(client, headers, b_url, level='error')['data']] == ['error']
    assert [line['message'] for line in page(client, headers, a_url, contains='DIFFERS')['data']] == [
        f'tester: {scenario.a.sha}.srt differs from the reference']


def test_unknown_runs_and_samples_and_samples_outside_the_run_are_not_found(app, client):
    headers = reader()
    scenario = sample_run()
    run_id = scenario.run.id
    cases = [(SAMPLE_URL.format(999999, scenario.a.id), {'resource': 'run', 'id': 999999}),
             (SAMPLE_URL.format(run_id, 999999), {'resource': 'sample', 'id': 999999}),
             (SAMPLE_URL.format(run_id, scenario.c.id), {'resource': 'sample', 'id': scenario.c.id, 'run_id': run_id})]
    for url, details in cases:  # the log is missing too: not_found comes first
        assert assert_error(client.get(url, headers=headers), 404, 'not_found') == details
    response = client.get(SAMPLE_URL.format(run_id, scenario.a.id), headers=headers)
    assert assert_error(response, 404, 'log_not_found') == {'run_id': run_id, 'sample_id': scenario.a.id,
                                                            'checked': ['local']}


# --- a 100 MB log --------------------------------------------------------------------------------------------------

LINE_BYTES = 100


def big_line(number: int) -> bytes:
    """Line ``number`` of the big log: exactly LINE_BYTES bytes with its line feed."""
    head = b'2024-05-17 %02d:%02d:%02d [INFO] worker line %07d ' % (
        number // 3600 % 24, number // 60 % 60, number % 60, number)
    return head.ljust(LINE_BYTES - 1, b'x') + b'\n'


def write_big_log(folder: Path, run_id: int) -> int:
    """A 100 MiB log of LINE_BYTES-byte lines; returns its size."""
    path = folder / 'LogFiles' / f'{run_id}.txt'
    path.parent.mkdir(parents=True, exist_ok=True)
    block_lines = 10_000
    with path.open('wb') as handle:
        for first in range(0, 100 * 1024 * 1024 // LINE_BYTES, block_lines):
            handle.write(b''.join(big_line(number) for number in range(first, first + block_lines)))
    return path.stat().st_size


def measured(client: FlaskClient, headers: dict[str, str], url: str, **params: Any) -> tuple[dict, int, float]:
    """A page, the peak memory traced while serving it, and the seconds it takes untraced (tracemalloc slows)."""
    tracemalloc.start()
    try:
        body = page(client, headers, url, **params)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    started = time.monotonic()
    assert page(client, headers, url, **params)['data'] == body['data']
    return body, peak, time.monotonic() - started


def test_a_100_mb_log_is_served_page_by_page_in_bounded_memory_and_time(app, client):
    headers = reader()
    run_id = new_run()
    size = write_big_log(repository(app), run_id)
    assert size >= 100 * 1024 * 1024 - LINE_BYTES
    url = RUN_URL.format(run_id)
    codec = CursorCodec(app.config['API_SECRET_KEY'])
    bound = binding(run_id, None, None, None, None)

    body, peak, seconds = measured(client, headers, url, limit=100)
    assert [line['message'][:19] for line in body['data'][:2]] == ['worker line 0000000', 'worker line 0000001']
    assert peak < MEMORY_LIMIT and seconds < 3

    deep = size * 99 // 100 // LINE_BYTES
    cursor = codec.encode(bound, Position(deep * LINE_BYTES, size))
    body, peak, seconds = measured(client, headers, url, limit=100, cursor=cursor)
    assert [line['message'][:19] for line in body['data']] == [f'worker line {deep + number:07d}'
                                                               for number in range(100)]
    stamp = f'{deep // 3600 % 24:02d}:{deep // 60 % 60:02d}:{deep % 60:02d}'
    assert body['data'][0]['timestamp'] == f'2024-05-17T{stamp}Z'
    assert peak < MEMORY_LIMIT and seconds < 3
    following = codec.decode(body['pagination']['next_cursor'], bound)
    assert following.offset == (deep + 100) * LINE_BYTES and following.size == size

    last = codec.encode(bound, Position(size - 3 * LINE_BYTES, size))
    body = page(client, headers, url, limit=100, cursor=last)
    assert len(body['data']) == 3 and body['pagination']['next_cursor'] is None

    # a filter that matches nothing: the page stops after SCAN_BYTES, empty, with a cursor to go on
    body, peak, seconds = measured(client, headers, url, contains='no such text', limit=100)
    assert body['data'] == [] and peak < MEMORY_LIMIT and seconds < 10
    scanned = codec.decode(body['pagination']['next_cursor'], binding(run_id, None, None, None, 'no such text'))
    assert SCAN_BYTES <= scanned.offset < SCAN_BYTES + LINE_BYTES


# --- query counts --------------------------------------------------------------------------------------------------

def counted(client: FlaskClient, headers: dict[str, str], url: str, **params: Any) -> int:
    with counted_queries() as statements:
        assert page(client, headers, url, **params)['data']
    return len(statements)


def test_query_counts_do_not_depend_on_the_log_or_the_scope(app, client):
    headers = reader()
    small, large = new_run(), new_run()
    write_log(repository(app), small, b'one line\n')
    write_log(repository(app), large, b''.join(big_line(number) for number in range(500)))
    client.get(RUN_URL.format(small), headers=headers)  # the token's last use is recorded on the first request
    assert counted(client, headers, RUN_URL.format(small)) == counted(client, headers, RUN_URL.format(large),
                                                                      limit=100)

    general = add_category('Counted')
    runs = []
    for count in (1, 6):
        samples = [add_sample() for _ in range(count)]
        tests = [add_regression_test(general, outputs=[('d' * 64, False)], sample=sample)[0] for sample in samples]
        run = add_run(progress=DONE, customized=[test.id for test in tests])
        write_log(repository(app), run.id, ''.join(f'tester: {sample.filename}\n' for sample in samples).encode())
        runs.append((run.id, samples[0].id))
    db.session.commit()
    assert len({counted(client, headers, SAMPLE_URL.format(run_id, sample_id)) for run_id, sample_id in runs}) == 1
