"""schemathesis 4 against a live server: every operation of the served document, every check, real tokens.

The app comes from ``make_app`` with generous rate limits (the run must never be throttled) and is served by
werkzeug on a loopback port in a background thread. schemathesis' own CLI runs in-process against
``/api/v1/openapi.json`` with ``--checks all``, every phase (examples, coverage, fuzzing; stateful where links
exist), at most 50 examples per operation (``--max-examples 50``), seed 20260101 and no example database, so a run
is reproducible. An operation added to the API joins the run by being in the document; the test checks that
schemathesis tested every operation but ``GET /openapi.json``, which it skips as the document it was loaded from
(test_openapi_contract covers that one). It runs on both backends (SQLite and MariaDB), 20-50 s each.

Authorization: an admin user holding every scope. Its token is sent with every case, except that each case of
``DELETE /auth/tokens/current`` (which revokes the token it is called with) gets a freshly minted throwaway admin
token, so that operation is fuzzed like the others without revoking the token the rest of the run uses. No
operation is excluded.
"""
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
from mod_api_tests.contract import operations
from mod_api_tests.factories import make_token, make_user

MAX_EXAMPLES = 50
SEED = 20260101
GENEROUS_LIMIT = '100000/minute'
REVOKES_ITS_TOKEN = ('DELETE', '/auth/tokens/current')


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
SCHEMATHESIS_CONFIG = '''
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
'''


def test_schemathesis_finds_no_failure(make_app: Callable[..., Flask], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(API_READ_LIMIT=GENEROUS_LIMIT, API_WRITE_LIMIT=GENEROUS_LIMIT,
                   API_ANONYMOUS_LIMIT=GENEROUS_LIMIT, API_AUTH_LIMIT=GENEROUS_LIMIT)
    with app.app_context():
        user = make_user('admin')
        user_id, token = user.id, make_token(user)
    monkeypatch.chdir(tmp_path)  # schemathesis keeps a replay cache (.schemathesis/) in the working directory
    config = tmp_path / 'schemathesis.toml'
    config.write_text(SCHEMATHESIS_CONFIG)
    with live_server(app) as base_url, admin_tokens(app, token, user_id):
        result = CliRunner().invoke(schemathesis_cli, [
            '--config-file', str(config), 'run', f'{base_url}/api/v1/openapi.json',
            '--checks', 'all', '--max-examples', str(MAX_EXAMPLES), '--seed', str(SEED),
            '--generation-database', 'none', '--workers', '1', '--no-color',
        ], catch_exceptions=False)
    assert result.exit_code == 0, f'schemathesis reported failures:\n{result.output}'
    tested = len(operations(app.test_client().get('/api/v1/openapi.json').get_json())) - 1  # not /openapi.json
    assert f'Tested: {tested}\n' in result.output, f'schemathesis left operations untested:\n{result.output}'
