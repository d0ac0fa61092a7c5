"""``GET /runs/{run_id}/comparison``: a run against its reference, on both backends (rules: docs/comparison.md).

The classification and the verdict are also checked without a database against a literal transcription of the
platform's PR comment (SCHEMA.md §5.6, ``get_info_for_pr_comment``) over generated worlds of ``test_verdicts``.
"""
import random
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_api.comparison import EntryClass, Verdict, compare
from mod_api.comparison_view import QUERY_COUNT, Filters, run_comparison
from mod_api.db import db
from mod_api.legacy import TestPlatform, TestStatus, TestType
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import Test as Run
from mod_api.resources.comparison import ComparisonSchema
from mod_api.sample_view import judged_of
from mod_api.verdicts import judge
from mod_api_tests import factories
from mod_api_tests.comparison_data import (
    EXPECTED,
    EveryClass,
    add_test,
    complete,
    every_class,
    finished_run,
    sized_pair,
    unfinished_run,
)
from mod_api_tests.run_errors_data import get_page, results_reader
from mod_api_tests.runs_data import DONE, add_category, add_fork, add_progress, add_run
from mod_api_tests.test_run_data import counted_queries
from mod_api_tests.test_verdicts import derive, platform_get_test_results, random_world

URL = '/api/v1/runs/{}/comparison'


@pytest.fixture()
def world(app: Flask) -> EveryClass:
    return every_class()


@pytest.fixture()
def headers(world: EveryClass) -> dict[str, str]:
    return results_reader()


def comparison(client: FlaskClient, headers: dict[str, str], run_id: int, **params: Any) -> dict[str, Any]:
    """A 200 comparison page, checked against the response schema."""
    return get_page(client, URL.format(run_id), headers, ComparisonSchema, **params)


def by_test(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {entry['regression_id']: entry for entry in body['data']}


# --- classes, signatures, counts, verdict --------------------------------------------------------------------------

def test_every_class_with_its_reason_and_signature_comparison(client, world, headers):
    body = comparison(client, headers, world.run.id, limit=100)
    entries = by_test(body)
    assert body['reference']['run_id'] == world.reference.id and body['reference_chosen_by'] == 'platform'
    assert body['reference_missing_reason'] is None
    for case, (kind, reason, same) in EXPECTED.items():
        entry = entries[world.id_of(case)]
        assert (entry['class'], entry['not_comparable_reason'], entry['same_signature']) == (kind, reason, same), case
    assert set(entries) == {test.id for test in world.tests.values()}
    assert body['counts'] == {'new_failure': 3, 'still_failing': 3, 'fixed': 1, 'unchanged_pass': 1,
                              'not_comparable': 3, 'total': len(EXPECTED)}
    assert body['verdict'] == 'failure'
    assert body['run']['run_id'] == world.run.id and body['run']['status'] == 'fail'


def test_each_side_carries_status_signature_and_outputs(client, world, headers):
    entries = by_test(comparison(client, headers, world.run.id, limit=100))
    still = entries[world.id_of('still_crash_vs_diff')]
    output_id = world.tests['still_crash_vs_diff'].output.id
    assert still['run']['status'] == 'fail' and still['run']['failure_signature'] == 'exit_code:1:expected:0'
    assert still['reference']['status'] == 'fail'
    assert still['reference']['failure_signature'].startswith(f'diff:{output_id}:')
    assert [item['status'] for item in still['reference']['outputs']] == ['diff_mismatch']
    missing = entries[world.id_of('new_missing_output')]
    assert missing['run']['status'] == 'missing_output' and missing['reference']['status'] == 'pass'
    assert missing['run']['failure_signature'].startswith('missing_output:')
    assert missing['reference']['failure_signature'] is None
    assert entries[world.id_of('not_in_reference')]['reference'] is None
    assert entries[world.id_of('skipped_in_reference')]['reference']['status'] == 'skipped'


def test_links_lead_to_the_results_errors_and_diffs_of_each_run(client, world, headers):
    entry = by_test(comparison(client, headers, world.run.id, limit=100))[world.id_of('still_same')]
    test = world.tests['still_same']
    assert entry['sample']['id'] == test.row.sample_id and len(entry['sample']['sha']) == 64
    for side, run in (('run', world.run), ('reference', world.reference)):
        links = entry[side]['links']
        assert f'/runs/{run.id}/samples/{test.row.sample_id}?regression_id={test.id}' in links['result']
        assert links['errors'].endswith(f'/runs/{run.id}/errors?sample_id={test.row.sample_id}')
        diff = entry[side]['outputs'][0]['diff_url']
        assert f'/runs/{run.id}/samples/{test.row.sample_id}/diff?' in diff and f'output_id={test.output.id}' in diff
    both = factories.bearer(factories.make_token(factories.make_user('user'), ['results:read', 'runs:read']))
    for side in ('run', 'reference'):
        for url in (entry[side]['links']['result'], entry[side]['links']['errors'], entry[side]['outputs'][0]['diff_url']):
            assert client.get(url, headers=both).status_code == 200, url


def test_a_test_without_sample_is_listed_without_links_to_sample_resources(app, client):
    category = add_category('Orphans')
    test = add_test(category, with_sample=False)
    reference = finished_run(tests=(test,))
    run = finished_run(branch='pull_request', test_type=TestType.pull_request, tests=(test,),
                       outcomes={test.id: 'diff'})
    entry = comparison(client, results_reader(), run.id)['data'][0]
    assert entry['sample'] is None and entry['class'] == 'new_failure'
    assert entry['run']['links']['result'] is None and entry['run']['outputs'][0]['diff_url'] is None
    assert entry['run']['links']['errors'].endswith(f'/runs/{run.id}/errors')
    assert entry['reference']['run_id'] == reference.id


def test_no_new_failure_is_a_success(app, client):
    category = add_category('General')
    tests = tuple(add_test(category) for _ in range(3))
    finished_run(tests=tests, outcomes={tests[0].id: 'diff', tests[1].id: 'diff'})
    run = finished_run(branch='pull_request', test_type=TestType.pull_request, tests=tests,
                       outcomes={tests[0].id: 'diff', tests[1].id: 'pass'})
    body = comparison(client, results_reader(), run.id)
    assert body['verdict'] == 'success'
    assert [body['counts'][kind] for kind in ('still_failing', 'fixed', 'unchanged_pass')] == [1, 1, 1]


# --- which reference -----------------------------------------------------------------------------------------------

def platform_last_test_master(platform: Any, excluded: int) -> int | None:
    """SCHEMA.md §5.6 ``last_test_master`` read off all rows in Python: branch master, type commit, same platform,
    a completed progress row; the run whose completed row has the highest id (the compared run left out)."""
    best: tuple[int, int] | None = None
    for run in db.session.query(Run).all():
        if run.branch != 'master' or run.test_type is not TestType.commit or run.platform is not platform:
            continue
        completed = [row.id for row in db.session.query(Progress).filter(Progress.test_id == run.id).all()
                     if row.status is TestStatus.completed]
        if completed and run.id != excluded and (best is None or max(completed) > best[0]):
            best = (max(completed), run.id)
    return best[1] if best is not None else None


def test_the_default_reference_is_the_newest_completed_main_repository_master_run(app, client):
    category = add_category('General')
    test = add_test(category)
    older = unfinished_run(tests=(test,))  # lower run id, but its completed row comes last
    newer = finished_run(tests=(test,))
    complete(older)
    finished_run(TestPlatform.windows, tests=(test,))  # other platform
    finished_run(branch='pull_request', test_type=TestType.pull_request, tests=(test,))  # a PR run
    finished_run(branch='Master', tests=(test,))  # not byte for byte master
    revived = finished_run(tests=(test,))
    add_progress(revived, (TestStatus.testing, 'Running tests'))  # completed once, running again: still a candidate
    fork = add_fork('https://github.com/someone/ccextractor.git')
    customized = add_run(TestPlatform.linux, fork=fork, progress=DONE)  # a contributor's customized master run
    run = finished_run(branch='pull_request', test_type=TestType.pull_request, tests=(test,))
    headers = results_reader()

    # the platform's query would pick a contributor's run; the API keeps to the main repository (docs §1)
    assert platform_last_test_master(TestPlatform.linux, run.id) == customized.id
    details = factories.assert_error(client.get(URL.format(run.id), headers=headers), 409, 'run_not_finished')
    assert details == {'run_id': revived.id, 'side': 'reference', 'status': 'running'}
    db.session.query(Progress).filter(Progress.test_id == revived.id).delete()
    db.session.commit()
    assert comparison(client, headers, run.id)['reference']['run_id'] == older.id
    # a master run is never its own reference: the newest other one is
    assert comparison(client, headers, older.id)['reference']['run_id'] == newer.id


def test_an_explicit_reference(client, world, headers):
    other = finished_run(tests=tuple(world.tests.values()),
                         outcomes={test.id: 'diff' for test in world.tests.values()})
    headers = results_reader()
    body = comparison(client, headers, world.run.id, against=other.id, limit=100)
    assert body['reference']['run_id'] == other.id and body['reference_chosen_by'] == 'against'
    assert body['counts']['new_failure'] == 0 and body['verdict'] == 'success'


def test_no_reference_run(app, client):
    category = add_category('General')
    tests = tuple(add_test(category) for _ in range(2))
    finished_run(tests=tests)  # a Linux master run does not serve Windows
    run = finished_run(TestPlatform.windows, branch='pull_request', test_type=TestType.pull_request, tests=tests,
                       outcomes={tests[1].id: 'crash'})
    passing = finished_run(TestPlatform.windows, branch='pull_request', test_type=TestType.pull_request, tests=tests)
    headers = results_reader()
    body = comparison(client, headers, run.id)
    assert body['reference'] is None and body['reference_missing_reason'] == 'no_completed_master_run'
    assert {entry['class'] for entry in body['data']} == {'not_comparable'}
    assert {entry['not_comparable_reason'] for entry in body['data']} == {'no_reference'}
    assert all(entry['reference'] is None for entry in body['data'])
    assert body['counts']['not_comparable'] == 2 and body['verdict'] == 'failure'
    assert comparison(client, headers, passing.id)['verdict'] == 'success'


# --- refusals ------------------------------------------------------------------------------------------------------

def test_runs_of_different_platforms_are_refused(client, world, headers):
    windows = finished_run(TestPlatform.windows)
    headers = results_reader()
    details = factories.assert_error(client.get(URL.format(world.run.id), headers=headers,
                                                query_string={'against': windows.id}), 422, 'other_platform')
    assert details == {'run_id': world.run.id, 'platform': 'linux', 'against': windows.id,
                       'against_platform': 'windows'}


def test_a_run_is_not_compared_with_itself(client, world, headers):
    factories.assert_error(client.get(URL.format(world.run.id), headers=headers,
                                      query_string={'against': world.run.id}), 422, 'same_run')


def test_unknown_runs(client, world, headers):
    details = factories.assert_error(client.get(URL.format(999999), headers=headers), 404, 'not_found')
    assert details == {'resource': 'run', 'id': 999999}
    details = factories.assert_error(client.get(URL.format(world.run.id), headers=headers,
                                                query_string={'against': 999999}), 404, 'not_found')
    assert details == {'resource': 'run', 'id': 999999, 'parameter': 'against'}


def test_unfinished_runs_are_refused_on_either_side(client, world, headers):
    running = unfinished_run(tests=tuple(world.tests.values()))
    queued = add_run(TestPlatform.linux)
    headers = results_reader()
    details = factories.assert_error(client.get(URL.format(running.id), headers=headers), 409, 'run_not_finished')
    assert details == {'run_id': running.id, 'side': 'run', 'status': 'running'}
    details = factories.assert_error(client.get(URL.format(world.run.id), headers=headers,
                                                query_string={'against': queued.id}), 409, 'run_not_finished')
    assert details == {'run_id': queued.id, 'side': 'reference', 'status': 'queued'}


@pytest.mark.parametrize('params, field', [({'class': 'broken'}, 'class'), ({'against': '0'}, 'against'),
                                           ({'against': 'x'}, 'against'), ({'limit': '0'}, 'limit'),
                                           ({'entry_class': 'fixed'}, 'entry_class'), ({'category': 'x' * 51},
                                                                                       'category')])
def test_bad_query_strings(client, world, headers, params, field):
    details = factories.assert_error(client.get(URL.format(world.run.id), headers=headers, query_string=params),
                                     400, 'validation_error')
    assert field in details['fields']


def test_the_scope_is_results_read(client, world):
    db.session.commit()
    runs_only = factories.bearer(factories.make_token(factories.make_user('admin'), ['runs:read']))
    factories.assert_error(client.get(URL.format(world.run.id), headers=runs_only), 403, 'forbidden')
    factories.assert_error(client.get(URL.format(world.run.id)), 401, 'unauthorized')


# --- filters, pages, ETag ------------------------------------------------------------------------------------------

def test_filters_by_class_and_category(client, world, headers):
    whole = comparison(client, headers, world.run.id, limit=100)
    failures = comparison(client, headers, world.run.id, **{'class': 'new_failure'})
    assert {entry['regression_id'] for entry in failures['data']} == {
        world.id_of(case) for case, (kind, _, _) in EXPECTED.items() if kind == 'new_failure'}
    assert failures['pagination']['total'] == 3 and failures['counts'] == whole['counts']
    dvb = comparison(client, headers, world.run.id, category='dvb', limit=100)
    assert {entry['regression_id'] for entry in dvb['data']} == {
        world.tests[case].id for index, case in enumerate(EXPECTED) if index % 2 == 0}
    assert {entry['category'] for entry in dvb['data']} == {'DVB'}
    both = comparison(client, headers, world.run.id, category='MP4', **{'class': 'still_failing'})
    assert [entry['regression_id'] for entry in both['data']] == [world.id_of('still_same'),
                                                          world.id_of('still_crash_vs_diff')]
    assert comparison(client, headers, world.run.id, category='nope')['pagination']['total'] == 0


def test_pages(client, world, headers):
    whole = [entry['regression_id'] for entry in comparison(client, headers, world.run.id, limit=100)['data']]
    assert whole == sorted(whole)
    first = comparison(client, headers, world.run.id, limit=4)
    last = comparison(client, headers, world.run.id, limit=4, offset=8)
    assert first['pagination'] == {'limit': 4, 'offset': 0, 'total': len(whole), 'next_offset': 4}
    assert last['pagination']['next_offset'] is None
    assert [entry['regression_id'] for entry in first['data'] + last['data']] == whole[:4] + whole[8:]
    assert first['counts'] == last['counts'] and first['counts']['total'] == len(whole)


def test_etag_and_not_modified(client, world, headers):
    response = client.get(URL.format(world.run.id), headers=headers)
    tag = response.headers['ETag']
    again = client.get(URL.format(world.run.id), headers={**headers, 'If-None-Match': tag})
    assert again.status_code == 304 and again.headers['ETag'] == tag and not again.data
    add_progress(world.reference, (TestStatus.canceled, 'Duplicate Entries'))  # the reference's status changes
    db.session.commit()
    changed = client.get(URL.format(world.run.id), headers={**headers, 'If-None-Match': tag})
    assert changed.status_code == 200 and changed.headers['ETag'] != tag


# --- bounded queries -----------------------------------------------------------------------------------------------

def test_the_number_of_queries_does_not_depend_on_the_number_of_tests(app, client):
    pairs = [(size, *(run.id for run in sized_pair(size))) for size in (3, 300)]
    headers = results_reader()
    client.get(URL.format(pairs[0][1]), headers=headers)  # the token's last use is recorded on the first request
    counts = []
    for size, run_id, reference_id in pairs:
        with counted_queries() as statements:
            body = comparison(client, headers, run_id, against=reference_id, limit=100)
        assert body['counts']['total'] == size and len(body['data']) == min(size, 100)
        counts.append(len(statements))
        with app.test_request_context(), counted_queries() as statements:
            run_comparison(run_id, reference_id, Filters(), 100, 0)
        assert len(statements) == QUERY_COUNT
    assert counts[0] == counts[1]


# --- agreement with the platform's PR comment (property) -----------------------------------------------------------

PR_RUN, REFERENCE_RUN, OLDER_RUN = 1, 2, 0


def platform_pr_comment(pr_listing: list[dict], reference_listing: list[dict] | None,
                        older_passes: set[int]) -> tuple[str, set[int]]:
    """SCHEMA.md §5.6 ``get_info_for_pr_comment`` as written: the verdict and the "extra failed" tests.

    ``last_passed_on_<platform>`` is what ``update_build_badge`` left: the reference run's id for every test it
    listed without error (it is the newest main-repo commit run), else an older run's id (``older_passes``) or None.
    """
    last_test_master = REFERENCE_RUN if reference_listing is not None else None
    last_passed_on = {test: OLDER_RUN for test in older_passes}
    for category in reference_listing or []:
        for item in category['tests']:
            if not item['error']:
                last_passed_on[item['test']] = REFERENCE_RUN
    extra_failed = set()
    for category in pr_listing:
        for item in category['tests']:
            if item['error'] and not (last_test_master and last_passed_on.get(item['test']) != last_test_master):
                extra_failed.add(item['test'])
    return ('success' if not extra_failed else 'failure'), extra_failed


def completed_world(rng: random.Random) -> Any:
    world = random_world(rng)
    world.last_status = TestStatus.completed  # the PR comment is posted, and a reference chosen, on completion
    return world


def another_run(world: Any, rng: random.Random) -> Any:
    """A second completed run on the same platform database: same tests, categories, outputs and variants; its own
    customized rows, results and files (drawn like ``random_world`` draws them, kept to the world's ids)."""
    drawn = random_world(rng)
    return replace(world, customized=drawn.customized,
                   results={test: codes for test, codes in drawn.results.items() if test in world.tests},
                   files={key: got for key, got in drawn.files.items()
                          if key[0] in world.tests and key[1] in world.outputs})


@settings(max_examples=400, deadline=None)
@given(st.randoms(use_true_random=False), st.booleans())
def test_the_verdict_agrees_with_the_pr_comment(rng: random.Random, has_reference: bool) -> None:
    pr_world = completed_world(rng)
    reference_world = another_run(pr_world, rng) if has_reference else None
    older_passes = {test for test in pr_world.tests if rng.random() < 0.5}
    verdict, extra_failed = platform_pr_comment(
        platform_get_test_results(pr_world),
        platform_get_test_results(reference_world) if reference_world is not None else None, older_passes)

    def judged(world: Any) -> Any:
        facts = derive(world)
        return judged_of(facts, judge(facts))

    result = compare(judged(pr_world), judged(reference_world) if reference_world is not None else None)
    assert result.verdict == Verdict(verdict)
    if reference_world is not None:
        assert {entry.regression_id for entry in result.entries if entry.kind is EntryClass.NEW_FAILURE} == extra_failed
    assert sum(result.counts.values()) == len(result.entries)
