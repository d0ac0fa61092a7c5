"""``POST /runs/{run_id}/cancel`` and ``/retry``: the platform's stop, ownership, concurrency, and retries.

A retry is always a new run, leaving its source untouched.
"""
import json

import pytest
from sqlalchemy import select

from mod_api.db import db
from mod_api.legacy import CustomizedTest, TestPlatform, TestStatus, TestType
from mod_api.legacy import Test as Run
from mod_api.legacy import TestFork as Owner
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import TestResult as RunResult
from mod_api.legacy import TestResultFile as RunResultFile
from mod_api.models import RunCancellation, RunRecord
from mod_api.run_view import load_runs
from mod_api_tests.factories import assert_error
from mod_api_tests.run_writes_data import audit_rows, caller, count, fresh, generous_app, in_parallel
from mod_api_tests.runs_data import (
    BASE_TIME,
    DONE,
    REF,
    add_category,
    add_fork,
    add_owner,
    add_progress,
    add_record,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
)

RUNNING = ((TestStatus.preparation, 'Loaded'), (TestStatus.testing, 'Running tests'))


@pytest.fixture()
def app(make_app):
    yield from generous_app(make_app)


def cancel(client, run_id, headers, **body):
    return client.post(f'/api/v1/runs/{run_id}/cancel', headers=headers, **({'json': body} if body else {}))


def retry(client, run_id, headers, **body):
    return client.post(f'/api/v1/runs/{run_id}/retry', headers=headers, **({'json': body} if body else {}))


def progress_of(run_id):
    fresh()
    return [(row.status, row.message) for row in db.session.scalars(
        select(Progress).where(Progress.test_id == run_id).order_by(Progress.id))]


def committed(run):
    db.session.commit()
    return run.id


def status_of(run_id):
    fresh()
    return load_runs([run_id])[run_id].verdict.status.value


# --- cancel ----------------------------------------------------------------------------------------------------------

def test_an_admin_cancels_a_queued_run_with_the_platform_message_and_a_record(client):
    run_id = committed(add_run())
    admin, headers = caller('admin')

    response = cancel(client, run_id, headers, reason='wrong commit')

    assert response.status_code == 202
    assert response.get_json() == {'run_id': run_id, 'new_run_id': None, 'action': 'cancel', 'status': 'accepted',
                                   'message': f'Run {run_id} canceled.'}
    assert progress_of(run_id) == [(TestStatus.canceled, 'Canceled by admin')]
    (record,) = db.session.scalars(select(RunCancellation))
    row_id = db.session.scalars(select(Progress.id).where(Progress.test_id == run_id)).one()
    assert (record.run_id, record.progress_id, record.user_id, record.requested_by, record.reason) == (
        run_id, row_id, admin.id, admin.email, 'wrong commit')
    assert status_of(run_id) == 'canceled'
    (entry,) = audit_rows('run.cancel')
    assert (entry.outcome, entry.target_id, json.loads(entry.details)) == (
        'accepted', str(run_id), {'reason': 'wrong commit', 'progress_id': row_id})


def test_an_owner_cancels_their_running_run_as_a_user(client):
    run = add_run(progress=RUNNING, vm=True)
    tester, headers = caller('tester')
    add_owner(run, tester)
    run_id = committed(run)

    response = cancel(client, run_id, headers)

    assert (response.status_code, response.get_json()['status']) == (202, 'accepted')
    assert progress_of(run_id)[-1] == (TestStatus.canceled, 'Canceled by user')
    assert db.session.scalars(select(RunCancellation.reason)).one() is None
    assert status_of(run_id) == 'canceled'


@pytest.mark.parametrize('last', [(TestStatus.completed, 'Ran all'), (TestStatus.canceled, 'PR closed'),
                                  (TestStatus.canceled, 'Could not complete test, time limit exceeded')])
def test_a_finished_run_is_a_no_op(client, last):
    run_id = committed(add_run(progress=RUNNING + (last,)))
    _, headers = caller('admin')
    before = progress_of(run_id)

    response = cancel(client, run_id, headers, reason='too late')

    assert response.status_code == 202
    assert response.get_json()['status'] == 'no_op'
    assert last[0].value in response.get_json()['message']
    assert progress_of(run_id) == before
    assert count(RunCancellation) == 0
    assert [entry.outcome for entry in audit_rows('run.cancel')] == ['no_op']


@pytest.mark.parametrize('role', ['tester', 'contributor'])
def test_a_non_admin_may_not_cancel_a_run_they_do_not_own(client, role):
    run = add_run()
    other, _ = caller('tester')
    add_owner(run, other)
    run_id = committed(run)
    _, headers = caller(role)

    details = assert_error(cancel(client, run_id, headers), 403, 'forbidden')

    assert details == {'rule': 'admin_or_run_owner', 'run_id': run_id, 'user_role': role}
    assert progress_of(run_id) == [] and count(RunCancellation) == 0
    (entry,) = audit_rows('run.cancel')
    assert (entry.outcome, entry.target_id) == ('rejected', str(run_id))


def test_an_admin_cancels_any_run_and_an_api_trigger_makes_its_caller_the_owner(client):
    add_regression_test(add_category())
    run_id = committed(add_run(progress=RUNNING[:1]))
    _, admin = caller('admin')
    _, contributor = caller('contributor')
    own = client.post('/api/v1/runs', json={'repository': 'a/b', 'commit_sha': 'a' * 40, 'platform': 'windows'},
                      headers=contributor).get_json()['run_id']

    assert cancel(client, run_id, admin).get_json()['status'] == 'accepted'
    assert cancel(client, own, contributor).get_json()['status'] == 'accepted'
    assert progress_of(own) == [(TestStatus.canceled, 'Canceled by user')]


def test_a_plain_user_is_403_before_anything_is_looked_at(client):
    run_id = committed(add_run())
    _, headers = caller('user', scopes=('runs:read', 'runs:write'))

    assert assert_error(cancel(client, run_id, headers), 403, 'forbidden')['required_roles'] == [
        'admin', 'tester', 'contributor']
    assert progress_of(run_id) == []


def test_cancel_of_an_unknown_run_is_404(client):
    _, headers = caller()

    assert assert_error(cancel(client, 424242, headers), 404, 'not_found') == {'resource': 'run', 'id': 424242}


@pytest.mark.parametrize('body', [{'reason': 'x' * 256}, {'reason': None}, {'reason': 5}, {'why': 'x'}])
def test_a_bad_cancel_body_is_400(client, body):
    run_id = committed(add_run())
    _, headers = caller()

    assert_error(cancel(client, run_id, headers, **body), 400, 'validation_error')
    assert progress_of(run_id) == []


def test_parallel_cancels_append_exactly_one_row(app):
    run_id = committed(add_run(progress=RUNNING))
    _, headers = caller('admin')

    responses = in_parallel(app, 20, lambda client, index: cancel(client, run_id, headers, reason=f'#{index}'))

    assert sorted(response.status_code for response in responses) == [202] * 20
    statuses = sorted(response.get_json()['status'] for response in responses)
    assert statuses == ['accepted'] + ['no_op'] * 19
    assert progress_of(run_id)[2:] == [(TestStatus.canceled, 'Canceled by admin')]
    assert count(RunCancellation) == 1
    assert sorted(entry.outcome for entry in audit_rows('run.cancel')) == ['accepted'] + ['no_op'] * 19


def test_a_run_revived_by_its_worker_can_be_canceled_again(client):
    run = add_run(progress=RUNNING)
    run_id = committed(run)
    _, headers = caller('admin')
    assert cancel(client, run_id, headers).get_json()['status'] == 'accepted'
    add_progress(db.session.get(Run, run_id), (TestStatus.completed, 'Ran all'))  # the VM kept reporting
    add_progress(db.session.get(Run, run_id), (TestStatus.testing, 'Running tests'))
    db.session.commit()

    assert cancel(client, run_id, headers).get_json()['status'] == 'accepted'
    assert [status for status, _ in progress_of(run_id)].count(TestStatus.canceled) == 2
    assert count(RunCancellation) == 2


# --- retry -----------------------------------------------------------------------------------------------------------

@pytest.fixture()
def source(app):
    """A completed PR run on windows with a customized scope: one pass, one fail, one missing output (ids)."""
    category = add_category()
    passing, (passing_output,) = add_regression_test(category, outputs=((REF, False),))
    failing, _ = add_regression_test(category)
    missing, _ = add_regression_test(category, outputs=((REF, False),))
    add_regression_test(category)  # not in the source's scope
    fork = add_fork('https://github.com/someone/ccextractor.git')
    run = add_run('windows', fork=fork, progress=DONE, customized=(passing.id, failing.id, missing.id, failing.id),
                  branch='pull_request', commit='c' * 40, pr_nr=77, test_type=TestType.pull_request)
    add_result(run, passing)
    add_result_file(run, passing, passing_output)
    add_result(run, failing, exit_code=3, expected_rc=0)
    add_result(run, missing)
    add_record(run, BASE_TIME, environment_id='windows')
    db.session.commit()
    return {'run': run.id, 'fork': fork.id, 'passing': passing.id, 'failing': failing.id, 'missing': missing.id}


def rows_of(run_id):
    """Every legacy row hanging off a run, counted per table."""
    return {entity.__tablename__: count(entity, entity.test_id == run_id)
            for entity in (Progress, RunResult, RunResultFile, CustomizedTest, Owner)}


def test_a_retry_is_a_new_run_with_the_source_configuration_and_scope(client, source):
    retrier, headers = caller('tester')  # no ownership needed
    before = rows_of(source['run'])

    response = retry(client, source['run'], headers, reason='flaky VM')

    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    new_id = body['new_run_id']
    assert body == {'run_id': source['run'], 'new_run_id': new_id, 'action': 'retry', 'status': 'accepted',
                    'message': f'Run {new_id} queued as a retry of run {source["run"]} (3 regression tests).'}
    assert response.headers['Location'] == f'http://localhost/api/v1/runs/{new_id}'
    fresh()
    new, old = db.session.get(Run, new_id), db.session.get(Run, source['run'])
    assert new_id != old.id and new.token != old.token
    assert (new.platform, new.test_type, new.fork_id, new.branch, new.commit, new.pr_nr) == (
        TestPlatform.windows, TestType.pull_request, source['fork'], 'pull_request', 'c' * 40, 77)
    assert sorted(db.session.scalars(select(CustomizedTest.regression_id).where(CustomizedTest.test_id == new_id))) \
        == [source['passing'], source['failing'], source['missing']]
    record = db.session.get(RunRecord, new_id)
    assert (record.retry_of, record.user_id, record.environment_id, record.created_by_api) == (
        source['run'], retrier.id, 'windows', True)
    assert db.session.scalars(select(Owner.user_id).where(Owner.test_id == new_id)).all() == [retrier.id]
    assert rows_of(source['run']) == before  # the source is untouched
    assert status_of(source['run']) == 'fail' and status_of(new_id) == 'queued'
    (entry,) = audit_rows('run.retry')
    assert (entry.outcome, entry.target_id) == ('accepted', str(source['run']))
    assert json.loads(entry.details) == {'new_run_id': new_id, 'failed_only': False, 'reason': 'flaky VM',
                                         'regression_test_count': 3}


def test_failed_only_retries_the_failed_and_missing_output_tests(client, source):
    _, headers = caller()

    response = retry(client, source['run'], headers, failed_only=True)

    assert response.status_code == 202
    new_id = response.get_json()['new_run_id']
    assert 'failed regression tests' in response.get_json()['message']
    fresh()
    assert sorted(db.session.scalars(select(CustomizedTest.regression_id).where(CustomizedTest.test_id == new_id))) \
        == [source['failing'], source['missing']]


def test_failed_only_with_nothing_failed_is_422(client):
    regression_test, _ = add_regression_test(add_category())
    run = add_run(progress=DONE, customized=(regression_test.id,))
    add_result(run, regression_test)
    run_id = committed(run)
    _, headers = caller()

    details = assert_error(retry(client, run_id, headers, failed_only=True), 422, 'unprocessable')

    assert details == {'run_id': run_id, 'run_status': 'pass'}
    assert count(Run) == 1
    (entry,) = audit_rows('run.retry')
    assert entry.outcome == 'rejected'


@pytest.mark.parametrize('progress', [(), RUNNING])
def test_failed_only_of_an_unfinished_source_is_422_but_a_full_retry_is_accepted(client, progress):
    add_regression_test(add_category())
    run_id = committed(add_run(progress=progress))
    _, headers = caller()

    details = assert_error(retry(client, run_id, headers, failed_only=True), 422, 'unprocessable')
    assert details['run_status'] in ('queued', 'running')
    assert retry(client, run_id, headers).status_code == 202
    assert count(Run) == 2


def test_a_source_without_customized_rows_is_retried_on_the_tests_it_is_judged_on(client):
    category = add_category()
    active, _ = add_regression_test(category)
    inactive, _ = add_regression_test(category, active=False)
    add_regression_test()  # in no category: never part of a run
    run_id = committed(add_run(progress=DONE))
    _, headers = caller()

    new_id = retry(client, run_id, headers).get_json()['new_run_id']

    fresh()
    assert sorted(db.session.scalars(select(CustomizedTest.regression_id).where(CustomizedTest.test_id == new_id))) \
        == [active.id, inactive.id]
    assert db.session.get(RunRecord, new_id).environment_id is None


def test_a_source_with_nothing_in_scope_is_422_rather_than_a_run_of_every_test(client):
    add_regression_test(add_category())  # a retry without customized rows would run this one
    run = add_run(progress=DONE, customized=(None,))  # its customized row lost its regression test
    run_id = committed(run)
    _, headers = caller()

    assert assert_error(retry(client, run_id, headers), 422, 'unprocessable') == {'run_id': run_id,
                                                                                 'run_status': 'pass'}
    assert count(Run) == 1


def test_parallel_retries_without_a_key_make_one_run_each(app, source):
    _, headers = caller()

    responses = in_parallel(app, 6, lambda client, _: retry(client, source['run'], headers))

    assert [response.status_code for response in responses] == [202] * 6
    new_ids = {response.get_json()['new_run_id'] for response in responses}
    assert len(new_ids) == 6 and count(Run) == 7
    assert count(RunRecord, RunRecord.retry_of == source['run']) == 6


def test_retry_of_an_unknown_run_is_404_and_bad_bodies_are_400(client):
    _, headers = caller()
    run_id = committed(add_run())

    assert_error(retry(client, 424242, headers), 404, 'not_found')
    for body in ({'failed_only': 1}, {'failed_only': 'true'}, {'failed_only': None}, {'reason': 'r' * 256},
                 {'all': True}):
        assert_error(retry(client, run_id, headers, **body), 400, 'validation_error')
    assert count(Run) == 1


def test_a_plain_user_may_not_retry(client):
    run_id = committed(add_run())
    _, headers = caller('user', scopes=('runs:read', 'runs:write'))

    assert_error(retry(client, run_id, headers), 403, 'forbidden')
    assert count(Run) == 1
