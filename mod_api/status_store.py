"""Stored run statuses: each run's derived status and times kept in ``api_run_status``, exact, for run lists.

Deriving the status of every run of a production platform takes the database tens of seconds, so ``GET /runs``
(status filter, time sorts) and ``GET /queue`` read stored values instead, never blindly: a stored row counts only
while every trigger of :mod:`mod_api.status_triggers` is in place with the current rules version and the row says
nothing changed since it was computed (``run_query.stored_status_holds``). Any other run is judged live in the
same statement, so a list agrees with the live derivation for its snapshot however many rows are stale.

Stale rows are recomputed by :func:`refresh`: a few before each request that reads them, every one by
``flask create-api-tables``. A status is written with the version and epoch it was computed at, so a change
committed meanwhile leaves it stale rather than wrong (``mod_api/docs/stored-statuses.md``).
"""
import time
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Insert,
    Select,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    inspect,
    literal,
    literal_column,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import OperationalError

from mod_api import status_triggers
from mod_api.db import RETRYABLE_MYSQL_ERRORS, db, mysql_error_code
from mod_api.legacy import Test
from mod_api.models import CatalogueState, ChangeLogEntry, StoredRunStatus, StoredStatusState
from mod_api.run_query import (
    STATE_ID,
    current_epoch,
    first_progress_at,
    first_vm_at,
    run_columns,
    stored_status_holds,
)

# The stored times (as the legacy rows hold them: read and written as their text on SQLite, never re-formatted).
STORED_TIMES = {'first_progress_at': first_progress_at, 'first_vm_at': first_vm_at}
# Stale rows recomputed per statement before a request reads stored rows (about 0.7 ms each on the issue #8
# dataset), batch after batch for at most REQUEST_REFRESH_SECONDS: after a catalogue edit made every row stale, the
# first request recomputes them (7 s for 10,000 runs) rather than judging them all live (several times longer).
REQUEST_REFRESH_BATCH = 100
REQUEST_REFRESH_SECONDS = 10.0
# Rows recomputed per statement when create-api-tables computes them all.
INSTALL_BATCH = 500
# How long a worker trusts its last check that every trigger is in place when it reads a change mark: a trigger
# dropped by hand (or a platform table recreated) is noticed within this time (see _checked_state).
TRIGGER_CHECK_SECONDS = 1.0
_checked_at: dict[URL, float] = {}  # database URL -> when this worker last found every trigger in place
# The change log is compacted when a page is built and it has more rows than this (at least 1), COMPACT_BATCH rows
# (at least 2) at a time.
LOG_ROWS_KEPT = 256
COMPACT_BATCH = 50_000


def install(engine: Engine) -> None:
    """Put the triggers, the state row and a row per run in place, then recompute every stored status.

    Each call starts a new epoch, so every status is computed again under the current rules: the command is also
    the remedy after writes that fire no trigger (``TRUNCATE`` of a legacy table). Nothing is done while a legacy
    table is missing (the platform has not created its schema yet): lists are then judged live.
    """
    if not status_triggers.WATCHED_TABLES <= set(inspect(engine).get_table_names()):
        return
    with engine.begin() as connection:
        status_triggers.replace_all(connection)
        connection.execute(_ignoring_duplicates(insert(StoredStatusState).values(
            id=STATE_ID, epoch=0, rules_version=status_triggers.STATUS_RULES_VERSION)))
        connection.execute(_ignoring_duplicates(insert(CatalogueState).values(id=STATE_ID, version=0)))
        connection.execute(update(StoredStatusState).where(StoredStatusState.id == STATE_ID).values(
            epoch=StoredStatusState.epoch + 1, rules_version=status_triggers.STATUS_RULES_VERSION))
        _add_missing_rows(connection)
    while refresh(INSTALL_BATCH):
        pass


def _add_missing_rows(connection: Connection) -> None:
    """A (stale) row for every run without one; a run created meanwhile gets its row from the ``test`` trigger."""
    missing = select(Test.id, literal_column('0')).where(
        ~select(StoredRunStatus.run_id).where(StoredRunStatus.run_id == Test.id).exists())
    connection.execute(_ignoring_duplicates(insert(StoredRunStatus).from_select(['run_id', 'version'], missing)))


def _ignoring_duplicates(statement: Insert) -> Insert:
    """``statement`` skipping rows whose key exists (another process may insert the same rows concurrently)."""
    return statement.prefix_with('IGNORE', dialect='mysql').prefix_with('OR IGNORE', dialect='sqlite')


def usable() -> bool:
    """True when stored rows may serve reads: every trigger is in place and the rules version is current.

    One query; a database whose legacy tables were recreated (losing their triggers) is judged live until
    ``flask create-api-tables`` runs again.
    """
    return _checked_state('usable') is not None


def change_mark() -> tuple[int, ...] | None:
    """A value that changes whenever a row a run list or a sample history shows changes; None when not usable.

    (epoch, catalogue version, sum of the change log), in one query with :func:`usable`'s checks: every trigger
    appends a change of one to ``api_change_log`` (and a catalogue change also advances the catalogue version),
    compacting the log keeps its sum (:func:`compact_change_log`), and a refresh writes none of them, so no change
    leaves the mark as it was. Read it before the rows it stands for: a page built afterwards is then at least as
    new as its mark.
    """
    return _mark(_checked_state('change'))


def compact_change_log() -> None:
    """Sum the change log's oldest rows into the last of them while it has more than :data:`LOG_ROWS_KEPT` rows.

    :func:`change_mark` reads every row of the log, and triggers add one per change. Each batch is one transaction
    (readers see the log before or after it, with the same sum): the state row is locked first, so compactions
    take turns; the batch is summed with a locking read (on MariaDB it waits for a writer's uncommitted row among
    them, and counts it), then its last row takes the sum and the others are deleted. Writers only append rows
    after it, so none waits. A deadlock or lock wait only leaves the log longer until the next compaction.
    """
    deadline = time.monotonic() + REQUEST_REFRESH_SECONDS
    while (db.session.scalar(select(func.count()).select_from(ChangeLogEntry)) or 0) > LOG_ROWS_KEPT:
        db.session.commit()  # a new transaction: its reads come after the state row's lock
        try:
            db.session.execute(select(StoredStatusState.id).where(StoredStatusState.id == STATE_ID)
                               .with_for_update())
            log = ChangeLogEntry.id
            last = (db.session.scalar(select(log).order_by(log).offset(COMPACT_BATCH - 1).limit(1))
                    or db.session.scalar(select(func.max(log))))
            total = db.session.scalar(select(func.sum(ChangeLogEntry.changes)).where(log <= last).with_for_update())
            db.session.execute(update(ChangeLogEntry).where(log == last).values(changes=total))
            db.session.execute(delete(ChangeLogEntry).where(log < last))
            db.session.commit()
        except OperationalError as error:
            _skipped(error)
            return
        if time.monotonic() > deadline:
            return


def run_mark(run_id: int) -> tuple[int, ...] | None:
    """A value that changes whenever a row some document of run ``run_id`` shows changes; None when not usable.

    (epoch, catalogue version, the run's version), read like :func:`change_mark`; None also for a run without a
    stored row (a run that does not exist).
    """
    return _mark(_checked_state('run', run_id=run_id))


def _mark(row: Any) -> tuple[int, ...] | None:
    """The mark in ``row`` (after the rules version and trigger count), None without a row or with a NULL in it."""
    if row is None or any(value is None for value in row[2:]):
        return None
    return tuple(int(value) for value in row[2:])


def _checked_state(kind: str, **parameters: Any) -> Any:
    """The state row's rules version, trigger count and mark of ``kind`` (:func:`_state_query`); None unless usable.

    A mark ('change', 'run') trusts this worker's last check that every trigger is in place for
    :data:`TRIGGER_CHECK_SECONDS` and then does not count them again (the count reads ``information_schema``: on
    MariaDB it halved the throughput of pages served again); 'usable', which reads of stored rows ask, always counts.
    """
    dialect, database = db.engine.dialect.name, db.engine.url
    last_checked = _checked_at.get(database)
    trusted = kind != 'usable' and last_checked is not None and time.monotonic() - last_checked < TRIGGER_CHECK_SECONDS
    row: Any = db.session.execute(_state_query(dialect, kind, trusted), parameters).first()
    expected = (status_triggers.STATUS_RULES_VERSION, 0 if trusted else len(_trigger_names(dialect)))
    usable = row is not None and tuple(row[:2]) == expected
    if not usable:
        _checked_at.pop(database, None)
    elif not trusted:
        _checked_at[database] = time.monotonic()
    return row if usable else None


def forget_trigger_checks() -> None:
    """Count the triggers at the next mark read too (tests: a test drops triggers and expects it seen at once)."""
    _checked_at.clear()


@lru_cache(maxsize=16)
def _state_query(dialect: str, kind: str, trusted: bool) -> Select:
    """The state row's rules version, the count of present triggers, then the columns of a mark, built once.

    ``kind``: 'usable' (no more), 'change' (epoch, catalogue version, sum of the change log) or 'run' (epoch,
    catalogue version, the version of the run given as the parameter ``run_id``). Each request serving a page again
    reads one, so it is not rebuilt per call (about 0.3 ms of Python). ``trusted``: 0 stands for the count.
    """
    present = ('0' if trusted else
               f'(SELECT COUNT(*) FROM ({status_triggers.present_query(dialect, _trigger_names(dialect))}) AS present)')
    catalogue = select(CatalogueState.version).where(CatalogueState.id == STATE_ID).scalar_subquery()
    marks = {
        'usable': (),
        'change': (StoredStatusState.epoch, catalogue,
                   select(func.coalesce(func.sum(ChangeLogEntry.changes), 0)).scalar_subquery()),
        'run': (StoredStatusState.epoch, catalogue, select(StoredRunStatus.version)
                .where(StoredRunStatus.run_id == bindparam('run_id')).scalar_subquery()),
    }
    return (select(StoredStatusState.rules_version, literal_column(present), *marks[kind])
            .where(StoredStatusState.id == STATE_ID))


def ready() -> bool:
    """:func:`usable`, after recomputing the stale rows (:func:`refresh_stale`): call it before reading them."""
    if not usable():
        return False
    refresh_stale()
    return True


def refresh_stale() -> None:
    """Recompute stale rows, batch after batch within a time budget, before a request reads stored rows.

    Rows still stale when the budget runs out are judged live by the reads, so they are exact either way.
    """
    deadline = time.monotonic() + REQUEST_REFRESH_SECONDS
    while refresh(REQUEST_REFRESH_BATCH) == REQUEST_REFRESH_BATCH and time.monotonic() < deadline:
        pass


@lru_cache(maxsize=2)
def _trigger_names(dialect: str) -> frozenset[str]:
    return frozenset(status_triggers.definitions(dialect))


def refresh(limit: int) -> int:
    """Recompute up to ``limit`` stale statuses (latest runs first) and commit; how many were written.

    Statuses, versions and the epoch are read in one statement (one snapshot) and written with the version and
    epoch they were computed at, so a status computed before a concurrent change does not hold once written (the
    change advanced the version or epoch). On MariaDB the rows a platform writer holds are skipped, not waited
    for (:func:`_lockable`), and a deadlock or lock wait only leaves those statuses stale for the next refresh.
    """
    stale_ids = db.session.scalars(_stale_rows(StoredRunStatus.run_id).order_by(StoredRunStatus.run_id.desc())
                                   .limit(limit)).all()
    if not stale_ids:  # the usual case: one scan of the stored rows, no status derived
        return 0
    stale = (select(StoredRunStatus.run_id, StoredRunStatus.version, current_epoch().label('epoch'))
             .where(StoredRunStatus.run_id.in_(stale_ids)).subquery('stale'))
    runs = run_columns()
    computed = db.session.execute(runs.select(
        stale.c.run_id, stale.c.version, stale.c.epoch, runs.status.label('status'),
        *(type_coerce(moment(Test.id), String).label(name) for name, moment in STORED_TIMES.items()),
        page=stale)).all()
    if not computed:
        return 0
    epoch = computed[0].epoch
    if epoch is None:  # the state row was removed meanwhile
        return 0
    by_run = StoredRunStatus.run_id
    try:
        locked = _lockable([row.run_id for row in computed])
    except OperationalError as error:
        return _skipped(error)
    statement = (update(StoredRunStatus).where(by_run.in_(locked))
                 .values(status=case({row.run_id: row.status for row in computed}, value=by_run),
                         computed_version=case({row.run_id: row.version for row in computed}, value=by_run),
                         computed_epoch=epoch,
                         **{name: case({row.run_id: literal(row._mapping[name], String) for row in computed},
                                       value=by_run) for name in STORED_TIMES})
                 .execution_options(synchronize_session=False))
    try:
        written: int = db.session.execute(statement).rowcount  # type: ignore[attr-defined]
        db.session.commit()
    except OperationalError as error:
        return _skipped(error)
    return written


def _lockable(run_ids: list[int]) -> list[int]:
    """Those of ``run_ids`` whose rows this transaction locks at once, skipping rows a writer holds.

    A platform transaction that changes several runs (a new variant) locks their rows in its own order; a refresh
    that waited for one of them while holding others could deadlock with it, and MariaDB might pick the platform's
    transaction as the victim. ``SKIP LOCKED`` (MariaDB 10.6+, MySQL 8) never waits; elsewhere (SQLite has one
    writer at a time) every row is taken.
    """
    dialect = db.session.get_bind().dialect
    version = dialect.server_version_info or ()
    if dialect.name != 'mysql' or version < ((10, 6) if getattr(dialect, 'is_mariadb', False) else (8, 0, 1)):
        return run_ids
    return list(db.session.scalars(select(StoredRunStatus.run_id).where(StoredRunStatus.run_id.in_(run_ids))
                                   .order_by(StoredRunStatus.run_id).with_for_update(skip_locked=True)))


def _skipped(error: OperationalError) -> int:
    """No status written: MariaDB aborted the refresh for a concurrent transaction (others are raised)."""
    if mysql_error_code(error) not in RETRYABLE_MYSQL_ERRORS:
        raise error
    db.session.rollback()
    return 0


def _stale_rows(*columns: Any) -> Select:
    """``SELECT columns`` of the stored rows of existing runs that do not hold (the ones a refresh recomputes)."""
    return (select(*columns).select_from(StoredRunStatus).join(Test, Test.id == StoredRunStatus.run_id)
            .where(~stored_status_holds()))


def stale_count() -> int:
    """How many existing runs' stored rows do not hold (what a refresh has left to do; used by the tests)."""
    return db.session.scalar(_stale_rows(func.count())) or 0
