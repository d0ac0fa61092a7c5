"""mod_api's own flask-sqlalchemy session, bound to the platform's DATABASE_URI.

The legacy models are queried through this session too (any mapped class can be), but mod_api's own tables
live on their own metadata (``db.metadata``): they never add columns to legacy tables.
"""
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url

NAMING_CONVENTION = {
    'ix': 'ix_%(table_name)s_%(column_0_N_name)s',
    'uq': 'uq_%(table_name)s_%(column_0_N_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))

MYSQL_TIMEOUT_SECONDS = 5


def engine_options(database_uri: str) -> dict[str, Any]:
    """Engine options that keep a request from hanging on a dead database and recover when it is back."""
    url = make_url(database_uri)
    options: dict[str, Any] = {'pool_pre_ping': True}
    if url.get_backend_name() == 'mysql':
        timeouts = {'connect_timeout': MYSQL_TIMEOUT_SECONDS}
        if url.get_driver_name() == 'mysqldb':
            timeouts.update(read_timeout=30, write_timeout=30)
        options.update(pool_recycle=3600, connect_args=timeouts)
    return options


def init_db(app: Flask) -> None:
    """Bind the API's session to ``DATABASE_URI`` on ``app`` (already resolved by the settings)."""
    app.config['SQLALCHEMY_DATABASE_URI'] = app.config['DATABASE_URI']
    app.config.setdefault('SQLALCHEMY_ENGINE_OPTIONS', engine_options(app.config['DATABASE_URI']))
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == 'sqlite':
            event.listen(db.engine, 'connect', _sqlite_wait_for_locks)


def _sqlite_wait_for_locks(dbapi_connection: Any, _record: Any) -> None:
    """Let concurrent SQLite writers wait for each other instead of failing with 'database is locked'."""
    dbapi_connection.execute('PRAGMA busy_timeout = 5000')


def create_api_tables(app: Flask) -> None:
    """Create mod_api's own tables if they do not exist yet (idempotent; never touches legacy tables)."""
    from mod_api import models  # noqa: F401  (registers the tables on db.metadata)
    with app.app_context():
        db.metadata.create_all(db.engine)
