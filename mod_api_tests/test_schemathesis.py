"""schemathesis 4 against a live server: every operation of the served document, every check, real tokens.

The app comes from ``make_app`` with generous rate limits (the run must never be throttled), holds the data of
:func:`mod_api_tests.results_data.build_world` (runs, samples, regression tests, outputs, their stored files) plus a
failing run (:func:`mod_api_tests.approvals_data.mismatch`), so that ids found in responses lead somewhere, and is
served by werkzeug on a loopback port in a background thread. schemathesis' own CLI runs in-process against
``/api/v1/openapi.json`` with ``--checks all``, all four phases (examples, coverage, fuzzing, stateful), at most
50 examples per operation (``--max-examples 50``; in the stateful phase, at most 50 scenarios of at most 6 steps,
schemathesis' default), seed 20260101 and no example database, so a run is reproducible.

Stateful phase: the document declares no OpenAPI ``links``; schemathesis 4.32.5 infers them (its
``dependency-analysis`` of request parameters and response schemas, e.g. a ``run_id`` in a Run leads to every
``/runs/{run_id}/...`` operation, and ``location-headers`` from the ``Location`` of a 202): 136 links in the last
run, 13 of them followed by a successful step. The test checks the phase ran without failure and followed at least
``MIN_LINKS_COVERED`` links, so it cannot silently become a no-op (how many it follows depends on what the session
database already holds: 8 in a full-suite run, 13 alone; the floor stays well above zero).

An operation added to the API joins the run by being in the document; the test checks that schemathesis tested
every operation but ``GET /openapi.json``, which it skips as the document it was loaded from (test_openapi_contract
covers that one). It runs on both backends (SQLite and MariaDB), 1-2 minutes each.

Authorization: an admin user holding every scope. Its token is sent with every case, except that each case of
``DELETE /auth/tokens/current`` (which revokes the token it is called with) gets a freshly minted throwaway admin
token, so that operation is fuzzed like the others without revoking the token the rest of the run uses. No
operation is excluded.
"""
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from click.testing import CliRunner
from flask import Flask
from schemathesis.cli import schemathesis as schemathesis_cli
from werkzeug.serving import WSGIRequestHandler, make_server

from mod_api.db import db
from mod_api.legacy import User
from mod_api_tests import approvals_data, results_data
from mod_api_tests.contract import operations
from mod_api_tests.factories import REVOKES_ITS_TOKEN, make_token, make_user

MAX_EXAMPLES = 50
SEED = 20260101
GENEROUS_LIMIT = '100000/minute'
MIN_LINKS_COVERED = 5
LINKS_COVERED = re.compile(r'API Links:\s+(\d+) covered / (\d+) selected')


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (thousands of them)."""

    def log_request(self, *args: Any) -> None:
        pass


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a background thread; yields its base URL."""
    server = make_server('127.0.0.1', 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_port}'
    finally:
        server.shutdown()
        thread.join()


@contextmanager
def admin_tokens(app: Flask, token: str, user_id: int) -> Iterator[None]:
    """Authorize every case with ``token``; each case revoking its own token gets a fresh one of ``user_id``."""

    def fresh_token() -> str:
        with app.app_context():
            return make_token(db.session.get(User, user_id))

    @schemathesis.auth(refresh_interval=None)
    class AdminToken:
        def get(self, case: Any, context: Any) -> str:
            operation = (case.operation.method.upper(), case.operation.path)
            return fresh_token() if operation == REVOKES_ITS_TOKEN else token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), 'Authorization': f'Bearer {data}'}

    try:
        yield
    finally:
        schemathesis.auths.unregister()


# Schema-valid data may still be refused for what it means in the database: the contract documents 422 for a
# trigger naming unknown or inactive regression tests or an unknown environment, and for a failed-only retry of a
# run without failures. schemathesis' positive-data check accepts 409 but not 422 by default; add it (only it).
# A baseline-approval reason must also justify the change in words (the rule the contract's description states:
# two different meaningful words, no placeholder), which JSON Schema cannot express: a schema-valid reason such as
# "0000000000" is 400 validation_error naming ``reason``, so that one operation also expects 400 from valid data.
SCHEMATHESIS_CONFIG = '''
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-name = "POST /runs/{run_id}/samples/{sample_id}/baseline-approval"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429",
                                                     "5xx"]
'''


def test_schemathesis_finds_no_failure(make_app: Callable[..., Flask], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(API_READ_LIMIT=GENEROUS_LIMIT, API_WRITE_LIMIT=GENEROUS_LIMIT,
                   API_ANONYMOUS_LIMIT=GENEROUS_LIMIT, API_AUTH_LIMIT=GENEROUS_LIMIT)
    with app.app_context():
        user = make_user('admin')
        user_id, token = user.id, make_token(user)
        world = results_data.build_world()
        results_data.store_files(app, world.files)
        approvals_data.mismatch()
    monkeypatch.chdir(tmp_path)  # schemathesis keeps a replay cache (.schemathesis/) in the working directory
    config = tmp_path / 'schemathesis.toml'
    config.write_text(SCHEMATHESIS_CONFIG)
    with live_server(app) as base_url, admin_tokens(app, token, user_id):
        result = CliRunner().invoke(schemathesis_cli, [
            '--config-file', str(config), 'run', f'{base_url}/api/v1/openapi.json',
            '--checks', 'all', '--max-examples', str(MAX_EXAMPLES), '--seed', str(SEED),
            '--generation-database', 'none', '--workers', '1', '--no-color',
            '--phases', 'examples,coverage,fuzzing,stateful',
        ], catch_exceptions=False)
    assert result.exit_code == 0, f'schemathesis reported failures:\n{result.output}'
    tested = len(operations(app.test_client().get('/api/v1/openapi.json').get_json())) - 1  # not /openapi.json
    assert f'Tested: {tested}\n' in result.output, f'schemathesis left operations untested:\n{result.output}'
    assert '✅ Stateful' in result.output, f'the stateful phase did not run or failed:\n{result.output}'
    links = LINKS_COVERED.search(result.output)
    assert links and int(links.group(1)) >= MIN_LINKS_COVERED, f'stateful links barely followed:\n{result.output}'
