"""The CI queue as the platform's cron sees it (SCHEMA.md §5.3, §8): queued and running runs, per platform.

A run is **queued** when it has no progress row and no ``gcp_instance`` row, and **running** when it has a VM row
but no progress row yet (VM being provisioned) or its last progress row (highest id) is ``preparation`` or
``testing``: the ``queued`` / ``running`` statuses of :mod:`mod_api.verdicts`, written in SQL here (a test checks
the two agree over generated runs). Finished runs whose VM row was left behind are not in the queue.

``position`` (queued runs only) is 1-based per platform in the order the cron starts runs: id ascending among its
candidates, of which it only starts those without progress and VM rows, i.e. exactly the queued runs.
``queued_at`` is the run's creation time and ``started_at`` its start, by the rules of :mod:`mod_api.run_view`.

A platform's cron starts nothing while the platform is in maintenance, nor, on every platform, while a
``gcp_instance`` row has a NULL ``test_id`` (its ``NOT IN`` then matches nothing, trap 14). Queued runs keep their
positions (the order in which they will start once unblocked) and the platform lists what blocks it.

Counting, ordering and pagination are done in SQL: a page costs at most :data:`QUERY_COUNT` statements whatever
its size.
"""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Subquery, and_, case, exists, func, join, or_, outerjoin, select
from sqlalchemy.orm import aliased

from mod_api.db import db
from mod_api.environments import maintenance_by_platform
from mod_api.legacy import EnumSymbol, GcpInstance, Test, TestPlatform, TestProgress, TestStatus
from mod_api.models import RunRecord, StoredRunStatus
from mod_api.run_view import record_first_seen, vm_time_as_utc
from mod_api.timeutil import as_utc, utcnow

QUEUED, RUNNING = 'queued', 'running'
ACTIVE_STATUSES = (TestStatus.preparation, TestStatus.testing)
IN_MAINTENANCE, VM_ROW_WITHOUT_RUN = 'maintenance', 'vm_row_without_run'
BLOCKERS = (IN_MAINTENANCE, VM_ROW_WITHOUT_RUN)
# counts per platform and status, the page, record_first_seen (runs not seen yet, recording them) and its records,
# maintenance flags, NULL test_id check: one less when the page has no run to record.
QUERY_COUNT = 7


@dataclass(frozen=True)
class QueueJob:
    """The contract's QueueJob."""

    run_id: int
    status: str
    platform: str
    queued_at: datetime
    started_at: datetime | None
    position: int | None


@dataclass(frozen=True)
class PlatformQueue:
    """One platform's share of the queue and what keeps its cron from starting runs (empty: nothing)."""

    platform: str
    queue_depth: int
    running_count: int
    blocked_by: tuple[str, ...]


@dataclass(frozen=True)
class QueuePage:
    """A page of jobs, how many jobs match the filters, and the per-platform counts (status filter ignored)."""

    jobs: list[QueueJob]
    total: int
    platforms: list[PlatformQueue]

    @property
    def queue_depth(self) -> int:
        """Queued runs on the platforms asked for."""
        return sum(platform.queue_depth for platform in self.platforms)

    @property
    def running_count(self) -> int:
        """Running runs on the platforms asked for."""
        return sum(platform.running_count for platform in self.platforms)


def progress_bounds() -> Subquery:
    """Per run having progress rows: ``run_id``, ``first_at`` (earliest row time) and ``last_id`` (its last row).

    One grouped scan of ``test_progress``; outer-join it on ``Test.id`` (no row: the run has no progress).
    """
    return (select(TestProgress.test_id.label('run_id'), func.min(TestProgress.timestamp).label('first_at'),
                   func.max(TestProgress.id).label('last_id'))
            .group_by(TestProgress.test_id).subquery('progress_bounds'))


def vm_started() -> Subquery:
    """Per run having a ``gcp_instance`` row: ``run_id`` and ``vm_at`` (creation time, naive local: trap 8)."""
    return (select(GcpInstance.test_id.label('run_id'), func.min(GcpInstance.timestamp).label('vm_at'))
            .where(GcpInstance.test_id.isnot(None)).group_by(GcpInstance.test_id).subquery('vm_started'))


def start_time(first_at: datetime | None, vm_at: datetime | None) -> datetime | None:
    """A run's start (run_view's rule): its earliest progress row, else its VM row, else None."""
    if first_at is not None:
        return as_utc(first_at)
    return vm_time_as_utc(vm_at) if vm_at is not None else None


def creation_time(recorded_at: datetime | None, first_at: datetime | None, vm_at: datetime | None) -> datetime:
    """A run's creation time (run_view's rule): the API's record, else its start, else now."""
    if recorded_at is not None:
        return as_utc(recorded_at)
    return start_time(first_at, vm_at) or as_utc(utcnow())


def jobs_statement(platform: EnumSymbol | None = None, stored: bool = False) -> Select:
    """Every queued or running run (of ``platform``): run_id, platform, status, rank and its time columns.

    ``rank`` is the run's 1-based place among the runs of its platform with the same status, by id.
    ``stored``: every stored status holds (checked in this transaction): the runs stored as queued or running are
    read with their stored times, and no run is judged.
    """
    jobs = _stored_jobs() if stored else _live_jobs()
    statement = (
        select(Test.id.label('run_id'), Test.platform.label('platform'), jobs.status.label('status'),
               func.row_number().over(partition_by=(Test.platform, jobs.status), order_by=Test.id).label('rank'),
               RunRecord.created_at.label('recorded_at'), jobs.first_at.label('first_at'), jobs.vm_at.label('vm_at'))
        .select_from(outerjoin(jobs.runs, RunRecord, RunRecord.run_id == Test.id)).where(jobs.condition))
    return statement.where(Test.platform == platform) if platform is not None else statement


@dataclass(frozen=True)
class JobColumns:
    """What :func:`jobs_statement` reads: FROM (holding ``test``), the runs it keeps, their status and times."""

    runs: Any  # a join
    condition: ColumnElement[bool]
    status: Any  # column expressions (a CASE, subquery columns or mapped attributes)
    first_at: Any
    vm_at: Any


def _live_jobs() -> JobColumns:
    """Every run judged from its progress and VM rows; the queued and running ones kept."""
    progress, vms, last = progress_bounds(), vm_started(), aliased(TestProgress)
    no_progress = progress.c.last_id.is_(None)
    queued = and_(no_progress, vms.c.run_id.is_(None))
    running = or_(and_(no_progress, vms.c.run_id.isnot(None)), last.status.in_(ACTIVE_STATUSES))
    runs = (outerjoin(Test, progress, progress.c.run_id == Test.id).outerjoin(last, last.id == progress.c.last_id)
            .outerjoin(vms, vms.c.run_id == Test.id))
    return JobColumns(runs, or_(queued, running), case((queued, QUEUED), else_=RUNNING), progress.c.first_at,
                      vms.c.vm_at)


def _stored_jobs() -> JobColumns:
    """The runs stored as queued or running, with their stored times (which hold: see :func:`jobs_statement`)."""
    runs = join(Test, StoredRunStatus, StoredRunStatus.run_id == Test.id)
    return JobColumns(runs, StoredRunStatus.status.in_((QUEUED, RUNNING)), StoredRunStatus.status,
                      StoredRunStatus.first_progress_at, StoredRunStatus.first_vm_at)


def load_queue(platform: str | None, status: str | None, limit: int, offset: int,
               stored: bool = False) -> QueuePage:
    """A page of the queue: running jobs first, then queued ones, each by run id (stable across pages).

    A queued run of the page the API had never seen is recorded as first seen now, so its ``queued_at`` (its
    creation time) never changes afterwards. ``stored``: as in :func:`jobs_statement` (checked in this
    transaction, so on MariaDB the queue's statements share its snapshot).
    """
    symbol = TestPlatform.from_string(platform) if platform is not None else None
    jobs = jobs_statement(symbol, stored).subquery('jobs')
    counts = {(row_platform.value, row_status): count for row_platform, row_status, count in db.session.execute(
        select(jobs.c.platform, jobs.c.status, func.count()).group_by(jobs.c.platform, jobs.c.status))}
    page = select(jobs).order_by(case((jobs.c.status == RUNNING, 0), else_=1), jobs.c.run_id)
    if status is not None:
        page = page.where(jobs.c.status == status)
    rows = db.session.execute(page.limit(limit).offset(offset)).all()
    recorded = _record_first_seen([row.run_id for row in rows if row.status == QUEUED and row.recorded_at is None])
    platforms = [PlatformQueue(value, counts.get((value, QUEUED), 0), counts.get((value, RUNNING), 0), blockers)
                 for value, blockers in _blockers(symbol)]
    total = sum(count for (_, row_status), count in counts.items() if status in (None, row_status))
    return QueuePage([_job(row, recorded.get(row.run_id)) for row in rows], total, platforms)


def _record_first_seen(run_ids: list[int]) -> dict[int, datetime]:
    """Record "first seen now" for these runs (run_view's rule) and return each one's recorded creation time.

    Two statements when none needs recording (even when ``run_ids`` is empty), three when some does.
    """
    record_first_seen(run_ids)
    return dict(db.session.execute(select(RunRecord.run_id, RunRecord.created_at)
                                   .where(RunRecord.run_id.in_(run_ids))).tuples().all())


def _job(row: Row[Any], recorded_at: datetime | None) -> QueueJob:
    """A QueueJob from one row of :func:`jobs_statement` (``recorded_at``: a record made after the row was read)."""
    queued = row.status == QUEUED
    return QueueJob(run_id=row.run_id, status=row.status, platform=row.platform.value,
                    queued_at=creation_time(row.recorded_at or recorded_at, row.first_at, row.vm_at),
                    started_at=None if queued else start_time(row.first_at, row.vm_at),
                    position=row.rank if queued else None)


def blocking_rows() -> tuple[tuple[tuple[str, bool], ...], bool]:
    """What keeps crons from starting runs: the maintenance flags by platform and whether a VM row has no run.

    No status trigger watches these rows (they belong to no run), so a queue page served again reads them anew.
    """
    orphan_vm_row = bool(db.session.scalar(select(exists().where(GcpInstance.test_id.is_(None)))))
    return tuple(sorted(maintenance_by_platform().items())), orphan_vm_row


def _blockers(platform: EnumSymbol | None) -> Iterable[tuple[str, tuple[str, ...]]]:
    """(platform value, what keeps its cron from starting runs) for ``platform``, or every platform if None."""
    flags, orphan_vm_row = blocking_rows()
    in_maintenance = dict(flags)
    for symbol in ([platform] if platform is not None else list(TestPlatform)):
        blockers = []
        if in_maintenance.get(symbol.value, False):
            blockers.append(IN_MAINTENANCE)
        if orphan_vm_row:
            blockers.append(VM_ROW_WITHOUT_RUN)
        yield symbol.value, tuple(blockers)
