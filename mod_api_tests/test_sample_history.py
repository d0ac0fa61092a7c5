"""GET /samples/{sample_id}/history on both backends, and failure signatures.

Which (run, regression test) pairs are entries, their statuses and failure signatures, the run filters, pagination,
errors and the query count; then :func:`mod_api.failure_signature.failure_signature` over judged facts.
"""
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.failure_signature import failure_signature
from mod_api.legacy import RegressionTest, RegressionTestOutput, Sample, TestPlatform, TestStatus
from mod_api.legacy import Test as Run
from mod_api.resources.samples import SampleHistoryPageSchema
from mod_api.run_view import load_runs
from mod_api.verdicts import Output, ProgressRow, Result, ResultFile, RunFacts, SampleFacts, judge
from mod_api_tests.factories import assert_error
from mod_api_tests.runs_data import (
    BASE_TIME,
    DONE,
    OTHER,
    REF,
    VARIANT,
    add_category,
    add_progress,
    add_record,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
    add_variant,
)
from mod_api_tests.samples_data import reader
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/samples/{}/history'
TESTING = DONE[:2]
ANOTHER = 'c' * 64


def history(client: FlaskClient, headers: dict[str, str], sample_id: int, **params: Any) -> dict[str, Any]:
    response = client.get(URL.format(sample_id), headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert SampleHistoryPageSchema().validate(body) == {}
    return body


def pairs(body: dict[str, Any]) -> list[tuple[int, int]]:
    return [(entry['run_id'], entry['regression_id']) for entry in body['data']]


@dataclass
class Story:
    """A sample with two categorised regression tests (a: output required, b: output ignored) over seven runs."""

    sample: Sample
    a: RegressionTest
    b: RegressionTest
    output_a: RegressionTestOutput
    runs: list[Run]


@pytest.fixture()
def story(app: Flask) -> Story:
    general = add_category('General')
    sample, other_sample = add_sample(), add_sample()
    a, (output_a,) = add_regression_test(general, sample=sample, outputs=((REF, False),))
    b, (output_b,) = add_regression_test(general, sample=sample, outputs=((REF, True),))
    uncategorised, _ = add_regression_test(sample=sample)
    other, _ = add_regression_test(general, sample=other_sample)
    add_variant(output_a, VARIANT)
    runs = []
    # 1: a passes, b fails on its exit code; the uncategorised test and the other sample's test are not entries
    run = add_run(progress=DONE)
    add_result(run, a), add_result_file(run, a, output_a)
    add_result(run, b, exit_code=1)
    add_result(run, uncategorised), add_result(run, other)
    runs.append(run)
    # 2: a differs from every baseline, b fails the same way again
    run = add_run(progress=DONE, branch='feature')
    add_result(run, a), add_result_file(run, a, output_a, got=OTHER)
    add_result(run, b, exit_code=1)
    runs.append(run)
    # 3: both chosen, never reported, run finished: a missing_output (required), b skipped (nothing required)
    runs.append(add_run(progress=DONE, customized=(a.id, b.id)))
    # 4: unfinished, a chosen but not reported yet (no entry); b reported but not chosen (out of scope: no entry)
    run = add_run(progress=TESTING, customized=(a.id,))
    add_result(run, b)
    runs.append(run)
    # 5: unfinished, no customized rows: a reported an accepted variant
    run = add_run(progress=TESTING)
    add_result(run, a), add_result_file(run, a, output_a, got=VARIANT)
    runs.append(run)
    # 6: windows, a differs with another hash
    run = add_run(TestPlatform.windows, progress=DONE)
    add_result(run, a), add_result_file(run, a, output_a, got=ANOTHER)
    runs.append(run)
    # 7: a chosen, the run aborted before reporting: missing_output
    runs.append(add_run(progress=(*TESTING, (TestStatus.canceled, 'time limit exceeded')), customized=(a.id,)))
    return Story(sample, a, b, output_a, runs)


def test_entries_statuses_and_signatures(client: FlaskClient, story: Story) -> None:
    body = history(client, reader(), story.sample.id)
    r1, r2, r3, _, r5, r6, r7 = (run.id for run in story.runs)
    a, b, out = story.a.id, story.b.id, story.output_a.id
    expected = [
        (r7, a, 'missing_output', f'missing_output:{out}'),
        (r6, a, 'fail', f'diff:{out}:{ANOTHER}'),
        (r5, a, 'pass', None),
        (r3, a, 'missing_output', f'missing_output:{out}'),
        (r3, b, 'skipped', None),
        (r2, a, 'fail', f'diff:{out}:{OTHER}'),
        (r2, b, 'fail', 'exit_code:1:expected:0'),
        (r1, a, 'pass', None),
        (r1, b, 'fail', 'exit_code:1:expected:0'),
    ]
    assert [(entry['run_id'], entry['regression_id'], entry['status'], entry['failure_signature'])
            for entry in body['data']] == expected
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 9, 'next_offset': None}


def test_entry_fields(client: FlaskClient, story: Story) -> None:
    entries = {(entry['run_id'], entry['regression_id']): entry
               for entry in history(client, reader(), story.sample.id)['data']}
    assert entries[story.runs[1].id, story.b.id] == {
        'run_id': story.runs[1].id, 'sample_id': story.sample.id, 'regression_id': story.b.id,
        'run_created_at': BASE_TIME.isoformat() + 'Z', 'commit_sha': 'f' * 40, 'branch': 'feature',
        'platform': 'linux', 'status': 'fail', 'runtime_ms': 100, 'failure_signature': 'exit_code:1:expected:0'}
    assert entries[story.runs[5].id, story.a.id]['platform'] == 'windows'
    assert entries[story.runs[2].id, story.a.id]['runtime_ms'] is None


def test_statuses_agree_with_the_run_samples(client: FlaskClient, story: Story) -> None:
    headers = reader()
    for entry in history(client, headers, story.sample.id)['data']:
        response = client.get(f"/api/v1/runs/{entry['run_id']}/samples/{story.sample.id}", headers=headers,
                              query_string={'regression_id': entry['regression_id']})
        assert response.get_json()['status'] == entry['status']


def test_duplicate_rows_and_categories_give_one_entry(app: Flask, client: FlaskClient) -> None:
    sample = add_sample()
    test, (output,) = add_regression_test(add_category('One'), add_category('Two'), sample=sample,
                                          outputs=((REF, False),))
    run = add_run(progress=DONE, customized=(test.id, test.id))
    add_result(run, test), add_result_file(run, test, output)
    body = history(client, reader(), sample.id)
    assert pairs(body) == [(run.id, test.id)]
    assert body['pagination']['total'] == 1


def test_odd_run_values(app: Flask, client: FlaskClient) -> None:
    sample = add_sample()
    test, _ = add_regression_test(add_category(), sample=sample)
    run = add_run(progress=DONE, commit='abcdefgh', branch='b' * 150)
    add_result(run, test, runtime=-5)
    (entry,) = history(client, reader(), sample.id)['data']
    assert entry['commit_sha'] is None
    assert entry['branch'] == 'b' * 100
    assert entry['runtime_ms'] is None


def test_pagination_newest_run_first(client: FlaskClient, story: Story) -> None:
    headers = reader()
    everything = pairs(history(client, headers, story.sample.id))
    pages = []
    for offset in range(0, 9, 4):
        body = history(client, headers, story.sample.id, limit=4, offset=offset)
        assert body['pagination']['total'] == 9
        assert body['pagination']['next_offset'] == (offset + 4 if offset + 4 < 9 else None)
        pages += pairs(body)
    assert pages == everything


@pytest.mark.parametrize('params, expected', [
    ({'branch': 'feature'}, [1]),
    ({'branch': 'FEATURE'}, []),
    ({'platform': 'windows'}, [5]),
    ({'platform': 'linux', 'branch': 'master'}, [6, 4, 2, 0]),
])
def test_run_filters(client: FlaskClient, story: Story, params: dict[str, str], expected: list[int]) -> None:
    body = history(client, reader(), story.sample.id, **params)
    assert sorted({entry['run_id'] for entry in body['data']}, reverse=True) == [story.runs[index].id
                                                                                 for index in expected]


def test_status_filter_is_the_run_status(app: Flask, client: FlaskClient, story: Story) -> None:
    headers = reader()
    everything = history(client, headers, story.sample.id)['data']
    statuses = {run_id: str(view.verdict.status) for run_id, view in load_runs(
        [entry['run_id'] for entry in everything]).items()}
    assert set(statuses.values()) == {'fail', 'running', 'error'}
    for status in ('queued', 'running', 'pass', 'fail', 'canceled', 'error', 'incomplete'):
        body = history(client, headers, story.sample.id, status=status)
        assert pairs(body) == [(entry['run_id'], entry['regression_id']) for entry in everything
                               if statuses[entry['run_id']] == status], status


def test_created_filters_use_the_run_creation_time(app: Flask, client: FlaskClient, story: Story) -> None:
    for index, run in enumerate(story.runs):
        add_record(run, BASE_TIME + timedelta(days=index))
    headers = reader()
    after = history(client, headers, story.sample.id, created_after='2024-05-19T12:00:00Z')
    assert {entry['run_id'] for entry in after['data']} == {run.id for run in story.runs[4:]}  # run 3 has no entry
    before = history(client, headers, story.sample.id, created_before='2024-05-18T14:00:00+02:00')
    assert {entry['run_id'] for entry in before['data']} == {story.runs[0].id}
    both = history(client, headers, story.sample.id, created_after='2024-05-17T12:00:00',
                   created_before='2024-05-19T12:00:01Z')
    assert {entry['run_id'] for entry in both['data']} == {story.runs[1].id, story.runs[2].id}
    assert both['data'][0]['run_created_at'] == '2024-05-19T12:00:00Z'


def test_a_run_turning_finished_adds_its_chosen_tests(app: Flask, client: FlaskClient, story: Story) -> None:
    headers = reader()
    unfinished = story.runs[3]
    assert unfinished.id not in {entry['run_id'] for entry in history(client, headers, story.sample.id)['data']}
    add_progress(unfinished, (TestStatus.completed, 'Ran all', BASE_TIME + timedelta(hours=1)))
    body = history(client, reader(), story.sample.id)
    assert [(entry['regression_id'], entry['status']) for entry in body['data']
            if entry['run_id'] == unfinished.id] == [(story.a.id, 'missing_output')]


def test_unknown_sample_is_404_and_a_legacy_sample_has_a_history(app: Flask, client: FlaskClient) -> None:
    legacy = add_sample('sample1', 'ts', 'sample1')
    test, _ = add_regression_test(add_category(), sample=legacy)
    add_result(add_run(progress=DONE), test)
    headers = reader()
    assert_error(client.get(URL.format(999999), headers=headers), 404, 'not_found')
    assert [entry['status'] for entry in history(client, headers, legacy.id)['data']] == ['pass']
    empty = add_sample()
    assert history(client, reader(), empty.id) == {
        'data': [], 'pagination': {'limit': 50, 'offset': 0, 'total': 0, 'next_offset': None}}


@pytest.mark.parametrize('params, field', [
    ({'status': 'passed'}, 'status'), ({'platform': 'mac'}, 'platform'), ({'branch': 'b' * 101}, 'branch'),
    ({'created_after': 'yesterday'}, 'created_after'), ({'created_before': '2024-13-01T00:00:00Z'}, 'created_before'),
    ({'limit': '101'}, 'limit'), ({'offset': 'x'}, 'offset'), ({'commit_sha': 'f' * 40}, 'commit_sha'),
])
def test_invalid_queries_are_400(app: Flask, client: FlaskClient, params: dict[str, str], field: str) -> None:
    sample = add_sample()
    details = assert_error(client.get(URL.format(sample.id), headers=reader(), query_string=params), 400,
                           'validation_error')
    assert field in details['fields']


def test_query_count_is_constant_in_page_size(app: Flask, client: FlaskClient) -> None:
    general = add_category()
    sample = add_sample()
    tests = [add_regression_test(general, sample=sample, outputs=((REF, False),)) for _ in range(3)]
    for index in range(12):
        run = add_run(progress=DONE, customized=[test.id for test, _ in tests] if index % 2 else ())
        for test, (output,) in tests:
            add_result(run, test, exit_code=index % 3)
            add_result_file(run, test, output, got=OTHER if index % 4 else None)
    headers, sample_id = reader(), sample.id  # the id read now: a commit would make the ORM load it again
    history(client, headers, sample_id)  # the token's first use is recorded once
    with counted_queries() as one:
        assert len(history(client, headers, sample_id, limit=1)['data']) == 1
    with counted_queries() as many:
        assert len(history(client, headers, sample_id, limit=36, status='fail')['data']) > 20
    assert len(one) == len(many)


# --- failure signatures (pure) ---------------------------------------------------------------------------------

COMPLETED = (ProgressRow(1, TestStatus.completed, BASE_TIME, 'Ran all'),)


def signature(sample: SampleFacts) -> str | None:
    """The failure signature of one regression test judged in a completed run."""
    (verdict,) = judge(RunFacts(1, COMPLETED, False, (sample,))).samples
    return failure_signature(sample, verdict)


REQUIRED = Output(7, REF, False, frozenset({VARIANT}))
IGNORED = Output(8, REF, True)


def test_signatures_are_equal_for_the_same_failure_and_differ_otherwise() -> None:
    diff = SampleFacts(1, (REQUIRED,), Result(0, 0, 10), (ResultFile(REQUIRED, OTHER),))
    same_diff_slower = SampleFacts(1, (REQUIRED,), Result(0, 0, 99), (ResultFile(REQUIRED, OTHER),))
    other_hash = SampleFacts(1, (REQUIRED,), Result(0, 0, 10), (ResultFile(REQUIRED, ANOTHER),))
    exit_code = SampleFacts(1, (REQUIRED,), Result(3, 0), (ResultFile(REQUIRED, OTHER),))
    exit_code_other = SampleFacts(1, (REQUIRED,), Result(4, 0), (ResultFile(REQUIRED, ANOTHER),))
    missing = SampleFacts(1, (REQUIRED, IGNORED), Result(0, 0))
    signatures = [signature(facts) for facts in (diff, same_diff_slower, other_hash, exit_code, exit_code_other,
                                                 missing)]
    assert signatures == [f'diff:7:{OTHER}', f'diff:7:{OTHER}', f'diff:7:{ANOTHER}', 'exit_code:3:expected:0',
                          'exit_code:4:expected:0', 'missing_output:7']


def test_signatures_of_successes_are_null() -> None:
    assert signature(SampleFacts(1, (REQUIRED,), Result(0, 0), (ResultFile(REQUIRED, None),))) is None
    assert signature(SampleFacts(1, (REQUIRED,), Result(0, 0), (ResultFile(REQUIRED, VARIANT),))) is None
    assert signature(SampleFacts(1, (IGNORED,))) is None  # skipped


def test_signatures_name_every_differing_output_in_order_and_stay_bounded() -> None:
    second = Output(9, REF, True)
    two = SampleFacts(1, (REQUIRED, second), None, (ResultFile(second, ANOTHER), ResultFile(REQUIRED, OTHER),
                                                    ResultFile(Output(10, REF, False), None)))
    assert signature(two) == f'diff:7:{OTHER};9:{ANOTHER}'
    outputs = tuple(Output(index, REF, False) for index in range(1, 6))
    many = SampleFacts(1, outputs, None, tuple(ResultFile(output, f'{output.id:064x}') for output in outputs))
    bounded = signature(many)
    assert bounded is not None and bounded.startswith('diff:sha256:') and len(bounded) == len('diff:sha256:') + 64
    assert signature(many) == bounded
    changed = SampleFacts(1, outputs, None, tuple(ResultFile(output, f'{output.id + 1:064x}') for output in outputs))
    assert signature(changed) != bounded
    assert signature(SampleFacts(1, (REQUIRED,), Result(None, 0))) == 'exit_code:none:expected:0'
