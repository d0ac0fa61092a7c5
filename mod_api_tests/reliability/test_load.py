"""Load over gunicorn (4 workers, Redis rate limits): budgets that hold across workers, writes that stay right.

Bursts open every connection first and release all requests together (:func:`served.burst`). Each budget gets
exactly its limit admitted and every other request 429 with the contract's headers; nothing answers 5xx. On
SQLite the four worker processes share one database file: writers queue on its write lock (``busy_timeout``), so
the same concurrency guarantees hold there, serialised; on MariaDB they hold under row locks.
"""
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from mod_api.db import db
from mod_api.legacy import Test as Run
from mod_api.legacy import TestProgress
from mod_api.models import ApiToken, BaselineApproval, RunCancellation, RunRecord
from mod_api_tests import factories
from mod_api_tests.approvals_data import APPROVALS, mismatch, variants_of
from mod_api_tests.approvals_data import URL as APPROVAL_URL
from mod_api_tests.reliability.conftest import BURST, server_config
from mod_api_tests.reliability.served import Answer, Gunicorn, burst
from mod_api_tests.run_writes_data import COMMIT, audit_rows, caller, count, fresh, regression_tests
from mod_api_tests.runs_data import DONE, add_run

READ_LIMIT, WRITE_LIMIT, AUTH_LIMIT = 120, 20, 5  # the contract's budgets: 120/minute, 20/minute, 5/15 minutes
RUNS = '/api/v1/runs'
pytestmark = pytest.mark.usefixtures('fresh_budgets')


@pytest.fixture(scope='module')
def server(serve: Callable[..., Gunicorn], database_uri: str, key_prefix: str, repository: Path) -> Gunicorn:
    """The API as in production on the test database, with the contract's default budgets."""
    return serve(server_config(database_uri, key_prefix, repository, '127.0.0.1:6379'))


def check_budget(answers: list[Answer], limit: int, budget: str, window: int) -> Counter:
    """Exactly ``limit`` admitted, every other answer a well-formed 429; no 5xx.

    ``X-RateLimit-Remaining`` is read after the atomic hit, so under concurrency it may already count other
    workers' hits: it is checked to be within the budget, not to be distinct.
    """
    statuses = Counter(answer.status for answer in answers)
    assert not [status for status in statuses if status >= 500], statuses
    admitted = [answer for answer in answers if answer.status != 429]
    refused = [answer for answer in answers if answer.status == 429]
    assert len(admitted) == limit, statuses
    assert {int(answer.headers['x-ratelimit-remaining']) for answer in admitted} <= set(range(limit))
    for answer in answers:
        assert answer.headers['x-ratelimit-limit'] == str(limit)
        assert answer.headers['content-type'] == 'application/json'
    for answer in refused:
        assert answer.headers['x-ratelimit-remaining'] == '0'
        assert 1 <= int(answer.headers['retry-after']) <= window
        assert answer.body['code'] == 'rate_limited' and answer.body['details']['budget'] == budget
        assert answer.body['details']['limit'] == limit
    return statuses


def figures(statuses: Counter) -> str:
    sent = sum(statuses.values())
    failed = sum(number for status, number in statuses.items() if status >= 500)
    return f'{sent} sent, {sent - statuses[429]} admitted, {statuses[429]} answered 429, {failed} 5xx'


def test_a_read_burst_from_one_token_admits_exactly_the_read_budget(app: Flask, server: Gunicorn, record) -> None:
    _, headers = caller('user')
    statuses = check_budget(burst(server, 'GET', ['/api/v1/environments'] * BURST, headers), READ_LIMIT, 'read', 60)
    assert set(statuses) == {200, 429}
    record(f'read budget ({READ_LIMIT}/minute), one token', figures(statuses))


def test_a_write_burst_from_one_token_admits_exactly_the_write_budget(app: Flask, server: Gunicorn, record) -> None:
    finished = add_run(progress=DONE).id  # a cancel of a finished run is an admitted no-op write
    _, headers = caller('admin')
    statuses = check_budget(burst(server, 'POST', [f'{RUNS}/{finished}/cancel'] * BURST, headers, [{}] * BURST),
                            WRITE_LIMIT, 'write', 60)
    assert set(statuses) == {202, 429}
    assert [row.outcome for row in audit_rows('run.cancel')] == ['no_op'] * WRITE_LIMIT  # one per admitted write
    assert count(TestProgress, TestProgress.test_id == finished) == len(DONE)
    record(f'write budget ({WRITE_LIMIT}/minute), one token', figures(statuses))


def test_a_token_creation_burst_from_one_address_admits_exactly_the_auth_budget(app: Flask, server: Gunicorn,
                                                                                 record) -> None:
    user = factories.make_user('tester')
    bodies = [{'email': user.email, 'password': factories.PASSWORD, 'token_name': f'burst-{index}',
               'scopes': ['runs:read']} for index in range(BURST)]
    statuses = check_budget(burst(server, 'POST', ['/api/v1/auth/tokens'] * BURST, {}, bodies),
                            AUTH_LIMIT, 'auth', 15 * 60)
    assert set(statuses) == {201, 429}
    assert count(ApiToken, ApiToken.user_id == user.id) == AUTH_LIMIT
    record(f'token-creation budget ({AUTH_LIMIT}/15 minutes), one address', figures(statuses))


# --- concurrent writes ---------------------------------------------------------------------------------------------

def test_twenty_parallel_cancels_append_exactly_one_canceled_row(app: Flask, server: Gunicorn, record) -> None:
    run_id = add_run(progress=DONE[:2]).id
    _, headers = caller('admin')

    answers = burst(server, 'POST', [f'{RUNS}/{run_id}/cancel'] * 20, headers,
                    [{'reason': f'parallel #{index}'} for index in range(20)])

    assert sorted(answer.body['status'] for answer in answers) == ['accepted'] + ['no_op'] * 19
    assert count(RunCancellation, RunCancellation.run_id == run_id) == 1
    fresh()
    statuses = list(db.session.scalars(
        select(TestProgress.status).where(TestProgress.test_id == run_id).order_by(TestProgress.id)))
    assert [status.value for status in statuses] == ['preparation', 'testing', 'canceled']
    record('20 parallel cancels of one run', '1 accepted, 19 no_op, 1 canceled row, 1 cancellation record')


def test_parallel_triggers_with_one_idempotency_key_create_one_run(app: Flask, server: Gunicorn, record) -> None:
    regression_tests(active=2)
    _, headers = caller('contributor')
    body = {'repository': 'test_owner/test_repo', 'commit_sha': COMMIT, 'platform': 'linux'}

    answers = burst(server, 'POST', [RUNS] * 10, {**headers, 'Idempotency-Key': uuid.uuid4().hex}, [body] * 10)

    assert [answer.status for answer in answers] == [202] * 10
    assert len({answer.body['run_id'] for answer in answers}) == 1
    assert count(RunRecord) == 1 and count(Run) == 1
    assert sum(answer.headers.get('idempotent-replayed') == 'true' for answer in answers) == 9
    record('10 parallel POST /runs, one Idempotency-Key', '10 answered 202, 1 run created, 9 replays')


def test_parallel_retries_without_a_key_create_one_run_each(app: Flask, server: Gunicorn, record) -> None:
    tests = regression_tests(active=2)
    source = add_run(progress=DONE, customized=[test.id for test in tests]).id
    _, headers = caller('tester')

    answers = burst(server, 'POST', [f'{RUNS}/{source}/retry'] * 8, headers, [{}] * 8)

    assert [answer.status for answer in answers] == [202] * 8
    new_ids = {answer.body['new_run_id'] for answer in answers}
    assert len(new_ids) == 8
    assert count(RunRecord, RunRecord.retry_of == source) == 8
    record('8 parallel retries without a key', '8 answered 202, 8 distinct new runs')


def test_parallel_reviews_of_one_approval_record_one_decision(app: Flask, server: Gunicorn, record) -> None:
    case = mismatch()
    _, contributor = caller('contributor')
    asked = burst(server, 'POST', [APPROVAL_URL.format(case.run_id, case.sample_id)], contributor, [case.body()])[0]
    assert asked.status == 202, asked.body
    approval_id = asked.body['approval_id']
    reviewers = [caller('admin')[1] for _ in range(10)]

    answers = burst(server, 'POST', [f'{APPROVALS}/{approval_id}/review'] * 10, reviewers,
                    [{'decision': 'approve'}] * 10)

    assert sorted(answer.status for answer in answers) == [200] + [409] * 9
    assert {answer.body['code'] for answer in answers if answer.status == 409} == {'already_reviewed'}
    assert [row.outcome for row in audit_rows('baseline_approval.review')] == ['approved']
    assert variants_of(case.output_id) == [(case.output_id, asked.body['actual_hash'])]
    assert count(BaselineApproval, BaselineApproval.status == 'approved') == 1
    record('10 parallel reviews of one approval', '1 decision (200), 9 answered 409 already_reviewed, 1 variant row')
