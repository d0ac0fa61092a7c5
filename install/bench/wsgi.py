"""The API as production serves it (``run.create_app``), plus what only the benchmark needs.

``gunicorn ... install.bench.wsgi:app`` (started by install/bench/benchmark.py, never by production) adds:

* the ceiling: ``GET <prefix>/bench/ceiling``, a trivial JSON read declared with ``@operation`` (token, scope,
  rate limit, query validation, serialization: the whole stack with no work behind it). It lives on this module's
  own blueprint, so the production mod_api, its OpenAPI document and its route-walk tests never see it;
* the SQL statements each request ran, counted with a SQLAlchemy event and answered in the ``X-Bench-Queries``
  response header;
* on MariaDB, a statement time limit just under gunicorn's worker timeout: a request that slow fails either way,
  but a worker killed by gunicorn would leave its statement running on the (shared) database server and skew
  every later measurement.
"""
import threading
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import event

from install.bench.load import QUERY_COUNT_HEADER
from install.bench.targets import CEILING_PATH
from mod_api.db import db
from mod_api.operations import operation
from run import create_app

# Seconds; gunicorn's worker timeout (install/gunicorn.conf.py) is 30.
STATEMENT_TIME_LIMIT_SECONDS = 25

ceiling = Blueprint('bench', __name__)


@ceiling.route(CEILING_PATH, methods=['GET'])
@operation('Benchmark ceiling: a trivial authenticated read', ('Benchmark',), scope='runs:read',
           responses={200: 'A constant document'})
def ceiling_document(query: dict[str, Any]) -> Any:
    """A constant JSON document: what the stack costs when the handler does nothing."""
    return jsonify({'status': 'ok'})


class QueryCounter:
    """SQL statements executed by the current request (one counter per thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def reset(self) -> None:
        """Start counting a new request."""
        self._local.count = 0

    def count(self, *_event_args: Any) -> None:
        """``before_cursor_execute`` listener: one more statement."""
        self._local.count = getattr(self._local, 'count', 0) + 1

    def add_header(self, response: Response) -> Response:
        """Answer the count of this request in the response header."""
        response.headers[QUERY_COUNT_HEADER] = str(getattr(self._local, 'count', 0))
        return response


def _limit_statement_time(dbapi_connection: Any, _record: Any) -> None:
    """``connect`` listener (MariaDB): the server aborts a statement running longer than the limit."""
    if 'mariadb' in dbapi_connection.get_server_info().lower():
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f'SET SESSION max_statement_time = {STATEMENT_TIME_LIMIT_SECONDS}')


def create_benchmark_app() -> Flask:
    """``run.create_app()`` with the ceiling route and the per-request statement count."""
    app = create_app()
    app.register_blueprint(ceiling, url_prefix=app.extensions['mod_api'].prefix)
    counter = QueryCounter()
    with app.app_context():
        event.listen(db.engine, 'before_cursor_execute', counter.count)
        if db.engine.dialect.name == 'mysql':
            event.listen(db.engine, 'connect', _limit_statement_time)
    app.before_request_funcs.setdefault(None, []).insert(0, counter.reset)  # before authentication runs
    app.after_request(counter.add_header)
    return app


app = create_benchmark_app()
