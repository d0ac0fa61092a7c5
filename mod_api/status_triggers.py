"""The database triggers that tell stored run statuses (``mod_api.status_store``) when they stop holding.

A run's status derives from its own rows (progress, VM, results, result files, scope, API cancellations) and from
the shared catalogue (regression tests, categories and their links, outputs, variants). Every change to those rows
fires a trigger, in the writer's own transaction, that marks what it may have changed:

* a run's own row: one is added to that run's ``api_run_status.version`` (``test`` itself creates the row);
* a variant (``regression_test_output_files``): the runs with a result file of that output whose ``got`` equals
  the variant's hash (exactly the runs the variant can accept or stop accepting);
* any other catalogue change that can alter a status: one is added to the ``api_status_state`` epoch, which
  makes every stored status stale.

Rows a run's Run document shows without deriving its status from them are watched the same way, so the versions
also tell when a run-list page or a sample's history may have changed (``status_store.change_mark``): the run's
``test_fork`` rows and API record (``api_run``) as its own rows, a ``fork`` (clone URL) or ``user`` (e-mail)
change advances the runs that show it, and moving a regression test to another sample advances the epoch. Every
change to the catalogue a run's other documents show (samples and their tags, regression tests, their outputs and
categories) adds one to ``api_catalogue_state.version`` (``status_store.run_mark``), which stales no status.
Every trigger also appends a row to ``api_change_log``, whose sum tells when any run list may have changed.

MariaDB fires no trigger for rows changed by a foreign-key cascade, so the parents' deletes and key updates are
watched (a deleted ``test`` or regression test, output, sample). Trigger names carry
:data:`STATUS_RULES_VERSION`: a new version replaces every trigger of an older one.
"""
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

# Raise it whenever the status rules (``mod_api.run_query.status_expression``) or these triggers change: every
# stored status is then recomputed by ``flask create-api-tables``, and ignored until then.
STATUS_RULES_VERSION = 4
PREFIX = 'api_status_v'
EVENTS = {'i': 'INSERT', 'u': 'UPDATE', 'd': 'DELETE'}

# Tables whose rows belong to one run, with the column naming it.
RUN_ROWS = {'test_progress': 'test_id', 'test_result': 'test_id', 'test_result_file': 'test_id',
            'customized_test': 'test_id', 'gcp_instance': 'test_id', 'api_run_cancellation': 'run_id',
            'test_fork': 'test_id', 'api_run': 'run_id'}
# Rows shown in the Run documents of several runs: (the runs showing the row ``{row}``, the columns shown).
SHOWN_ROWS = {'fork': ('SELECT id FROM test WHERE fork_id = {row}.id', ('id', 'github')),
              'user': ('SELECT test_id FROM test_fork WHERE user_id = {row}.id', ('id', 'email'))}
# Catalogue tables that advance the epoch, with the columns whose update matters (None: every update). A sample
# matters only through the regression tests its delete or key update cascades to; a new one changes nothing.
CATALOGUE_ROWS: dict[str, tuple[str, ...] | None] = {
    'regression_test': ('id', 'sample_id'), 'category': ('id',), 'regression_test_category': None,
    'regression_test_output': ('id', 'regression_id', 'ignore'), 'sample': ('id',)}
INSERT_CHANGES_NOTHING = frozenset({'sample'})
VARIANTS = 'regression_test_output_files'
# Catalogue tables whose every change advances the catalogue version (variants advance the runs they can flip).
SHOWN_CATALOGUE = ('sample', 'tag', 'sample_tag_association', 'regression_test', 'regression_test_output',
                   'category', 'regression_test_category')
WATCHED_TABLES = frozenset({'test', VARIANTS, *RUN_ROWS, *CATALOGUE_ROWS, *SHOWN_ROWS, *SHOWN_CATALOGUE})


# Every trigger appends one row to mod_api's change log (``status_store.change_mark`` sums it).
LOG_CHANGE = 'INSERT INTO api_change_log (changes) VALUES (1)'


def _bump_run(run_id: str) -> str:
    return f'UPDATE api_run_status SET version = version + 1 WHERE run_id = {run_id}'


def _create_run(dialect: str, run_id: str) -> str:
    """The run's row if missing; the version is then advanced like any other change.

    A plain ``INSERT ... IGNORE``, not an upsert: every SQLite and MySQL version a platform writer may use runs it.
    """
    ignore = 'IGNORE' if dialect == 'mysql' else 'OR IGNORE'
    return f'INSERT {ignore} INTO api_run_status (run_id, version) VALUES ({run_id}, 0)'


def _bump_variant_runs(row: str) -> str:
    return ('UPDATE api_run_status SET version = version + 1 WHERE run_id IN (SELECT test_id FROM test_result_file '
            f'WHERE regression_test_output_id = {row}.regression_test_output_id AND got = {row}.file_hashes)')


def _bump_shown_runs(runs: str, row: str, condition: str | None = None) -> str:
    statement = f'UPDATE api_run_status SET version = version + 1 WHERE run_id IN ({runs.format(row=row)})'
    return statement if condition is None else f'{statement} AND ({condition})'


def _bump_epoch(dialect: str, columns: tuple[str, ...] | None) -> str:
    statement = 'UPDATE api_status_state SET epoch = epoch + 1'
    return statement if columns is None else f'{statement} WHERE {_any_differs(dialect, columns)}'


def _bump_catalogue() -> str:
    return 'UPDATE api_catalogue_state SET version = version + 1'


def _any_differs(dialect: str, columns: tuple[str, ...]) -> str:
    """SQL true when an UPDATE changed one of ``columns`` (NULL-safe)."""
    differs = ('NOT (OLD.`{0}` <=> NEW.`{0}`)' if dialect == 'mysql' else 'OLD.`{0}` IS NOT NEW.`{0}`')
    return ' OR '.join(differs.format(column) for column in columns)


def _bodies(dialect: str) -> Iterator[tuple[str, str, list[str]]]:
    """(table, event letter, statements) of every trigger; a table and event may come several times."""
    for table, column in RUN_ROWS.items():
        yield table, 'i', [_bump_run(f'NEW.{column}')]
        yield table, 'u', [_bump_run(f'OLD.{column}'), _bump_run(f'NEW.{column}')]
        yield table, 'd', [_bump_run(f'OLD.{column}')]
    yield 'test', 'i', [_create_run(dialect, 'NEW.id'), _bump_run('NEW.id')]
    yield 'test', 'u', [_bump_run('OLD.id'), _create_run(dialect, 'NEW.id'), _bump_run('NEW.id')]
    yield 'test', 'd', [_bump_run('OLD.id')]
    yield VARIANTS, 'i', [_bump_variant_runs('NEW')]
    yield VARIANTS, 'u', [_bump_variant_runs('OLD'), _bump_variant_runs('NEW')]
    yield VARIANTS, 'd', [_bump_variant_runs('OLD')]
    for table, columns in CATALOGUE_ROWS.items():
        if table not in INSERT_CHANGES_NOTHING:
            yield table, 'i', [_bump_epoch(dialect, None)]
        yield table, 'u', [_bump_epoch(dialect, columns)]
        yield table, 'd', [_bump_epoch(dialect, None)]
    for table, (runs, shown) in SHOWN_ROWS.items():
        changed = _any_differs(dialect, shown)
        yield table, 'i', [_bump_shown_runs(runs, 'NEW')]  # rows that name it before it exists (no FK on SQLite)
        yield table, 'u', [_bump_shown_runs(runs, 'OLD', changed), _bump_shown_runs(runs, 'NEW', changed)]
        yield table, 'd', [_bump_shown_runs(runs, 'OLD')]
    for table in SHOWN_CATALOGUE:
        for event in EVENTS:
            yield table, event, [_bump_catalogue()]


def trigger_name(table: str, event: str) -> str:
    """The name of this version's trigger on ``table`` for ``event`` ('i', 'u' or 'd')."""
    return f'{PREFIX}{STATUS_RULES_VERSION}_{table}_{event}'


def definitions(dialect: str) -> dict[str, str]:
    """Trigger name -> its CREATE TRIGGER statement, for ``dialect`` ('sqlite' or 'mysql').

    One trigger per table and event: it logs the change (:data:`LOG_CHANGE`), then runs every statement
    :func:`_bodies` gives for them, in that order.
    """
    statements: dict[tuple[str, str], list[str]] = {}
    for table, event, body in _bodies(dialect):
        statements.setdefault((table, event), [LOG_CHANGE]).extend(body)
    return {trigger_name(table, event): (
        f'CREATE TRIGGER {trigger_name(table, event)} AFTER {EVENTS[event]} ON `{table}` FOR EACH ROW BEGIN '
        + ' '.join(f'{statement};' for statement in body) + ' END')
        for (table, event), body in statements.items()}


def present_query(dialect: str, names: Any = None) -> str:
    """SQL listing the names of the triggers present (all of mod_api's, or those in ``names``), one per row.

    On MySQL, ``names`` are looked for on the watched tables alone: ``information_schema`` then reads those
    tables' trigger definitions instead of every table's in the schema (1.6 ms instead of 2.1 on the issue #8
    dataset; every read of stored statuses and every page built asks).
    """
    column, source = (('TRIGGER_NAME', 'information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE()')
                      if dialect == 'mysql' else ('name', "sqlite_master WHERE type = 'trigger'"))
    if names is None:
        return f"SELECT {column} FROM {source} AND {column} LIKE '{PREFIX}%'"
    chosen = f"{column} IN ({', '.join(repr(name) for name in sorted(names))})"
    if dialect == 'mysql':
        chosen += f" AND EVENT_OBJECT_TABLE IN ({', '.join(repr(table) for table in sorted(WATCHED_TABLES))})"
    return f'SELECT {column} FROM {source} AND {chosen}'


def replace_all(connection: Connection) -> None:
    """Create this version's triggers where missing and drop mod_api's others (of older versions).

    A trigger of this version is never dropped, so no change goes unseen while another process installs too (on
    SQLite every worker of the demo does at start: there ``IF NOT EXISTS`` makes the race harmless). On MariaDB
    each statement commits by itself, and each CREATE TRIGGER waits for the transactions writing its table to end.
    """
    dialect = connection.dialect.name
    wanted = definitions(dialect)
    present = set(connection.execute(text(present_query(dialect))).scalars())
    remove(connection, present - set(wanted))
    if_not_exists = 'IF NOT EXISTS ' if dialect == 'sqlite' else ''
    for name, statement in wanted.items():
        if name not in present:
            connection.execute(text(statement.replace('CREATE TRIGGER ', f'CREATE TRIGGER {if_not_exists}', 1)))


def remove(connection: Connection, names: Any = None) -> None:
    """Drop mod_api's status triggers (``names``, or all of them): the legacy tables are then left as they were."""
    dialect = connection.dialect.name
    for name in names if names is not None else list(connection.execute(text(present_query(dialect))).scalars()):
        connection.execute(text(f'DROP TRIGGER IF EXISTS {name}'))
