"""The platform's pass/fail rules as pure functions over plain facts, for one run or a page of runs.

The rules are those of SCHEMA.md §5.2-5.5 (``Test.finished``/``failed`` and ``get_test_results``), so the API never
contradicts what GitHub shows. Facts are built by :mod:`mod_api.run_data`; nothing here touches the database.
Every rule and every decision on an ambiguous point is written down in ``mod_api/docs/verdicts.md``.
"""
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast

from mod_api.legacy import EnumSymbol, TestStatus
from mod_api.timeutil import isoformat_z

# Messages of the platform's progress rows that mean "someone stopped the run" (exact, case-sensitive, once the
# surrounding MESSAGE_WHITESPACE is stripped: the characters SQL can strip alike on every backend, see run_query).
MESSAGE_WHITESPACE = ' \t\r\n'
CANCELLATION_MESSAGES = frozenset({
    'Canceled by admin', 'Canceled by user', 'PR closed', 'PR is closed', 'Tests canceled', 'Not ran - no code changes',
})
QUEUED_MESSAGE = 'Queued'
MESSAGE_MAX_LENGTH = 500
_SHA256 = re.compile(r'[0-9a-fA-F]{64}')


class RunStatus(StrEnum):
    """The contract's normalized run status."""

    QUEUED = 'queued'
    RUNNING = 'running'
    PASS = 'pass'
    FAIL = 'fail'
    CANCELED = 'canceled'
    ERROR = 'error'
    INCOMPLETE = 'incomplete'


class SampleStatus(StrEnum):
    """The contract's RunSample status."""

    PASS = 'pass'
    FAIL = 'fail'
    SKIPPED = 'skipped'
    MISSING_OUTPUT = 'missing_output'
    RUNNING = 'running'
    NOT_STARTED = 'not_started'


class OutputStatus(StrEnum):
    """The contract's status of one item of RunSample ``outputs``."""

    MATCH = 'match'
    DIFF_MISMATCH = 'diff_mismatch'
    MISSING_OUTPUT = 'missing_output'
    MISSING_EXPECTED = 'missing_expected'


# --- facts (input) -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgressRow:
    """One ``test_progress`` row; ``by_api`` marks a cancellation row the API itself wrote."""

    id: int
    status: EnumSymbol
    timestamp: datetime
    message: str
    by_api: bool = False


@dataclass(frozen=True)
class Output:
    """An expected output file: reference hash ``correct``, raw ``ignore`` flag (NULL kept) and accepted variants."""

    id: int
    correct: str | None
    ignore: bool | None
    variants: frozenset[str] = frozenset()

    @property
    def required(self) -> bool:
        """True when the platform requires this output (SQL ``ignore IS FALSE``: a NULL flag counts as ignored)."""
        return self.ignore is False


@dataclass(frozen=True)
class Result:
    """A ``test_result`` row: exit code, the ``expected_rc`` snapshot taken when it arrived, runtime in ms."""

    exit_code: int | None
    expected_rc: int | None
    runtime: int | None = None

    @property
    def exit_code_matched(self) -> bool:
        """True when the exit code equals the snapshot (compared like the platform: NULL equals only NULL)."""
        return self.exit_code == self.expected_rc


@dataclass(frozen=True)
class ResultFile:
    """A ``test_result_file`` row with the output it compares (which may belong to another regression test)."""

    output: Output
    got: str | None

    @property
    def matched(self) -> bool:
        """True when ``got`` is NULL (matched the baseline) or exactly equals one of the output's variants."""
        return self.got is None or self.got in self.output.variants


@dataclass(frozen=True)
class SampleFacts:
    """One regression test in scope of a run: its outputs, its result (if any) and its result files."""

    regression_id: int
    outputs: tuple[Output, ...] = ()
    result: Result | None = None
    files: tuple[ResultFile, ...] = ()


@dataclass(frozen=True)
class RunFacts:
    """Everything the verdict of one run depends on; ``progress`` is in ascending id order."""

    run_id: int
    progress: tuple[ProgressRow, ...] = ()
    has_vm: bool = False
    samples: tuple[SampleFacts, ...] = ()


# --- verdicts (output) ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutputVerdict:
    """One item of the contract's RunSample ``outputs``."""

    output_id: int
    status: OutputStatus
    expected_hash: str | None
    actual_hash: str | None


@dataclass(frozen=True)
class SampleVerdict:
    """Status of one regression test in a run, with its per-output statuses."""

    regression_id: int
    status: SampleStatus
    outputs: tuple[OutputVerdict, ...]


@dataclass(frozen=True)
class SampleCounts:
    """How many samples of a run have each status; the six numbers add up to ``total``."""

    total: int
    passed: int
    failed: int
    skipped: int
    missing_output: int
    not_started: int
    running: int

    @classmethod
    def of(cls, samples: Collection[SampleVerdict]) -> 'SampleCounts':
        """Count ``samples`` by status."""
        counts = Counter(sample.status for sample in samples)
        return cls(len(samples), counts[SampleStatus.PASS], counts[SampleStatus.FAIL], counts[SampleStatus.SKIPPED],
                   counts[SampleStatus.MISSING_OUTPUT], counts[SampleStatus.NOT_STARTED], counts[SampleStatus.RUNNING])

    def summary_fields(self) -> dict[str, int]:
        """The RunSummary counters: samples without a verdict yet count as skipped, so the five partition the total.

        ``error_count`` is always 0: the platform has no per-sample error; an aborted run is an error of the run.
        """
        return {'total_samples': self.total, 'pass_count': self.passed, 'fail_count': self.failed,
                'skipped_count': self.skipped + self.not_started + self.running,
                'missing_output_count': self.missing_output, 'error_count': 0}


@dataclass(frozen=True)
class RunVerdict:
    """Derived state of one run: status, ``run_errors`` (yes/no/unknown), sample verdicts and their counts.

    ``samples`` are in the order of the run's facts, so ``zip(facts.samples, verdict.samples)`` pairs them.
    """

    status: RunStatus
    run_errors: str
    samples: tuple[SampleVerdict, ...]
    counts: SampleCounts


@dataclass(frozen=True)
class ProgressEvent:
    """The contract's ProgressEvent (timestamp already ISO 8601 UTC with ``Z``)."""

    timestamp: str
    status: str
    message: str
    step: int | None


# --- rules ---------------------------------------------------------------------------------------------------------

def in_scope(customized: Iterable[int], categorised: Collection[int]) -> tuple[int, ...]:
    """Ids of the regression tests a run is judged on, each once, ascending.

    The platform's scope is the run's ``customized_test`` rows, or every regression test when it has none (inactive
    ones included); ``get_test_results`` only ever shows tests in a category and the worker is only sent those, so
    scope is cut down to ``categorised`` (ids of existing regression tests with a link to an existing category).
    Duplicate customized rows and multiple categories count a regression test once (trap 26).
    """
    chosen = set(customized)
    return tuple(sorted(chosen.intersection(categorised) if chosen else categorised))


def stop_kind(row: ProgressRow) -> RunStatus:
    """For a ``canceled`` row: CANCELED when someone stopped the run, ERROR when the platform aborted it.

    Someone stopped it when the API wrote the row or its message, without surrounding spaces, tabs, CR and LF, is
    one of the platform's cancellation messages; any other message (time limit, build or artifact failure,
    "Duplicate Entries", GCP errors, ...) is an error.
    """
    message = row.message.strip(MESSAGE_WHITESPACE)
    return RunStatus.CANCELED if row.by_api or message in CANCELLATION_MESSAGES else RunStatus.ERROR


def run_errors(run: RunFacts) -> str:
    """The platform's "Run errors" column: unknown until finished, then yes iff the last row is ``canceled``."""
    last = _last_row(run)
    if last is None or not _finished(last):
        return 'unknown'
    return 'yes' if last.status is TestStatus.canceled else 'no'


def judge(run: RunFacts) -> RunVerdict:
    """The verdict of one run: its status, ``run_errors``, every sample's status and the counts by status."""
    last = _last_row(run)
    samples = tuple(_judge_sample(sample, last) for sample in run.samples)
    return RunVerdict(_run_status(run, last, samples), run_errors(run), samples, SampleCounts.of(samples))


def progress_events(run: RunFacts, created_at: datetime) -> tuple[ProgressEvent, ...]:
    """The run's progress rows as ProgressEvents, oldest first; a run without rows gets one ``queued`` event.

    ``created_at`` (the run's creation time, supplied by the caller: the ``test`` table has no such column) is only
    used for that synthesized event. A canceled row becomes ``canceled`` or ``error`` like the run status does.
    """
    if not run.progress:
        return (ProgressEvent(_utc_z(created_at), RunStatus.QUEUED.value, QUEUED_MESSAGE, None),)
    return tuple(_event(row) for row in run.progress)


def _event(row: ProgressRow) -> ProgressEvent:
    """One progress row as a ProgressEvent (step from ``TestStatus.progress_step``, null for canceled)."""
    step = TestStatus.progress_step(row.status)
    status = stop_kind(row).value if row.status is TestStatus.canceled else row.status.value
    message = row.message[:MESSAGE_MAX_LENGTH]
    return ProgressEvent(_utc_z(row.timestamp), status, message, step if step >= 0 else None)


def _last_row(run: RunFacts) -> ProgressRow | None:
    """The row that decides the run's state: the last one by id (rows may follow a cancellation)."""
    return run.progress[-1] if run.progress else None


def _finished(last: ProgressRow | None) -> bool:
    """``Test.finished``: the last row is completed or canceled."""
    return last is not None and last.status in (TestStatus.completed, TestStatus.canceled)


def _run_status(run: RunFacts, last: ProgressRow | None, samples: Iterable[SampleVerdict]) -> RunStatus:
    """Run status from the last progress row, the VM row and, once completed, the samples' verdicts."""
    if last is None:
        return RunStatus.RUNNING if run.has_vm else RunStatus.QUEUED
    if last.status is TestStatus.canceled:
        return stop_kind(last)
    if last.status is not TestStatus.completed:
        return RunStatus.RUNNING
    if any(sample.status in (SampleStatus.FAIL, SampleStatus.MISSING_OUTPUT) for sample in samples):
        return RunStatus.FAIL
    if any(sample.result is None for sample in run.samples):
        return RunStatus.INCOMPLETE
    return RunStatus.PASS


def _judge_sample(sample: SampleFacts, last: ProgressRow | None) -> SampleVerdict:
    """Status of one regression test (§5.5 step 3) and its outputs; see docs/verdicts.md for the table."""
    result = sample.result
    if result is not None and not result.exit_code_matched:
        status = SampleStatus.FAIL
    elif sample.files:
        status = SampleStatus.PASS if all(file.matched for file in sample.files) else SampleStatus.FAIL
    elif result is None and not _finished(last):
        testing = last is not None and last.status is TestStatus.testing
        return SampleVerdict(sample.regression_id, SampleStatus.RUNNING if testing else SampleStatus.NOT_STARTED, ())
    elif any(output.required for output in sample.outputs):
        status = SampleStatus.MISSING_OUTPUT
    else:
        status = SampleStatus.PASS if result is not None else SampleStatus.SKIPPED
    return SampleVerdict(sample.regression_id, status, _judge_outputs(sample))


def _judge_outputs(sample: SampleFacts) -> tuple[OutputVerdict, ...]:
    """One item per result file, plus one per required output without a file, ordered by output id.

    A required output without a file is ``missing_output`` when the test has no files at all (the platform's dummy
    row) and ``missing_expected`` when other outputs have files (the platform does not check it). Ignored outputs
    without a file are left out.
    """
    items = [OutputVerdict(file.output.id, OutputStatus.MATCH if file.matched else OutputStatus.DIFF_MISMATCH,
                           _sha256_or_none(file.output.correct), _sha256_or_none(file.got))
             for file in sample.files]
    reported = {file.output.id for file in sample.files}
    absent = OutputStatus.MISSING_EXPECTED if sample.files else OutputStatus.MISSING_OUTPUT
    items += [OutputVerdict(output.id, absent, _sha256_or_none(output.correct), None)
              for output in sample.outputs if output.required and output.id not in reported]
    return tuple(sorted(items, key=lambda item: item.output_id))


def _sha256_or_none(value: str | None) -> str | None:
    """``value`` when it looks like a SHA-256 hex digest, else None (the contract's hash pattern)."""
    return value if value is not None and _SHA256.fullmatch(value) else None


def _utc_z(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with ``Z`` (a naive value means UTC, an aware one is converted)."""
    return cast(str, isoformat_z(moment))
