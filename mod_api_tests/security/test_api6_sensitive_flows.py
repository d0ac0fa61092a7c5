"""API6:2023 Unrestricted Access to Sensitive Business Flows: retries, cancels and baseline approvals under abuse.

Retry storms: one token retrying a run in a loop gets exactly its write budget of new runs (20 a minute), then
429 with ``Retry-After``; the same storm carrying one ``Idempotency-Key`` creates one run, whatever the count.
Repeated cancels append one ``canceled`` row; the rest are no-ops. Baseline approvals: the requester can never
review their own request (not even from another token of theirs, not even after demotion and promotion), a
decided approval cannot be decided again, and only approving adds a variant row.
"""
from sqlalchemy import func, select

from mod_api.access import allowed_scopes
from mod_api.db import db
from mod_api.legacy import RegressionTestOutputFiles as Variant
from mod_api.legacy import Role, TestStatus, User
from mod_api.legacy import Test as Run
from mod_api.legacy import TestProgress as Progress
from mod_api_tests.factories import assert_error, bearer, make_token, make_user
from mod_api_tests.run_writes_data import in_parallel

STORM = 25
WRITE_BUDGET = 20  # the contract's default: 20 writes a minute per token


def _count(entity, *conditions):
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(entity).where(*conditions))


def test_a_retry_storm_is_held_to_the_write_budget(make_app, dataset):
    strict = make_app()  # the default budgets, on the same database as the dataset
    assert strict.config['API_WRITE_LIMIT'] == f'{WRITE_BUDGET}/minute'
    client = strict.test_client()
    source = dataset.run_id('master-2-linux')
    token = bearer(make_token(make_user('tester'), allowed_scopes('tester')))
    runs = _count(Run)
    statuses = [client.post(f'/api/v1/runs/{source}/retry', headers=token, json={}) for _ in range(STORM)]
    assert [response.status_code for response in statuses] == [202] * WRITE_BUDGET + [429] * (STORM - WRITE_BUDGET)
    refused = statuses[-1]
    assert_error(refused, 429, refused.get_json()['code'])
    assert int(refused.headers['Retry-After']) > 0 and refused.headers['X-RateLimit-Remaining'] == '0'
    assert _count(Run) == runs + WRITE_BUDGET


def test_a_retry_storm_with_one_idempotency_key_creates_one_run(client, dataset):
    source = dataset.run_id('master-2-linux')
    token = bearer(make_token(make_user('contributor'), allowed_scopes('contributor')))
    runs = _count(Run)
    headers = {**token, 'Idempotency-Key': 'retry-storm-1'}
    answers = [client.post(f'/api/v1/runs/{source}/retry', headers=headers, json={}) for _ in range(10)]
    assert {response.status_code for response in answers} == {202}
    assert len({response.get_json()['new_run_id'] for response in answers}) == 1
    assert [response.headers.get('Idempotent-Replayed') for response in answers[1:]] == ['true'] * 9
    assert _count(Run) == runs + 1
    parallel = in_parallel(client.application, 6, lambda each, index: each.post(
        f'/api/v1/runs/{source}/retry', headers={**token, 'Idempotency-Key': 'retry-storm-2'}, json={}))
    assert {response.status_code for response in parallel} <= {202, 409}
    assert _count(Run) == runs + 2


def test_repeated_cancels_append_one_canceled_row(client, dataset):
    run_id = dataset.run_id('pr-1401-linux')  # testing
    admin = bearer(make_token(make_user('admin'), allowed_scopes('admin')))
    canceled = Progress.test_id == run_id, Progress.status == TestStatus.canceled
    assert _count(Progress, *canceled) == 0
    answers = [client.post(f'/api/v1/runs/{run_id}/cancel', headers=admin, json={}) for _ in range(5)]
    assert [response.get_json()['status'] for response in answers] == ['accepted'] + ['no_op'] * 4
    assert {response.status_code for response in answers} == {202}
    assert _count(Progress, *canceled) == 1


def test_the_requester_never_reviews_their_own_approval(client, dataset):
    approval = dataset.path_values['approval_id']
    requested_by = client.get(f'/api/v1/baseline-approvals/{approval}', headers=dataset.admin).get_json()
    requester = db.session.scalars(select(User).where(User.email == requested_by['requested_by'])).one()
    variants = _count(Variant)
    requester.role = Role.admin  # the contributor who asked is promoted to admin afterwards
    db.session.commit()
    for _ in range(2):  # two tokens of the requester
        token = bearer(make_token(requester, allowed_scopes('admin')))
        details = assert_error(client.post(f'/api/v1/baseline-approvals/{approval}/review', headers=token,
                                           json={'decision': 'approve'}), 403, 'self_review')
        assert details == {'rule': 'reviewer_is_not_requester', 'approval_id': approval}
    assert _count(Variant) == variants
    reviewer = bearer(make_token(make_user('admin'), allowed_scopes('admin')))
    assert client.post(f'/api/v1/baseline-approvals/{approval}/review', headers=reviewer,
                       json={'decision': 'approve'}).status_code == 200
    assert _count(Variant) == variants + 1
    for decision in ('approve', 'reject'):
        other = bearer(make_token(make_user('admin'), allowed_scopes('admin')))
        again = client.post(f'/api/v1/baseline-approvals/{approval}/review', headers=other,
                            json={'decision': decision})
        assert assert_error(again, 409, 'already_reviewed')['status'] == 'approved'
    assert _count(Variant) == variants + 1
