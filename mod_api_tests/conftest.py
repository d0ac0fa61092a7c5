"""Shared fixtures: every database-backed test runs on SQLite and on MariaDB, through mod_api's own init.

The app under test is a bare Flask app with ``mod_api.init_app`` (never ``run.py``), so the suite also runs
unchanged inside a real sample-platform checkout. Set ``API_TEST_BACKENDS=sqlite`` to skip MariaDB
explicitly; by default an unreachable MariaDB fails the run instead of silently skipping it.
"""
import os
import uuid
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine, make_url

import mod_api
from mod_api import facts_cache, page_cache, status_store, status_triggers
from mod_api.db import db
from mod_api.legacy import Base

BACKENDS = [name.strip() for name in os.environ.get('API_TEST_BACKENDS', 'sqlite,mysql').split(',') if name.strip()]
MYSQL_SERVER_URI = os.environ.get('API_TEST_MYSQL_URI', 'mysql+mysqldb://root:@127.0.0.1:3306/test')
SECRET = 'test-secret-key-0123456789abcdef'
pytest_plugins = ['mod_api_tests.gcs_emulator']


def all_tables() -> list[sqlalchemy.Table]:
    """Every table of the test database: the legacy ones, then mod_api's own."""
    from mod_api import models  # noqa: F401  (registers mod_api's tables)
    return list(Base.metadata.sorted_tables) + list(db.metadata.sorted_tables)


@pytest.fixture(scope='session', params=BACKENDS)
def database_uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database with the legacy schema and mod_api's tables, for the whole session, per backend."""
    if request.param == 'sqlite':
        uri = f"sqlite:///{tmp_path_factory.mktemp('db') / 'platform.db'}"
        server = None
    else:
        name = f'mod_api_test_{os.getpid()}_{uuid.uuid4().hex[:6]}'
        server = sqlalchemy.create_engine(MYSQL_SERVER_URI)
        with server.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE `{name}` CHARACTER SET utf8mb4'))
        uri = make_url(MYSQL_SERVER_URI).set(database=name).render_as_string(hide_password=False)
    engine = sqlalchemy.create_engine(uri)
    Base.metadata.create_all(engine)
    db.metadata.create_all(engine)
    engine.dispose()
    yield uri
    if server is not None:
        with server.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE `{make_url(uri).database}`'))
        server.dispose()


@pytest.fixture()
def backend(database_uri: str) -> str:
    """'sqlite' or 'mysql': the backend of the current test."""
    return make_url(database_uri).get_backend_name()


@pytest.fixture()
def make_app(database_uri: str, tmp_path: Any) -> Iterator[Callable[..., Flask]]:
    """Build a bare Flask app with mod_api on the test database; keyword arguments override config."""
    apps: list[Flask] = []
    repository = tmp_path / 'repository'
    repository.mkdir()

    def build(**overrides: Any) -> Flask:
        app = Flask(f'mod_api_test_{len(apps)}')
        settings = dict(TESTING=True, DATABASE_URI=database_uri, SAMPLE_REPOSITORY=str(repository),
                        API_SECRET_KEY=SECRET, GITHUB_OWNER='test_owner', GITHUB_REPOSITORY='test_repo')
        app.config.update({**settings, **overrides})
        mod_api.init_app(app)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    _empty_all_tables(database_uri)


def _empty_all_tables(uri: str) -> None:
    """Drop the stored-status triggers a test installed, then delete every row: the next test starts afresh."""
    engine: Engine = sqlalchemy.create_engine(uri)
    with engine.begin() as connection:
        status_triggers.remove(connection)
    with engine.begin() as connection:
        if engine.dialect.name == 'mysql':
            connection.execute(sqlalchemy.text('SET FOREIGN_KEY_CHECKS=0'))
        for table in reversed(all_tables()):
            connection.execute(table.delete())
        if engine.dialect.name == 'mysql':
            connection.execute(sqlalchemy.text('SET FOREIGN_KEY_CHECKS=1'))
    engine.dispose()


@pytest.fixture()
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The default app under test, with an application context pushed."""
    application = make_app()
    with application.app_context():
        yield application


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """A test client of the default app."""
    return app.test_client()


@pytest.fixture(autouse=True)
def empty_facts_cache() -> None:
    """Each test starts with empty per-worker caches (judged runs, pages, run documents and values).

    What a test sees and counts then never depends on the tests before it, whose databases may have given the
    same change marks.
    """
    facts_cache.cache.clear()
    for cache in (page_cache.pages, page_cache.run_documents, page_cache.run_values):
        cache.clear()
    status_store.forget_trigger_checks()
