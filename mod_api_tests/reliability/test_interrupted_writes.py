"""Every write interrupted by a database error, at every statement it runs: nothing is left half-done.

For each write operation the request is sent again and again, the n-th SQL statement of the request failing
with the driver's "lost connection" error (n = 1, 2, ... until the request runs through without reaching n). Every
interrupted attempt must answer the JSON 503 ``service_unavailable`` and leave every table exactly as it was (no
run without its scope rows, no approval without its audit row, no cancel without its record, no claimed
idempotency key); the last attempt succeeds and changes the database. ``api_token.last_used_at`` is the one
column allowed to move: it is a bookkeeping write of its own, committed before the write starts.
"""
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from mod_api.db import db
from mod_api.legacy import Base
from mod_api_tests import factories
from mod_api_tests.approvals_data import APPROVALS, ask, mismatch, requested
from mod_api_tests.factories import assert_error
from mod_api_tests.run_writes_data import caller, fresh, regression_tests
from mod_api_tests.runs_data import DONE, add_run

LOST_CONNECTION = (2013, 'Lost connection to server during query (injected by the reliability suite)')
DRIVER_EVENTS = ('do_execute', 'do_execute_no_params', 'do_executemany')
MOVING_COLUMNS = {('api_token', 'last_used_at')}
Send = Callable[[FlaskClient], Any]


@contextmanager
def failing_statement(nth: int) -> Iterator[list[int]]:
    """Within the block, the ``nth`` statement on the app's engine fails; yields [statements executed so far].

    The driver's own error is raised where the driver would raise it (the dialect's ``do_execute*`` events), so
    SQLAlchemy wraps it (and, on MariaDB, invalidates the connection) exactly as for a real lost connection.
    """
    executed = [0]
    engine = db.engine
    error = engine.dialect.loaded_dbapi.OperationalError

    def count_and_fail(*_: Any) -> None:
        executed[0] += 1
        if executed[0] == nth:
            raise error(*LOST_CONNECTION)

    for name in DRIVER_EVENTS:
        event.listen(engine, name, count_and_fail)
    try:
        yield executed
    finally:
        for name in DRIVER_EVENTS:
            event.remove(engine, name, count_and_fail)


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table (platform and API), in a fresh transaction, without the columns that may move."""
    fresh()
    tables = list(Base.metadata.sorted_tables) + list(db.metadata.sorted_tables)
    rows = {}
    for table in tables:
        columns = [column for column in table.columns if (table.name, column.name) not in MOVING_COLUMNS]
        rows[table.name] = sorted(db.session.execute(select(*columns)).tuples(), key=repr)
    fresh()
    return rows


def create_token() -> Send:
    user = factories.make_user('tester')
    body = {'email': user.email, 'password': factories.PASSWORD, 'token_name': 'ci', 'scopes': ['runs:read']}
    return lambda client: client.post('/api/v1/auth/tokens', json=body)


def revoke_token() -> Send:
    _, headers = caller('user')
    return lambda client: client.delete('/api/v1/auth/tokens/current', headers=headers)


def trigger_run() -> Send:
    regression_tests(active=2)
    _, headers = caller('contributor')
    body = {'repository': 'someone/fork', 'commit_sha': 'a' * 40, 'platform': 'linux'}
    return lambda client: client.post('/api/v1/runs', json=body, headers={**headers, 'Idempotency-Key': 'k-1'})


def cancel_run() -> Send:
    run_id = add_run(progress=DONE[:2]).id
    _, headers = caller('admin')
    return lambda client: client.post(f'/api/v1/runs/{run_id}/cancel', json={'reason': 'stuck VM'}, headers=headers)


def retry_run() -> Send:
    tests = regression_tests(active=2)
    source = add_run(progress=DONE, customized=[test.id for test in tests]).id
    _, headers = caller('tester')
    return lambda client: client.post(f'/api/v1/runs/{source}/retry', json={}, headers=headers)


def request_approval() -> Send:
    case = mismatch()
    _, headers = caller('contributor')
    return lambda client: ask(client, headers, case)


def review_approval(client: FlaskClient) -> Send:
    approval_id, admin = requested(client, mismatch())
    return lambda client: client.post(f'{APPROVALS}/{approval_id}/review', headers=admin,
                                      json={'decision': 'approve', 'comment': 'checked by hand'})


WRITES: dict[str, Callable[[FlaskClient], Send]] = {
    'POST /auth/tokens': lambda client: create_token(),
    'DELETE /auth/tokens/current': lambda client: revoke_token(),
    'POST /runs (Idempotency-Key)': lambda client: trigger_run(),
    'POST /runs/{id}/cancel': lambda client: cancel_run(),
    'POST /runs/{id}/retry': lambda client: retry_run(),
    'POST .../baseline-approval': lambda client: request_approval(),
    'POST /baseline-approvals/{id}/review': review_approval,
}


@pytest.mark.parametrize('operation', list(WRITES))
def test_a_write_failing_at_any_statement_leaves_nothing_half_done(app: Flask, operation: str, record) -> None:
    client = app.test_client()
    send = WRITES[operation](client)
    db.session.commit()
    before = snapshot()

    nth = 0
    while True:
        nth += 1
        with failing_statement(nth) as executed:
            response = send(client)
        db.session.remove()  # as at the end of a served request (the test's app context outlives requests)
        if executed[0] < nth:
            break  # the request ran through without reaching the failing statement
        assert_error(response, 503, 'service_unavailable')
        assert snapshot() == before, f'{operation}: statement {nth} failed and left rows behind'

    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    assert snapshot() != before
    record(f'{operation} interrupted at each statement', f'{nth - 1} interrupted attempts: all JSON 503, every '
                                                         'table unchanged; then the write succeeded')
