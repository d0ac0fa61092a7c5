"""A page of runs as the contract's Run objects: the platform's rows, their verdicts and what the API recorded.

Times the legacy schema does not store are derived (see ``docs/verdicts.md`` § Run times):

* ``created_at`` (= ``queued_at``): the API's record of the run (when it created the run, or when it first saw a
  run that had no progress row and no VM yet: recorded once, so it never changes between requests); else the
  earliest progress row; else the VM row.
* ``started_at``: the earliest progress row, else the VM row (the platform writes no row when it starts a VM).
* ``completed_at``: the last progress row when it is ``completed`` or ``canceled``; ``duration_ms`` is
  ``completed_at - started_at``.

Progress times are naive UTC. ``gcp_instance`` times are naive local time of the platform host (trap 8); they are
converted with the host's current UTC offset (the offset in force when the row was written is not stored, and VM
rows live minutes to hours), the same fixed offset :mod:`mod_api.run_query` applies in SQL, so the list's
filters and sorts agree with these documents.

Everything for a page is loaded in a constant number of queries (no per-row lazy loads).
"""
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app, request
from sqlalchemy import exists, func, insert, literal, select

from mod_api.db import db
from mod_api.legacy import Fork, GcpInstance, Test, TestFork, TestProgress, User
from mod_api.models import RunCancellation, RunRecord
from mod_api.run_data import load_and_judge, load_judged
from mod_api.timeutil import as_utc, isoformat_z, utcnow
from mod_api.verdicts import RunFacts, RunStatus, RunVerdict

TEXT_MAX_LENGTH = 100  # the contract's maxLength of Run.repository and Run.triggered_by
RUN_LINKS = ('summary', 'progress', 'samples', 'config', 'errors', 'error-summary', 'infrastructure-errors',
             'logs', 'artifacts')


@dataclass(frozen=True)
class RunView:
    """One run with everything its Run document needs."""

    test: Test
    repository: str
    facts: RunFacts
    verdict: RunVerdict
    record: RunRecord | None
    vm_started_at: datetime | None
    triggered_by: str | None

    @property
    def created_at(self) -> datetime:
        """When the run was created, by the rule of this module's docstring."""
        if self.record is not None:
            return as_utc(self.record.created_at)
        return self.started_at or as_utc(utcnow())

    @property
    def started_at(self) -> datetime | None:
        """The earliest progress row, else the VM row, else None (still queued)."""
        if self.facts.progress:
            return as_utc(min(row.timestamp for row in self.facts.progress))
        return self.vm_started_at

    @property
    def completed_at(self) -> datetime | None:
        """The last progress row's time when the run is finished."""
        if self.facts.progress and self.verdict.run_errors != 'unknown':
            return as_utc(self.facts.progress[-1].timestamp)
        return None

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to completion (never negative), None until both are known."""
        started, completed = self.started_at, self.completed_at
        if started is None or completed is None:
            return None
        return max(int((completed - started).total_seconds() * 1000), 0)


def local_utc_offset() -> timedelta:
    """The platform host's current UTC offset (what converts its naive local times to UTC)."""
    return datetime.now().astimezone().utcoffset() or timedelta(0)


def vm_time_as_utc(moment: datetime) -> datetime:
    """A ``gcp_instance`` time (naive local time of the platform host, trap 8) in UTC, by :func:`local_utc_offset`."""
    if moment.tzinfo is None:
        return (moment - local_utc_offset()).replace(tzinfo=timezone.utc)
    return as_utc(moment)


def record_first_seen(run_ids: Iterable[int] | None = None) -> bool:
    """Record "first seen now" for runs with no API record, no progress row and no VM row (all runs if None).

    A plain SELECT finds them first (a consistent read: it locks no legacy row, where an INSERT ... SELECT takes
    shared locks on every row it reads, and nothing is written or committed when there are none, as for a run
    read again), then one INSERT ... SELECT takes those alone, by primary key, and commits. A concurrent request
    recording the same run is ignored, never an error. True when it committed (later reads see a new snapshot).
    """
    unseen = (~exists().where(RunRecord.run_id == Test.id), ~exists().where(TestProgress.test_id == Test.id),
              ~exists().where(GcpInstance.test_id == Test.id))
    chosen = select(Test.id).where(*unseen)
    ids = list(db.session.scalars(chosen if run_ids is None else chosen.where(Test.id.in_(list(run_ids)))))
    if not ids:
        return False
    candidates = select(Test.id, literal(utcnow()), literal(False)).where(Test.id.in_(ids), *unseen)
    statement = insert(RunRecord).from_select(['run_id', 'created_at', 'created_by_api'], candidates)
    dialect = db.session.get_bind().dialect.name
    statement = statement.prefix_with('OR IGNORE' if dialect == 'sqlite' else 'IGNORE')
    db.session.execute(statement)
    db.session.commit()
    return True


def load_runs(run_ids: Sequence[int], only_tests: Collection[int] | None = None,
              recorded: bool = False) -> dict[int, RunView]:
    """RunViews of the existing runs among ``run_ids``, keyed by id (a constant number of queries).

    ``only_tests``: judge only the samples of these regression tests (``run_data.load_run_facts``); the views'
    times and sample verdicts are exact, their run status and counts are not the run's and must not be served.
    ``recorded``: the runs already have their API record (a write that just made them, still uncommitted), so
    :func:`record_first_seen`, which commits, is skipped.
    """
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    if not recorded:
        record_first_seen(ids)
    session = db.session
    rows = session.execute(select(Test, Fork.github).outerjoin(Fork, Fork.id == Test.fork_id)
                           .where(Test.id.in_(ids))).all()
    records = {record.run_id: record for record in session.scalars(select(RunRecord)
                                                                    .where(RunRecord.run_id.in_(ids)))}
    cancels = api_cancel_rows(ids)
    if only_tests is None:
        judged = load_judged(ids, cancels)
    else:
        judged = load_and_judge(ids, cancels, only_tests)
    vm_times = dict(session.execute(select(GcpInstance.test_id, func.min(GcpInstance.timestamp))
                                    .where(GcpInstance.test_id.in_(ids)).group_by(GcpInstance.test_id)).tuples().all())
    starters: dict[int, str] = {}
    for run_id, email in session.execute(select(TestFork.test_id, User.email).join(User, User.id == TestFork.user_id)
                                         .where(TestFork.test_id.in_(ids)).order_by(TestFork.id.desc())):
        starters[run_id] = email  # the first test_fork row of a run wins
    views = {}
    for test, github in rows:
        record = records.get(test.id)
        views[test.id] = RunView(
            test=test, repository=repository_name(github), facts=judged[test.id][0],
            verdict=judged[test.id][1],
            record=record, vm_started_at=vm_time_as_utc(vm_times[test.id]) if test.id in vm_times else None,
            triggered_by=(record.triggered_by if record is not None and record.triggered_by
                          else starters.get(test.id)))
    return views


def load_listed_runs(page: Sequence[tuple[int, str]]) -> list[RunView]:
    """RunViews of a run-list page given as (run id, status) pairs, in that order, for their Run documents.

    The statuses come from :mod:`mod_api.run_query`'s SQL (property-tested to agree with
    :func:`mod_api.verdicts.judge`), so no sample of the page's runs is loaded or judged: the views' facts hold the
    progress and VM rows only, which is all the document's times and ``run_errors`` need; their sample verdicts and
    counts are empty and must not be served.
    """
    views = load_runs([run_id for run_id, _ in page], only_tests=())
    return [replace(views[run_id], verdict=replace(views[run_id].verdict, status=RunStatus(status)))
            for run_id, status in page if run_id in views]


def api_cancel_rows(run_ids: Sequence[int]) -> set[int]:
    """Ids of the ``canceled`` progress rows the API wrote for these runs (its cancel record names row and run)."""
    return set(db.session.scalars(
        select(RunCancellation.progress_id)
        .join(TestProgress, (TestProgress.id == RunCancellation.progress_id)
              & (TestProgress.test_id == RunCancellation.run_id))
        .where(RunCancellation.run_id.in_(list(run_ids)))))


def repository_name(github: str | None) -> str:
    """``owner/repo`` of a fork's clone URL (the platform's ``Fork.github_name``); '' for a run without fork."""
    if not github:
        return ''
    name = github.strip()
    if name.endswith('.git'):
        name = name[:-len('.git')]
    return name.replace('https://github.com/', '').replace('http://github.com/', '').strip('/')


def run_links(run_id: int) -> dict[str, str]:
    """Absolute URLs of the run and its sub-resources, so clients never build URLs."""
    base = f"{request.host_url.rstrip('/')}{current_app.extensions['mod_api'].prefix}/runs/{run_id}"
    return {'self': base, **{name.replace('-', '_'): f'{base}/{name}' for name in RUN_LINKS}}


def run_document(view: RunView) -> dict[str, Any]:
    """The contract's Run object for one run."""
    test = view.test
    return {
        'run_id': test.id,
        'status': str(view.verdict.status),
        'repository': view.repository[:TEXT_MAX_LENGTH],
        'branch': test.branch,
        'commit_sha': test.commit,
        'commit_short': test.commit[:7],
        'pull_request': test.pr_nr or None,
        'platform': test.platform.value,
        'run_errors': view.verdict.run_errors,
        'triggered_by': triggered_by(view),
        'created_at': isoformat_z(view.created_at),
        'queued_at': isoformat_z(view.created_at),
        'started_at': isoformat_z(view.started_at),
        'completed_at': isoformat_z(view.completed_at),
        'duration_ms': view.duration_ms,
        'links': run_links(test.id),
    }


def triggered_by(view: RunView) -> str | None:
    """Who started the run, cut to the contract's 100 characters."""
    return view.triggered_by[:TEXT_MAX_LENGTH] if view.triggered_by else None
