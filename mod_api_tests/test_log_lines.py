"""mod_api.log_lines and mod_api.log_cursor: line shapes, levels, sources, inherited times, sample blocks, cursors.

Pure tests (no database, no storage): the HTTP behaviour is in test_logs.py.
"""
from datetime import datetime, timedelta, timezone

import pytest
from itsdangerous.timed import TimestampSigner

from mod_api.log_cursor import MAX_LENGTH, CursorCodec, InvalidCursor, Position, binding
from mod_api.log_lines import (
    FAILURE,
    MAX_MESSAGE,
    Clock,
    Entry,
    SampleMarkers,
    Stamp,
    entries,
    looks_like_failure,
    parse,
    source_of,
)
from mod_api.signing import TokenSigner
from mod_api.storage import Line
from mod_api.timeutil import isoformat_z
from mod_api_tests.logs_data import MTIME, SHAPES

SECRET = 'log-cursor-secret-0123456789abcdef'
MTIME_AT = datetime(2024, 5, 17, 12, 30, tzinfo=timezone.utc)
SHA_A, SHA_B = 'a' * 63 + '1', 'b' * 63 + '2'


def lines_of(texts: list[str]) -> list[Line]:
    start, lines = 0, []
    for text in texts:
        size = len(text.encode()) + 1
        lines.append(Line(start, start + size, text))
        start += size
    return lines


def entry(text: str, stated_level: str | None = None) -> Entry:
    return Entry(0, 1, MTIME_AT, text, text, stated_level)


def test_every_supported_line_shape_becomes_the_expected_log_line():
    got = [(isoformat_z(entry.timestamp), entry.level, entry.source, entry.message)
           for _, entry in entries(lines_of([shape[0] for shape in SHAPES]), Clock(MTIME_AT)) if entry is not None]
    expected = [(MTIME_AT.isoformat().replace('+00:00', 'Z') if stamp == MTIME else stamp, level, source, message)
                for _, stamp, level, source, message in SHAPES]
    assert got == expected


@pytest.mark.parametrize('text, moment', [
    ('2024-05-17T12:00:01Z x', datetime(2024, 5, 17, 12, 0, 1, tzinfo=timezone.utc)),
    ('2024-05-17T12:00:01 x', datetime(2024, 5, 17, 12, 0, 1, tzinfo=timezone.utc)),
    ('2024-05-17 12:00:01.123456789 x', datetime(2024, 5, 17, 12, 0, 1, 123456, tzinfo=timezone.utc)),
    ('2024-05-17 12:00:01 GMT x', datetime(2024, 5, 17, 12, 0, 1, tzinfo=timezone.utc)),
    ('2024-05-17 12:00:01-0500 x', datetime(2024, 5, 17, 17, 0, 1, tzinfo=timezone.utc)),
    ('[2024/05/17 12:00:01] x', datetime(2024, 5, 17, 12, 0, 1, tzinfo=timezone.utc)),
    ('Sat May  4 09:08:07 2024 x', datetime(2024, 5, 4, 9, 8, 7, tzinfo=timezone.utc)),
    ('[Sat May  4 09:08:07 UTC 2024] x', datetime(2024, 5, 4, 9, 8, 7, tzinfo=timezone.utc)),
    ('2024-05-17 23:59:60 x', datetime(2024, 5, 17, 23, 59, 59, tzinfo=timezone.utc)),  # a leap second
])
def test_timestamp_shapes(text, moment):
    parsed = parse(text)
    assert parsed.stamp == Stamp(moment=moment) and parsed.message == 'x'


@pytest.mark.parametrize('text', [
    '2024-05-17 12:00 no seconds', '17/05/2024 12:00:01 day first', '2024-05-17-12:00:01 x',
    '2024-05-1712:00:01 x', '12:00:01x glued', '24:00:00 x', '2024-05-17 12:00:01:55 more', 'at 12:00:01 later',
    'Sun Feb 30 12:00:00 2024 impossible',
])
def test_not_a_timestamp(text):
    assert parse(text).stamp is None


@pytest.mark.parametrize('text, level', [
    ('[warn] x', 'warning'), ('(ERROR) x', 'error'), ('<debug> x', 'debug'), ('INFO x', 'info'),
    ('WARNING - x', 'warning'), ('CRITICAL | x', 'critical'), ('Error: x', 'error'), ('warning : x', 'warning'),
    ('2024-05-17 12:00:01 [ERROR] x', 'error'), ('[ERROR] 2024-05-17 12:00:01 x', 'error'),
    ('svc level="DEBUG" x', 'debug'), ('x.c:1: note: y', 'info'), ('ld: warning: y', 'warning'),
    # no level stated (debug words elsewhere): the default, info
    ('Debug x', 'info'), ('debugging: x', 'info'), ('DEBUGGER x', 'info'), ('an DEBUG: later', 'info'),
    ('a b: debug: c', 'info'),
])
def test_levels_in_common_positions(text, level):
    parsed = parse(text)
    assert entry(parsed.message, parsed.level).level == level


@pytest.mark.parametrize('message, failed', [
    ('Segmentation fault (core dumped)', True), ('No such file or directory', True), ('Permission denied', True),
    ('Command exited with status 2', True), ('exit code 139', True), ('request timed out', True),
    ('test failed', True), ('3 failures', True), ('Could not resolve host', True), ('panicked at x', True),
    ('Command exited with status 0', False), ('0 errors, 0 failures', False), ('no errors found', False),
    ('errors: 0', False), ('Ran all tests', False), ('output matched', False), ('Failover mode', False),
])
def test_lines_that_look_like_failures(message, failed):
    assert looks_like_failure(message) is failed
    assert bool(FAILURE.search(message.lower())) or not failed


@pytest.mark.parametrize('message, source', [
    ('tester: x', 'test_runner'), ('CCExtractorTester 0.3 starting', 'test_runner'),
    ('ccx_testsuite: x', 'test_runner'), ('[3/40] sample.ts', 'test_runner'), ('Running tests', 'test_runner'),
    ('Test entry 7 done', 'test_runner'), ('ccextractor -autoprogram x.ts', 'test_runner'),
    ('runCI: x', 'orchestrator'), ('bootstrap x', 'orchestrator'), ('gsutil cp a b', 'orchestrator'),
    ('Creating VM linux-12', 'orchestrator'), ('vm_data/linux-1 mounted', 'orchestrator'),
    ('Shutdown in 1 minute', 'orchestrator'), ('cmake ..', 'build'), ('make: Nothing to be done', 'build'),
    ('cargo build --release', 'build'), ('x.cpp:3:1: error: y', 'build'), ('Linking C executable', 'build'),
    ('main.c(3): warning C4996: y', 'build'), ('error[E0425]: y', 'build'), ('./build.sh', 'build'),
    ('curl: (7) Failed to connect', 'web'), ('GET /api HTTP/1.1', 'web'), ('HTTP error 502', 'web'),
    ('EMPTY', 'web'), ('Posting testing - Running tests to the server:', 'web'),
    ('Posting completed - Ran all tests to the server:', 'web'), ('hello', 'worker'), ('ok then', 'worker'),
])
def test_sources_from_the_shape_of_the_line(message, source):
    assert source_of(message) == source


def test_blank_lines_are_not_lines():
    assert [parse(text) for text in ('', '   ', '\t', '\r', '\x1b[0m', ' \r \x1b[2K')] == [None] * 6
    assert parse('50%\r100%\r  ').message == '100%'  # the last carriage-return segment that is not blank
    got = [entry for _, entry in entries(lines_of(['a', '  ', 'b']), Clock(MTIME_AT))]
    assert got[1] is None and [entry.message for entry in (got[0], got[2])] == ['a', 'b']


def test_a_line_of_only_a_prefix_keeps_its_text_as_message():
    assert parse('[ERROR]').message == '[ERROR]'
    assert parse('2024-05-17 12:00:01').message == '2024-05-17 12:00:01'


def test_messages_are_cut_and_huge_lines_stay_cheap():
    parsed = parse('[ERROR] ' + 'z' * 300_000)
    assert parsed.level == 'error' and len(parsed.message) == MAX_MESSAGE
    assert entry('x ' * 300_000).source == 'worker'


def test_leading_lines_inherit_the_modification_time_and_later_ones_the_last_stamp():
    clock = Clock(MTIME_AT)
    assert clock.stamp(None) == MTIME_AT
    stamped = datetime(2024, 5, 17, 11, 0, tzinfo=timezone.utc)
    assert clock.stamp(Stamp(moment=stamped)) == stamped
    assert clock.stamp(None) == stamped and clock.last == stamped


@pytest.mark.parametrize('last, time_of_day, expected', [
    (None, (11, 0), datetime(2024, 5, 17, 11, 0, tzinfo=timezone.utc)),  # before mtime: that day
    (None, (13, 0), datetime(2024, 5, 16, 13, 0, tzinfo=timezone.utc)),  # after mtime: the day before
    (datetime(2024, 5, 17, 23, 0, tzinfo=timezone.utc), (1, 0), datetime(2024, 5, 18, 1, 0, tzinfo=timezone.utc)),
    (datetime(2024, 5, 17, 9, 0, tzinfo=timezone.utc), (8, 59), datetime(2024, 5, 17, 8, 59, tzinfo=timezone.utc)),
])
def test_time_of_day_stamps_are_dated(last, time_of_day, expected):
    from datetime import time
    clock = Clock(MTIME_AT, last)
    assert clock.stamp(Stamp(time_of_day=time(*time_of_day))) == expected


def follow(markers: SampleMarkers, texts: list[str]) -> list[bool]:
    inside, kept = False, []
    for text in texts:
        belongs, inside = markers.follow(entry(text), inside)
        kept.append(belongs)
    return kept


def test_sample_blocks_follow_names_until_another_sample_or_the_orchestrator():
    markers = SampleMarkers(frozenset({SHA_A}), frozenset({5, 6}), frozenset({SHA_B}), frozenset({7}))
    texts = ['start', f'run {SHA_A}.ts', 'continues', f'now {SHA_B}', 'b continues', 'Regression test 6 exited',
             'a again', 'regression_test=7', 'b', f'/x/{SHA_A.upper()}_2.srt', 'runCI: done',
             'after', f'both {SHA_A} {SHA_B}', 'a']
    assert follow(markers, texts) == [False, True, True, False, False, True, True, False, False, True, False,
                                      False, True, True]


def test_a_sha_inside_a_longer_hex_run_or_another_number_names_nothing():
    markers = SampleMarkers(frozenset({SHA_A}), frozenset({5}), frozenset({SHA_B}), frozenset({7}))
    assert follow(markers, [f'f{SHA_A}', 'regression test 55', 'regression test 57', 'test 5']) == [False] * 4


# --- cursors -------------------------------------------------------------------------------------------------------

def test_a_cursor_round_trips_its_position():
    codec = CursorCodec(SECRET)
    bound = binding(1, None, 'error', None, 'x')
    position = Position(1234, 99999, datetime(2024, 5, 17, 12, 0, 1, 123456, tzinfo=timezone.utc), True)
    assert codec.decode(codec.encode(bound, position), bound) == position
    assert codec.decode(codec.encode(bound, Position(0, 5)), bound) == Position(0, 5, None, False)


def test_the_longest_cursor_fits_the_contract():
    codec = CursorCodec(SECRET)
    bound = binding(2**31 - 1, 2**31 - 1, 'critical', 'test_runner', '\u00e9\U0001f600' * 50)
    cursor = codec.encode(bound, Position(2**52, 2**52, datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                                  tzinfo=timezone.utc), True))
    assert len(cursor) <= MAX_LENGTH


@pytest.mark.parametrize('listing', [(2, None, None, None, None), (1, 3, None, None, None),
                                     (1, None, 'info', None, None), (1, None, None, 'web', None),
                                     (1, None, None, None, 'X'), (1, None, None, None, '')])
def test_a_cursor_of_another_listing_is_foreign(listing):
    codec = CursorCodec(SECRET)
    cursor = codec.encode(binding(1, None, None, None, None), Position(10, 20))
    with pytest.raises(InvalidCursor) as raised:
        codec.decode(cursor, binding(*listing))
    assert raised.value.reason == 'foreign'


def test_modified_foreign_key_or_other_purpose_cursors_are_tampered():
    codec = CursorCodec(SECRET)
    bound = binding(1, None, None, None, None)
    cursor = codec.encode(bound, Position(10, 20))
    payload, _, rest = cursor.partition('.')
    signed, _, signature = cursor.rpartition('.')
    # the signature's first character carries six bits of it (the last may carry only padding bits)
    other_signature = signed + '.' + ('A' if signature[0] != 'A' else 'B') + signature[1:]
    forged = [other_signature, payload[::-1] + '.' + rest, cursor[:40], 'x' * 255,
              CursorCodec('another-secret-0123456789abcdef').encode(bound, Position(10, 20)),
              TokenSigner(SECRET, 'mod_api.download.v1').sign([bound, 10, 20, None, 0]),
              TokenSigner(SECRET, 'mod_api.log_cursor.v1').sign([bound, 30, 20, None, 0]),  # offset past the size
              TokenSigner(SECRET, 'mod_api.log_cursor.v1').sign({'p': 10})]
    for token in forged:
        with pytest.raises(InvalidCursor) as raised:
            codec.decode(token, bound)
        assert raised.value.reason == 'tampered', token


def test_an_old_cursor_is_expired(monkeypatch):
    codec = CursorCodec(SECRET)
    bound = binding(1, None, None, None, None)
    now = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, 'get_timestamp', lambda self: now(self) - int(timedelta(hours=1,
                                                                                                 seconds=5).total_seconds()))
    cursor = codec.encode(bound, Position(10, 20))
    monkeypatch.undo()
    with pytest.raises(InvalidCursor) as raised:
        codec.decode(cursor, bound)
    assert raised.value.reason == 'expired'
