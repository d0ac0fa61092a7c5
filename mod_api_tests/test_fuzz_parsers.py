"""Property-based fuzz of the query-string, header and body parsers, through the real app, over every operation.

Requests come from :mod:`mod_api_tests.request_strategies`, generated from the served ``/openapi.json``. Each
operation gets 290 cases on SQLite and 100 on MariaDB (whose round trips cost more; ``CASES_PER_OPERATION``): with
the 35 operations served today, 10,150 cases on SQLite and 3,500 on MariaDB per CI run. They go through the Flask
test client, in process, authenticated as an admin holding every scope (each case of ``DELETE
/auth/tokens/current``, which revokes its token, with a fresh one), against the data of
:func:`mod_api_tests.results_data.build_world` (runs, samples, regression tests, outputs, stored files) plus a
failing run (:func:`mod_api_tests.approvals_data.mismatch`).

Properties, per case: no 5xx; every response that is not 2xx/304 is an ErrorResponse valid against the served
document's schema; after a write (POST, DELETE) that is refused (not 2xx), no table gained or lost a row, except
for at most one audit row (refusals of writes are audited on purpose). Cases are counted: the test fails when an
operation ran fewer cases than asked or the total falls under 10,000 (SQLite) / 3,000 (MariaDB), so the number
cannot drop silently.

Reproducible: seed ``API_FUZZ_SEED`` (default 20260101) for every operation, no example database, no shrinking
(the first failing case is reported as drawn). Password hashing is made cheap for the run (the platform's
1,024,000-round hash is not what is fuzzed; every ``POST /auth/tokens`` with a well-formed body would cost about a
second). A longer campaign (``API_FUZZ_EXAMPLES`` cases per operation on every backend): see
``mod_api_tests/FUZZING.md``.
"""
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, seed, settings

from mod_api.db import db
from mod_api.legacy import User
from mod_api_tests import approvals_data, results_data
from mod_api_tests.contract import operations
from mod_api_tests.factories import REVOKES_ITS_TOKEN, bearer, fast_hash, make_token, make_user
from mod_api_tests.invariants import (
    assert_error_response,
    assert_nothing_written,
    error_response_validator,
    row_counts,
)
from mod_api_tests.request_strategies import FuzzRequest, RequestStrategies
from mod_api_tests.run_writes_data import GENEROUS_LIMIT

# Cases per operation and backend (MariaDB is slower per request: a smaller number, see the module docstring).
CASES_PER_OPERATION = {'sqlite': 290, 'mysql': 100}
SEED = int(os.environ.get('API_FUZZ_SEED', '20260101'))
CASES_OVERRIDE = os.environ.get('API_FUZZ_EXAMPLES')
MINIMUM_TOTAL = {'sqlite': 10_000, 'mysql': 3_000}
WRITE_METHODS = ('POST', 'PUT', 'PATCH', 'DELETE')


@pytest.fixture()
def fuzz_app(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app with limits no fuzz run reaches, cheap password hashes and the test data, in an app context."""
    monkeypatch.setattr(User, 'generate_hash', staticmethod(fast_hash))
    app = make_app(API_READ_LIMIT=GENEROUS_LIMIT, API_WRITE_LIMIT=GENEROUS_LIMIT,
                   API_ANONYMOUS_LIMIT=GENEROUS_LIMIT, API_AUTH_LIMIT=GENEROUS_LIMIT)
    with app.app_context():
        world = results_data.build_world()
        results_data.store_files(app, world.files)
        approvals_data.mismatch()
        yield app


def send(client: FlaskClient, request: FuzzRequest) -> Any:
    """Send one fuzz request."""
    return client.open(request.url, method=request.method, headers=request.headers, data=request.body,
                       content_type=request.content_type)


def test_no_request_breaks_a_parser(fuzz_app: Flask, backend: str) -> None:
    client = fuzz_app.test_client()
    document = client.get('/api/v1/openapi.json').get_json()
    validator = error_response_validator(document)
    user = make_user('admin')
    token = make_token(user)

    def authorization(method: str, path: str) -> dict[str, str]:
        return bearer(make_token(user) if (method, path) == REVOKES_ITS_TOKEN else token)

    strategies = RequestStrategies(document, authorization)
    cases = int(CASES_OVERRIDE or CASES_PER_OPERATION[backend])
    ran = {key: fuzz_operation(client, strategies, validator, cases, *key) for key in sorted(operations(document))}
    short = {key: count for key, count in ran.items() if count != cases}
    assert not short, f'operations that ran fewer than {cases} cases: {short}'
    if CASES_OVERRIDE is None:
        assert sum(ran.values()) >= MINIMUM_TOTAL[backend], f'only {sum(ran.values())} cases on {backend}'


def fuzz_operation(client: FlaskClient, strategies: RequestStrategies, validator: Any, cases: int, method: str,
                   path: str) -> int:
    """Run ``cases`` cases of one operation, checking every property; returns how many ran."""
    ran = 0

    @settings(max_examples=cases, deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @seed(SEED)
    @given(strategies.request(method, path))
    def case(request: FuzzRequest) -> None:
        nonlocal ran
        ran += 1
        before = row_counts() if method in WRITE_METHODS else None
        response = send(client, request)
        assert_error_response(response, validator, request.describe())
        if before is not None and not 200 <= response.status_code < 300:
            db.session.rollback()  # the test's own session must not keep a stale snapshot
            assert_nothing_written(before, row_counts(), request.describe())

    case()
    return ran
