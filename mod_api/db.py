"""mod_api's own flask-sqlalchemy session, bound to the platform's DATABASE_URI.

The legacy models are queried through this session too (any mapped class can be), but mod_api's own tables
live on their own metadata (``db.metadata``): they never add columns to legacy tables.
"""
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from mod_api.settings import DB_READ_TIMEOUT_SECONDS

T = TypeVar('T')

NAMING_CONVENTION = {
    'ix': 'ix_%(table_name)s_%(column_0_N_name)s',
    'uq': 'uq_%(table_name)s_%(column_0_N_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))

MYSQL_TIMEOUT_SECONDS = 5
# Drivers that take read/write timeouts (both MySQL drivers the platform and the standalone app use).
TIMED_MYSQL_DRIVERS = ('mysqldb', 'pymysql')


def engine_options(database_uri: str, read_timeout: int) -> dict[str, Any]:
    """Engine options that keep a request from hanging on a dead database and recover when it is back.

    A connection attempt gives up after ``MYSQL_TIMEOUT_SECONDS``, a read or write after ``read_timeout``
    (``API_DB_READ_TIMEOUT_SECONDS``), so a hung database costs a request at most both (the pre-ping of a pooled
    connection, then one new connection) and it is answered 503 before gunicorn's worker timeout kills it.
    """
    url = make_url(database_uri)
    options: dict[str, Any] = {'pool_pre_ping': True}
    if url.get_backend_name() == 'mysql':
        timeouts = {'connect_timeout': MYSQL_TIMEOUT_SECONDS}
        if url.get_driver_name() in TIMED_MYSQL_DRIVERS:
            timeouts.update(read_timeout=read_timeout, write_timeout=read_timeout)
        options.update(pool_recycle=3600, connect_args=timeouts)
    return options


# MariaDB/MySQL errors that abort a transaction only because of concurrent ones; the documented remedy is to run the
# transaction again: deadlock victim, lock wait timeout, and "record has changed since last read" (MariaDB's
# innodb_snapshot_isolation, on by default from 11.6).
MYSQL_DEADLOCK = 1213
RETRYABLE_MYSQL_ERRORS = frozenset({MYSQL_DEADLOCK, 1205, 1020})


def mysql_error_code(error: BaseException) -> int | None:
    """The MariaDB/MySQL error number behind a SQLAlchemy DBAPI error (None for other errors and backends)."""
    arguments = getattr(getattr(error, 'orig', None), 'args', ())
    return arguments[0] if arguments and isinstance(arguments[0], int) else None


def in_retried_transaction(work: Callable[[], T]) -> T:
    """``work()``, run once more after a rollback if MariaDB aborted its transaction for a concurrent one.

    ``work`` must be one whole transaction (it commits) with no effect outside the database, so running it again
    is safe; a second abort is raised (answered 503).
    """
    try:
        return work()
    except OperationalError as error:
        if mysql_error_code(error) not in RETRYABLE_MYSQL_ERRORS:
            raise
        db.session.rollback()
        return work()


def init_db(app: Flask) -> None:
    """Bind the API's session to ``DATABASE_URI`` on ``app`` (already resolved by the settings)."""
    app.config['SQLALCHEMY_DATABASE_URI'] = app.config['DATABASE_URI']
    read_timeout = app.config.get('API_DB_READ_TIMEOUT_SECONDS', DB_READ_TIMEOUT_SECONDS)
    app.config.setdefault('SQLALCHEMY_ENGINE_OPTIONS', engine_options(app.config['DATABASE_URI'], read_timeout))
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == 'sqlite':
            event.listen(db.engine, 'connect', _sqlite_wait_for_locks)


def _sqlite_wait_for_locks(dbapi_connection: Any, _record: Any) -> None:
    """Let concurrent SQLite writers wait for each other instead of failing with 'database is locked'."""
    dbapi_connection.execute('PRAGMA busy_timeout = 5000')


# Legacy columns the API filters and joins on, as index column lists. MySQL/InnoDB indexes every foreign key column
# by itself; SQLite does not, so there the API adds its own index (named ix_mod_api_*) where no index starts with the
# columns. The two-column ones serve the hot reads on both backends (measured on the issue #8 dataset):
# * test_progress (test_id, timestamp): each run's first time and last row id come from the index alone (every run
#   list groups the whole table);
# * customized_test (test_id, regression_id): "is this test in the run's scope" is one index lookup instead of a
#   scan of the run's few hundred rows, and a run's scope is read from the index;
# * customized_test (regression_id, test_id): a sample's history finds the runs naming its tests from the index
#   alone (through the legacy regression_id index, one row read per run: 300 ms of the 840 on the dataset).
LOOKUP_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('test_progress', ('test_id', 'timestamp')), ('customized_test', ('test_id', 'regression_id')),
    ('customized_test', ('regression_id', 'test_id')),
    ('gcp_instance', ('test_id',)), ('test_fork', ('test_id',)), ('regression_test', ('sample_id',)),
    ('regression_test_category', ('regression_id',)), ('regression_test_output', ('regression_id',)),
    ('regression_test_output_files', ('regression_test_output_id',)),
    ('test_result_file', ('regression_test_output_id',)),  # a variant's trigger finds the runs it can flip
)


def create_api_tables(app: Flask) -> None:
    """Create mod_api's own tables, lookup indexes and stored run statuses with their triggers (idempotent).

    Legacy table definitions are never changed: no column is added, only an index where none covers the columns,
    and the triggers of ``mod_api.status_triggers``, which write to mod_api's own tables only.
    Safe when several processes run it at once (gunicorn workers starting ``run.py`` on SQLite): the indexes are
    created ``IF NOT EXISTS`` there, and a table another process created between the check and the CREATE makes
    the pass start over once, when it is seen and skipped.
    """
    from mod_api import models  # noqa: F401  (registers the tables on db.metadata)
    with app.app_context():
        # On MySQL not the request engine: its client read timeout would abort an index build on a big table.
        mysql = db.engine.dialect.name == 'mysql'
        engine = create_engine(db.engine.url) if mysql else db.engine
        try:
            try:
                _create_all(engine)
            except OperationalError:  # "already exists": a concurrent process won the race for a table
                _create_all(engine)
        finally:
            if mysql:
                engine.dispose()


def _create_all(engine: Any) -> None:
    from mod_api import status_store  # imports the models and the status SQL, which import this module
    db.metadata.create_all(engine)
    _create_lookup_indexes(engine)
    status_store.install(engine)


def _create_lookup_indexes(engine: Any) -> None:
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    if_not_exists = 'IF NOT EXISTS ' if engine.dialect.name == 'sqlite' else ''
    with engine.begin() as connection:
        for table, columns in LOOKUP_INDEXES:
            if table not in tables:
                continue
            covered = [tuple(index['column_names']) for index in inspector.get_indexes(table)]
            if engine.dialect.name == 'mysql':
                covered += [tuple(key['constrained_columns']) for key in inspector.get_foreign_keys(table)]
            if not any(existing[:len(columns)] == columns for existing in covered):
                name = f"ix_mod_api_{table}_{'_'.join(columns)}"
                connection.execute(text(f"CREATE INDEX {if_not_exists}{name} ON {table} ({', '.join(columns)})"))
