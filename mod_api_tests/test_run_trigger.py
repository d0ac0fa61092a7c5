"""``POST /runs``: a run written as the platform writes it, its checks, its roles and its audit rows."""
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from mod_api.db import db
from mod_api.legacy import CustomizedTest, Fork, MaintenanceMode, TestPlatform, TestType
from mod_api.legacy import Test as Run
from mod_api.legacy import TestFork as Owner
from mod_api.models import RunRecord
from mod_api.timeutil import utcnow
from mod_api_tests.factories import assert_error
from mod_api_tests.run_writes_data import (
    COMMIT,
    audit_rows,
    caller,
    count,
    fresh,
    generous_app,
    in_parallel,
    regression_tests,
)
from mod_api_tests.runs_data import add_fork, add_regression_test

URL = '/api/v1/runs'
BODY = {'repository': 'CCExtractor/ccextractor', 'commit_sha': COMMIT.upper(), 'platform': 'linux'}


@pytest.fixture()
def app(make_app):
    yield from generous_app(make_app)


def trigger(client, headers, **fields):
    return client.post(URL, json={**BODY, **fields}, headers=headers)


def stored_run(run_id: int) -> Run:
    fresh()
    return db.session.get(Run, run_id)


def scope_of(run_id: int) -> list[int]:
    return sorted(db.session.scalars(select(CustomizedTest.regression_id).where(CustomizedTest.test_id == run_id)))


def test_a_run_is_written_as_the_platform_writes_it(client):
    active_one, active_two, inactive = regression_tests(active=2, inactive=1)
    user, headers = caller('contributor')
    before = utcnow().replace(microsecond=0)

    response = trigger(client, headers)

    assert response.status_code == 202, response.get_data(as_text=True)
    document = response.get_json()
    run_id = document['run_id']
    assert response.headers['Location'] == f'http://localhost/api/v1/runs/{run_id}' == document['links']['self']
    assert {key: document[key] for key in ('status', 'repository', 'branch', 'commit_sha', 'commit_short',
                                           'pull_request', 'platform', 'run_errors', 'triggered_by', 'started_at',
                                           'completed_at', 'duration_ms')} == {
        'status': 'queued', 'repository': 'CCExtractor/ccextractor', 'branch': 'master', 'commit_sha': COMMIT,
        'commit_short': COMMIT[:7], 'pull_request': None, 'platform': 'linux', 'run_errors': 'unknown',
        'triggered_by': user.email, 'started_at': None, 'completed_at': None, 'duration_ms': None}
    assert document['created_at'] == document['queued_at'] and document['created_at'].endswith('Z')
    run = stored_run(run_id)
    assert (run.platform, run.test_type, run.branch, run.commit, run.pr_nr) == (
        TestPlatform.linux, TestType.commit, 'master', COMMIT, 0)
    assert db.session.get(Fork, run.fork_id).github == 'https://github.com/CCExtractor/ccextractor.git'
    assert re.fullmatch(r'[A-Za-z0-9]{64}', run.token) and run.token not in response.get_data(as_text=True)
    assert scope_of(run_id) == [active_one.id, active_two.id]  # all active ones, not the inactive
    assert inactive.id not in scope_of(run_id)
    assert [owner.user_id for owner in db.session.scalars(select(Owner).where(Owner.test_id == run_id))] == [
        user.id]
    record = db.session.get(RunRecord, run_id)
    assert (record.created_by_api, record.user_id, record.triggered_by, record.environment_id, record.retry_of) == (
        True, user.id, user.email, None, None)
    assert record.token_id is not None and before <= record.created_at <= utcnow() + timedelta(seconds=1)
    (entry,) = audit_rows('run.trigger')
    assert (entry.outcome, entry.target_type, entry.target_id, entry.user_id) == ('accepted', 'run', str(run_id),
                                                                                  user.id)
    assert json.loads(entry.details)['regression_test_count'] == 2


def test_an_explicit_subset_is_the_scope(client):
    first, second, _ = regression_tests(active=3)
    _, headers = caller()

    response = trigger(client, headers, regression_test_ids=[second.id, first.id])

    assert response.status_code == 202
    assert scope_of(response.get_json()['run_id']) == [first.id, second.id]


def test_unknown_and_inactive_ids_are_422_naming_them_and_nothing_is_written(client):
    active, inactive = regression_tests(active=1, inactive=1)
    _, headers = caller()

    response = trigger(client, headers, repository='someone/new-repo',
                       regression_test_ids=[active.id, inactive.id, 9999, 9998])

    details = assert_error(response, 422, 'unprocessable')
    assert details == {'unknown_ids': [9998, 9999], 'inactive_ids': [inactive.id]}
    assert count(Run) == count(Fork) == count(RunRecord) == 0
    (entry,) = audit_rows('run.trigger')
    assert entry.outcome == 'rejected' and json.loads(entry.details)['details'] == details


def test_500_unknown_ids_are_named_in_details_not_in_the_message(client):
    regression_tests()
    _, headers = caller()

    response = trigger(client, headers, regression_test_ids=list(range(2_000_000_001, 2_000_000_501)))

    details = assert_error(response, 422, 'unprocessable')
    assert len(details['unknown_ids']) == 500
    assert response.get_json()['message'] == ('regression_test_ids contains 500 unknown test IDs '
                                               '(details.unknown_ids, details.inactive_ids).')


def test_inactive_only_is_422_with_an_empty_unknown_list(client):
    (inactive,) = regression_tests(active=0, inactive=1)
    _, headers = caller()

    details = assert_error(trigger(client, headers, regression_test_ids=[inactive.id]), 422, 'unprocessable')

    assert details == {'unknown_ids': [], 'inactive_ids': [inactive.id]}


def test_an_empty_list_is_422_rather_than_a_run_of_every_test(client):
    regression_tests(active=1, inactive=1)
    _, headers = caller()

    details = assert_error(trigger(client, headers, regression_test_ids=[]), 422, 'unprocessable')

    assert details == {'regression_test_ids': []}
    assert count(Run) == 0


def test_no_active_regression_test_at_all_is_422(client):
    regression_tests(active=0, inactive=2)
    _, headers = caller()

    assert_error(trigger(client, headers), 422, 'unprocessable')
    assert count(Run) == 0


@pytest.mark.parametrize(('environment_id', 'reason'), [('windows', 'other_platform'), ('linux-latest', 'unknown'),
                                                        ('linux', 'inactive')])
def test_an_environment_that_is_not_an_active_one_of_the_platform_is_422(client, environment_id, reason):
    regression_tests()
    db.session.add(MaintenanceMode(TestPlatform.linux, True))
    db.session.commit()
    _, headers = caller()

    details = assert_error(trigger(client, headers, environment_id=environment_id), 422, 'unprocessable')

    assert details == {'environment_id': environment_id, 'platform': 'linux', 'reason': reason}
    assert count(Run) == 0


def test_an_active_environment_is_recorded_and_maintenance_does_not_block_queuing(client):
    regression_tests()
    db.session.add(MaintenanceMode(TestPlatform.windows, True))
    db.session.commit()
    _, headers = caller()

    with_environment = trigger(client, headers, environment_id='linux')
    in_maintenance = trigger(client, headers, platform='windows')

    assert with_environment.status_code == in_maintenance.status_code == 202
    fresh()
    assert db.session.get(RunRecord, with_environment.get_json()['run_id']).environment_id == 'linux'
    assert stored_run(in_maintenance.get_json()['run_id']).platform is TestPlatform.windows


def test_a_pull_request_run_is_typed_pr_on_the_platform_branch(client):
    regression_tests()
    _, headers = caller()

    response = trigger(client, headers, pull_request=2264, branch='feature/x')

    assert response.status_code == 202
    assert (response.get_json()['pull_request'], response.get_json()['branch']) == (2264, 'pull_request')
    run = stored_run(response.get_json()['run_id'])
    assert (run.test_type, run.branch, run.pr_nr) == (TestType.pull_request, 'pull_request', 2264)


def test_a_commit_run_keeps_the_requested_branch(client):
    regression_tests()
    _, headers = caller()

    for branch, stored in (('release/1.0', 'release/1.0'), (None, 'master')):
        response = trigger(client, headers, pull_request=None, **({'branch': branch} if branch else {}))
        assert response.status_code == 202
        assert stored_run(response.get_json()['run_id']).branch == stored


def test_the_repository_fork_row_is_reused_as_the_platform_finds_it(client):
    regression_tests()
    main = add_fork('https://github.com/CCExtractor/ccextractor.git')
    look_alike = add_fork('https://github.com/testXowner/repo.git')
    db.session.commit()
    main_id, look_alike_id = main.id, look_alike.id
    _, headers = caller()

    same = trigger(client, headers, repository='ccextractor/CCExtractor')
    wildcard = trigger(client, headers, repository='test_owner/repo')
    again = trigger(client, headers, repository='test_owner/repo')

    assert stored_run(same.get_json()['run_id']).fork_id == main_id
    new_fork = stored_run(wildcard.get_json()['run_id']).fork_id
    assert new_fork not in (main_id, look_alike_id)
    assert db.session.get(Fork, new_fork).github == 'https://github.com/test_owner/repo.git'
    assert stored_run(again.get_json()['run_id']).fork_id == new_fork
    assert count(Fork) == 3


def test_parallel_triggers_for_a_new_repository_make_one_fork_and_one_run_each(app):
    regression_tests()
    _, headers = caller()

    responses = in_parallel(app, 8, lambda client, _: trigger(client, headers, repository='new/repository'))

    assert [response.status_code for response in responses] == [202] * 8
    assert len({response.get_json()['run_id'] for response in responses}) == 8
    assert count(Fork) == 1 and count(Run) == 8


@pytest.mark.parametrize('role', ['admin', 'tester', 'contributor'])
def test_writers_may_trigger(client, role):
    regression_tests()
    _, headers = caller(role)

    assert trigger(client, headers).status_code == 202


def test_a_plain_user_or_a_token_without_runs_write_is_403(client):
    regression_tests()
    _, user_headers = caller('user', scopes=('runs:read', 'runs:write'))
    _, read_only = caller('admin', scopes=('runs:read',))

    assert assert_error(trigger(client, user_headers), 403, 'forbidden')['required_roles'] == [
        'admin', 'tester', 'contributor']
    assert assert_error(trigger(client, read_only), 403, 'forbidden')['required_scope'] == 'runs:write'
    assert count(Run) == 0


@pytest.mark.parametrize('fields', [
    {'unknown': 1}, {'commit_sha': 'abc'}, {'commit_sha': COMMIT + '\n'}, {'repository': 'no-slash'},
    {'platform': 'macos'}, {'pull_request': 0}, {'pull_request': '5'}, {'regression_test_ids': [1, 1]},
    {'regression_test_ids': [0]}, {'regression_test_ids': None}, {'regression_test_ids': list(range(1, 502))},
    {'branch': 'has space'}, {'branch': 'b' * 101}, {'branch': None}, {'environment_id': 'e' * 51},
])
def test_invalid_bodies_are_400(client, fields):
    _, headers = caller()

    assert_error(trigger(client, headers, **fields), 400, 'validation_error')


def test_a_missing_required_field_is_400(client):
    _, headers = caller()

    details = assert_error(client.post(URL, json={'repository': 'a/b'}, headers=headers), 400, 'validation_error')

    assert set(details['fields']) == {'commit_sha', 'platform'}


def test_an_uncategorised_regression_test_may_be_chosen(client):
    uncategorised, _ = add_regression_test()
    db.session.commit()
    _, headers = caller()

    response = trigger(client, headers, regression_test_ids=[uncategorised.id])

    assert response.status_code == 202
    assert scope_of(response.get_json()['run_id']) == [uncategorised.id]
