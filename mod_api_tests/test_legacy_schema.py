"""The stand-in data layer must produce the legacy DDL exactly, and its 30 tables must build on a real MariaDB.

The reference DDL (``legacy-schema.<dialect>.sql``) was generated from the legacy models with
``CreateTable``/``CreateIndex`` over ``Base.metadata.sorted_tables``; the same is done here. Only whitespace and the
order of statements are normalised: the lines inside a statement (column order included) must match as written.
"""
import difflib
import importlib
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex, CreateTable

from database import Base

MODEL_MODULES = [f'mod_{name}.models' for name in
                 ('auth', 'ci', 'customized', 'home', 'regression', 'sample', 'test', 'upload')]
for _module in MODEL_MODULES:
    importlib.import_module(_module)

LEGACY_TABLE_COUNT = 30
DIALECTS = {'sqlite': sqlite.dialect(), 'mysql': mysql.dialect()}
STATEMENT_HEAD = re.compile(r'CREATE (TABLE|INDEX) (\S+)')
REPO_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MYSQL_URI = 'mysql+mysqldb://root:@127.0.0.1:3306/test'
THROWAWAY_DATABASE = f'legacy_schema_check_{os.getpid()}'


def reference_dir() -> Path:
    """Reference DDL folder: ``LEGACY_SCHEMA_DIR``, default ``<repo>/../shared/legacy``; skip when it is absent."""
    folder = Path(os.environ.get('LEGACY_SCHEMA_DIR', REPO_ROOT.parent / 'shared' / 'legacy'))
    if not folder.is_dir():
        pytest.skip(f'legacy reference DDL folder {folder} does not exist (set LEGACY_SCHEMA_DIR)')
    return folder


def normalise(statement: str) -> str:
    """One statement with runs of whitespace collapsed, lines trimmed and blank lines dropped (line order kept)."""
    lines = (' '.join(line.split()) for line in statement.splitlines())
    return '\n'.join(line for line in lines if line)


def by_name(statements: Iterable[str]) -> dict[str, str]:
    """Normalised statements keyed ``table <name>`` / ``index <name>``."""
    named = {}
    for statement in map(normalise, statements):
        kind, name = STATEMENT_HEAD.match(statement).groups()
        named[f'{kind.lower()} {name}'] = statement
    return named


@cache
def generated_statements(dialect_name: str) -> dict[str, str]:
    """DDL of the stand-in models, generated the way the reference was."""
    dialect = DIALECTS[dialect_name]
    statements = []
    for table in Base.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
    return by_name(statements)


@cache
def reference_statements(folder: Path, dialect_name: str) -> dict[str, str]:
    """Statements of the legacy reference file of a dialect (``--`` comment lines dropped)."""
    lines = (folder / f'legacy-schema.{dialect_name}.sql').read_text(encoding='utf-8').splitlines()
    body = '\n'.join(line for line in lines if not line.startswith('--'))
    return by_name(statement for statement in body.split(';') if statement.strip())


def test_metadata_has_all_legacy_tables() -> None:
    """28 mapped classes plus the two link tables."""
    assert len(Base.metadata.tables) == LEGACY_TABLE_COUNT


@pytest.mark.parametrize('dialect_name', DIALECTS)
def test_same_statements_as_legacy(dialect_name: str) -> None:
    """Every legacy table and index is generated, and nothing else."""
    reference = reference_statements(reference_dir(), dialect_name)
    assert sorted(generated_statements(dialect_name)) == sorted(reference)


@pytest.mark.parametrize(('dialect_name', 'statement_name'),
                         [(dialect, name) for dialect in DIALECTS for name in generated_statements(dialect)])
def test_statement_matches_legacy(dialect_name: str, statement_name: str) -> None:
    """Each generated CREATE statement equals the legacy one, line by line."""
    reference = reference_statements(reference_dir(), dialect_name)
    assert statement_name in reference, f'{statement_name} does not exist in the legacy {dialect_name} DDL'
    generated = generated_statements(dialect_name)[statement_name]
    diff = '\n'.join(difflib.unified_diff(reference[statement_name].splitlines(), generated.splitlines(),
                                          'legacy', 'generated', lineterm=''))
    assert generated == reference[statement_name], f'{statement_name} differs ({dialect_name}):\n{diff}'


def mysql_backend_wanted() -> bool:
    """False only when ``API_TEST_BACKENDS`` is set and does not list ``mysql``."""
    backends = os.environ.get('API_TEST_BACKENDS')
    return backends is None or 'mysql' in re.split(r'[\s,]+', backends)


@contextmanager
def throwaway_database(server_uri: str, name: str) -> Iterator[Engine]:
    """Engine on a freshly created database ``name`` on the server of ``server_uri``, dropped afterwards."""
    server = create_engine(server_uri)
    try:
        with server.begin() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS {name}'))
            connection.execute(text(f'CREATE DATABASE {name}'))
    except OperationalError as error:
        server.dispose()
        shown_uri = make_url(server_uri).render_as_string(hide_password=True)
        pytest.fail(f'MariaDB is not reachable at {shown_uri} (set API_TEST_BACKENDS without "mysql" to skip): {error}')
    engine = create_engine(make_url(server_uri).set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with server.begin() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS {name}'))
        server.dispose()


MARIADB_COLUMNS = [
    # table, column, reflected type, nullable
    ('test', 'platform', 'VARCHAR(50)', False),
    ('test', 'commit', 'VARCHAR(64)', False),
    ('test_progress', 'timestamp', 'DATETIME', False),
    ('regression_test', 'active', 'TINYINT(1)', True),
    ('user', 'password', 'VARCHAR(255)', False),
    ('ccextractor_version', 'released', 'DATE', True),
    ('general_data', 'value', 'TEXT', False),
]


def test_create_all_on_mariadb() -> None:
    """All 30 tables build on the real server, with the expected column types, engine and FK actions."""
    if not mysql_backend_wanted():
        pytest.skip('API_TEST_BACKENDS does not include mysql')
    with throwaway_database(os.environ.get('API_TEST_MYSQL_URI', DEFAULT_MYSQL_URI), THROWAWAY_DATABASE) as engine:
        Base.metadata.create_all(engine)
        inspector = inspect(engine)
        assert sorted(inspector.get_table_names()) == sorted(Base.metadata.tables)
        for table, column, type_sql, nullable in MARIADB_COLUMNS:
            reflected = {info['name']: info for info in inspector.get_columns(table)}[column]
            assert (reflected['type'].compile(dialect=engine.dialect), reflected['nullable']) == (type_sql, nullable), \
                f'{table}.{column}'
        assert inspector.get_table_options('test')['mysql_engine'] == 'InnoDB'
        [progress_fk] = inspector.get_foreign_keys('test_progress')
        assert (progress_fk['referred_table'], progress_fk['options']) == \
            ('test', {'onupdate': 'CASCADE', 'ondelete': 'CASCADE'})
