"""SQL for ``GET /runs``: each run's derived status, creation and start times, the filters, the sorts, a page.

Everything here is computed by the database, so a page with its runs' statuses and its exact ``total`` cost two
SELECTs whatever the number of runs (after :func:`mod_api.run_view.record_first_seen`, which gives every run a
stable creation time, when the creation time sorts or filters). Derived columns are looked up per ``test`` row,
so only the rows a statement needs pay for them (see :func:`page_of_runs`).

* ``created_at`` / ``started_at`` follow :class:`mod_api.run_view.RunView`: the API's record, else the earliest
  progress row, else the VM row (converted from the platform host's local time with
  :func:`mod_api.run_view.local_utc_offset`), else now (a run created after ``record_first_seen`` ran).
* ``status`` is :func:`mod_api.verdicts.judge` written in SQL (``mod_api/docs/verdicts.md``; the agreement is
  tested over generated platform databases in ``test_run_query.py``):

  - no progress row: ``running`` with a VM row, else ``queued``;
  - last row (highest id) ``canceled``: ``canceled`` when the API wrote it (an ``api_run_cancellation`` record
    names that row and run) or its message without surrounding spaces/tabs/CR/LF is one of
    ``verdicts.CANCELLATION_MESSAGES`` (byte for byte), else ``error``;
  - last row not ``completed``: ``running``;
  - completed: ``fail`` when a regression test in scope failed — its result's exit code differs NULL-safely
    from the result's ``expected_rc``, or one of its result files has a ``got`` equal to no variant of that
    file's (existing) output, or it has no result file while one of its outputs has ``ignore`` exactly false
    (missing output; NULL counts as ignored); else ``incomplete`` when a test in scope has no result; else
    ``pass``. In scope: categorised (an existing category links it) and, when the run has ``customized_test``
    rows, named by one of them; EXISTS makes duplicates count once.
"""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    join,
    literal,
    or_,
    outerjoin,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import DateTime

from mod_api.db import db
from mod_api.legacy import (
    Category,
    CustomizedTest,
    Fork,
    GcpInstance,
    RegressionTest,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    Test,
    TestPlatform,
    TestProgress,
    TestResult,
    TestResultFile,
    TestStatus,
    regressionTestLinkTable,
)
from mod_api.models import RunCancellation, RunRecord, StoredRunStatus, StoredStatusState
from mod_api.queue import progress_bounds
from mod_api.run_view import local_utc_offset, record_first_seen
from mod_api.sql_functions import Exact, repository_expression
from mod_api.timeutil import utcnow
from mod_api.verdicts import CANCELLATION_MESSAGES, MESSAGE_WHITESPACE, RunStatus

SORTS = ('created_at', '-created_at', 'started_at', '-started_at', 'run_id', '-run_id')
DEFAULT_SORT = '-created_at'


# --- SQL that reads the same on SQLite and MariaDB -----------------------------------------------------------------

class StripMessageWhitespace(FunctionElement[str]):
    """The text without surrounding ``verdicts.MESSAGE_WHITESPACE`` (Python's ``str.strip`` of those characters)."""

    name = 'strip_message_whitespace'
    inherit_cache = True


@compiles(StripMessageWhitespace, 'sqlite')
def _strip_sqlite(element: StripMessageWhitespace, compiler: Any, **kw: Any) -> str:
    characters = compiler.process(literal(MESSAGE_WHITESPACE), **kw)
    return f'trim({compiler.process(element.clauses, **kw)}, {characters})'


@compiles(StripMessageWhitespace)
def _strip_mysql(element: StripMessageWhitespace, compiler: Any, **kw: Any) -> str:
    pattern = compiler.process(literal(f'^[{MESSAGE_WHITESPACE}]+|[{MESSAGE_WHITESPACE}]+$'), **kw)
    return f"REGEXP_REPLACE({compiler.process(element.clauses, **kw)}, {pattern}, '')"


class ShiftSeconds(FunctionElement[datetime]):
    """``ShiftSeconds(moment, seconds)``: a DATETIME moved by a whole number of seconds (fraction kept)."""

    type = DateTime()
    name = 'shift_seconds'
    inherit_cache = True


@compiles(ShiftSeconds, 'sqlite')
def _shift_sqlite(element: ShiftSeconds, compiler: Any, **kw: Any) -> str:
    moment, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime drops the fraction, which is put back.
    return (f"(strftime('%Y-%m-%d %H:%M:%S', {moment}, ({seconds}) || ' seconds') "
            f'|| substr({moment}, 20))')


@compiles(ShiftSeconds)
def _shift_mysql(element: ShiftSeconds, compiler: Any, **kw: Any) -> str:
    moment, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    return f'TIMESTAMPADD(SECOND, {seconds}, {moment})'


class AsDateTime(FunctionElement[datetime]):
    """A DATETIME value (MariaDB types ``COALESCE`` of columns and a bound time as text: cast it back)."""

    type = DateTime()
    name = 'as_datetime'
    inherit_cache = True


@compiles(AsDateTime, 'sqlite')
def _as_datetime_sqlite(element: AsDateTime, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)})'  # SQLite's CAST AS DATETIME would make it a number


@compiles(AsDateTime)
def _as_datetime_mysql(element: AsDateTime, compiler: Any, **kw: Any) -> str:
    return f'CAST({compiler.process(element.clauses, **kw)} AS DATETIME(6))'


def local_to_utc(moment: Any) -> ColumnElement[datetime]:
    """A naive local DATETIME of the platform host in UTC (``run_view.vm_time_as_utc`` in SQL)."""
    seconds = int(local_utc_offset().total_seconds())
    return moment if seconds == 0 else ShiftSeconds(moment, literal(-seconds))


# --- status --------------------------------------------------------------------------------------------------------

def categorised(regression_id: Any) -> ColumnElement[bool]:
    """The regression test ``regression_id`` exists and an existing category links it (verdicts.md §1.2)."""
    link, tested = regressionTestLinkTable, aliased(RegressionTest)
    return exists(select(tested.id).join(link, link.c.regression_id == tested.id)
                  .join(Category, Category.id == link.c.category_id).where(tested.id == regression_id)
                  .correlate_except(tested, link, Category))


def has_customized_rows(run_id: Any) -> ColumnElement[bool]:
    """The run has ``customized_test`` rows (then they name its scope; else every categorised test is in it)."""
    return exists().where(CustomizedTest.test_id == run_id).correlate_except(CustomizedTest)


def in_scope_condition(run_id: Any, regression_id: Any) -> ColumnElement[bool]:
    """The regression test ``regression_id`` is judged in run ``run_id`` (verdicts.in_scope).

    Every subquery here names the tables it reads in ``correlate_except``: SQLAlchemy auto-correlates only to the
    immediately enclosing SELECT, and these are nested several levels below the one reading ``test``.
    """
    chosen = (exists().where(CustomizedTest.test_id == run_id, CustomizedTest.regression_id == regression_id)
              .correlate_except(CustomizedTest))
    return and_(categorised(regression_id), or_(~has_customized_rows(run_id), chosen))


def _some_test_in_scope(run_id: Any, condition: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
    """Some regression test in the run's scope satisfies ``condition(regression id)``.

    Driven by the scope itself: a run with ``customized_test`` rows walks those rows (a few hundred, read from the
    ``(test_id, regression_id)`` lookup index), and only a run without any walks every regression test. Same
    answer as ``EXISTS (regression test WHERE in_scope_condition AND condition)``, without probing every
    regression test of the platform for every run.
    """
    chosen, tested = aliased(CustomizedTest), aliased(RegressionTest)
    customized = has_customized_rows(run_id)
    by_rows = exists(select(chosen.id).where(chosen.test_id == run_id, categorised(chosen.regression_id),
                                             condition(chosen.regression_id)).correlate_except(chosen))
    every_test = exists(select(tested.id).where(categorised(tested.id), condition(tested.id))
                        .correlate_except(tested))
    return or_(and_(customized, by_rows), and_(~customized, every_test))


def _some_sample_failed(run_id: Any) -> ColumnElement[bool]:
    """In a finished run, some in-scope regression test is ``fail`` or ``missing_output``."""
    output, variant = aliased(RegressionTestOutput), aliased(RegressionTestOutputFiles)
    accepted = exists(select(variant.id).join(output, output.id == variant.regression_test_output_id)
                      .where(variant.regression_test_output_id == TestResultFile.regression_test_output_id,
                             Exact(variant.file_hashes) == TestResultFile.got)
                      .correlate_except(variant, output))
    exit_code_differs = (exists().where(TestResult.test_id == run_id,
                                        TestResult.exit_code.is_distinct_from(TestResult.expected_rc),
                                        in_scope_condition(run_id, TestResult.regression_test_id))
                         .correlate_except(TestResult))
    file_differs = (exists().where(TestResultFile.test_id == run_id, TestResultFile.got.isnot(None), ~accepted,
                                   in_scope_condition(run_id, TestResultFile.regression_test_id))
                    .correlate_except(TestResultFile))
    reported, required = aliased(TestResultFile), aliased(RegressionTestOutput)

    def output_missing(regression_id: Any) -> ColumnElement[bool]:
        no_file = ~exists().where(reported.test_id == run_id, reported.regression_test_id == regression_id) \
            .correlate_except(reported)
        return and_(no_file, exists().where(required.regression_id == regression_id, required.ignore == false())
                    .correlate_except(required))
    return or_(exit_code_differs, file_differs, _some_test_in_scope(run_id, output_missing))


def _some_sample_without_result(run_id: Any) -> ColumnElement[bool]:
    """Some in-scope regression test has no ``test_result`` row in the run."""
    return _some_test_in_scope(run_id, lambda regression_id: ~exists().where(
        TestResult.test_id == run_id, TestResult.regression_test_id == regression_id).correlate_except(TestResult))


def status_expression(run_id: Any, last: Any, has_progress: ColumnElement[bool],
                      has_vm: ColumnElement[bool]) -> ColumnElement[str]:
    """The run status (a RunStatus value) of run ``run_id`` whose last progress row is the entity ``last``."""
    canceled_by_someone = or_(
        exists().where(RunCancellation.progress_id == last.id, RunCancellation.run_id == run_id)
        .correlate_except(RunCancellation),
        Exact(StripMessageWhitespace(last.message)).in_(sorted(CANCELLATION_MESSAGES)))
    return case(
        (~has_progress, case((has_vm, RunStatus.RUNNING.value), else_=RunStatus.QUEUED.value)),
        (last.status == TestStatus.canceled,
         case((canceled_by_someone, RunStatus.CANCELED.value), else_=RunStatus.ERROR.value)),
        (last.status != TestStatus.completed, RunStatus.RUNNING.value),
        (_some_sample_failed(run_id), RunStatus.FAIL.value),
        (_some_sample_without_result(run_id), RunStatus.INCOMPLETE.value),
        else_=RunStatus.PASS.value)


# --- stored statuses (mod_api.status_store) ------------------------------------------------------------------------

STATE_ID = 1  # the one api_status_state row


def current_epoch() -> ColumnElement[int]:
    """The stored statuses' epoch (NULL without a state row); one uncorrelated lookup per statement."""
    return select(StoredStatusState.epoch).where(StoredStatusState.id == STATE_ID).scalar_subquery()


def stored_status_holds() -> ColumnElement[bool]:
    """The joined ``api_run_status`` row's status is current: nothing it derives from changed since it was computed.

    Never NULL: false for a run without a row, a status never computed, or no state row.
    """
    return and_(StoredRunStatus.computed_version.isnot(None), StoredRunStatus.computed_epoch.isnot(None),
                current_epoch().isnot(None), StoredRunStatus.computed_version == StoredRunStatus.version,
                StoredRunStatus.computed_epoch == current_epoch())


def with_stored_statuses(runs: Any) -> Any:
    """``runs`` (a FROM holding ``test``) outer-joined to the runs' stored statuses."""
    return outerjoin(runs, StoredRunStatus, StoredRunStatus.run_id == Test.id)


def stale_runs() -> Select:
    """``SELECT run_id``: the runs whose stored status does not hold (no row, never computed, or changed since)."""
    return (select(Test.id.label('run_id')).select_from(with_stored_statuses(Test.__table__))
            .where(~stored_status_holds()))


def every_stored_status_holds() -> Select:
    """``SELECT`` true when every run has a stored status that holds: as many holding rows as runs.

    Two counts, far cheaper than joining every run. A row whose run was deleted never holds (the ``test`` trigger
    advanced its version and no refresh computes a run that does not exist), so the counts match only when each
    run has a holding row.
    """
    holding = select(func.count()).select_from(StoredRunStatus).where(stored_status_holds()).scalar_subquery()
    return select(select(func.count()).select_from(Test).scalar_subquery() == holding)


def runs_with_status(*statuses: str) -> list[int] | None:
    """The runs whose status is one of ``statuses``, from the stored rows when every one holds (else None).

    Call it in the transaction of the statements that use the answer: on MariaDB they then share its snapshot.
    """
    if not db.session.scalar(every_stored_status_holds()):
        return None
    return list(db.session.scalars(select(StoredRunStatus.run_id).where(StoredRunStatus.status.in_(statuses))))


# --- the run list --------------------------------------------------------------------------------------------------

def first_progress_at(run_id: Any) -> ColumnElement[datetime]:
    """The time of run ``run_id``'s earliest progress row (NULL: none); one lookup in the (test_id, timestamp) index."""
    return (select(func.min(TestProgress.timestamp)).where(TestProgress.test_id == run_id)
            .correlate_except(TestProgress).scalar_subquery())


def first_vm_at(run_id: Any) -> ColumnElement[datetime]:
    """The creation time of run ``run_id``'s earliest ``gcp_instance`` row (naive local time, trap 8; NULL: none)."""
    return (select(func.min(GcpInstance.timestamp)).where(GcpInstance.test_id == run_id)
            .correlate_except(GcpInstance).scalar_subquery())


NOW = bindparam('now', callable_=utcnow, type_=DateTime())  # the time of each execution


def _times(first_at: Any, vm_at: Any) -> tuple[ColumnElement[datetime], ColumnElement[datetime]]:
    """(started_at, created_at) of a run from its earliest progress time and VM time (naive local, trap 8)."""
    vm_utc = local_to_utc(vm_at)
    return func.coalesce(first_at, vm_utc), AsDateTime(func.coalesce(RunRecord.created_at, first_at, vm_utc, NOW))


class RunColumns:
    """The derived columns of a run, over ``test`` outer-joined to its last progress row and API record.

    Times are correlated index lookups per ``test`` row and the last progress row is joined per run, so a statement
    pays only for the runs it evaluates them on: a page of runs never groups the progress or VM rows of every run.
    """

    def __init__(self) -> None:
        self.last = aliased(TestProgress, name='last_progress')
        first_at, vm_at = first_progress_at(Test.id), first_vm_at(Test.id)
        self.started_at, self.created_at = _times(first_at, vm_at)
        holds = stored_status_holds()
        # Times from the stored rows where they hold, else live (evaluated only then), in a ``stored_select``.
        self.stored_started_at, self.stored_created_at = _times(
            case((holds, StoredRunStatus.first_progress_at), else_=first_at),
            case((holds, StoredRunStatus.first_vm_at), else_=vm_at))
        has_vm = exists().where(GcpInstance.test_id == Test.id).correlate_except(GcpInstance)
        self.status = status_expression(Test.id, self.last, self.last.id.isnot(None), has_vm)
        # The stored status where it holds, else the live one (evaluated only then), in a ``select(stored=True)``.
        self.stored_or_live_status = case((holds, StoredRunStatus.status), else_=self.status)

    def times(self, stored: bool) -> tuple[ColumnElement[datetime], ColumnElement[datetime]]:
        """(started_at, created_at): from stored rows where they hold (``stored``), else derived live."""
        return (self.stored_started_at, self.stored_created_at) if stored else (self.started_at, self.created_at)

    def select(self, *columns: Any, page: Subquery | None = None, stored: bool = False) -> Select:
        """``SELECT columns FROM test`` with the joins the derived columns use (only the runs of ``page`` if given).

        ``page`` is a subquery with a ``run_id`` column: the statement then reads those runs alone, by primary key.
        The last progress row comes from :func:`mod_api.queue.progress_bounds`, which MariaDB evaluates per joined
        run once (a correlated ``MAX(id)`` in the join condition is evaluated several times per row). ``stored``
        also joins the runs' stored statuses, for ``stored_or_live_status``.
        """
        runs = Test.__table__ if page is None else join(page, Test, Test.id == page.c.run_id)
        bounds = progress_bounds()
        runs = outerjoin(runs, bounds, bounds.c.run_id == Test.id).outerjoin(self.last,
                                                                            self.last.id == bounds.c.last_id)
        return self.times_select(*columns, runs=with_stored_statuses(runs) if stored else runs)

    def times_select(self, *columns: Any, runs: Any = None) -> Select:
        """``SELECT columns FROM test`` (or ``runs``, a join holding it) with what the times alone need (not status).

        Sorting or filtering every run by a time then never looks up the runs' last progress rows.
        """
        return select(*columns).select_from(
            outerjoin(Test.__table__ if runs is None else runs, RunRecord, RunRecord.run_id == Test.id))

    def stored_select(self, *columns: Any) -> Select:
        """:meth:`times_select` with the runs' stored statuses joined, for :meth:`stored_status_is`."""
        return self.times_select(*columns, runs=with_stored_statuses(Test.__table__))

    def stored_status_is(self, status: str, any_stale: bool) -> ColumnElement[bool]:
        """The run's status is ``status``: stored where it holds, else judged live (in a :meth:`stored_select`).

        Only the runs whose stored status does not hold are judged, in one uncorrelated subquery that starts from
        them: the statement never joins every run's progress rows. ``any_stale`` False: no such run was seen in
        this transaction, so the stored statuses are read alone (on MariaDB the statement shares that snapshot).
        """
        if not any_stale:
            return StoredRunStatus.status == status
        stale = stale_runs().subquery('stale')
        judged = self.select(stale.c.run_id, page=stale).where(self.status == status).correlate(None)
        return or_(and_(stored_status_holds(), StoredRunStatus.status == status), Test.id.in_(judged))


def run_columns() -> RunColumns:
    """The derived columns for the host's current UTC offset, built once per offset and shared by every request.

    Building the status expression costs more Python time than a page's statements take to run; the expressions
    are immutable and hold no request state (the current time is bound at execution), so one instance serves all.
    """
    return _columns_for_offset(int(local_utc_offset().total_seconds()))


@lru_cache(maxsize=4)
def _columns_for_offset(_seconds: int) -> RunColumns:
    """RunColumns built while the host's UTC offset is ``_seconds`` (the cache key: :func:`local_to_utc` reads it)."""
    return RunColumns()


@dataclass(frozen=True)
class RunFilters:
    """The list's filters (None: not filtered); times are naive UTC."""

    status: str | None = None
    branch: str | None = None
    commit_sha: str | None = None
    repository: str | None = None
    platform: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    @property
    def by_creation(self) -> bool:
        """True when a filter compares the runs' creation time (which needs every run's first-seen record)."""
        return self.created_after is not None or self.created_before is not None


def run_conditions(runs: RunColumns, filters: RunFilters, stored: bool = False,
                   any_stale: bool = True) -> list[ColumnElement[bool]]:
    """WHERE conditions of the filters: branch byte for byte, commit and repository case-insensitively.

    ``stored``: the status filter reads stored statuses where they hold (in a :meth:`RunColumns.stored_select`;
    ``any_stale`` as there).
    """
    conditions: list[ColumnElement[bool]] = []
    if filters.status is not None:
        conditions.append(runs.stored_status_is(filters.status, any_stale) if stored
                          else runs.status == filters.status)
    if filters.branch is not None:
        conditions.append(Exact(Test.branch) == filters.branch)
    if filters.commit_sha is not None:
        conditions.append(func.lower(Test.commit) == filters.commit_sha.lower())
    if filters.repository is not None:
        forks = select(Fork.id).where(func.lower(repository_expression(Fork.github)) == filters.repository.lower())
        conditions.append(Test.fork_id.in_(forks))
    if filters.platform is not None:
        conditions.append(Test.platform == TestPlatform.from_string(filters.platform))
    _, created_at = runs.times(stored)
    if filters.created_after is not None:
        conditions.append(created_at > filters.created_after)
    if filters.created_before is not None:
        conditions.append(created_at < filters.created_before)
    return conditions


def _leading_keys(runs: RunColumns, sort: str, stored: bool) -> list[tuple[ColumnElement[Any], bool]]:
    """The sort keys before the run id, with their direction (True: descending): the time (NULLs last), or none.

    ``created_at`` is never NULL (its last resort is now), so it needs no NULLs-last key, which would evaluate it
    twice per run.
    """
    field, descending = sort.lstrip('-'), sort.startswith('-')
    started_at, created_at = runs.times(stored)
    if field == 'run_id':
        return []
    if field == 'created_at':
        return [(created_at, descending)]
    return [(case((started_at.is_(None), 1), else_=0), False), (started_at, descending)]


def _ordered(keys: list[tuple[Any, bool]]) -> list[ColumnElement[Any]]:
    """ORDER BY clauses of (expression, descending) keys."""
    return [key.desc() if descending else key.asc() for key, descending in keys]


def _plain_select(*columns: Any) -> Select:
    """``SELECT columns FROM test``: for filters and sorts on the run's own columns only."""
    return select(*columns).select_from(Test)


def reads_derived_columns(filters: RunFilters, sort: str) -> bool:
    """True when a list filters or sorts by a derived column (status or a time): stored rows may then serve it."""
    return filters.status is not None or filters.by_creation or sort.lstrip('-') != 'run_id'


def page_of_runs(filters: RunFilters, sort: str, limit: int, offset: int,
                 stored: bool = False) -> tuple[list[tuple[int, str]], int]:
    """One page of runs matching ``filters`` in ``sort`` order as (run id, status), and how many runs match in all.

    Derived data is computed only where it is needed: the total counts ``test`` rows alone unless a filter is on a
    derived column, the ``run_id`` sort reads the primary key in order, and the page's statuses are evaluated in an
    outer statement over the page's runs only (the same SQL status as the filter, so a page never disagrees with it).
    Every run gets its stable creation time first when the creation time filters or sorts. ``stored``: statuses
    and times are read from the stored rows that hold (``mod_api.status_store.usable`` said so).
    """
    by_creation = filters.by_creation
    every_holds = False  # known in this transaction's snapshot, which the statements below then share
    if by_creation or sort.lstrip('-') == 'created_at':
        # When every stored status holds, the runs without progress and VM rows (its only candidates) are exactly
        # the stored queued ones: a scan of the stored rows instead of every run's progress and VM rows.
        queued = runs_with_status(RunStatus.QUEUED.value) if stored else None
        committed = record_first_seen(queued)
        every_holds = queued is not None and not committed  # a commit starts a new snapshot
    runs = run_columns()
    by_status = filters.status is not None
    any_stale = stored and not (every_holds or db.session.scalar(every_stored_status_holds()))
    conditions = run_conditions(runs, filters, stored, any_stale)
    keys = [(key.label(f'key_{index}'), key_descending)
            for index, (key, key_descending) in enumerate(_leading_keys(runs, sort, stored))]
    descending = sort.startswith('-')
    with_status = runs.stored_select if stored else runs.select
    with_times = runs.stored_select if stored else runs.times_select
    matching = with_status if by_status else with_times if by_creation else _plain_select
    total = db.session.scalar(matching(func.count()).where(*conditions))
    ordered = with_status if by_status else with_times if by_creation or keys else _plain_select
    page = (ordered(Test.id.label('run_id'), *(key for key, _ in keys))
            .where(*conditions).order_by(*_ordered([*keys, (Test.id, descending)])).limit(limit).offset(offset)
            .subquery('page'))
    page_keys = [(page.c[key.name], key_descending) for key, key_descending in keys]
    status = runs.stored_or_live_status if stored else runs.status
    rows = db.session.execute(runs.select(page.c.run_id, status, page=page, stored=stored)
                              .order_by(*_ordered([*page_keys, (page.c.run_id, descending)])))
    return [(run_id, status) for run_id, status in rows], total or 0
