"""Line diffs: :mod:`mod_api.diffing` on its own, then GET /runs/{run_id}/samples/{sample_id}/diff on both backends."""
import difflib
import random
import time
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_api import diffing
from mod_api.diffing import (
    MAX_HUNK_LINES,
    MAX_HUNKS,
    MAX_TEXT,
    NO_NEWLINE_MARKER,
    LineDiff,
    diff_lines,
    split_lines,
    unified_text,
)
from mod_api.resources.results import DiffSchema
from mod_api_tests import factories
from mod_api_tests.results_data import (
    ACTUAL_TEXT,
    EXPECTED_TEXT,
    World,
    build_world,
    results_path,
    store_files,
)

URL = '/api/v1/runs/{}/samples/{}/diff'


def diff(expected: str, actual: str, context: int = 3) -> LineDiff:
    return diff_lines(split_lines(expected), split_lines(actual), context)


def rows(result: LineDiff) -> list[list[tuple[str, int | None, int | None, str]]]:
    """The hunks' lines as (kind, expected_line, actual_line, text)."""
    return [[(line.kind, line.expected_line, line.actual_line, line.text) for line in hunk.lines]
            for hunk in result.hunks]


def starts(result: LineDiff) -> list[tuple[int, int, int, int]]:
    return [(hunk.expected_start, hunk.expected_count, hunk.actual_start, hunk.actual_count) for hunk in result.hunks]


# --- diffing -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text, lines', [
    ('', []), ('a', ['a']), ('a\n', ['a\n']), ('a\r\nb', ['a\r\n', 'b']), ('\n\n', ['\n', '\n']),
    ('a\x0cb\u2028c\rd\n', ['a\x0cb\u2028c\rd\n']),  # only \n ends a line
])
def test_lines_end_after_each_newline_only(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines
    assert ''.join(lines) == text


@pytest.mark.parametrize('text', ['', 'a', 'a\nb\n', 'x\n' * 1000])
def test_identical_texts_have_no_hunk(text: str) -> None:
    result = diff(text, text)
    assert (result.summary(), result.hunks, result.truncated) == (
        {'added_lines': 0, 'removed_lines': 0, 'changed_hunks': 0}, (), False)
    assert unified_text(result, 'e', 'a') == ''


def test_an_empty_expected_file_starts_at_zero() -> None:
    result = diff('', 'a\nb\n')
    assert starts(result) == [(0, 0, 1, 2)]
    assert rows(result) == [[('added', None, 1, 'a'), ('added', None, 2, 'b')]]
    assert unified_text(result, 'e', 'a') == '--- e\n+++ a\n@@ -0,0 +1,2 @@\n+a\n+b\n'

    emptied = diff('a\nb\n', '')
    assert starts(emptied) == [(1, 2, 0, 0)]
    assert emptied.summary() == {'added_lines': 0, 'removed_lines': 2, 'changed_hunks': 1}


def test_a_missing_final_newline_is_a_difference_and_is_marked() -> None:
    result = diff('a\nb\n', 'a\nb')
    assert rows(result) == [[('context', 1, 1, 'a'), ('removed', 2, None, 'b'), ('added', None, 2, 'b')]]
    assert [line.no_newline for line in result.hunks[0].lines] == [False, False, True]
    assert unified_text(result, 'e', 'a') == f'--- e\n+++ a\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n{NO_NEWLINE_MARKER}\n'
    assert result.hunks[0].lines[2].document() == {'kind': 'added', 'expected_line': None, 'actual_line': 2,
                                                   'text': 'b', 'no_newline': True}


def test_line_ends_are_compared_but_not_shown() -> None:
    result = diff('a\r\nb\r\n', 'a\r\nb\n')
    assert rows(result) == [[('context', 1, 1, 'a'), ('removed', 2, None, 'b'), ('added', None, 2, 'b')]]


def test_numbers_are_one_based_and_an_insertion_starts_after_its_line() -> None:
    expected = ''.join(f'{number}\n' for number in range(1, 11))
    actual = expected.replace('5\n', '5\nnew\n')
    result = diff(expected, actual, context=0)
    assert starts(result) == [(5, 0, 6, 1)]
    assert rows(result) == [[('added', None, 6, 'new')]]
    assert unified_text(result, 'e', 'a').splitlines()[2] == '@@ -5,0 +6 @@'


@pytest.mark.parametrize('context, hunks', [(0, 2), (3, 2), (4, 1), (50, 1)])
def test_context_lines_decide_how_changes_group(context: int, hunks: int) -> None:
    expected = ''.join(f'{number}\n' for number in range(1, 201))
    actual = expected.replace('100\n', 'hundred\n').replace('108\n', 'hundred and eight\n')
    result = diff(expected, actual, context)
    assert result.changed_hunks == len(result.hunks) == hunks
    context_rows = [line for hunk in result.hunks for line in hunk.lines if line.kind == 'context']
    assert len(context_rows) == (7 + 2 * context if hunks == 1 else 2 * 2 * context)
    if context == 50:
        assert starts(result) == [(50, 109, 50, 109)]


@pytest.mark.parametrize('context', [-1, 51])
def test_context_is_bounded(context: int) -> None:
    with pytest.raises(ValueError):
        diff('a', 'b', context)


def test_unified_text_matches_difflib_for_a_plain_change() -> None:
    expected = ''.join(f'line {number}\n' for number in range(1, 30))
    actual = expected.replace('line 3\n', 'line three\n').replace('line 20\n', '').replace('line 27\n', 'a\nb\n')
    ours = unified_text(diff(expected, actual), 'expected/x.srt', 'actual/y.srt')
    theirs = ''.join(difflib.unified_diff(split_lines(expected), split_lines(actual), 'expected/x.srt',
                                         'actual/y.srt', n=3))
    assert ours == theirs


def test_a_huge_diff_is_cut_to_the_bounds_but_counts_everything() -> None:
    expected = ''.join(f'{number}\n' for number in range(4000))
    actual = ''.join(f'{number}\n' if number % 7 else f'changed {number}\n' for number in range(4000))
    result = diff(expected, actual, context=0)
    assert result.changed_hunks == 572 and len(result.hunks) == MAX_HUNKS
    assert result.summary() == {'added_lines': 572, 'removed_lines': 572, 'changed_hunks': 572}
    assert result.truncated

    big = diff('keep\n' + 'old\n' * 1000, 'keep\n' + 'new\n' * 1000)
    assert big.summary() == {'added_lines': 1000, 'removed_lines': 1000, 'changed_hunks': 1}
    hunk = big.hunks[0]
    assert (len(hunk.lines), hunk.truncated, big.truncated) == (MAX_HUNK_LINES, True, True)
    assert (hunk.expected_start, hunk.expected_count, hunk.actual_count) == (1, 1001, 1001)
    assert hunk.document()['truncated'] is True


def test_long_lines_are_cut_and_flagged() -> None:
    result = diff('x' * 5000 + '\n', 'y' * 1000 + '\n')
    removed, added = result.hunks[0].lines
    assert (len(removed.text), removed.cut, removed.document()['truncated']) == (MAX_TEXT, True, True)
    assert (len(added.text), added.cut, 'truncated' in added.document()) == (MAX_TEXT, False, False)
    assert result.truncated


def test_repeated_lines_are_diffed_quickly() -> None:
    """Subtitle-like files repeat lines tens of times, which makes difflib's own matcher quadratic."""
    generator = random.Random(7)
    lines = []
    for number in range(1, 17000):  # about 1 MiB
        lines += [f'{number}\r\n', f'00:00:{number % 60:02d},000 --> 00:00:{number % 60:02d},500\r\n',
                  f'caption {generator.randint(0, 10**6)}\r\n', '\r\n']
    changed = [line if generator.random() > 0.1 else 'changed\r\n' for line in lines]
    began = time.monotonic()
    result = diff_lines(lines, changed, 3)
    assert time.monotonic() - began < 30
    assert result.added_lines == result.removed_lines == sum(a != b for a, b in zip(lines, changed))
    assert result.truncated and len(result.hunks) == MAX_HUNKS


def test_gaps_without_anchors_use_difflib_until_the_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    expected, actual = 'a\nb\na\nb\nc\n', 'b\na\nb\na\nc\n'  # no line occurs once on both sides but c
    assert diff(expected, actual).summary() == {'added_lines': 1, 'removed_lines': 1, 'changed_hunks': 1}
    monkeypatch.setattr(diffing, 'MATCHER_BUDGET', 0)
    replaced = diff(expected, actual)
    assert replaced.summary() == {'added_lines': 4, 'removed_lines': 4, 'changed_hunks': 1}
    assert ''.join(apply(split_lines(expected), replaced)) == actual


def apply(expected: list[str], result: LineDiff) -> list[str]:
    """``expected`` with the structured hunks applied (line ends rebuilt as newlines: no CR in these tests)."""
    out: list[str] = []
    position = 0
    for hunk in result.hunks:
        first = hunk.expected_start - 1 if hunk.expected_count else hunk.expected_start
        out += expected[position:first]
        position = first
        for line in hunk.lines:
            text = line.text + ('' if line.no_newline else '\n')
            if line.kind in ('context', 'removed'):
                assert expected[position] == text and line.expected_line == position + 1
                position += 1
            if line.kind in ('context', 'added'):
                assert line.actual_line == len(out) + 1
                out.append(text)
    return out + expected[position:]


texts = st.lists(st.sampled_from(['a', 'b', 'c', 'dd', '', 'a b']), max_size=40).flatmap(
    lambda lines: st.sampled_from(['\n'.join(lines), '\n'.join(lines) + '\n']))


@settings(max_examples=400, deadline=None)
@given(expected=texts, actual=texts, context=st.integers(0, 4))
def test_hunks_turn_expected_into_actual_and_counts_add_up(expected: str, actual: str, context: int) -> None:
    result = diff(expected, actual, context)
    assert not result.truncated
    assert ''.join(apply(split_lines(expected), result)) == actual
    kinds = [line.kind for hunk in result.hunks for line in hunk.lines]
    assert (kinds.count('added'), kinds.count('removed'), len(result.hunks)) == (
        result.added_lines, result.removed_lines, result.changed_hunks)
    assert (result.changed_hunks == 0) == (expected == actual)


# --- GET /diff -----------------------------------------------------------------------------------------------------

@pytest.fixture()
def world(app: Flask) -> World:
    built = build_world()
    store_files(app, built.files)
    return built


@pytest.fixture()
def headers(world: World) -> dict[str, str]:
    return factories.bearer(factories.make_token(factories.make_user('user'), ['results:read']))


def get(client: FlaskClient, run: int, sample: int, headers: dict[str, str], **params: Any) -> Any:
    return client.get(URL.format(run, sample), headers=headers, query_string=params)


def diff_body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert DiffSchema().validate(body) == {}
    return body


def ids(world: World, run: int, sample: int, test: str, output: str) -> dict[str, int]:
    return {'run_id': run, 'sample_id': sample, 'regression_id': world.tests[test].id,
            'output_id': world.outputs[output]}


def test_a_differing_text_output_gets_a_structured_diff(client: FlaskClient, world: World,
                                                        headers: dict[str, str]) -> None:
    body = diff_body(get(client, world.done, world.first.id, headers, **world.params('main', 'text')))
    assert body == {
        **ids(world, world.done, world.first.id, 'main', 'text'), 'status': 'different',
        'summary': {'added_lines': 1, 'removed_lines': 1, 'changed_hunks': 1}, 'truncated': False, 'binary': False,
        'accepted_variant': False, 'output_status': 'diff_mismatch',
        'hunks': [{'expected_start': 1, 'expected_count': 6, 'actual_start': 1, 'actual_count': 6, 'lines': [
            {'kind': 'context', 'expected_line': 1, 'actual_line': 1, 'text': '1'},
            {'kind': 'context', 'expected_line': 2, 'actual_line': 2, 'text': '00:00:01,000 --> 00:00:02,000'},
            {'kind': 'removed', 'expected_line': 3, 'actual_line': None, 'text': 'Hello world'},
            {'kind': 'added', 'expected_line': None, 'actual_line': 3, 'text': 'Hello, world'},
            {'kind': 'context', 'expected_line': 4, 'actual_line': 4, 'text': ''},
            {'kind': 'context', 'expected_line': 5, 'actual_line': 5, 'text': '2'},
            {'kind': 'context', 'expected_line': 6, 'actual_line': 6, 'text': '00:00:03,000 --> 00:00:04,000'},
        ]}]}


def test_the_unified_format_carries_the_same_hunks_as_text(client: FlaskClient, world: World,
                                                           headers: dict[str, str]) -> None:
    body = diff_body(get(client, world.done, world.first.id, headers,
                         **world.params('main', 'text', format='unified', context_lines=0)))
    expected_name, actual_name = (results_path(data).split('/')[1] for data in (EXPECTED_TEXT, ACTUAL_TEXT))
    assert body['unified'] == (f'--- expected/{expected_name}\n+++ actual/{actual_name}\n'
                               '@@ -3 +3 @@\n-Hello world\n+Hello, world\n')
    assert 'hunks' not in body
    assert body['summary'] == {'added_lines': 1, 'removed_lines': 1, 'changed_hunks': 1}


@pytest.mark.parametrize('context, first_line', [(0, 3), (50, 1)])
def test_context_lines_are_applied(client: FlaskClient, world: World, headers: dict[str, str], context: int,
                                   first_line: int) -> None:
    body = diff_body(get(client, world.done, world.first.id, headers,
                         **world.params('main', 'text', context_lines=context)))
    assert body['hunks'][0]['expected_start'] == first_line
    assert len(body['hunks'][0]['lines']) == (2 if context == 0 else 8)  # all 7 lines, one changed


@pytest.mark.parametrize('format_', ['structured', 'unified'])
def test_a_matched_output_is_identical(client: FlaskClient, world: World, headers: dict[str, str],
                                       format_: str) -> None:
    body = diff_body(get(client, world.done, world.first.id, headers, **world.params('main', 'same', format=format_)))
    assert {key: value for key, value in body.items() if key not in ('hunks', 'unified')} == {
        **ids(world, world.done, world.first.id, 'main', 'same'), 'status': 'identical',
        'summary': {'added_lines': 0, 'removed_lines': 0, 'changed_hunks': 0}, 'truncated': False, 'binary': False,
        'accepted_variant': False, 'output_status': 'match'}
    assert body.get('hunks', body.get('unified')) in ([], '')


def test_an_accepted_variant_is_different_but_passes(client: FlaskClient, world: World,
                                                     headers: dict[str, str]) -> None:
    body = diff_body(get(client, world.done, world.second.id, headers, **world.params('variant', 'accepted')))
    assert (body['status'], body['accepted_variant'], body['output_status']) == ('different', True, 'match')
    assert body['summary']['changed_hunks'] == 1


def test_binary_files_get_a_status_without_hunks(client: FlaskClient, world: World, headers: dict[str, str]) -> None:
    body = diff_body(get(client, world.done, world.first.id, headers, **world.params('main', 'binary')))
    assert (body['status'], body['binary'], body['summary']) == (
        'different', True, {'added_lines': 0, 'removed_lines': 0, 'changed_hunks': 0})
    assert 'hunks' not in body and 'unified' not in body


def test_identical_binary_files_are_identical(client: FlaskClient, app: Flask, world: World,
                                              headers: dict[str, str]) -> None:
    store_files(app, {results_path(ACTUAL_TEXT): b'\xff\xfe same bytes'})
    store_files(app, {results_path(EXPECTED_TEXT): b'\xff\xfe same bytes'})
    body = diff_body(get(client, world.done, world.first.id, headers, **world.params('main', 'text')))
    assert (body['status'], body['binary']) == ('identical', True)


@pytest.mark.parametrize('test, output, sample, status, output_status', [
    ('gone', 'unreferenced', 'second', 'missing_expected', 'diff_mismatch'),
    ('gone', 'vanished', 'second', 'missing_actual', 'diff_mismatch'),
    ('missing', 'lost', 'first', 'missing_actual', 'missing_output'),  # the platform's missing-output rule
])
def test_missing_files(client: FlaskClient, world: World, headers: dict[str, str], test: str, output: str,
                       sample: str, status: str, output_status: str) -> None:
    body = diff_body(get(client, world.done, getattr(world, sample).id, headers, **world.params(test, output)))
    assert (body['status'], body['output_status']) == (status, output_status)
    assert not {'summary', 'hunks', 'unified'} & set(body)


def test_an_output_without_a_row_otherwise_is_404(client: FlaskClient, world: World,
                                                  headers: dict[str, str]) -> None:
    response = get(client, world.unfinished, world.first.id, headers, **world.params('main', 'text'))
    factories.assert_error(response, 404, 'output_not_reported')


@pytest.mark.parametrize('which', [EXPECTED_TEXT, ACTUAL_TEXT])
def test_inputs_over_one_mib_are_413(client: FlaskClient, app: Flask, world: World, headers: dict[str, str],
                                     which: bytes) -> None:
    store_files(app, {results_path(which): b'z\n' * (512 * 1024) + b'!'})
    response = get(client, world.done, world.first.id, headers, **world.params('main', 'text'))
    details = factories.assert_error(response, 413, 'output_too_large')
    assert (details['size'], details['limit'], details['format']) == (1024 * 1024 + 1, 1024 * 1024, 'diff')
    assert details['artifacts_url'].endswith(f'/runs/{world.done}/artifacts')


def test_a_huge_diff_is_truncated_with_full_counts(client: FlaskClient, app: Flask, world: World,
                                                   headers: dict[str, str]) -> None:
    expected = ''.join(f'{number}\n' for number in range(1, 100_001))
    actual = ''.join(f'{number}\n' if number % 50 else f'{number}!\n' for number in range(1, 100_001))
    store_files(app, {results_path(EXPECTED_TEXT): expected.encode(), results_path(ACTUAL_TEXT): actual.encode()})
    body = diff_body(get(client, world.done, world.first.id, headers, **world.params('main', 'text')))
    assert (body['truncated'], len(body['hunks'])) == (True, 500)
    assert body['summary'] == {'added_lines': 2000, 'removed_lines': 2000, 'changed_hunks': 2000}
    assert body['hunks'][-1]['expected_start'] == 500 * 50 - 3


@pytest.fixture()
def gcs_app(make_app: Any, gcs_config: dict[str, Any]) -> Iterator[Flask]:
    application = make_app(API_GCS_TIMEOUT_SECONDS=1, **gcs_config)
    with application.app_context():
        yield application


def test_diffs_read_from_gcs_and_a_down_backend_means_missing(gcs_app: Flask, gcs_emulator: Any) -> None:
    world = build_world()
    store_files(gcs_app, world.files, 'gcs', gcs_emulator)
    client = gcs_app.test_client()
    headers = factories.bearer(factories.make_token(factories.make_user('user'), ['results:read']))
    body = diff_body(get(client, world.done, world.first.id, headers, **world.params('main', 'text')))
    assert body['summary'] == {'added_lines': 1, 'removed_lines': 1, 'changed_hunks': 1}

    gcs_emulator.stop()
    body = diff_body(get(client, world.done, world.first.id, headers, **world.params('main', 'text')))
    assert body['status'] == 'missing_expected'


@pytest.mark.parametrize('params, field', [
    ({'output_id': 1}, 'regression_id'),
    ({'regression_id': 1, 'output_id': 0}, 'output_id'),
    ({'regression_id': 1, 'output_id': 1, 'context_lines': 51}, 'context_lines'),
    ({'regression_id': 1, 'output_id': 1, 'context_lines': -1}, 'context_lines'),
    ({'regression_id': 1, 'output_id': 1, 'context_lines': '2.5'}, 'context_lines'),
    ({'regression_id': 1, 'output_id': 1, 'format': 'text'}, 'format'),
    ({'regression_id': 1, 'output_id': 1, 'format': 'html'}, 'format'),
])
def test_invalid_queries_are_400(client: FlaskClient, world: World, headers: dict[str, str], params: dict[str, Any],
                                 field: str) -> None:
    response = get(client, world.done, world.first.id, headers, **params)
    assert field in factories.assert_error(response, 400, 'validation_error')['fields']


def test_a_diff_needs_results_read(client: FlaskClient, world: World) -> None:
    token = factories.make_token(factories.make_user('admin'), ['runs:read', 'baselines:write'])
    response = get(client, world.done, world.first.id, factories.bearer(token), **world.params('main', 'text'))
    factories.assert_error(response, 403, 'forbidden')
