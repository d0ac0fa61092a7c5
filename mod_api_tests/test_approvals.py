"""Baseline approvals over HTTP, on both backends: request, dedup, review, variants, audit, concurrency, reads.

The rules are those of :mod:`mod_api.approval_flow`; the last test walks the whole flow, from a failing sample to
a passing one, through the API only.
"""
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, event, text

from mod_api import approval_flow
from mod_api.access import ALL_SCOPES
from mod_api.approval_flow import reason_problem
from mod_api.db import db
from mod_api.legacy import RegressionTestOutput
from mod_api.legacy import TestResultFile as RunResultFile
from mod_api.models import BaselineApproval
from mod_api.resources.approvals import BaselineApprovalPageSchema, BaselineApprovalSchema
from mod_api_tests.approvals_data import (
    APPROVALS,
    REASON,
    Mismatch,
    add_finished_run,
    add_test_with_output,
    approvals,
    ask,
    general,
    mismatch,
    requested,
    review,
    variants_of,
    without_email,
)
from mod_api_tests.factories import assert_error, bearer, make_token, make_user
from mod_api_tests.run_writes_data import audit_rows, caller, fresh, generous_app, in_parallel
from mod_api_tests.runs_data import (
    OTHER,
    REF,
    VARIANT,
    add_customized,
    add_result,
    add_result_file,
    add_run,
    add_sample,
    add_variant,
)
from mod_api_tests.test_run_data import counted_queries

PLACEHOLDERS = [
    'aaaaaaaaaa', '          x', '   short   ', '..........', '----------!!', '1234567890', '\t\n          ',
    'placeholder', 'Placeholder reason text', 'TODO: explain later', 'tbd tbd tbd', 'n/a n/a n/a', 'none none none',
    'test test test', 'testing 1 2 3 4', 'lorem ipsum dolor sit amet, consectetur adipiscing elit', 'asdfasdfasdf',
    'asdf jkl; qwer', 'qwertyuiop', 'xxxxxxxxxx', 'hahahahahaha', 'abc abc abc abc', 'ok ok ok ok ok',
]
ACCEPTED = [REASON, 'Decoder fix', 'CEA-608 roll-up timing changed upstream', 'Корректный вывод декодера',
            'New test output after the DVB fix']


@pytest.fixture()
def app(make_app):
    yield from generous_app(make_app)


@pytest.fixture()
def case(app) -> Mismatch:
    return mismatch()


def reader(scopes=('results:read',)):
    return bearer(make_token(make_user('user'), scopes))


def approval_row(approval_id: str) -> BaselineApproval:
    fresh()
    return db.session.get(BaselineApproval, int(approval_id.removeprefix('apr_')))


# --- requesting ----------------------------------------------------------------------------------------------------

def test_a_contributor_request_is_stored_pending_audited_and_readable(client, case):
    user, headers = caller('contributor')
    response = ask(client, headers, case)
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert BaselineApprovalSchema().validate(body) == {}
    assert body['approval_id'].startswith('apr_') and body['created_at'].endswith('Z')
    assert {key: body[key] for key in body if key not in ('approval_id', 'created_at')} == {
        'status': 'pending_review', 'run_id': case.run_id, 'sample_id': case.sample_id,
        'regression_id': case.regression_id, 'output_id': case.output_id, 'requested_by': user.email,
        'reason': REASON, 'apply_to_variants': False, 'actual_hash': OTHER, 'reviewed_by': None,
        'reviewed_at': None, 'review_comment': None}
    row = approval_row(body['approval_id'])
    assert (row.requested_by_user_id, row.pending_output_id, row.actual_hash) == (user.id, case.output_id, OTHER)
    (entry,) = audit_rows('baseline_approval.request')
    assert (entry.outcome, entry.user_id, entry.target_type, entry.target_id) == (
        'created', user.id, 'baseline_approval', body['approval_id'])
    assert json.loads(entry.details)['reason'] == REASON
    detail = client.get(f'{APPROVALS}/{body["approval_id"]}', headers=reader())
    assert detail.status_code == 200 and detail.get_json() == body
    assert variants_of(case.output_id) == []


def test_a_second_request_for_the_pending_output_returns_the_first_approval(client, case):
    _, contributor = caller('contributor')
    _, admin = caller('admin')
    first = ask(client, contributor, case).get_json()
    again = ask(client, admin, case, apply_to_variants=True, reason='Asking again for the same output file.')
    assert again.status_code == 202 and again.get_json() == first
    regression_test = db.session.get(RegressionTestOutput, case.output_id).regression_test
    output = db.session.get(RegressionTestOutput, case.output_id)
    other_run = add_finished_run((regression_test, output, OTHER))
    db.session.commit()
    from_other_run = ask(client, admin, Mismatch(other_run.id, case.sample_id, case.regression_id, case.output_id))
    assert from_other_run.status_code == 202 and from_other_run.get_json() == first
    assert len(approvals()) == 1
    assert [entry.outcome for entry in audit_rows('baseline_approval.request')] == ['created', 'existing', 'existing']


def test_parallel_requests_store_one_approval(app, case):
    _, headers = caller('contributor')
    responses = in_parallel(app, 8, lambda client, _: ask(client, headers, case))
    assert [response.status_code for response in responses] == [202] * 8, [r.get_data() for r in responses]
    assert len({response.get_json()['approval_id'] for response in responses}) == 1
    assert len(approvals()) == 1


def test_a_request_losing_the_race_to_the_unique_key_returns_the_winner(client, case, monkeypatch):
    first, _ = requested(client, case)
    seen = []

    def blind_once(output_id, actual_hash):  # the loser checked before the winner committed
        seen.append(output_id)
        return None if len(seen) == 1 else pending(output_id, actual_hash)

    pending = approval_flow._pending
    monkeypatch.setattr(approval_flow, '_pending', blind_once)
    response = ask(client, caller('admin')[1], case)
    assert response.status_code == 202 and response.get_json()['approval_id'] == first
    assert len(seen) == 2 and len(approvals()) == 1
    assert [entry.outcome for entry in audit_rows('baseline_approval.request')] == ['created', 'existing']


def test_a_request_needs_baselines_write_and_the_admin_or_contributor_role(client, case):
    details = assert_error(ask(client, bearer(make_token(make_user('admin'), ['runs:read', 'results:read'])), case),
                           403, 'forbidden')
    assert details['required_scope'] == 'baselines:write'
    for role in ('tester', 'user'):
        details = assert_error(ask(client, bearer(make_token(make_user(role), ALL_SCOPES)), case), 403, 'forbidden')
        assert details == {'required_roles': ['admin', 'contributor'], 'user_role': role}
    user, headers = caller('contributor')
    without_email(user)
    assert assert_error(ask(client, headers, case), 403, 'email_required') == {'rule': 'requester_email_required'}
    assert approvals() == []


def test_placeholder_reasons_are_400_naming_reason(client, case):
    _, headers = caller('contributor')
    for reason in PLACEHOLDERS:
        details = assert_error(ask(client, headers, case, reason=reason), 400, 'validation_error')
        assert list(details['fields']) == ['reason'], reason
    assert approvals() == []


@pytest.mark.parametrize('reason', PLACEHOLDERS)
def test_the_reason_rule_refuses_placeholders(reason):
    assert reason_problem(reason) is not None


@pytest.mark.parametrize('reason', ACCEPTED)
def test_the_reason_rule_accepts_justifications(reason):
    assert reason_problem(reason) is None


def test_malformed_request_bodies_are_400(client, case):
    _, headers = caller('contributor')
    url = f'/api/v1/runs/{case.run_id}/samples/{case.sample_id}/baseline-approval'
    missing_reason = {'regression_id': case.regression_id, 'output_id': case.output_id}
    bodies = [('status', case.body(status='approved')), ('reason', case.body(reason='too short')),
              ('reason', case.body(reason='x' * 501)), ('reason', missing_reason),
              ('output_id', case.body(output_id='1')), ('regression_id', case.body(regression_id=0)),
              ('apply_to_variants', case.body(apply_to_variants='true')),
              ('apply_to_variants', case.body(apply_to_variants=None))]
    for field, body in bodies:
        details = assert_error(client.post(url, headers=headers, json=body), 400, 'validation_error')
        assert list(details['fields']) == [field], body
    assert_error(client.post(url, headers=headers), 400, 'body_required')
    assert approvals() == []


def test_ids_that_do_not_belong_together_are_404_naming_which(client, case):
    _, headers = caller('contributor')
    other = mismatch()
    outside = add_run()
    add_customized(outside, other.regression_id)
    db.session.commit()
    expectations = [
        (Mismatch(999999, case.sample_id, case.regression_id, case.output_id), 'run'),
        (Mismatch(case.run_id, 999999, case.regression_id, case.output_id), 'sample'),
        (Mismatch(case.run_id, case.sample_id, other.regression_id, other.output_id), 'regression_test'),
        (Mismatch(case.run_id, case.sample_id, 999999, case.output_id), 'regression_test'),
        (Mismatch(case.run_id, other.sample_id, case.regression_id, case.output_id), 'regression_test'),
        (Mismatch(outside.id, case.sample_id, case.regression_id, case.output_id), 'regression_test'),
        (Mismatch(case.run_id, case.sample_id, case.regression_id, other.output_id), 'output'),
        (Mismatch(case.run_id, case.sample_id, case.regression_id, 999999), 'output'),
    ]
    for mixed, resource in expectations:
        details = assert_error(ask(client, headers, mixed), 404, 'not_found')
        assert details['resource'] == resource, (mixed, details)
    assert approvals() == []


def test_only_a_diff_mismatch_can_be_approved(client):
    category = general()
    made = {name: add_test_with_output(category, add_sample())
            for name in ('match', 'variant', 'missing', 'unnamed', 'exit_code')}
    add_variant(made['variant'][1], OTHER)
    run = add_finished_run((*made['match'], None), (*made['variant'], OTHER), (*made['unnamed'], 'not-a-hash'))
    add_result(run, made['missing'][0])
    add_result(run, made['exit_code'][0], exit_code=3)
    add_result_file(run, made['exit_code'][0], made['exit_code'][1], OTHER)
    queued = add_run()
    db.session.commit()
    _, headers = caller('contributor')

    def case_of(name, run_id=run.id):
        regression_test, output = made[name]
        return Mismatch(run_id, regression_test.sample_id, regression_test.id, output.id)

    refused = {'match': ('match', 'pass'), 'variant': ('match', 'pass'), 'missing': ('missing_output',
                                                                                     'missing_output')}
    for name, (output_status, sample_status) in refused.items():
        details = assert_error(ask(client, headers, case_of(name)), 409, 'nothing_to_approve')
        assert (details['output_status'], details['sample_status']) == (output_status, sample_status), name
    details = assert_error(ask(client, headers, case_of('match', queued.id)), 409, 'nothing_to_approve')
    assert (details['output_status'], details['sample_status']) == (None, 'not_started')
    assert_error(ask(client, headers, case_of('unnamed')), 422, 'unprocessable')
    assert approvals() == []
    assert ask(client, headers, case_of('exit_code')).status_code == 202  # diff_mismatch, whatever the exit code


# --- reviewing -----------------------------------------------------------------------------------------------------

def test_an_admin_approves_adding_one_variant_and_the_reference_stays(app, client, case):
    reference = Path(app.config['SAMPLE_REPOSITORY']) / 'TestResults' / f'{REF}.srt'
    reference.parent.mkdir()
    reference.write_text('reference\n')
    approval_id, _ = requested(client, case)
    reviewer, headers = caller('admin')
    response = review(client, headers, approval_id, comment='Checked against the broadcast.')
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert BaselineApprovalSchema().validate(body) == {}
    assert (body['status'], body['reviewed_by'], body['review_comment']) == (
        'approved', reviewer.email, 'Checked against the broadcast.')
    assert body['reviewed_at'].endswith('Z')
    assert variants_of(case.output_id) == [(case.output_id, OTHER)]
    assert db.session.get(RegressionTestOutput, case.output_id).correct == REF
    assert reference.read_text() == 'reference\n'
    assert approval_row(approval_id).pending_output_id is None
    (entry,) = audit_rows('baseline_approval.review')
    assert (entry.outcome, entry.user_id, entry.target_id) == ('approved', reviewer.id, approval_id)
    (variant,) = json.loads(entry.details)['variants']
    assert (variant['output_id'], variant['regression_id'], variant['added']) == (
        case.output_id, case.regression_id, True)
    for decision in ('approve', 'reject'):
        details = assert_error(review(client, caller('admin')[1], approval_id, decision), 409, 'already_reviewed')
        assert details == {'approval_id': approval_id, 'status': 'approved'}
    assert variants_of(case.output_id) == [(case.output_id, OTHER)]
    assert len(audit_rows('baseline_approval.review')) == 1


def test_a_rejection_records_the_decision_only_and_a_new_request_may_follow(client, case):
    approval_id, headers = requested(client, case)
    response = review(client, headers, approval_id, 'reject', comment='The new output drops a caption line.')
    assert response.status_code == 200 and response.get_json()['status'] == 'rejected'
    assert variants_of(case.output_id) == []
    assert [entry.outcome for entry in audit_rows('baseline_approval.review')] == ['rejected']
    assert_error(review(client, caller('admin')[1], approval_id), 409, 'already_reviewed')
    again = ask(client, caller('contributor')[1], case)
    assert again.status_code == 202 and again.get_json()['approval_id'] != approval_id
    assert [row.status for row in approvals()] == ['rejected', 'pending_review']


def test_an_approval_never_adds_a_second_variant_row(client, case):
    approval_id, headers = requested(client, case)
    add_variant(db.session.get(RegressionTestOutput, case.output_id), OTHER)  # added on the platform meanwhile
    db.session.commit()
    assert review(client, headers, approval_id).status_code == 200
    assert variants_of(case.output_id) == [(case.output_id, OTHER)]
    (entry,) = audit_rows('baseline_approval.review')
    assert json.loads(entry.details)['variants'][0]['added'] is False


def test_an_output_deleted_since_the_request_is_409_and_the_approval_stays_pending(client, case):
    approval_id, headers = requested(client, case)
    db.session.execute(delete(RunResultFile).where(RunResultFile.regression_test_output_id == case.output_id))
    db.session.execute(delete(RegressionTestOutput).where(RegressionTestOutput.id == case.output_id))
    db.session.commit()
    assert assert_error(review(client, headers, approval_id), 409, 'output_gone') == {'output_id': case.output_id}
    assert approval_row(approval_id).status == 'pending_review' and audit_rows('baseline_approval.review') == []
    assert review(client, headers, approval_id, 'reject').get_json()['status'] == 'rejected'


def test_the_requester_may_not_review_their_own_approval(client, case):
    requester, headers = caller('admin')
    approval_id = ask(client, headers, case).get_json()['approval_id']
    details = assert_error(review(client, headers, approval_id), 403, 'self_review')
    assert details == {'rule': 'reviewer_is_not_requester', 'approval_id': approval_id}
    (entry,) = audit_rows('baseline_approval.review')
    assert (entry.outcome, entry.user_id) == ('refused', requester.id)
    assert approval_row(approval_id).status == 'pending_review' and variants_of(case.output_id) == []
    assert review(client, caller('admin')[1], approval_id).status_code == 200


def test_a_review_needs_the_admin_role_and_baselines_write(client, case):
    approval_id, _ = requested(client, case)
    details = assert_error(review(client, caller('contributor')[1], approval_id), 403, 'forbidden')
    assert details == {'required_roles': ['admin'], 'user_role': 'contributor'}
    details = assert_error(review(client, caller('admin', ('runs:read', 'results:read'))[1], approval_id),
                           403, 'forbidden')
    assert details['required_scope'] == 'baselines:write'
    assert approval_row(approval_id).status == 'pending_review'


def test_unknown_approvals_are_404_and_bad_reviews_400(client, case):
    approval_id, headers = requested(client, case)
    for unknown in ('apr_999999', 'apr_0', f'apr_0{approval_id[4:]}', approval_id[4:], 'apr_99999999999', 'x' * 200):
        assert assert_error(review(client, headers, unknown), 404, 'not_found')['resource'] == 'baseline_approval'
        assert_error(client.get(f'{APPROVALS}/{unknown}', headers=reader()), 404, 'not_found')
    url = f'{APPROVALS}/{approval_id}/review'
    for body, field in (({'decision': 'maybe'}, 'decision'), ({}, 'decision'),
                        ({'decision': 'approve', 'comment': 'x' * 501}, 'comment'),
                        ({'decision': 'approve', 'status': 'approved'}, 'status')):
        details = assert_error(client.post(url, headers=headers, json=body), 400, 'validation_error')
        assert list(details['fields']) == [field]
    assert approval_row(approval_id).status == 'pending_review'


def test_apply_to_variants_reaches_the_same_output_of_the_sample_s_other_tests(client):
    category, sample = general(), add_sample()
    tests = {
        'approved': add_test_with_output(category, sample),
        'same_null_name': add_test_with_output(category, sample, expected_filename=None),
        'same_ignored': add_test_with_output(category, sample, ignore=True),
        'other_hash': add_test_with_output(category, sample),
        'other_extension': add_test_with_output(category, sample, extension='.txt'),
        'other_name': add_test_with_output(category, sample, expected_filename='_2'),
        'other_sample': add_test_with_output(category, add_sample()),
    }
    got = {name: VARIANT if name == 'other_hash' else OTHER for name in tests}
    run = add_finished_run(*[(*tests[name], got[name]) for name in tests])
    db.session.commit()
    output_ids = {name: output.id for name, (_, output) in tests.items()}
    approved_test, approved_output = tests['approved']
    case = Mismatch(run.id, sample.id, approved_test.id, approved_output.id)
    approval_id, headers = requested(client, case, apply_to_variants=True)
    assert review(client, headers, approval_id).status_code == 200
    assert variants_of(*output_ids.values()) == sorted(
        (output_ids[name], OTHER) for name in ('approved', 'same_null_name', 'same_ignored'))
    (entry,) = audit_rows('baseline_approval.review')
    assert sorted(item['regression_id'] for item in json.loads(entry.details)['variants']) == sorted(
        tests[name][0].id for name in ('approved', 'same_null_name', 'same_ignored'))


def test_without_apply_to_variants_only_the_output_is_accepted(client):
    category, sample = general(), add_sample()
    first, second = add_test_with_output(category, sample), add_test_with_output(category, sample)
    run = add_finished_run((*first, OTHER), (*second, OTHER))
    db.session.commit()
    approval_id, headers = requested(client, Mismatch(run.id, sample.id, first[0].id, first[1].id))
    assert review(client, headers, approval_id).status_code == 200
    assert variants_of(first[1].id, second[1].id) == [(first[1].id, OTHER)]


def test_parallel_reviews_record_exactly_one_decision(app, case):
    approval_id, _ = requested(app.test_client(), case)
    reviewers = [caller('admin')[1] for _ in range(6)]
    responses = in_parallel(app, 6, lambda client, index: review(
        client, reviewers[index], approval_id, ('approve', 'reject')[index % 2]))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [409] * 5, [response.get_data() for response in responses]
    assert {response.get_json()['code'] for response in responses if response.status_code == 409} == {
        'already_reviewed'}
    decided = next(response.get_json()['status'] for response in responses if response.status_code == 200)
    assert len(audit_rows('baseline_approval.review')) == 1
    assert approval_row(approval_id).status == decided
    assert variants_of(case.output_id) == ([(case.output_id, OTHER)] if decided == 'approved' else [])


def test_a_review_picked_as_deadlock_victim_is_run_again(app, case, backend):
    """MariaDB rolls back the smaller transaction of a deadlock; the review is then run once more, not answered 503."""
    if backend != 'mysql':
        pytest.skip('SQLite serialises writers: no deadlock victims')
    approval_id, _ = requested(app.test_client(), case)
    _, headers = caller('admin')
    row_id = approval_row(approval_id).id
    db.session.commit()
    claims: list[str] = []
    event.listen(db.engine, 'before_cursor_execute', lambda _c, _cursor, statement, *_: claims.append(statement)
                 if statement.lstrip().startswith('UPDATE api_baseline_approval') else None)
    other = create_engine(db.engine.url)
    with other.connect() as rival, ThreadPoolExecutor(1) as pool:
        rival.execute(text('SELECT id FROM api_baseline_approval WHERE id = :id LOCK IN SHARE MODE'), {'id': row_id})
        rival.execute(text("INSERT INTO category (name, description) VALUES ('heavy', 'x'), ('heavier', 'y')"))
        answer = pool.submit(review, app.test_client(), headers, approval_id)
        _wait_for_lock_wait(rival)
        rival.execute(text('UPDATE api_baseline_approval SET review_comment = NULL WHERE id = :id'), {'id': row_id})
        rival.rollback()
        response = answer.result(timeout=30)
    other.dispose()
    assert response.status_code == 200, response.get_data()
    assert len(claims) == 2  # the claim of the rolled-back attempt, then the one that won
    assert 'WE ROLL BACK TRANSACTION' in db.session.execute(text('SHOW ENGINE INNODB STATUS')).one()[2]
    assert [row.outcome for row in audit_rows('baseline_approval.review')] == ['approved']
    assert variants_of(case.output_id) == [(case.output_id, OTHER)]


def _wait_for_lock_wait(connection) -> None:
    """Return once the review's claim is running (it then waits for the rival's lock)."""
    deadline = time.monotonic() + 10
    while not connection.execute(text("SELECT COUNT(*) FROM information_schema.processlist "
                                      "WHERE info LIKE 'UPDATE api_baseline_approval SET status%'")).scalar():
        assert time.monotonic() < deadline, 'the review never claimed the approval'
        time.sleep(0.02)
    time.sleep(0.1)  # the claim has reached its lock request


def test_parallel_approvals_of_overlapping_outputs_add_each_variant_once(app):
    category, sample = general(), add_sample()
    first, second = add_test_with_output(category, sample), add_test_with_output(category, sample)
    run = add_finished_run((*first, OTHER), (*second, OTHER))
    db.session.commit()
    client = app.test_client()
    ids = [requested(client, Mismatch(run.id, sample.id, test.id, output.id), apply_to_variants=True)[0]
           for test, output in (first, second)]
    _, headers = caller('admin')
    responses = in_parallel(app, 2, lambda client, index: review(client, headers, ids[index]))
    assert [response.status_code for response in responses] == [200, 200], [r.get_data() for r in responses]
    assert variants_of(first[1].id, second[1].id) == sorted([(first[1].id, OTHER), (second[1].id, OTHER)])


@contextmanager
def audit_inserts_fail() -> Iterator[list[str]]:
    """While active, every INSERT into the audit log fails; yields the statements sent meanwhile."""
    statements: list[str] = []

    def fail(_connection, _cursor, statement, *_args):
        statements.append(statement)
        if statement.lstrip().upper().startswith('INSERT INTO API_AUDIT_LOG'):
            raise RuntimeError('audit insert failed')

    event.listen(db.engine, 'before_cursor_execute', fail)
    try:
        yield statements
    finally:
        event.remove(db.engine, 'before_cursor_execute', fail)


def test_a_failing_audit_insert_leaves_no_approval(client, case):
    _, headers = caller('contributor')
    with audit_inserts_fail() as statements:
        assert_error(ask(client, headers, case), 500, 'internal_error')
    assert any(statement.upper().startswith('INSERT INTO API_BASELINE_APPROVAL') for statement in statements)
    assert approvals() == []
    assert ask(client, headers, case).status_code == 202


def test_a_failing_audit_insert_leaves_no_decision_and_no_variant(client, case):
    approval_id, headers = requested(client, case)
    with audit_inserts_fail() as statements:
        assert_error(review(client, headers, approval_id), 500, 'internal_error')
    assert any(statement.upper().startswith('INSERT INTO REGRESSION_TEST_OUTPUT_FILES') for statement in statements)
    assert approval_row(approval_id).status == 'pending_review'
    assert variants_of(case.output_id) == [] and audit_rows('baseline_approval.review') == []
    assert review(client, headers, approval_id).status_code == 200
    assert variants_of(case.output_id) == [(case.output_id, OTHER)]


# --- reading -------------------------------------------------------------------------------------------------------

def test_the_list_filters_by_status_and_pages_newest_first(client):
    cases = [mismatch() for _ in range(3)]
    ids = [requested(client, case)[0] for case in cases]
    _, admin = caller('admin')
    review(client, admin, ids[0], 'approve')
    review(client, admin, ids[1], 'reject')
    headers = reader()

    def page(**params):
        response = client.get(APPROVALS, headers=headers, query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert BaselineApprovalPageSchema().validate(body) == {}
        return [item['approval_id'] for item in body['data']], body['pagination']

    assert page() == (ids[::-1], {'limit': 50, 'offset': 0, 'total': 3, 'next_offset': None})
    assert page(status='pending_review')[0] == [ids[2]]
    assert page(status='approved')[0] == [ids[0]]
    assert page(status='rejected')[0] == [ids[1]]
    assert page(limit=2) == (ids[:0:-1], {'limit': 2, 'offset': 0, 'total': 3, 'next_offset': 2})
    assert page(limit=2, offset=2) == ([ids[0]], {'limit': 2, 'offset': 2, 'total': 3, 'next_offset': None})
    for params, field in (({'status': 'pending'}, 'status'), ({'limit': 0}, 'limit'), ({'limit': 101}, 'limit'),
                          ({'offset': -1}, 'offset'), ({'run_id': 1}, 'run_id')):
        details = assert_error(client.get(APPROVALS, headers=headers, query_string=params), 400, 'validation_error')
        assert list(details['fields']) == [field]


def test_the_list_costs_the_same_queries_for_one_and_for_many(client):
    requested(client, mismatch())
    headers = reader()
    assert client.get(APPROVALS, headers=headers).status_code == 200  # the token's first use is recorded once
    with counted_queries() as one:
        assert len(client.get(APPROVALS, headers=headers).get_json()['data']) == 1
    for _ in range(4):
        requested(client, mismatch())
    with counted_queries() as many:
        assert len(client.get(APPROVALS, headers=headers).get_json()['data']) == 5
    assert len(one) == len(many)


def test_reads_need_results_read(client, case):
    approval_id, _ = requested(client, case)
    for url in (APPROVALS, f'{APPROVALS}/{approval_id}'):
        details = assert_error(client.get(url, headers=reader(('runs:read',))), 403, 'forbidden')
        assert details['required_scope'] == 'results:read'
        assert client.get(url, headers=reader()).status_code == 200


def test_the_whole_flow_turns_the_run_s_sample_from_fail_to_pass(client, case):
    headers = reader(('runs:read', 'results:read'))
    sample_url = f'/api/v1/runs/{case.run_id}/samples/{case.sample_id}'

    def states():
        sample = client.get(sample_url, headers=headers).get_json()
        run = client.get(f'/api/v1/runs/{case.run_id}', headers=headers).get_json()
        return run['status'], sample['status'], [(item['output_id'], item['status']) for item in sample['outputs']]

    assert states() == ('fail', 'fail', [(case.output_id, 'diff_mismatch')])
    approval_id, admin = requested(client, case, reason='Upstream fixed the 608 roll-up; output verified.')
    assert states() == ('fail', 'fail', [(case.output_id, 'diff_mismatch')])
    assert review(client, admin, approval_id, comment='Looks right.').status_code == 200
    assert states() == ('pass', 'pass', [(case.output_id, 'match')])
    assert client.get(f'{APPROVALS}/{approval_id}', headers=headers).get_json()['status'] == 'approved'
    assert_error(ask(client, caller('contributor')[1], case), 409, 'nothing_to_approve')
