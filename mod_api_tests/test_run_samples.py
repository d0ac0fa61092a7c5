"""GET /runs/{run_id}/samples and /runs/{run_id}/samples/{sample_id}: the regression results of a run, on both backends.

Statuses are the verdicts' (``docs/verdicts.md``); these tests check that every one reaches the HTTP document with
its details, and the filters, pagination, errors and query counts of the two operations.
"""
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from mod_api.db import db
from mod_api.legacy import Category, RegressionTest, Sample, Tag, sample_tag_association
from mod_api.legacy import Test as Run
from mod_api.resources.run_samples import RunSamplePageSchema, RunSampleSchema
from mod_api.sample_view import LIST_QUERY_COUNT, SAMPLE_QUERY_COUNT, Filters, get_run_sample, list_run_samples
from mod_api_tests import factories
from mod_api_tests.runs_data import (
    DONE,
    OTHER,
    REF,
    VARIANT,
    add_category,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
    add_variant,
    store,
)
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/runs/{}/samples'


def reader() -> dict[str, str]:
    """Headers of a plain user's token holding runs:read (commits the session)."""
    db.session.commit()
    return factories.bearer(factories.make_token(factories.make_user('user'), ['runs:read']))


def tag_sample(sample: Sample, *tags: Tag) -> None:
    """Put ``tags`` on ``sample`` (``sample_tag_association`` rows)."""
    db.session.execute(insert(sample_tag_association), [{'sample_id': sample.id, 'tag_id': tag.id} for tag in tags])


def add_tag(name: str) -> Tag:
    tag = Tag(name)
    store(tag)
    return tag


def listing(client: FlaskClient, headers: dict[str, str], run_id: int, **params: Any) -> dict[str, Any]:
    """A 200 list response, checked against the response schema."""
    response = client.get(URL.format(run_id), headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert RunSamplePageSchema().validate(body) == {}
    return body


def one(client: FlaskClient, headers: dict[str, str], run_id: int, sample_id: int, **params: Any) -> Any:
    return client.get(f'{URL.format(run_id)}/{sample_id}', headers=headers, query_string=params)


def ids(body: dict[str, Any]) -> list[int]:
    return [item['regression_id'] for item in body['data']]


@dataclass
class Scenario:
    """A completed run over every finished-run status, plus unfinished runs over the same regression tests."""

    done: int
    testing: int
    preparation: int
    queued: int
    broadcast: Sample
    teletext: Sample
    movie: Sample
    solo: Sample
    orphan: Sample
    tests: dict[str, RegressionTest]
    outputs: dict[str, list[int]]


def scenario() -> Scenario:
    """The Scenario; its regression tests are created in the order of ``specs``.

    ``no_sample`` (its sample was deleted) is never listed and ``uncategorised`` is never in scope.
    """
    general, dvb = add_category('General'), add_category('DVB')
    broadcast = add_sample(original_name='Broadcast_DVB_100%')
    teletext = add_sample(original_name='teletext_news')
    movie = add_sample(original_name='movie')
    solo = add_sample(original_name='solo_clip')
    orphan = add_sample(original_name='orphan')
    dvb_tag, hd_tag, long_tag = add_tag('DVB'), add_tag('hd'), add_tag('x' * 60)
    tag_sample(broadcast, dvb_tag, hd_tag, long_tag)
    tag_sample(teletext, hd_tag)
    required = [(REF, False)]
    specs: dict[str, tuple[Any, ...]] = {
        'passed': ((general,), required, broadcast, {'command': '-autoprogram -out=srt'}),
        'exit_fail': ((general,), required, broadcast, {}),
        'diff_fail': ((dvb,), required, teletext, {}),
        'variant': ((dvb,), required, teletext, {'expected_rc': 1}),
        'missing': ((general,), required, movie, {}),
        'skipped': ((general, dvb), [(REF, True), (REF, None)], movie, {'expected_rc': 5}),
        'partial': ((general,), [(REF, False), (OTHER, False)], solo, {}),
        'no_sample': ((general,), required, None, {}),
        'uncategorised': ((), required, orphan, {}),
    }
    tests, outputs = {}, {}
    for key, (categories, declared, sample, extra) in specs.items():
        test, stored = add_regression_test(*categories, outputs=declared, sample=sample, **extra)
        tests[key], outputs[key] = test, stored
    add_variant(outputs['variant'][0], VARIANT)
    done = add_run(progress=DONE)
    add_result(done, tests['passed'], runtime=1500)
    add_result_file(done, tests['passed'], outputs['passed'][0])
    add_result(done, tests['exit_fail'], exit_code=3, expected_rc=0)
    add_result_file(done, tests['exit_fail'], outputs['exit_fail'][0], got=OTHER)
    add_result(done, tests['diff_fail'])
    add_result_file(done, tests['diff_fail'], outputs['diff_fail'][0], got=OTHER)
    add_result(done, tests['variant'])
    add_result_file(done, tests['variant'], outputs['variant'][0], got=VARIANT)
    add_result(done, tests['missing'])
    add_result(done, tests['partial'])
    add_result_file(done, tests['partial'], outputs['partial'][0])
    add_result(done, tests['no_sample'])
    testing = add_run(progress=DONE[:2])
    add_result(testing, tests['passed'])
    add_result_file(testing, tests['passed'], outputs['passed'][0])
    preparation, queued = add_run(progress=DONE[:1]), add_run()
    db.session.commit()
    return Scenario(done.id, testing.id, preparation.id, queued.id, broadcast, teletext, movie, solo, orphan,
                    tests, {key: [output.id for output in stored] for key, stored in outputs.items()})


LISTED = ('passed', 'exit_fail', 'diff_fail', 'variant', 'missing', 'skipped', 'partial')


@pytest.fixture()
def world(app: Flask) -> Scenario:
    return scenario()


@pytest.fixture()
def headers(world: Scenario) -> dict[str, str]:
    return reader()


def regression_ids(world: Scenario, *keys: str) -> list[int]:
    return [world.tests[key].id for key in keys]


# --- statuses and documents ----------------------------------------------------------------------------------------

def test_a_completed_run_lists_every_in_scope_test_with_its_status(client: FlaskClient, world: Scenario,
                                                                   headers: dict[str, str]) -> None:
    body = listing(client, headers, world.done)

    assert ids(body) == regression_ids(world, *LISTED)
    assert [item['status'] for item in body['data']] == [
        'pass', 'fail', 'fail', 'pass', 'missing_output', 'skipped', 'pass']
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 7, 'next_offset': None}


def test_documents_carry_the_sample_command_category_tags_and_result(client: FlaskClient, world: Scenario,
                                                                       headers: dict[str, str]) -> None:
    data = {item['regression_id']: item for item in listing(client, headers, world.done)['data']}
    tests, outputs = world.tests, world.outputs

    assert data[tests['passed'].id] == {
        'run_id': world.done, 'sample_id': world.broadcast.id, 'regression_id': tests['passed'].id,
        'category': 'General', 'command': '-autoprogram -out=srt', 'status': 'pass', 'runtime_ms': 1500,
        'exit_code': 0, 'expected_exit_code': 0, 'result_message': 'Output matched the expected baseline',
        'tags': ['DVB', 'hd'],  # the 60-character tag does not fit the contract
        'outputs': [{'output_id': outputs['passed'][0], 'status': 'match', 'expected_hash': REF,
                     'actual_hash': None}]}
    exit_fail = data[tests['exit_fail'].id]
    assert (exit_fail['status'], exit_fail['result_message']) == ('fail', 'Exit code 3, expected 0')
    assert exit_fail['outputs'] == [{'output_id': outputs['exit_fail'][0], 'status': 'diff_mismatch',
                                     'expected_hash': REF, 'actual_hash': OTHER}]
    diff_fail = data[tests['diff_fail'].id]
    assert diff_fail['result_message'] == f'Output {outputs["diff_fail"][0]} differs from every accepted baseline'
    assert (diff_fail['category'], diff_fail['tags'], diff_fail['sample_id']) == ('DVB', ['hd'], world.teletext.id)


def test_a_variant_passes_and_the_expected_code_is_the_results_snapshot(client: FlaskClient, world: Scenario,
                                                                         headers: dict[str, str]) -> None:
    variant = one(client, headers, world.done, world.teletext.id, regression_id=world.tests['variant'].id).get_json()

    assert (variant['status'], variant['result_message']) == ('pass', 'Matched an accepted variant')
    assert variant['outputs'] == [{'output_id': world.outputs['variant'][0], 'status': 'match',
                                   'expected_hash': REF, 'actual_hash': VARIANT}]
    assert (variant['exit_code'], variant['expected_exit_code']) == (0, 0)  # the test's live expected_rc is 1


def test_missing_output_is_a_status_never_an_object(client: FlaskClient, world: Scenario,
                                                    headers: dict[str, str]) -> None:
    missing = one(client, headers, world.done, world.movie.id, regression_id=world.tests['missing'].id).get_json()

    assert missing['status'] == 'missing_output'
    assert missing['result_message'] == 'No output generated but there should be'
    assert missing['outputs'] == [{'output_id': world.outputs['missing'][0], 'status': 'missing_output',
                                   'expected_hash': REF, 'actual_hash': None}]


def test_a_test_with_only_ignored_or_null_ignore_outputs_and_no_result_is_skipped(
        client: FlaskClient, world: Scenario, headers: dict[str, str]) -> None:
    skipped = one(client, headers, world.done, world.movie.id, regression_id=world.tests['skipped'].id).get_json()

    assert skipped['status'] == 'skipped'
    assert skipped['outputs'] == []
    assert (skipped['runtime_ms'], skipped['exit_code'], skipped['expected_exit_code']) == (None, None, 5)
    assert skipped['category'] == 'General'  # first of General and DVB by id


def test_an_unreported_output_beside_reported_ones_is_shown_without_failing(client: FlaskClient, world: Scenario,
                                                                            headers: dict[str, str]) -> None:
    partial = one(client, headers, world.done, world.solo.id).get_json()
    first, second = world.outputs['partial']

    assert partial['status'] == 'pass'
    assert [(item['output_id'], item['status']) for item in partial['outputs']] == [
        (first, 'match'), (second, 'missing_expected')]
    assert partial['result_message'] == f'Output matched the expected baseline; output {second} was not reported'


@pytest.mark.parametrize(('run', 'passed_status', 'others'), [
    ('testing', 'pass', 'running'), ('preparation', 'not_started', 'not_started'),
    ('queued', 'not_started', 'not_started')])
def test_unfinished_runs_are_running_or_not_started(client: FlaskClient, world: Scenario, headers: dict[str, str],
                                                    run: str, passed_status: str, others: str) -> None:
    data = listing(client, headers, getattr(world, run))['data']

    assert ids({'data': data}) == regression_ids(world, *LISTED)
    assert [item['status'] for item in data] == [passed_status] + [others] * (len(LISTED) - 1)
    waiting = data[1]
    assert waiting['outputs'] == [] and waiting['exit_code'] is None and waiting['expected_exit_code'] == 0
    assert waiting['result_message'] == {'running': 'Running: no result yet',
                                         'not_started': 'Not started: the run has not begun testing'}[others]


def test_customized_scope_includes_an_inactive_test_and_nothing_else(client: FlaskClient, app: Flask) -> None:
    general = add_category('General')
    sample = add_sample(original_name='clip')
    chosen, _ = add_regression_test(general, outputs=[(REF, False)], sample=sample)
    inactive, _ = add_regression_test(general, outputs=[(REF, False)], sample=sample, active=False)
    add_regression_test(general, outputs=[(REF, False)], sample=sample)  # not chosen
    uncategorised, _ = add_regression_test(sample=sample)
    run = add_run(progress=DONE, customized=[inactive.id, chosen.id, inactive.id, uncategorised.id])
    add_result(run, chosen)
    headers = reader()

    body = listing(client, headers, run.id)

    assert [(item['regression_id'], item['status']) for item in body['data']] == [
        (chosen.id, 'missing_output'), (inactive.id, 'missing_output')]
    assert body['pagination']['total'] == 2


def test_a_null_ignore_output_is_not_required_and_an_unnamed_category_is_omitted(client: FlaskClient,
                                                                                 app: Flask) -> None:
    unnamed = add_category('Unnamed')
    unnamed.name = None
    sample = add_sample(original_name='quiet')
    test, _ = add_regression_test(unnamed, outputs=[(REF, None)], sample=sample)
    run = add_run(progress=DONE)
    add_result(run, test, exit_code=2, expected_rc=2)
    headers = reader()

    document = one(client, headers, run.id, sample.id).get_json()

    assert (document['status'], document['outputs']) == ('pass', [])
    assert document['result_message'] == 'Exit code 2 as expected; no output to compare'
    assert 'category' not in document
    assert listing(client, headers, run.id, category='unnamed')['data'] == []


def test_outputs_are_capped_at_twenty_and_long_commands_cut(client: FlaskClient, app: Flask) -> None:
    general = add_category('General')
    sample = add_sample(original_name='many')
    test, stored = add_regression_test(general, outputs=[(REF, False)] * 25, sample=sample, command='-x ' * 300)
    run = add_run(progress=DONE)
    add_result(run, test, runtime=-1)
    for output in stored:
        add_result_file(run, test, output)
    headers = reader()

    document = one(client, headers, run.id, sample.id).get_json()

    assert [item['output_id'] for item in document['outputs']] == [output.id for output in stored[:20]]
    assert len(document['command']) == 500
    assert document['runtime_ms'] is None
    assert RunSampleSchema().validate(document) == {}


# --- filters and pagination ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(('params', 'expected'), [
    ({'status': 'fail'}, ('exit_fail', 'diff_fail')),
    ({'status': 'pass'}, ('passed', 'variant', 'partial')),
    ({'status': 'missing_output'}, ('missing',)),
    ({'status': 'skipped'}, ('skipped',)),
    ({'status': 'running'}, ()),
    ({'name': 'dvb_100%'}, ('passed', 'exit_fail')),  # case-insensitive substring, % taken literally
    ({'name': '%'}, ('passed', 'exit_fail')),
    ({'name': '_'}, ('passed', 'exit_fail', 'diff_fail', 'variant', 'partial')),  # 'movie' has no underscore
    ({'name': 'MOVIE'}, ('missing', 'skipped')),
    ({'name': 'orphan'}, ()),  # its only test is not in scope
    ({'tag': 'dvb'}, ('passed', 'exit_fail')),
    ({'tag': 'HD'}, ('passed', 'exit_fail', 'diff_fail', 'variant')),
    ({'tag': 'nope'}, ()),
    ({'category': 'general'}, ('passed', 'exit_fail', 'missing', 'skipped', 'partial')),
    ({'category': 'DVB'}, ('diff_fail', 'variant')),  # 'skipped' shows General, its first category
    ({'category': 'pass', 'status': 'pass'}, ()),
    ({'category': 'dvb', 'status': 'pass'}, ('variant',)),
    ({'tag': 'hd', 'name': 'tele', 'status': 'fail'}, ('diff_fail',)),
])
def test_filters(client: FlaskClient, world: Scenario, headers: dict[str, str], params: dict[str, str],
                 expected: tuple[str, ...]) -> None:
    body = listing(client, headers, world.done, **params)

    assert ids(body) == regression_ids(world, *expected)
    assert body['pagination']['total'] == len(expected)
    assert all(item['status'] == params['status'] for item in body['data'] if 'status' in params)


@pytest.mark.parametrize(('limit', 'offset', 'keys', 'next_offset'), [
    (2, 0, LISTED[:2], 2), (2, 2, LISTED[2:4], 4), (2, 6, LISTED[6:], None), (7, 0, LISTED, None),
    (3, 100, (), None)])
def test_pagination(client: FlaskClient, world: Scenario, headers: dict[str, str], limit: int, offset: int,
                    keys: tuple[str, ...], next_offset: int | None) -> None:
    body = listing(client, headers, world.done, limit=limit, offset=offset)

    assert ids(body) == regression_ids(world, *keys)
    assert body['pagination'] == {'limit': limit, 'offset': offset, 'total': 7, 'next_offset': next_offset}


# --- one sample: ambiguity and errors ------------------------------------------------------------------------------

def test_a_sample_with_several_tests_needs_a_regression_id(client: FlaskClient, world: Scenario,
                                                          headers: dict[str, str]) -> None:
    details = factories.assert_error(one(client, headers, world.done, world.teletext.id), 409, 'ambiguous_sample')

    assert details == {'sample_id': world.teletext.id, 'regression_ids': regression_ids(world, 'diff_fail', 'variant')}
    picked = one(client, headers, world.done, world.teletext.id, regression_id=world.tests['diff_fail'].id)
    assert picked.status_code == 200
    assert (picked.get_json()['regression_id'], picked.get_json()['status']) == (world.tests['diff_fail'].id, 'fail')


def test_a_regression_id_outside_the_samples_tests_in_the_run_is_404(client: FlaskClient, world: Scenario,
                                                                     headers: dict[str, str]) -> None:
    for regression_id in (world.tests['passed'].id, 999999):
        response = one(client, headers, world.done, world.teletext.id, regression_id=regression_id)
        details = factories.assert_error(response, 404, 'not_found')
        assert (details['resource'], details['id']) == ('regression_test', regression_id)


def test_the_one_test_of_a_sample_in_a_customized_run_needs_no_regression_id(client: FlaskClient,
                                                                            world: Scenario) -> None:
    run = add_run(progress=DONE, customized=[world.tests['exit_fail'].id])
    headers = reader()

    response = one(client, headers, run.id, world.broadcast.id)

    assert response.status_code == 200
    assert response.get_json()['regression_id'] == world.tests['exit_fail'].id
    assert response.get_json()['status'] == 'missing_output'  # a finished run without its result


@pytest.mark.parametrize('which', ['orphan', 'unknown'])
def test_a_sample_not_in_the_run_is_404(client: FlaskClient, world: Scenario, headers: dict[str, str],
                                        which: str) -> None:
    sample_id = world.orphan.id if which == 'orphan' else 999999

    details = factories.assert_error(one(client, headers, world.done, sample_id), 404, 'not_found')

    assert details == {'resource': 'sample', 'id': sample_id}


def test_an_unknown_run_is_404(client: FlaskClient, world: Scenario, headers: dict[str, str]) -> None:
    for response in (client.get(URL.format(999999), headers=headers),
                     one(client, headers, 999999, world.solo.id)):
        assert factories.assert_error(response, 404, 'not_found') == {'resource': 'run', 'id': 999999}


# --- conditional reads ---------------------------------------------------------------------------------------------

def test_both_reads_carry_an_etag_and_answer_304_until_a_result_arrives(client: FlaskClient, world: Scenario,
                                                                         headers: dict[str, str]) -> None:
    urls = [URL.format(world.testing), f'{URL.format(world.testing)}/{world.solo.id}']
    tags = []
    for url in urls:
        first = client.get(url, headers=headers)
        assert first.status_code == 200 and first.headers['ETag']
        unchanged = client.get(url, headers={**headers, 'If-None-Match': first.headers['ETag']})
        assert (unchanged.status_code, unchanged.get_data()) == (304, b'')
        assert unchanged.headers['ETag'] == first.headers['ETag']
        tags.append(first.headers['ETag'])
    run = db.session.get(Run, world.testing)
    add_result(run, world.tests['partial'])
    db.session.commit()

    for url, tag in zip(urls, tags):
        changed = client.get(url, headers={**headers, 'If-None-Match': tag})
        assert changed.status_code == 200 and changed.headers['ETag'] != tag


# --- validation and access -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(('params', 'field'), [
    ({'status': 'error'}, 'status'), ({'status': 'PASS'}, 'status'), ({'bogus': '1'}, 'bogus'),
    ({'limit': '0'}, 'limit'), ({'limit': '101'}, 'limit'), ({'offset': '-1'}, 'offset'),
    ({'limit': '5.0'}, 'limit'), ({'name': 'n' * 101}, 'name'), ({'tag': 't' * 51}, 'tag'),
    ({'category': 'c' * 51}, 'category'), ({'regression_id': '1'}, 'regression_id')])
def test_invalid_list_queries_are_400(client: FlaskClient, world: Scenario, headers: dict[str, str],
                                      params: dict[str, str], field: str) -> None:
    response = client.get(URL.format(world.done), headers=headers, query_string=params)

    assert field in factories.assert_error(response, 400, 'validation_error')['fields']


@pytest.mark.parametrize(('params', 'field'), [
    ({'regression_id': '0'}, 'regression_id'), ({'regression_id': 'abc'}, 'regression_id'),
    ({'regression_id': str(2**31)}, 'regression_id'), ({'status': 'pass'}, 'status')])
def test_invalid_detail_queries_are_400(client: FlaskClient, world: Scenario, headers: dict[str, str],
                                        params: dict[str, str], field: str) -> None:
    response = one(client, headers, world.done, world.solo.id, **params)

    assert field in factories.assert_error(response, 400, 'validation_error')['fields']


def test_a_repeated_filter_is_400(client: FlaskClient, world: Scenario, headers: dict[str, str]) -> None:
    response = client.get(f'{URL.format(world.done)}?status=pass&status=fail', headers=headers)

    assert 'status' in factories.assert_error(response, 400, 'validation_error')['fields']


def test_reading_needs_a_token_with_runs_read(client: FlaskClient, world: Scenario) -> None:
    without_scope = factories.bearer(factories.make_token(factories.make_user('user'), ['results:read']))
    for url in (URL.format(world.done), f'{URL.format(world.done)}/{world.solo.id}'):
        factories.assert_error(client.get(url), 401, 'unauthorized')
        factories.assert_error(client.get(url, headers=without_scope), 403, 'forbidden')


# --- query counts --------------------------------------------------------------------------------------------------

def sized_run(size: int, category: Category, tag: Tag) -> tuple[int, int]:
    """A completed customized run over ``size`` regression tests (one tagged sample each); its id and a sample id."""
    run_tests = []
    for number in range(size):
        sample = add_sample(original_name=f'clip {size} {number}')
        tag_sample(sample, tag)
        test, (output,) = add_regression_test(category, outputs=[(REF, False)], sample=sample)
        run_tests.append((test, output, sample))
    run = add_run(progress=DONE, customized=[test.id for test, _, _ in run_tests])
    for number, (test, output, _) in enumerate(run_tests):
        add_result(run, test, exit_code=number % 2)
        add_result_file(run, test, output, got=OTHER if number % 3 else None)
    db.session.commit()
    return run.id, run_tests[0][2].id


def test_the_number_of_queries_does_not_depend_on_the_number_of_tests(client: FlaskClient, app: Flask) -> None:
    category, tag = add_category('Sized'), add_tag('sized')
    small, big = sized_run(1, category, tag), sized_run(200, category, tag)
    headers = reader()
    listing(client, headers, small[0])  # the token's first use records its last-used time: not counted below
    requests = [
        {'limit': 100},
        {'status': 'pass', 'name': 'CLIP', 'tag': 'SIZED', 'category': 'sized', 'limit': 100},
        None,  # one sample
    ]
    for params in requests:
        counts = []
        for run, sample in (small, big):
            with counted_queries() as statements:
                response = (one(client, headers, run, sample) if params is None
                            else client.get(URL.format(run), headers=headers, query_string=params))
                assert response.status_code == 200
                assert params is None or response.get_json()['data']
            counts.append(len(statements))
        assert counts[0] == counts[1], params

    for run, sample in (small, big):
        with counted_queries() as statements:
            list_run_samples(run, Filters(name='clip'), 100, 0)
        assert len(statements) == LIST_QUERY_COUNT
        with counted_queries() as statements:
            get_run_sample(run, sample, None)
        assert len(statements) == SAMPLE_QUERY_COUNT
    assert listing(client, headers, big[0], limit=100)['pagination']['total'] == 200
