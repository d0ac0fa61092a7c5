"""Benchmark of the API served the production way; writes BENCHMARKS.md (issue #8).

From the checkout root::

    .venv/bin/python -m install.bench.benchmark --uri mysql+mysqldb://root:@127.0.0.1:3306/bench
        --repository /path/to/bench/repository        (one line)

It mints a token in the database (not measured), chooses the ids to call by SQL (install/bench/targets.py),
starts gunicorn with install/gunicorn.conf.py and ``--workers`` workers on a free loopback port (app
install/bench/wsgi.py: the production app plus the ceiling route and a per-request SQL statement count), with the
rate limits in Redis and raised for the run, then calls every endpoint from this process with ``--clients``
concurrent clients for ``--requests`` requests or ``--seconds`` seconds each (whichever ends first: a slow
endpoint reports fewer requests), after a short warm-up. The ceiling is measured first and last. Peak worker
memory is each worker's VmHWM, reset before every endpoint. The token is revoked at the end. Results go to
``--output`` (Markdown with the JSON inside) and, if given, ``--json``.
"""
import argparse
import json
import secrets
import shlex
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from install.bench import load, report, targets
from install.bench.server import ROOT, Server
from mod_api import API_PREFIX
from mod_api.db import db
from mod_api.legacy import RegressionTest, Sample, Test, TestProgress, TestResult, TestResultFile


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--uri', required=True, help='SQLAlchemy URI of the dataset (MariaDB in earnest)')
    parser.add_argument('--repository', required=True, help='SAMPLE_REPOSITORY of the dataset (LogFiles/, ...)')
    parser.add_argument('--redis-uri', default='redis://127.0.0.1:6379/0', help='rate-limit storage')
    parser.add_argument('--workers', type=int, default=4, help='gunicorn workers (default 4)')
    parser.add_argument('--clients', type=int, default=4, help='concurrent clients (default 4)')
    parser.add_argument('--requests', type=int, default=1000,
                        help='requests per endpoint (default 1000: seconds each, so a moment of noise weighs less)')
    parser.add_argument('--seconds', type=float, default=60.0,
                        help='at most this many seconds per endpoint, whichever ends first (default 60)')
    parser.add_argument('--warm-up', type=int, default=5, help='unmeasured requests per client first (default 5)')
    parser.add_argument('--output', default=str(ROOT / 'BENCHMARKS.md'), help='Markdown report (default BENCHMARKS.md)')
    parser.add_argument('--json', default=None, help='also write the results as JSON here')
    parser.add_argument('--note', default='', help='a remark printed under the machine (e.g. other load)')
    parser.add_argument('--buffer-pool-mb', type=int, default=1024,
                        help='MariaDB innodb_buffer_pool_size for the run, restored afterwards (default 1024: the '
                             'default dataset, 0.9 GB, then fits in memory as on a server sized for its data; '
                             '0: leave the server as it is)')
    return parser.parse_args(argv)


def shown_command(argv: list[str]) -> str:
    """The command line as run, with any database password masked."""
    shown = []
    for argument in argv:
        try:
            url = make_url(argument)
            argument = url.render_as_string(hide_password=True) if url.password else argument
        except Exception:  # noqa: BLE001 - not a URL: shown as it is
            pass
        shown.append(argument)
    return shlex.join(['.venv/bin/python', '-m', 'install.bench.benchmark', *shown])


def dataset_counts() -> dict[str, int]:
    """Row counts of the tables the endpoints read."""
    tables = {'runs': Test, 'progress rows': TestProgress, 'test_result rows': TestResult,
              'test_result_file rows': TestResultFile, 'regression tests': RegressionTest, 'samples': Sample}
    return {name: db.session.scalar(select(func.count()).select_from(model)) or 0 for name, model in tables.items()}


def server_versions(redis_uri: str) -> dict[str, str]:
    """Versions of the database server, Redis and the serving stack."""
    dialect = db.engine.dialect.name
    statement = 'SELECT sqlite_version()' if dialect == 'sqlite' else 'SELECT VERSION()'
    try:
        redis_version = str(redis.Redis.from_url(redis_uri).info('server').get('redis_version'))  # type: ignore[union-attr]
    except redis.RedisError:
        redis_version = 'unreachable'
    return {'database': f'{dialect} {db.session.scalar(text(statement))}', 'redis': redis_version,
            'gunicorn': version('gunicorn'), 'flask': version('flask'), 'sqlalchemy': version('sqlalchemy')}


@contextmanager
def buffer_pool(megabytes: int) -> Iterator[str]:
    """Resize MariaDB's buffer pool (a dynamic setting) for the block, then restore it; yields the size in force."""
    if db.engine.dialect.name != 'mysql':
        yield 'not MariaDB'
        return
    before = int(db.session.scalar(text('SELECT @@innodb_buffer_pool_size')))
    if megabytes:
        db.session.execute(text(f'SET GLOBAL innodb_buffer_pool_size = {megabytes * 1024 * 1024}'))
    try:
        yield f"{int(db.session.scalar(text('SELECT @@innodb_buffer_pool_size'))) // (1024 * 1024)} MB"
    finally:
        if megabytes:
            db.session.execute(text(f'SET GLOBAL innodb_buffer_pool_size = {before}'))


def measure(server: Server, endpoints: list[targets.Endpoint], token: str,
            arguments: argparse.Namespace) -> tuple[list[dict[str, Any]], list[float]]:
    """Every endpoint measured in turn (the ceiling also last); returns the rows and the ceiling's runs."""
    headers = {'Authorization': f'Bearer {token}', 'Accept': 'application/json'}
    rows, ceiling_runs = [], []
    for endpoint in endpoints + [endpoints[0]]:
        path = API_PREFIX + endpoint.path
        load.run_phase(server.port, path, headers, arguments.clients, arguments.warm_up * arguments.clients,
                       arguments.seconds)
        server.reset_peak_memory()
        phase = load.run_phase(server.port, path, headers, arguments.clients, arguments.requests, arguments.seconds)
        row = {'name': endpoint.name, 'group': endpoint.group, 'path_shown': _shown_path(endpoint.path),
               **phase.summary(), 'peak_rss_mb': round(server.peak_memory_kib() / 1024, 1)}
        print(f"{row['name']:40} {row['requests_per_second']:8} req/s  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
              f"queries {row['queries_max']}  statuses {row['statuses']}", flush=True)
        if endpoint.group == targets.CEILING:
            ceiling_runs.append(row['requests_per_second'])
            if len(ceiling_runs) > 1:
                continue
        rows.append(row)
    return rows, ceiling_runs


def _shown_path(path: str) -> str:
    """The path as reported: a log cursor (valid for an hour) is replaced by a placeholder."""
    head, _, query = path.partition('cursor=')
    return head + 'cursor=<middle of the log>' if query else path


def main(argv: list[str]) -> None:
    """Run the benchmark and write the report."""
    arguments = parse_arguments(argv)
    secret = secrets.token_urlsafe(32)
    app = targets.benchmark_app(arguments.uri, arguments.repository, secret)
    with app.app_context():
        dataset = targets.choose_dataset(arguments.repository)
        endpoints = targets.endpoints(dataset, secret, arguments.repository)
        described = {**dataset.describe(), **dataset_counts()}
        versions = server_versions(arguments.redis_uri)
        token, token_id = targets.mint_token()
    environ = {'DATABASE_URI': arguments.uri, 'SAMPLE_REPOSITORY': arguments.repository,
               'API_SECRET_KEY': secret, 'API_RATELIMIT_STORAGE_URI': arguments.redis_uri,
               'API_RATELIMIT_KEY_PREFIX': f'mod_api_bench_{secrets.token_hex(4)}'}
    with tempfile.TemporaryDirectory(prefix='mod_api_bench_') as folder, app.app_context(), \
            buffer_pool(arguments.buffer_pool_mb) as pool_size:
        versions['innodb_buffer_pool_size'] = pool_size
        server = Server(environ, arguments.workers, Path(folder))
        try:
            server.start(API_PREFIX)
            health = json.loads(load.call(server.port, API_PREFIX + '/system/health', {})[2])
            rows, ceiling_runs = measure(server, endpoints, token, arguments)
        finally:
            server.stop()
            with app.app_context():
                targets.revoke_token(token_id)
    ceiling_rps = round(sum(ceiling_runs) / len(ceiling_runs), 1)
    report.judge(rows, ceiling_rps)
    result = {
        'machine': report.machine(versions), 'note': arguments.note, 'dataset': described,
        'command': shown_command(argv), 'ceiling_rps': ceiling_rps, 'ceiling_runs': ceiling_runs, 'endpoints': rows,
        'setup': {'workers': arguments.workers, 'clients': arguments.clients,
                  'per endpoint': f'{arguments.requests} requests or {arguments.seconds:g} s, whichever ends first',
                  'warm-up': f'{arguments.warm_up} requests per client, not measured',
                  'rate-limit storage (health)': _dependency_status(health, 'rate_limit_storage')},
    }
    Path(arguments.output).write_text(report.markdown(result))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(result, indent=2, sort_keys=True) + '\n')
    print(f'Written {arguments.output}')


def _dependency_status(health: dict[str, Any], name: str) -> str:
    """The status the health document gives dependency ``name`` ('absent' when it does not list it)."""
    return next((item.get('status', '?') for item in health.get('dependencies', []) if item.get('name') == name),
                'absent')


if __name__ == '__main__':
    main(sys.argv[1:])
