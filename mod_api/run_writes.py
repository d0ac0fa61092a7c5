"""Creating, cancelling and retrying runs the way the platform does: the legacy rows it writes, and the API's own.

A run the API creates gets exactly the rows the platform's customized-run page writes (SCHEMA.md §5.1):

* ``fork``: the repository's row, reused when one exists. A row is the repository's when its clone URL ends with
  ``/<owner>/<repo>.git`` — the platform's own ``LIKE '%/<owner>/<repo>.git'`` (it finds the main repository's
  row that way), with the LIKE wildcards of the names escaped, case-insensitively as GitHub names are; the lowest
  id wins. Otherwise ``https://github.com/<owner>/<repo>.git`` is added (a concurrent request adding the same row
  is ignored and its row reused).
* ``test``: platform, ``test_type`` ``pr`` with ``pr_nr`` when a pull request is given, else ``commit`` with
  ``pr_nr`` 0; ``commit`` in lower case (the platform matches it with GitHub's lower-case SHAs to find the build
  artifact); a fresh 64-character worker token from the platform's constructor (never returned by the API).
  ``branch`` is what the platform stores: the literal ``pull_request`` for every PR run; for a commit run the
  requested branch, ``master`` when none is given (the platform's pushes and customized runs are ``master``;
  storing ``master`` for another branch would make the run a candidate baseline of the platform's PR comments).
* ``customized_test``: one row per regression test in scope, each once.
* ``test_fork``: the requesting user (the platform's ownership record: it lets a non-admin stop their run).
* ``api_run`` (:class:`~mod_api.models.RunRecord`): created now, by the API, user, e-mail (``triggered_by``),
  token, requested environment and, for a retry, the source run.

The platform's maintenance mode does not stop a run from being queued: its cron starts queued runs once the
platform leaves maintenance (an ``environment_id`` given explicitly must be active, though).

Cancelling appends the platform's own ``canceled`` row — "Canceled by admin" for an admin, else "Canceled by
user", exactly the messages of its ``stop_test`` — so the platform's pages and rules read it as a user
cancellation; the API's :class:`~mod_api.models.RunCancellation` names that row, who asked and why. Like
``stop_test`` it neither stops a VM nor removes its row, and a worker that keeps reporting can revive the run
(trap 7), which may then be cancelled again. The decision "already finished?" and the append happen under a lock
on the run's ``test`` row (an UPDATE that changes nothing: a row lock on MariaDB, the database write lock on
SQLite, taken as the transaction's first write), so concurrent cancels append one row.

A retry is always a new run with the source's fork, commit, branch, PR number, type, platform and environment;
the source's rows are never touched (the platform's ``restart_test``, which deletes results, is never used). Its
scope is the source's ``customized_test`` regression tests when it has any, else the regression tests the source
is judged on (:func:`mod_api.verdicts.in_scope`: every categorised test), pinned so that the retry re-runs that set.
``failed_only`` narrows it to the source's samples judged ``fail`` or ``missing_output`` by
:func:`mod_api.verdicts.judge`, and needs a finished source.

Nothing here commits: the HTTP layer (``resources/run_actions.py``) adds the audit row and commits.
"""
from dataclasses import dataclass

from sqlalchemy import Select, exists, insert, select, true, update

from mod_api.access import Principal
from mod_api.db import db
from mod_api.environments import find_environment
from mod_api.errors import ApiError, not_found
from mod_api.forks import repository_condition
from mod_api.legacy import (
    CustomizedTest,
    EnumSymbol,
    Fork,
    RegressionTest,
    Test,
    TestFork,
    TestPlatform,
    TestProgress,
    TestStatus,
    TestType,
)
from mod_api.models import RunCancellation, RunRecord
from mod_api.run_data import load_run_facts
from mod_api.run_view import api_cancel_rows
from mod_api.timeutil import utcnow
from mod_api.verdicts import RunStatus, SampleStatus, judge

ADMIN = 'admin'
CANCEL_MESSAGES = {True: 'Canceled by admin', False: 'Canceled by user'}  # the platform's stop_test, by is-admin
PR_BRANCH = 'pull_request'
DEFAULT_BRANCH = 'master'
FINISHED = (TestStatus.completed, TestStatus.canceled)
UNFINISHED_RUN = (RunStatus.QUEUED, RunStatus.RUNNING)
FAILED_SAMPLE = (SampleStatus.FAIL, SampleStatus.MISSING_OUTPUT)
OWNER_RULE = 'admin_or_run_owner'


@dataclass(frozen=True)
class RunSpec:
    """Everything a new run is made of (the ``test`` row's columns, its scope and the API's record)."""

    platform: EnumSymbol
    test_type: EnumSymbol
    fork_id: int | None
    branch: str
    commit: str
    pr_nr: int
    regression_ids: tuple[int, ...]  # each once
    environment_id: str | None = None
    retry_of: int | None = None


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel did: ``accepted`` (with the progress row it appended) or ``no_op`` (the run had finished)."""

    status: str
    message: str
    progress_id: int | None = None


def trigger_spec(body: dict) -> RunSpec:
    """The run a validated RunCreateRequest asks for (422: unknown, inactive or no regression tests, bad environment).

    The checks come first, so a refused request adds no ``fork`` row.
    """
    platform = TestPlatform.from_string(body['platform'])
    if 'regression_test_ids' in body:
        regression_ids = tuple(body['regression_test_ids'])
        check_regression_ids(regression_ids)
    else:
        regression_ids = active_regression_ids()
    environment_id = body.get('environment_id')
    if environment_id is not None:
        check_environment(environment_id, platform.value)
    pull_request = body.get('pull_request')
    return RunSpec(
        platform=platform, test_type=TestType.pull_request if pull_request else TestType.commit,
        fork_id=fork_id(body['repository']),
        branch=PR_BRANCH if pull_request else body.get('branch', DEFAULT_BRANCH),
        commit=body['commit_sha'].lower(), pr_nr=pull_request or 0, regression_ids=regression_ids,
        environment_id=environment_id)


def active_regression_ids() -> tuple[int, ...]:
    """Every active regression test (``active`` true; NULL is not), ascending; 422 when there is none.

    A run without ``customized_test`` rows would run every regression test, inactive ones included (trap 3).
    """
    ids = tuple(db.session.scalars(select(RegressionTest.id).where(RegressionTest.active == true())
                                   .order_by(RegressionTest.id)))
    if not ids:
        raise ApiError(422, 'unprocessable', 'There is no active regression test to run.',
                       {'active_regression_tests': 0})
    return ids


def check_regression_ids(ids: tuple[int, ...]) -> None:
    """422 naming the ids that are no regression test (``unknown_ids``) or an inactive one (``inactive_ids``).

    An empty list is refused too: a run without ``customized_test`` rows would run every regression test.
    """
    if not ids:
        raise ApiError(422, 'unprocessable', 'regression_test_ids is empty: name at least one regression test, or '
                                             'omit it to run every active one.', {'regression_test_ids': []})
    active = dict(db.session.execute(select(RegressionTest.id, RegressionTest.active)
                                     .where(RegressionTest.id.in_(ids))).tuples().all())
    unknown = sorted(set(ids) - set(active))
    inactive = sorted(test_id for test_id, is_active in active.items() if not is_active)
    if unknown or inactive:
        named = [f'{len(values)} {label}' for label, values in (('unknown', unknown), ('inactive', inactive)) if values]
        raise ApiError(422, 'unprocessable', f'regression_test_ids contains {" and ".join(named)} test IDs '
                                             '(details.unknown_ids, details.inactive_ids).',
                       {'unknown_ids': unknown, 'inactive_ids': inactive})


def check_environment(environment_id: str, platform: str) -> None:
    """422 unless ``environment_id`` is an active environment (not in maintenance) of ``platform``."""
    environment = find_environment(environment_id)
    if environment is None:
        reason = 'unknown'
    elif environment.platform != platform:
        reason = 'other_platform'
    elif not environment.active:
        reason = 'inactive'
    else:
        return
    raise ApiError(422, 'unprocessable', f'environment_id {environment_id!r} is not an active environment of '
                                         f'platform {platform}.',
                   {'environment_id': environment_id, 'platform': platform, 'reason': reason})


def fork_id(repository: str) -> int:
    """The id of the repository's ``fork`` row (``owner/repo``), added when there is none."""
    found = db.session.scalars(_matching_fork(repository)).first()
    if found is not None:
        return found
    statement = insert(Fork.__table__).values(github=f'https://github.com/{repository}.git')
    dialect = db.session.get_bind().dialect.name
    db.session.execute(statement.prefix_with('OR IGNORE' if dialect == 'sqlite' else 'IGNORE'))
    # A locking read: it also sees the row when a concurrent request committed it first (MariaDB snapshots).
    return db.session.scalars(_matching_fork(repository).with_for_update(read=True)).one()


def _matching_fork(repository: str) -> Select:
    """The id of the lowest ``fork`` row whose URL ends with ``/<owner>/<repo>.git`` (LIKE, wildcards escaped)."""
    return select(Fork.id).where(repository_condition(repository)).order_by(Fork.id).limit(1)


def create_run(spec: RunSpec, principal: Principal) -> int:
    """Add the run's rows (``test``, ``customized_test``, ``test_fork``, ``api_run``) and return its id."""
    run = Test(spec.platform, spec.test_type, spec.fork_id, spec.branch, spec.commit, spec.pr_nr)
    db.session.add(run)
    db.session.flush()
    db.session.add_all([CustomizedTest(run.id, regression_id) for regression_id in spec.regression_ids])
    db.session.add(TestFork(principal.user_id, run.id))
    db.session.add(RunRecord(run_id=run.id, created_at=utcnow(), created_by_api=True, user_id=principal.user_id,
                             triggered_by=principal.email, token_id=principal.token_id,
                             environment_id=spec.environment_id, retry_of=spec.retry_of))
    db.session.flush()
    return run.id


def retry_spec(source_id: int, failed_only: bool) -> RunSpec:
    """A new run copied from run ``source_id`` (404 when absent): its scope, or only what failed in it.

    ``failed_only`` is refused (422) while the source has not finished and when none of its samples failed; a
    source with no regression test in scope is refused too (a run without ``customized_test`` rows runs them all).
    """
    source = db.session.get(Test, source_id)
    if source is None:
        raise not_found('run', source_id)
    facts = load_run_facts([source_id], api_cancel_rows([source_id]))[source_id]
    verdict = judge(facts)
    details = {'run_id': source_id, 'run_status': verdict.status.value}
    if failed_only:
        if verdict.status in UNFINISHED_RUN:
            raise ApiError(422, 'unprocessable', f'Run {source_id} has not finished: nothing failed in it yet.',
                           details)
        scope = tuple(sample.regression_id for sample in verdict.samples if sample.status in FAILED_SAMPLE)
        if not scope:
            raise ApiError(422, 'unprocessable', f'No regression test failed in run {source_id}.', details)
    else:
        scope = _customized_ids(source_id) or tuple(sample.regression_id for sample in facts.samples)
        if not scope:
            raise ApiError(422, 'unprocessable', f'Run {source_id} has no regression test in scope to retry.',
                           details)
    record = db.session.get(RunRecord, source_id)
    return RunSpec(platform=source.platform, test_type=source.test_type, fork_id=source.fork_id,
                   branch=source.branch, commit=source.commit, pr_nr=source.pr_nr, regression_ids=scope,
                   environment_id=record.environment_id if record is not None else None, retry_of=source_id)


def _customized_ids(run_id: int) -> tuple[int, ...]:
    """The existing regression tests a run's ``customized_test`` rows name, each once, ascending."""
    return tuple(db.session.scalars(
        select(CustomizedTest.regression_id).distinct()
        .join(RegressionTest, RegressionTest.id == CustomizedTest.regression_id)
        .where(CustomizedTest.test_id == run_id).order_by(CustomizedTest.regression_id)))


def cancel(run_id: int, principal: Principal, reason: str | None) -> CancelOutcome:
    """Cancel run ``run_id`` for ``principal`` (404, or 403 unless admin or owner); a finished run is a no-op."""
    if db.session.get(Test, run_id) is None:
        raise not_found('run', run_id)
    is_admin = principal.role == ADMIN
    if not is_admin and not owns(principal.user_id, run_id):
        raise ApiError(403, 'forbidden', 'Only an admin or the user who started the run (its test_fork row) may '
                                         'cancel it.',
                       {'rule': OWNER_RULE, 'run_id': run_id, 'user_role': principal.role})
    _lock_run(run_id)
    last = db.session.scalars(select(TestProgress.status).where(TestProgress.test_id == run_id)
                              .order_by(TestProgress.id.desc()).limit(1).with_for_update(read=True)).first()
    if last in FINISHED:
        return CancelOutcome('no_op', f'Run {run_id} has already finished ({last.value}); nothing to cancel.')
    now = utcnow()
    row = TestProgress(run_id, TestStatus.canceled, CANCEL_MESSAGES[is_admin], now)
    db.session.add(row)
    db.session.flush()
    db.session.add(RunCancellation(run_id=run_id, progress_id=row.id, created_at=now, user_id=principal.user_id,
                                   requested_by=principal.email, reason=reason))
    db.session.flush()
    return CancelOutcome('accepted', f'Run {run_id} canceled.', row.id)


def owns(user_id: int, run_id: int) -> bool:
    """True when a ``test_fork`` row links the user to the run (the platform's ownership record)."""
    return bool(db.session.scalar(select(exists().where(TestFork.user_id == user_id, TestFork.test_id == run_id))))


def _lock_run(run_id: int) -> None:
    """Hold the run's ``test`` row until the transaction ends (an UPDATE that changes nothing).

    MariaDB locks the row; SQLite takes its database write lock, which concurrent writers wait for
    (``busy_timeout``). Run as the transaction's first write, so a waiting SQLite connection holds no read lock.
    """
    db.session.execute(update(Test.__table__).where(Test.__table__.c.id == run_id)
                       .values(pr_nr=Test.__table__.c.pr_nr))
