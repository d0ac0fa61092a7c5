r"""Fill a platform database (SQLite file or MySQL/MariaDB) and a sample repository with the benchmark dataset.

From the checkout root::

    .venv/bin/python install/bench/generate_dataset.py \\
        --uri mysql+mysqldb://root:@127.0.0.1:3306/bench --repository /tmp/bench-repository --seed 1 [--runs 10000]

It creates the database when missing (MySQL), refuses one that already holds runs unless ``--reset`` is given
(which drops every platform and mod_api table first), creates the legacy tables (``Base.metadata``), bulk-inserts
the rows of :mod:`install.bench.dataset_shape` through SQLAlchemy Core multi-row inserts in chunks (unique and
foreign-key checks off for the load on MySQL), then creates mod_api's tables and lookup indexes with
``create_api_tables`` (what ``flask create-api-tables`` does), writes the repository files (samples, reference
outputs, variants, uploaded differing outputs, worker logs from 1 KB to 50 MB) and prints the row counts and the
time of each phase. The same seed and scale give the same rows and files.
"""
import argparse
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make the checkout importable
    sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import bindparam, func, select, text  # noqa: E402
from sqlalchemy.engine import Connection, Engine, make_url  # noqa: E402

import mod_api  # noqa: E402
from install.bench.dataset_files import REPOSITORY_FOLDERS, write_file, write_log  # noqa: E402
from install.bench.dataset_shape import RUN_TABLES, DatasetShape, Scale  # noqa: E402
from mod_api.db import create_api_tables, db  # noqa: E402
from mod_api.legacy import Base  # noqa: E402

CHUNK_ROWS = 10_000
CATALOGUE_ORDER = ('user', 'fork', 'ccextractor_version', 'category', 'sample', 'upload', 'regression_test',
                   'regression_test_category', 'regression_test_output', 'regression_test_output_files',
                   'maintenance_mode')
COUNTED_TABLES = CATALOGUE_ORDER + RUN_TABLES + ('general_data',)


@dataclass
class Report:
    """What a generation made: seconds per phase, rows per table, files and bytes written."""

    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    log_bytes: dict[int, int] = field(default_factory=dict)


class DatabaseNotEmpty(Exception):
    """The target database already holds runs (and ``reset`` was not asked for)."""


def generate(uri: str, repository: Path, seed: int, scale: Scale = Scale(), reset: bool = False,
             say: Callable[[str], None] = print) -> Report:
    """Generate the dataset into ``uri`` and ``repository``; returns what was made (deterministic per seed/scale)."""
    report = Report()
    clock = _Clock(report, say)
    _create_database(uri)
    app = Flask('generate_dataset')
    app.config.update(DATABASE_URI=uri, SAMPLE_REPOSITORY=str(repository), API_SECRET_KEY=secrets.token_hex(16))
    mod_api.init_app(app)
    with app.app_context():
        engine = db.engine
        _prepare_schema(engine, reset)
        shape = DatasetShape(seed, scale)
        catalogue = shape.catalogue()
        shape.plan_runs()
        clock.lap('plan')
        with engine.connect() as connection:
            _load_settings(connection)
            for name in CATALOGUE_ORDER:
                _insert(connection, name, catalogue[name])
            connection.commit()
            clock.lap('catalogue rows')
            for block in shape.run_blocks():
                for name in RUN_TABLES:
                    _insert(connection, name, block.tables[name])
                connection.commit()
            clock.lap('run rows')
            general, last_passed = shape.finishing()
            _insert(connection, 'general_data', general)
            _update_last_passed(connection, last_passed)
            connection.commit()
        create_api_tables(app)
        clock.lap('mod_api tables and indexes')
        report.rows = _count_rows(engine)
        clock.lap('count')
    for folder in REPOSITORY_FOLDERS:
        (repository / folder).mkdir(parents=True, exist_ok=True)
    for relative, content in shape.repository_files(catalogue['regression_test_output'], catalogue['sample']):
        write_file(repository, relative, content)
        report.files += 1
    clock.lap('repository files')
    for run_id, lines in shape.logs(catalogue['sample']):
        report.log_bytes[run_id] = write_log(repository / 'LogFiles' / f'{run_id}.txt', lines)
    report.files += len(report.log_bytes)
    clock.lap('logs')
    return report


class _Clock:
    """Times the phases of a generation into the report and says each as it ends."""

    def __init__(self, report: Report, say: Callable[[str], None]) -> None:
        self.report, self.say = report, say
        self.last = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.report.seconds[phase] = round(now - self.last, 1)
        self.say(f'{phase}: {now - self.last:.1f} s')
        self.last = now


def _create_database(uri: str) -> None:
    """Create the MySQL database named in ``uri`` when it does not exist (an SQLite file is created on connect)."""
    url = make_url(uri)
    if url.get_backend_name() != 'mysql':
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    server = sqlalchemy.create_engine(url.set(database=''))
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE IF NOT EXISTS `{url.database}` CHARACTER SET utf8mb4'))
    server.dispose()


def _prepare_schema(engine: Engine, reset: bool) -> None:
    """Drop everything first when ``reset``; refuse a database holding runs; create the legacy tables."""
    from mod_api import models  # noqa: F401  (registers mod_api's tables on db.metadata)
    if reset:
        with engine.begin() as connection:
            _load_settings(connection)
            db.metadata.drop_all(connection)
            Base.metadata.drop_all(connection)
    elif sqlalchemy.inspect(engine).has_table('test'):
        with engine.connect() as connection:
            if connection.execute(select(func.count()).select_from(Base.metadata.tables['test'])).scalar():
                raise DatabaseNotEmpty('the database already holds runs: use --reset to replace them')
    Base.metadata.create_all(engine)


def _load_settings(connection: Connection) -> None:
    """Session settings for a bulk load: no per-row unique/foreign-key checks (MySQL), no fsync per commit (SQLite)."""
    if connection.dialect.name == 'mysql':
        connection.execute(text('SET unique_checks = 0, foreign_key_checks = 0'))
    else:
        connection.execute(text('PRAGMA synchronous = OFF'))


def _insert(connection: Connection, name: str, rows: Sequence[dict[str, Any]]) -> None:
    """Multi-row INSERTs of ``rows`` into legacy table ``name``, ``CHUNK_ROWS`` at a time."""
    table = Base.metadata.tables[name]
    for start in range(0, len(rows), CHUNK_ROWS):
        connection.execute(table.insert(), rows[start:start + CHUNK_ROWS])


def _update_last_passed(connection: Connection, updates: list[dict[str, Optional[int]]]) -> None:
    """Set ``last_passed_on_linux/windows``: the last main-repository commit run in which each test passed (§5.6)."""
    if not updates:
        return
    table = Base.metadata.tables['regression_test']
    statement = table.update().where(table.c.id == bindparam('b_id')).values(
        last_passed_on_linux=bindparam('b_linux'), last_passed_on_windows=bindparam('b_windows'))
    connection.execute(statement, updates)


def _count_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {name: connection.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one()
                for name in COUNTED_TABLES}


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: parse the options, generate, print the counts and the total time."""
    defaults = Scale()
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--uri', required=True, help='SQLAlchemy URL of the platform database')
    parser.add_argument('--repository', type=Path, default=Path('instance/bench-repository'),
                        help='sample repository folder to write (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--runs', type=int, default=defaults.runs)
    parser.add_argument('--samples', type=int, default=defaults.samples)
    parser.add_argument('--regression-tests', type=int, default=defaults.regression_tests)
    parser.add_argument('--categories', type=int, default=defaults.categories)
    parser.add_argument('--forks', type=int, default=defaults.forks)
    parser.add_argument('--logs', type=int, default=defaults.logs, help='runs with a worker log')
    parser.add_argument('--max-log-bytes', type=int, default=defaults.max_log_bytes)
    parser.add_argument('--reset', action='store_true', help='drop every platform and mod_api table first')
    options = parser.parse_args(argv)
    scale = Scale(runs=options.runs, samples=options.samples, regression_tests=options.regression_tests,
                  categories=options.categories, forks=options.forks, logs=options.logs,
                  max_log_bytes=options.max_log_bytes)
    started = time.monotonic()
    try:
        report = generate(options.uri, options.repository, options.seed, scale, options.reset)
    except DatabaseNotEmpty as error:
        sys.exit(f'generate_dataset: {error}')
    for name, count in report.rows.items():
        print(f'{name}: {count} rows')
    log_bytes = sum(report.log_bytes.values())
    print(f'{report.files} files, logs {log_bytes} bytes; total {time.monotonic() - started:.1f} s')


if __name__ == '__main__':
    main()
