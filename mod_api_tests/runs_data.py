"""Builders of platform runs and their regression data for the runs tests (shared: import, never copy).

Every builder adds rows through the platform's models and flushes, so ids are known at once; commit when done.
Progress timestamps default to :data:`BASE_TIME` plus one minute per row (naive, meaning UTC, as stored).
"""
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import null

from mod_api.db import db
from mod_api.legacy import (
    Category,
    CustomizedTest,
    EnumSymbol,
    Fork,
    GcpInstance,
    RegressionTest,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    Sample,
    TestFork,
    TestPlatform,
    TestStatus,
    TestType,
    User,
)
from mod_api.legacy import Test as Run
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import TestResult as RunResult
from mod_api.legacy import TestResultFile as RunResultFile
from mod_api.models import RunCancellation, RunRecord
from mod_regression.models import InputType, OutputType

BASE_TIME = datetime(2024, 5, 17, 12, 0, 0)
COMMIT = 'f' * 40
REPOSITORY_URL = 'https://github.com/test_owner/test_repo.git'  # the main repository of the test apps (conftest)
REF, VARIANT, OTHER = 'd' * 64, 'a' * 64, 'b' * 64
# Progress of a run that went through every stage (status, message); timestamps are added by add_run.
DONE = ((TestStatus.preparation, 'Loaded'), (TestStatus.testing, 'Running tests'), (TestStatus.completed, 'Ran all'))


def store(*objects: object) -> None:
    """Add ``objects`` and flush (ids assigned, nothing committed)."""
    db.session.add_all(objects)
    db.session.flush()


def add_fork(github: str = REPOSITORY_URL) -> Fork:
    """The fork with this clone URL, created when absent."""
    fork = db.session.query(Fork).filter(Fork.github == github).one_or_none()
    if fork is None:
        fork = Fork(github)
        store(fork)
    return fork


def add_category(name: str = 'General') -> Category:
    """A new category named ``name``."""
    category = Category(name, f'{name} samples')
    store(category)
    return category


def add_sample(sha: str | None = None, extension: str = 'ts', original_name: str = 'sample') -> Sample:
    """A media sample; its sha defaults to a unique 64-hex value."""
    sample = Sample(sha or f'{db.session.query(Sample).count() + 1:064x}', extension, original_name)
    store(sample)
    return sample


def add_regression_test(*categories: Category, outputs: Iterable[tuple[str | None, bool | None]] = (),
                        active: bool = True, sample: Sample | None = None, command: str = '-autoprogram',
                        expected_rc: int | None = 0) -> tuple[RegressionTest, list[RegressionTestOutput]]:
    """A regression test linked to ``categories``, with outputs given as (correct, ignore); ignore None stays NULL."""
    regression_test = RegressionTest(sample.id if sample is not None else None, command, InputType.file,
                                     OutputType.file, None, expected_rc, active)  # type: ignore[arg-type]
    store(regression_test)
    for category in categories:
        category.regression_tests.append(regression_test)
    stored = []
    for correct, ignore in outputs:
        output = RegressionTestOutput(regression_test.id, correct, '.srt', '')
        output.ignore = null() if ignore is None else ignore  # None alone would get the ORM default
        stored.append(output)
    store(*stored)
    return regression_test, stored


def add_variant(output: RegressionTestOutput, file_hash: str = VARIANT) -> RegressionTestOutputFiles:
    """An accepted variant (``file_hashes``) of ``output``."""
    variant = RegressionTestOutputFiles(file_hash, output.id)
    store(variant)
    return variant


def add_run(platform: EnumSymbol | str = TestPlatform.linux, *, fork: Fork | None = None,
            progress: Sequence[tuple[Any, ...]] = (), customized: Iterable[int | None] = (), vm: bool = False,
            vm_time: datetime | None = None, branch: str = 'master', commit: str = COMMIT, pr_nr: int = 0,
            test_type: EnumSymbol = TestType.commit) -> Run:
    """A run with progress rows (status, message[, timestamp]), ``customized_test`` rows and optionally a VM row.

    A row without timestamp gets :data:`BASE_TIME` plus its index in minutes. ``platform`` may be a value string.
    """
    symbol = TestPlatform.from_string(platform) if isinstance(platform, str) else platform
    run = Run(symbol, test_type, (fork or add_fork()).id, branch, commit, pr_nr)
    store(run)
    add_progress(run, *progress)
    add_customized(run, *customized)
    if vm:
        store(GcpInstance(f'{symbol.value}-{run.id}', run.id, vm_time or BASE_TIME))
    return run


def add_progress(run: Run, *rows: tuple[Any, ...]) -> list[Progress]:
    """Append progress rows (status, message[, timestamp]) to ``run``; see :func:`add_run` for the default time."""
    stored = [Progress(run.id, row[0], row[1], row[2] if len(row) > 2 else BASE_TIME + timedelta(minutes=index))
              for index, row in enumerate(rows)]
    store(*stored)
    return stored


def add_customized(run: Run, *regression_ids: int | None) -> None:
    """``customized_test`` rows putting these regression tests in scope of ``run`` (duplicates kept)."""
    store(*[CustomizedTest(run.id, regression_id) for regression_id in regression_ids])


def add_result(run: Run, regression_test: RegressionTest, exit_code: int | None = 0, expected_rc: int | None = 0,
               runtime: int | None = 100) -> RunResult:
    """A ``test_result`` row of ``regression_test`` in ``run``."""
    result = RunResult(run.id, regression_test.id, runtime, exit_code, expected_rc)  # type: ignore[arg-type]
    store(result)
    return result


def add_result_file(run: Run, regression_test: RegressionTest, output: RegressionTestOutput,
                    got: str | None = None, expected: str | None = None) -> RunResultFile:
    """A ``test_result_file`` row (``got`` None: matched); ``expected`` defaults to the output's ``correct``."""
    reference = expected if expected is not None else output.correct or ''
    row = RunResultFile(run.id, regression_test.id, output.id, reference, got)
    store(row)
    return row


def add_record(run: Run, created_at: datetime, *, triggered_by: str | None = None, user: User | None = None,
               environment_id: str | None = None, retry_of: int | None = None) -> RunRecord:
    """The API's own record of ``run`` (as if the API had created it)."""
    record = RunRecord(run_id=run.id, created_at=created_at, created_by_api=True, triggered_by=triggered_by,
                       user_id=user.id if user is not None else None, environment_id=environment_id,
                       retry_of=retry_of)
    store(record)
    return record


def add_api_cancellation(run: Run, user: User, message: str = 'Canceled by user', reason: str | None = None,
                         timestamp: datetime | None = None) -> Progress:
    """A ``canceled`` progress row written by the API, with its cancellation record."""
    row = add_progress(run, (TestStatus.canceled, message, timestamp or BASE_TIME + timedelta(hours=1)))[0]
    store(RunCancellation(run_id=run.id, progress_id=row.id, created_at=timestamp or BASE_TIME, user_id=user.id,
                          requested_by=user.email, reason=reason))
    return row


def add_owner(run: Run, user: User) -> TestFork:
    """A ``test_fork`` row: ``user`` started (owns) ``run``."""
    owner = TestFork(user.id, run.id)
    store(owner)
    return owner
