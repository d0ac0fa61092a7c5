"""The storage layer: local repository + GCS (the real google-cloud-storage client against gcp-storage-emulator).

No mocks of google-cloud-storage: every GCS case goes over loopback to the emulator of
``mod_api_tests.gcs_emulator``, which a test stops (connection refused), hangs (timeouts) or slows down.
"""
import json
import os
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from mod_api import storage as storage_module
from mod_api.settings import apply_settings
from mod_api.signing import DownloadSigner
from mod_api.storage import (
    MAX_WORKERS,
    BackendState,
    FileMissing,
    FileTooLarge,
    FileUnreadable,
    ObjectStatus,
    StatusCache,
    Storage,
    UnsafePath,
    check_filename,
    content_disposition,
    safe_filename,
    safe_relative,
)

SECRET = 'storage-test-secret-0123456789'
RUNNING_AS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0


@pytest.fixture()
def repository(tmp_path: Path) -> Path:
    root = tmp_path / 'repository'
    for folder in ('TestResults', 'LogFiles', 'TestFiles/media'):
        (root / folder).mkdir(parents=True)
    return root


@pytest.fixture()
def make_storage(repository: Path) -> Callable[..., Storage]:
    def build(**overrides: Any) -> Storage:
        config = {'DATABASE_URI': 'sqlite://', 'SAMPLE_REPOSITORY': str(repository), 'API_SECRET_KEY': SECRET,
                  **overrides}
        apply_settings(config, environ={})
        return Storage(config)
    return build


@pytest.fixture()
def local_storage(make_storage: Callable[..., Storage]) -> Storage:
    return make_storage()


@pytest.fixture()
def gcs_storage(make_storage: Callable[..., Storage], gcs_emulator: Any) -> Storage:
    return make_storage(API_GCS_TIMEOUT_SECONDS=1, **gcs_emulator.config())


def put_local(repository: Path, path: str, data: bytes) -> Path:
    target = repository / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def fresh(storage: Storage, path: str) -> ObjectStatus:
    """A status that ignores any earlier answer (a new per-request cache)."""
    return storage.status(path, StatusCache())


# ------------------------------------------------------------------------------------------- path safety

TRAVERSAL_PAYLOADS = [
    '', '.', '..', '../etc/passwd', 'TestResults/../../etc/passwd', 'TestResults/..', 'TestResults/./x.srt',
    './TestResults/x.srt', '/etc/passwd', '//etc/passwd', 'TestResults//x.srt', 'TestResults/', 'LogFiles/1.txt/',
    'LogFiles/1.txt\x00.png', '\x00', 'TestResults\\..\\..\\etc\\passwd', '..\\..\\windows\\win.ini',
    'C:\\Windows\\win.ini', 'LogFiles/\n1.txt', 'LogFiles/1.txt\r', 'LogFiles/\x7f', 'a/' * 600 + 'b',
    'LogFiles/\udcff.txt',
]


@pytest.mark.parametrize('payload', TRAVERSAL_PAYLOADS)
def test_unsafe_paths_are_refused_before_any_backend_is_touched(payload, gcs_storage, gcs_emulator, tmp_path,
                                                                 monkeypatch):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'passwd').write_text('root:x:0:0')
    touched = []
    for name in ('stat', 'open', 'lstat'):
        original = getattr(os, name)
        monkeypatch.setattr(os, name, lambda *args, _original=original, **kwargs: (
            touched.append(args[0]), _original(*args, **kwargs))[1])
    calls: list[Callable[[], Any]] = [
        lambda: safe_relative(payload), lambda: gcs_storage.local_path(payload),
        lambda: gcs_storage.status(payload), lambda: gcs_storage.status_many(['LogFiles/1.txt', payload]),
        lambda: gcs_storage.read_bytes(payload, 100), lambda: gcs_storage.open_lines(payload),
        lambda: gcs_storage.stream(payload), lambda: gcs_storage.open(payload),
        lambda: gcs_storage.gcs_signed_url(payload, 'x.txt'), lambda: gcs_storage.signer.sign(payload, 'x.txt'),
    ]
    for call in calls:
        with pytest.raises(UnsafePath):
            call()
    assert touched == []
    assert gcs_emulator.requests == 0


@pytest.mark.parametrize('payload', [None, b'LogFiles/1.txt', 12, ['LogFiles/1.txt']])
def test_non_string_paths_are_refused(payload):
    with pytest.raises(UnsafePath):
        safe_relative(payload)


@pytest.mark.parametrize('path', [
    'TestResults/0a1b.srt', 'LogFiles/12.txt', 'TestFiles/media/abc.xml', 'TestFiles/extra/abc_1.bin',
    'TestResults/..hidden', 'TestResults/a..b.srt', 'TestResults/name with spaces.srt', 'TestResults/résumé.srt',
    'LogFiles/%2e%2e', 'a' * 1000,
])
def test_ordinary_paths_are_accepted(path):
    assert safe_relative(path) == tuple(path.split('/'))


def test_symlinks_leading_out_of_the_repository_are_refused(local_storage, repository, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'secret.txt').write_bytes(b'top secret')
    (repository / 'TestResults' / 'link.srt').symlink_to(outside / 'secret.txt')
    (repository / 'Escape').symlink_to(outside)
    (repository / 'TestResults' / 'loop').symlink_to(repository / 'TestResults' / 'loop')
    for path in ('TestResults/link.srt', 'Escape/secret.txt'):
        with pytest.raises(UnsafePath):
            local_storage.local_path(path)
        status = fresh(local_storage, path)
        assert status.storage_status == 'missing'
        assert 'outside' in status.local.problem
        with pytest.raises(FileMissing):
            local_storage.read_bytes(path, 1000)
    status = fresh(local_storage, 'TestResults/loop')
    assert status.storage_status == 'missing' and status.local.problem


def test_symlinks_inside_the_repository_are_followed(local_storage, repository):
    put_local(repository, 'TestResults/real.srt', b'content')
    (repository / 'TestResults' / 'alias.srt').symlink_to(repository / 'TestResults' / 'real.srt')
    (repository / 'Results').symlink_to('TestResults')
    assert local_storage.read_bytes('TestResults/alias.srt', 100) == b'content'
    assert local_storage.read_bytes('Results/real.srt', 100) == b'content'
    assert fresh(local_storage, 'Results/real.srt').storage_status == 'ok'


def test_a_folder_is_resolved_once_per_page_of_checks(local_storage, repository, monkeypatch):
    """Resolving every path in full cost more than its stat: the files of a folder share the folder's resolution."""
    paths = [f'TestResults/{index:04d}.srt' for index in range(40)] + ['LogFiles/1.txt']
    for path in paths:
        put_local(repository, path, b'local')
    (repository / 'TestResults' / 'alias.srt').symlink_to(repository / 'TestResults' / '0000.srt')
    resolved: list[str] = []
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, 'realpath', lambda path, **kwargs: resolved.append(path) or realpath(path, **kwargs))
    statuses = local_storage.status_many(paths + ['TestResults/alias.srt'], StatusCache())
    assert all(status.storage_status == 'ok' for status in statuses.values())
    # the root, each folder, and the one file that is a symlink
    assert len(resolved) == 4
    assert statuses['TestResults/alias.srt'].size == statuses['TestResults/0000.srt'].size


def test_download_file_names():
    assert check_filename('12.txt') == '12.txt'
    for bad in ('', '.', '..', 'a/b', 'a\\b', 'a"b', 'a\r\nSet-Cookie: x', 'x' * 256, None):
        with pytest.raises(ValueError):
            check_filename(bad)
    assert safe_filename('a/b"c\r\n.srt') == 'a_b_c__.srt'
    assert safe_filename('..') == 'download'
    long_name = safe_filename('n' * 400 + '.srt')
    assert len(long_name) == 255 and long_name.endswith('.srt')
    assert content_disposition('12.txt') == 'attachment; filename="12.txt"'
    assert content_disposition('résumé.srt') == (
        'attachment; filename="r_sum_.srt"; filename*=UTF-8\'\'r%C3%A9sum%C3%A9.srt')


# ------------------------------------------------------------------------------------- presence & status

@pytest.mark.parametrize('in_local, in_gcs, expected', [
    (True, True, 'ok'), (True, False, 'degraded'), (False, True, 'degraded'), (False, False, 'missing'),
])
def test_storage_status_with_both_backends(in_local, in_gcs, expected, gcs_storage, gcs_emulator, repository):
    path = 'TestResults/0123abcd.srt'
    if in_local:
        put_local(repository, path, b'local copy\n')
    if in_gcs:
        gcs_emulator.put(path, b'gcs copy, longer\n')
    status = gcs_storage.status(path)
    assert status.storage_status == expected
    assert status.checked == ('local', 'gcs')
    assert status.local.present is in_local and status.gcs.present is in_gcs
    assert status.present is (in_local or in_gcs)
    assert status.problems == {}
    assert status.local.size == (11 if in_local else None)
    assert status.gcs.size == (17 if in_gcs else None)
    assert status.size == (11 if in_local else 17 if in_gcs else None)
    if in_gcs:
        assert status.gcs.mtime.tzinfo is not None
        assert abs((status.gcs.mtime - datetime.now(timezone.utc)).total_seconds()) < 60


@pytest.mark.parametrize('in_local, expected', [(True, 'ok'), (False, 'missing')])
def test_storage_status_with_the_local_backend_only(in_local, expected, local_storage, repository):
    """Without GCS configured the local folder is the only storage: present there is ok, never degraded."""
    if in_local:
        put_local(repository, 'LogFiles/7.txt', b'log')
    status = local_storage.status('LogFiles/7.txt')
    assert status.storage_status == expected
    assert status.gcs is None and status.checked == ('local',)
    assert local_storage.backends == ('local',) and local_storage.bucket() is None


def test_a_directory_or_missing_repository_is_not_a_file(make_storage, repository, tmp_path):
    (repository / 'LogFiles' / '3.txt').mkdir()
    storage = make_storage()
    status = fresh(storage, 'LogFiles/3.txt')
    assert status.storage_status == 'missing' and status.local.problem == 'not a regular file'
    nowhere = make_storage(SAMPLE_REPOSITORY=str(tmp_path / 'nowhere'))
    assert fresh(nowhere, 'LogFiles/3.txt').storage_status == 'missing'


def test_the_gcs_backend_stopped_mid_test_counts_as_absent_is_logged_and_fast(gcs_storage, gcs_emulator,
                                                                             repository, caplog):
    path = 'TestResults/feed.srt'
    put_local(repository, path, b'x')
    gcs_emulator.put(path, b'x')
    gcs_emulator.put('LogFiles/9.txt', b'only in gcs')
    assert fresh(gcs_storage, path).storage_status == 'ok'
    assert gcs_storage.read_bytes('LogFiles/9.txt', 100) == b'only in gcs'

    gcs_emulator.stop()
    started = time.monotonic()
    status = fresh(gcs_storage, path)
    assert status.storage_status == 'degraded'
    assert status.local.present and not status.gcs.present
    assert status.gcs.problem == 'ConnectionError'
    assert fresh(gcs_storage, 'LogFiles/9.txt').storage_status == 'missing'
    with pytest.raises(FileMissing) as missing:
        gcs_storage.read_bytes('LogFiles/9.txt', 100)
    assert missing.value.checked == ('local', 'gcs')
    assert missing.value.problems == {'gcs': 'ConnectionError'}
    assert gcs_storage.check_gcs().startswith('GCS unreachable')
    assert time.monotonic() - started < 2
    assert 'GCS check of TestResults/feed.srt failed: ConnectionError' in caplog.text

    gcs_emulator.start()
    assert fresh(gcs_storage, path).storage_status == 'ok'
    assert gcs_storage.check_gcs() is None


def test_a_hanging_gcs_backend_costs_one_timeout_per_request(gcs_storage, gcs_emulator, repository, caplog):
    paths = [f'TestResults/{index:04d}.srt' for index in range(40)]
    for path in paths[:10]:
        put_local(repository, path, b'local')
    with gcs_emulator.hang():
        started = time.monotonic()
        statuses = gcs_storage.status_many(paths, StatusCache())
        elapsed = time.monotonic() - started
        assert elapsed < gcs_storage.timeout + 1.5
        assert [statuses[path].storage_status for path in paths] == ['degraded'] * 10 + ['missing'] * 30
        assert all(statuses[path].gcs.problem for path in paths)
        # GCS is given up for the rest of the request after the first failure: at most one wave of requests.
        assert gcs_emulator.requests <= MAX_WORKERS
        with pytest.raises(FileMissing):
            gcs_storage.read_bytes(paths[20], 100)
    assert 'GCS counted absent for the rest of this request' in caplog.text


def test_the_budget_bounds_a_page_of_checks(gcs_storage, gcs_emulator, caplog):
    """Checks still running at the deadline count as absent; the call returns at the deadline."""
    paths = [f'TestResults/{index:04d}.srt' for index in range(10)]
    for path in paths:
        gcs_emulator.put(path, b'x')
    gcs_emulator.latency = 0.8
    started = time.monotonic()
    statuses = gcs_storage.status_many(paths, StatusCache(), budget=0.3)
    assert time.monotonic() - started < 0.7
    assert all(status.storage_status == 'missing' for status in statuses.values())
    assert all(status.gcs.problem == 'no answer within 0.3s' for status in statuses.values())
    assert 'unanswered within 0.3s' in caplog.text


def test_many_paths_are_checked_concurrently_and_cached_per_request(gcs_storage, gcs_emulator, repository):
    paths = [f'TestResults/{index:04d}.srt' for index in range(16)]
    for path in paths:
        gcs_emulator.put(path, b'gcs')
        put_local(repository, path, b'local')
    gcs_emulator.latency = 0.4  # a slow backend: 16 sequential lookups would take 6.4 s
    cache = StatusCache()
    before = gcs_emulator.requests
    started = time.monotonic()
    statuses = gcs_storage.status_many(paths + paths[:3], cache)
    elapsed = time.monotonic() - started
    assert set(statuses) == set(paths)
    assert all(status.storage_status == 'ok' for status in statuses.values())
    assert elapsed < 16 * 0.4 / 2
    asked = gcs_emulator.requests
    assert asked - before == 16  # duplicates asked once

    started = time.monotonic()
    again = gcs_storage.status_many(paths, cache)
    assert time.monotonic() - started < 0.2
    assert gcs_emulator.requests == asked
    assert again == statuses


def test_a_page_of_checks_waits_for_a_gcs_that_accepts_late(gcs_storage, gcs_emulator):
    """Every checker's connection waits in the listen backlog and is answered (no dropped connect, no timeout)."""
    paths = [f'TestResults/{index:04d}.srt' for index in range(MAX_WORKERS)]
    for path in paths:
        gcs_emulator.put(path, b'gcs')
    with ThreadPoolExecutor(1) as caller:
        with gcs_emulator.accepting_late():
            pending = caller.submit(gcs_storage.status_many, paths, StatusCache())
            time.sleep(0.3)  # every checker has connected by now, none was accepted
        statuses = pending.result()
    assert {path: status.gcs.problem for path, status in statuses.items()} == dict.fromkeys(paths)
    assert all(status.storage_status == 'degraded' for status in statuses.values())  # in GCS, not on disk


def record_local_checkers(storage: Storage, monkeypatch: pytest.MonkeyPatch,
                          delay: Callable[[str], float]) -> dict[str, str]:
    """Path → name of the thread that checked it locally, each check first sleeping ``delay(path)`` (a mount)."""
    checkers: dict[str, str] = {}
    check = storage._local_state

    def slow_check(path: str, folders: dict[str, str]) -> BackendState:
        time.sleep(delay(path))
        checkers[path] = threading.current_thread().name
        return check(path, folders)
    monkeypatch.setattr(storage, '_local_state', slow_check)
    return checkers


def count_checkers_started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The jobs submitted to storage's thread pools from now on (one per checker started)."""
    started: list[Any] = []

    class CountingExecutor(storage_module.ThreadPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            started.append(args[0])
            return super().submit(*args, **kwargs)
    monkeypatch.setattr(storage_module, 'ThreadPoolExecutor', CountingExecutor)
    return started


def test_a_local_disk_is_checked_by_one_thread(local_storage, repository, monkeypatch):
    """Threads would only take turns with the GIL on a disk that answers at once."""
    paths = [f'TestResults/{index:04d}.srt' for index in range(40)]
    for path in paths:
        put_local(repository, path, b'local')
    started = count_checkers_started(monkeypatch)
    checkers = record_local_checkers(local_storage, monkeypatch, lambda path: 0)
    statuses = local_storage.status_many(paths, StatusCache())
    assert all(status.storage_status == 'ok' for status in statuses.values())
    assert set(checkers) == set(paths)
    assert len(started) == 1


def test_a_slow_local_mount_gets_every_checker(local_storage, repository, monkeypatch):
    paths = [f'TestResults/{index:04d}.srt' for index in range(40)]
    for path in paths:
        put_local(repository, path, b'local')
    started = count_checkers_started(monkeypatch)
    checkers = record_local_checkers(local_storage, monkeypatch, lambda path: 0.05)  # 2 s one after another
    began = time.monotonic()
    statuses = local_storage.status_many(paths, StatusCache())
    assert time.monotonic() - began < 40 * 0.05 / 4
    assert all(status.storage_status == 'ok' for status in statuses.values())
    assert len(started) == len(set(checkers.values())) == MAX_WORKERS


def test_a_hanging_local_path_holds_up_only_itself(local_storage, repository, monkeypatch, caplog):
    paths = [f'TestResults/{index:04d}.srt' for index in range(40)]
    for path in paths:
        put_local(repository, path, b'local')
    record_local_checkers(local_storage, monkeypatch, lambda path: 3 if path == paths[0] else 0.01)
    started = time.monotonic()
    statuses = local_storage.status_many(paths, StatusCache(), budget=0.8)
    assert time.monotonic() - started < 1.5
    assert statuses[paths[0]].storage_status == 'missing'
    assert statuses[paths[0]].local.problem == 'no answer within 0.8s'
    assert all(statuses[path].storage_status == 'ok' for path in paths[1:])
    assert 'Storage: 1 local check(s) of 40 unanswered within 0.8s' in caplog.text


def test_the_cache_lives_for_one_request(gcs_storage, gcs_emulator):
    app = Flask(__name__)
    path = 'LogFiles/5.txt'
    with app.test_request_context('/api/v1/runs/5/logs'):
        assert gcs_storage.status(path).storage_status == 'missing'
        gcs_emulator.put(path, b'appeared')
        assert gcs_storage.status(path).storage_status == 'missing'  # same request: cached answer
        assert gcs_emulator.requests == 2  # the lookup and the upload
    with app.test_request_context('/api/v1/runs/5/logs'):
        assert gcs_storage.status(path).storage_status == 'degraded'  # a new request looks again
    assert Storage.request_cache() is not Storage.request_cache()  # outside requests nothing is shared


# ----------------------------------------------------------------------------------------------- reading

TEXT = 'Zeile 1: äöü ✓\r\nline 2\n'.encode('utf-8')
BINARY = bytes(range(256)) * 4 + b'\xff\xfe\x00\x00'


@pytest.mark.parametrize('where', ['local', 'gcs'])
@pytest.mark.parametrize('data', [TEXT, BINARY, b''], ids=['text', 'binary', 'empty'])
def test_read_bytes_returns_the_exact_bytes(where, data, gcs_storage, gcs_emulator, repository):
    path = 'TestResults/aa.bin'
    if where == 'local':
        put_local(repository, path, data)
    else:
        gcs_emulator.put(path, data)
    assert gcs_storage.read_bytes(path, 4096) == data
    assert fresh(gcs_storage, path).size == len(data)


def test_read_bytes_prefers_the_local_copy(gcs_storage, gcs_emulator, repository):
    put_local(repository, 'TestResults/x.srt', b'local')
    gcs_emulator.put('TestResults/x.srt', b'gcs')
    asked = gcs_emulator.requests
    assert gcs_storage.read_bytes('TestResults/x.srt', 100) == b'local'
    assert gcs_emulator.requests == asked


def test_text_and_binary_content_is_told_apart_by_decoding(local_storage, repository):
    put_local(repository, 'TestResults/t.srt', TEXT)
    put_local(repository, 'TestResults/b.bin', BINARY)
    assert local_storage.read_bytes('TestResults/t.srt', 1024).decode('utf-8').startswith('Zeile 1: äöü')
    with pytest.raises(UnicodeDecodeError):
        local_storage.read_bytes('TestResults/b.bin', 2048).decode('utf-8')


def test_files_over_the_limit_are_refused_locally_without_being_read(local_storage, repository, monkeypatch):
    limit = 1024 * 1024
    put_local(repository, 'TestResults/big.srt', b'a' * (limit + 1))
    put_local(repository, 'TestResults/fits.srt', b'a' * limit)
    assert len(local_storage.read_bytes('TestResults/fits.srt', limit)) == limit

    def no_reading(*args: Any) -> bytes:
        raise AssertionError('the content was read')
    monkeypatch.setattr(storage_module._LocalFile, 'read_range', no_reading)
    with pytest.raises(FileTooLarge) as refused:
        local_storage.read_bytes('TestResults/big.srt', limit)
    assert (refused.value.size, refused.value.limit) == (limit + 1, limit)


def test_files_over_the_limit_are_refused_from_gcs_without_being_downloaded(gcs_storage, gcs_emulator):
    gcs_emulator.put('TestResults/big.srt', b'b' * 5000)
    asked = gcs_emulator.requests
    with pytest.raises(FileTooLarge) as refused:
        gcs_storage.read_bytes('TestResults/big.srt', 4999)
    assert refused.value.size == 5000
    assert gcs_emulator.requests == asked + 1  # the metadata lookup only, no download
    assert gcs_storage.read_bytes('TestResults/big.srt', 5000) == b'b' * 5000


@pytest.mark.parametrize('where', ['local', 'gcs'])
def test_a_file_vanishing_between_check_and_read_is_file_missing(where, gcs_storage, gcs_emulator, repository):
    path = 'TestResults/gone.srt'
    if where == 'local':
        target = put_local(repository, path, b'soon gone')
    else:
        gcs_emulator.put(path, b'soon gone')
    assert fresh(gcs_storage, path).present
    if where == 'local':
        target.unlink()
    else:
        gcs_emulator.delete(path)
    with pytest.raises(FileMissing) as missing:
        gcs_storage.read_bytes(path, 100)
    assert missing.value.path == path and missing.value.checked == ('local', 'gcs')
    with pytest.raises(FileMissing):
        gcs_storage.stream(path)


def test_a_gcs_object_vanishing_while_streamed_is_file_missing(gcs_storage, gcs_emulator):
    gcs_emulator.put('LogFiles/4.txt', b'line\n' * 1000)
    with gcs_storage.open_lines('LogFiles/4.txt', chunk_size=1024) as lines:
        iterator = iter(lines)
        assert next(iterator).text == 'line'
        gcs_emulator.delete('LogFiles/4.txt')
        with pytest.raises(FileMissing):
            list(iterator)


def test_gcs_failing_while_streamed_is_file_unreadable(gcs_storage, gcs_emulator):
    gcs_emulator.put('LogFiles/4.txt', b'line\n' * 1000)
    stream = gcs_storage.stream('LogFiles/4.txt', chunk_size=1024)
    chunks = iter(stream)
    assert next(chunks) == b'line\n' * 204 + b'line'
    gcs_emulator.stop()
    with pytest.raises(FileUnreadable) as failed:
        list(chunks)
    assert failed.value.backend == 'gcs'


def _make_unreadable(how: str, target: Path) -> None:
    if how == 'chmod':
        target.chmod(0)
    else:
        target.unlink()
        target.mkdir()  # something is there, but not a file: open() works on it, reading does not


@pytest.mark.parametrize('how', [
    pytest.param('chmod', marks=pytest.mark.skipif(
        RUNNING_AS_ROOT, reason='root bypasses file permissions, so chmod 000 cannot make a file unreadable; '
                                'the directory case covers the unreadable-file path')),
    'directory',
])
def test_an_unreadable_local_file_is_a_clear_error(how, local_storage, repository):
    target = put_local(repository, 'TestResults/locked.srt', b'locked')
    _make_unreadable(how, target)
    try:
        status = fresh(local_storage, 'TestResults/locked.srt')
        assert status.storage_status == 'missing' and status.local.problem
        with pytest.raises(FileUnreadable) as unreadable:
            local_storage.read_bytes('TestResults/locked.srt', 100)
        assert unreadable.value.backend == 'local'
        with pytest.raises(FileUnreadable):
            local_storage.open_lines('TestResults/locked.srt')
    finally:
        if how == 'chmod':
            target.chmod(0o644)


def test_an_unreadable_local_file_falls_back_to_gcs(gcs_storage, gcs_emulator, repository):
    target = put_local(repository, 'TestResults/locked.srt', b'locked')
    _make_unreadable('directory', target)
    gcs_emulator.put('TestResults/locked.srt', b'from gcs')
    assert fresh(gcs_storage, 'TestResults/locked.srt').storage_status == 'degraded'
    assert gcs_storage.read_bytes('TestResults/locked.srt', 100) == b'from gcs'


def test_a_fifo_does_not_block_a_read(local_storage, repository):
    os.mkfifo(repository / 'LogFiles' / 'pipe.txt')
    with pytest.raises(FileUnreadable):
        local_storage.read_bytes('LogFiles/pipe.txt', 100)


# ----------------------------------------------------------------------------------------- lines & chunks

LINES_SAMPLE = b'first\r\nsecond\n\n' + 'ünïcode\n'.encode('utf-8') + b'bad \xff byte\n' + b'x' * 25 + b'\nlast'


@pytest.mark.parametrize('where', ['local', 'gcs'])
def test_lines_with_offsets_from_either_backend(where, gcs_storage, gcs_emulator, repository):
    path = 'LogFiles/2.txt'
    if where == 'local':
        put_local(repository, path, LINES_SAMPLE)
    else:
        gcs_emulator.put(path, LINES_SAMPLE)
    with gcs_storage.open_lines(path, max_line_bytes=10, chunk_size=7) as reader:
        assert reader.backend == where and reader.size == len(LINES_SAMPLE)
        lines = list(reader)
    assert [line.text for line in lines] == [
        'first', 'second', '', 'ünïcode', 'bad \ufffd byte', 'x' * 10, 'x' * 10, 'x' * 5, 'last']
    assert lines[0].start == 0
    assert all(previous.end == line.start for previous, line in zip(lines, lines[1:]))
    assert lines[-1].end == len(LINES_SAMPLE)
    # resuming at any line's end yields exactly the rest
    for index, line in enumerate(lines):
        with gcs_storage.open_lines(path, start=line.end, max_line_bytes=10, chunk_size=7) as rest:
            assert list(rest) == lines[index + 1:]


def test_an_empty_file_has_no_lines(local_storage, repository):
    put_local(repository, 'LogFiles/0.txt', b'')
    with local_storage.open_lines('LogFiles/0.txt') as reader:
        assert list(reader) == []


@pytest.mark.parametrize('where', ['local', 'gcs'])
def test_modification_time(where, gcs_storage, gcs_emulator, repository):
    path = 'LogFiles/8.txt'
    if where == 'local':
        target = put_local(repository, path, b'x\n')
        os.utime(target, (1_700_000_000, 1_700_000_000))
        expected = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    else:
        gcs_emulator.put(path, b'x\n')
        expected = gcs_emulator.bucket().get_blob(path).updated
    with gcs_storage.open_lines(path) as reader:
        assert reader.mtime == expected
    assert fresh(gcs_storage, path).mtime == expected


def test_a_100_mb_log_is_read_in_bounded_memory(local_storage, repository):
    target = repository / 'LogFiles' / '100.txt'
    block = b''.join(b'[2024-05-01 10:00:%02d] INFO %s\n' % (index % 60, b'w' * (index * 37 % 2000))
                     for index in range(1000))
    size = 100 * 1024 * 1024
    with target.open('wb') as handle:
        while handle.tell() < size:
            handle.write(block)
    size = target.stat().st_size
    tracemalloc.start()
    try:
        count, last_end = 0, 0
        with local_storage.open_lines('LogFiles/100.txt') as reader:
            for line in reader:
                count += 1
                last_end = line.end
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert last_end == size
    assert count == size // len(block) * 1000 + block[:size % len(block)].count(b'\n')
    assert peak < 4 * 1024 * 1024, f'peak {peak} bytes while reading {size} bytes'


def test_gcs_lines_come_in_ranged_downloads(gcs_storage, gcs_emulator):
    data = b''.join(b'line %06d of the log\n' % index for index in range(150_000))  # ~3.2 MB
    gcs_emulator.put('LogFiles/3.txt', data)
    asked = gcs_emulator.requests
    with gcs_storage.open_lines('LogFiles/3.txt', chunk_size=256 * 1024) as reader:
        for count, line in enumerate(reader):
            if count == 999:
                break
    assert line.text == 'line 000999 of the log'
    assert gcs_emulator.requests - asked == 2  # the metadata, one 256 KiB range; never the whole object
    asked = gcs_emulator.requests
    with gcs_storage.open_lines('LogFiles/3.txt', start=line.end, chunk_size=256 * 1024) as reader:
        assert next(iter(reader)).text == 'line 001000 of the log'
    assert gcs_emulator.requests - asked == 2


@pytest.mark.parametrize('where', ['local', 'gcs'])
def test_stream_yields_every_byte_in_chunks_and_closes(where, gcs_storage, gcs_emulator, repository):
    data = os.urandom(300_000)
    if where == 'local':
        put_local(repository, 'TestResults/s.bin', data)
    else:
        gcs_emulator.put('TestResults/s.bin', data)
    stream = gcs_storage.stream('TestResults/s.bin', chunk_size=64 * 1024)
    assert (stream.backend, stream.size, stream.path) == (where, len(data), 'TestResults/s.bin')
    chunks = list(stream)
    assert b''.join(chunks) == data and max(map(len, chunks)) == 64 * 1024
    stream.close()  # idempotent, as WSGI servers may call it again


# -------------------------------------------------------------------------------------- signed URLs

def _service_account_file(folder: Path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {'type': 'service_account', 'project_id': 'mod-api-test', 'private_key_id': 'test-key',
            'private_key': pem, 'client_email': 'signer@mod-api-test.iam.gserviceaccount.com', 'client_id': '1',
            'token_uri': 'https://oauth2.googleapis.com/token'}
    (folder / 'service-account.json').write_text(json.dumps(info))
    return 'service-account.json'


def _api_url(token: str) -> str:
    return f'https://api.example/api/v1/artifacts/download/{token}'


@pytest.mark.parametrize('limit, minutes, seconds', [(720, 5, 300), (3, 5, 180), (720, 60, 3600)])
def test_gcs_signed_urls_with_service_account_credentials(limit, minutes, seconds, make_storage, tmp_path):
    storage = make_storage(INSTALL_FOLDER=str(tmp_path), SERVICE_ACCOUNT_FILE=_service_account_file(tmp_path),
                           GCS_BUCKET_NAME='platform-bucket', GCS_SIGNED_URL_EXPIRY_LIMIT=limit,
                           API_SIGNED_URL_MINUTES=minutes)
    assert storage.can_sign_urls
    status = ObjectStatus('TestResults/ab12.srt', BackendState(False), BackendState(True, size=3))
    url = storage.download_url(status, 'ab12.srt', _api_url)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == ('https', 'storage.googleapis.com',
                                                       '/platform-bucket/TestResults/ab12.srt')
    assert query['X-Goog-Algorithm'] == ['GOOG4-RSA-SHA256']
    assert query['X-Goog-Expires'] == [str(seconds)]
    assert query['X-Goog-Credential'][0].startswith('signer@mod-api-test.iam.gserviceaccount.com/')
    assert query['response-content-disposition'] == ['attachment; filename="ab12.srt"']
    assert len(query['X-Goog-Signature'][0]) == 512


def test_without_signing_credentials_the_api_signs_its_own_url(gcs_storage, gcs_emulator, repository):
    """The emulator's anonymous credentials cannot sign: the URL is the API's, carrying a download token."""
    gcs_emulator.put('TestResults/g.srt', b'gcs')
    put_local(repository, 'TestResults/l.srt', b'local')
    assert not gcs_storage.can_sign_urls
    assert gcs_storage.gcs_signed_url('TestResults/g.srt', 'g.srt') is None
    for path in ('TestResults/g.srt', 'TestResults/l.srt'):
        status = gcs_storage.status(path)
        assert status.storage_status == 'degraded'
        url = gcs_storage.download_url(status, 'out.srt', _api_url)
        token = url.rpartition('/')[2]
        grant = gcs_storage.signer.verify(token)
        assert (grant.path, grant.filename) == (path, 'out.srt')
        assert b''.join(gcs_storage.stream(grant.path)) in (b'gcs', b'local')
    missing = gcs_storage.status('TestResults/none.srt')
    assert gcs_storage.download_url(missing, 'none.srt', _api_url) is None


def test_a_local_only_file_gets_the_api_url_even_when_gcs_can_sign(make_storage, tmp_path):
    storage = make_storage(INSTALL_FOLDER=str(tmp_path), SERVICE_ACCOUNT_FILE=_service_account_file(tmp_path),
                           GCS_BUCKET_NAME='platform-bucket')
    status = ObjectStatus('LogFiles/1.txt', BackendState(True, size=1), BackendState(False))
    assert storage.download_url(status, '1.txt', _api_url).startswith('https://api.example/')


def test_a_signing_failure_falls_back_to_the_api_url(make_storage, tmp_path, monkeypatch, caplog):
    from google.cloud.storage import Blob
    storage = make_storage(INSTALL_FOLDER=str(tmp_path), SERVICE_ACCOUNT_FILE=_service_account_file(tmp_path),
                           GCS_BUCKET_NAME='platform-bucket')

    def broken(*args: Any, **kwargs: Any) -> str:
        raise ValueError('signing failed')
    monkeypatch.setattr(Blob, 'generate_signed_url', broken)
    status = ObjectStatus('LogFiles/1.txt', BackendState(True, size=1), BackendState(True, size=1))
    assert storage.download_url(status, '1.txt', _api_url).startswith('https://api.example/')
    assert 'Could not sign a GCS URL for LogFiles/1.txt: ValueError' in caplog.text


def test_the_api_token_uses_the_configured_lifetime(make_storage):
    storage = make_storage(API_SIGNED_URL_MINUTES=7)
    assert isinstance(storage.signer, DownloadSigner)
    assert storage.signer.max_age_seconds == 7 * 60


# ---------------------------------------------------------------------------------------------- the client

def test_the_client_is_made_once_and_shared_by_threads(gcs_storage):
    clients: list[Any] = []
    threads = [threading.Thread(target=lambda: clients.append(gcs_storage.client())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in clients}) == 1 and clients[0] is gcs_storage.client()
    assert gcs_storage.bucket() is gcs_storage.bucket()


def test_client_creation_failures_are_reported_not_raised(make_storage, tmp_path, repository, caplog,
                                                          monkeypatch):
    secret_key = '-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n'
    (tmp_path / 'broken.json').write_text(json.dumps({
        'type': 'service_account', 'private_key': secret_key, 'client_email': 'x@y.z', 'token_uri': 'https://t'}))
    storage = make_storage(INSTALL_FOLDER=str(tmp_path), SERVICE_ACCOUNT_FILE='broken.json',
                           GCS_BUCKET_NAME='platform-bucket')
    put_local(repository, 'LogFiles/1.txt', b'log')
    assert storage.client() is None and storage.bucket() is None
    assert storage.client_error.startswith('GCS client unavailable (')
    status = fresh(storage, 'LogFiles/1.txt')
    assert status.storage_status == 'degraded' and status.gcs.problem == storage.client_error
    assert storage.read_bytes('LogFiles/1.txt', 10) == b'log'
    assert storage.check_gcs() == storage.client_error
    assert not storage.can_sign_urls
    assert 'Could not create the GCS client' in caplog.text
    assert 'TOPSECRET' not in caplog.text and 'TOPSECRET' not in storage.client_error

    # retried after a pause, and fine once the file is right
    _service_account_file(tmp_path)
    storage.credentials_file = str(tmp_path / 'service-account.json')
    assert storage.client() is None  # still within the pause
    monkeypatch.setattr(storage_module, 'CLIENT_RETRY_SECONDS', 0.0)
    assert storage.client() is not None and storage.client_error is None


def test_a_missing_service_account_file_is_reported(make_storage, tmp_path):
    storage = make_storage(INSTALL_FOLDER=str(tmp_path), SERVICE_ACCOUNT_FILE='nope.json',
                           GCS_BUCKET_NAME='platform-bucket')
    assert storage.bucket() is None
    assert storage.client_error == 'GCS client unavailable (FileNotFoundError: No such file or directory)'
    assert str(tmp_path) not in storage.client_error


def test_health_sees_the_emulator(gcs_storage, gcs_emulator):
    assert gcs_storage.check_gcs() is None
    with gcs_emulator.hang():
        started = time.monotonic()
        assert gcs_storage.check_gcs() == 'GCS unreachable (ReadTimeout)'
        assert time.monotonic() - started < gcs_storage.timeout + 0.5
    gcs_emulator.stop()
    assert gcs_storage.check_gcs() == 'GCS unreachable (ConnectionError)'


def test_the_client_makes_no_background_calls(gcs_storage, gcs_emulator):
    """google-cloud-storage 3.17's bucket-metadata prefetch (unbounded retries in a thread) is switched off."""
    assert gcs_storage.client()._bucket_metadata_cache is None
    gcs_storage.status('LogFiles/1.txt')
    time.sleep(0.2)
    assert gcs_emulator.requests == 1


def test_reads_skip_gcs_once_it_failed_in_the_request(gcs_storage, gcs_emulator, repository):
    put_local(repository, 'TestResults/a.srt', b'local a')
    app = Flask(__name__)
    with gcs_emulator.hang(), app.test_request_context('/api/v1/runs/1/samples/2/diff'):
        started = time.monotonic()
        assert gcs_storage.status('TestResults/a.srt').storage_status == 'degraded'
        assert gcs_storage.read_bytes('TestResults/a.srt', 100) == b'local a'
        with pytest.raises(FileMissing) as missing:
            gcs_storage.read_bytes('TestResults/b.srt', 100)
        assert missing.value.problems['gcs'].startswith('skipped, GCS unavailable')
        assert time.monotonic() - started < gcs_storage.timeout + 0.5  # one timeout for the whole request
