"""The test errors of a run as the contract's ErrorItems (``/runs/{id}/errors``) and their buckets (``/error-summary``).

Errors are read off the verdicts (:func:`mod_api.verdicts.judge` over :func:`mod_api.run_data.load_run_facts`, via
the run's :class:`mod_api.run_view.RunView`); no pass/fail rule is re-derived here. Every failing regression test
(sample status ``fail`` or ``missing_output``) yields, in this order:

* ``exit_code_mismatch`` when its TestResult's exit code differs from the ``expected_rc`` snapshot;
* one ``diff_mismatch`` / ``missing_output`` per item of its RunSample ``outputs`` with that status;
* ``test_failure`` when neither of the above explains why it failed.

Severity, ``error_id``, ``occurred_at``, ``location`` and the bucket keys are documented in ``docs/errors.md``. A run's
errors are bounded by its scope (regression tests x outputs), and the verdict of every in-scope test is needed
anyway, so they are filtered, grouped and paged in memory; locations cost :data:`LOCATION_QUERY_COUNT` queries.
"""
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from mod_api.db import db
from mod_api.legacy import Category, RegressionTest, RegressionTestOutput, Sample, regressionTestLinkTable
from mod_api.run_view import RunView
from mod_api.sample_view import MAX_COMMAND
from mod_api.timeutil import as_utc, isoformat_z
from mod_api.verdicts import OutputStatus, SampleFacts, SampleStatus, SampleVerdict

LOCATION_QUERY_COUNT = 2
MAX_MESSAGE, MAX_KEY, MAX_SAMPLE_IDS = 1000, 100, 1000


class Severity(StrEnum):
    """The contract's severities, from the least to the most severe."""

    INFO = 'info'
    WARNING = 'warning'
    ERROR = 'error'
    CRITICAL = 'critical'

    @property
    def rank(self) -> int:
        """Position from the least severe (0) to the most severe (3), to pick a bucket's highest severity."""
        return list(Severity).index(self)


class ErrorType(StrEnum):
    """The contract's test error types."""

    TEST_FAILURE = 'test_failure'
    EXIT_CODE_MISMATCH = 'exit_code_mismatch'
    MISSING_OUTPUT = 'missing_output'
    DIFF_MISMATCH = 'diff_mismatch'


FAILING = (SampleStatus.FAIL, SampleStatus.MISSING_OUTPUT)
OUTPUT_ERRORS = {OutputStatus.DIFF_MISMATCH: ErrorType.DIFF_MISMATCH,
                 OutputStatus.MISSING_OUTPUT: ErrorType.MISSING_OUTPUT}


@dataclass(frozen=True)
class Finding:
    """One failing (regression test, output) of a run, before its location is loaded."""

    regression_id: int
    output_id: int | None
    type: ErrorType
    severity: Severity
    message: str
    actual: str | None = None  # a diff_mismatch's ``got`` when it is a SHA-256 (names the actual output file)

    @property
    def order(self) -> tuple[int, int, str]:
        """The list order: regression test, then output (none first), then type."""
        return self.regression_id, self.output_id or 0, self.type.value


@dataclass(frozen=True)
class RegressionPlace:
    """Where a regression test sits: its command, media sample (if it still has one) and first category."""

    command: str
    sample_id: int | None
    sample_sha: str | None
    sample_name: str | None
    category: str | None


@dataclass(frozen=True)
class OutputPlace:
    """An expected output's reference file name parts."""

    correct: str | None
    extension: str


@dataclass(frozen=True)
class RunError:
    """One test error of a run with everything its ErrorItem shows."""

    run_id: int
    finding: Finding
    occurred_at: datetime
    regression: RegressionPlace | None
    output: OutputPlace | None

    @property
    def sample_id(self) -> int | None:
        """The media sample of the regression test (None once the sample was deleted)."""
        return self.regression.sample_id if self.regression is not None else None

    @property
    def category(self) -> str | None:
        """Name of the regression test's first category by id (None when unnamed)."""
        return self.regression.category if self.regression is not None else None

    @property
    def error_id(self) -> str:
        """Stable id: ``err_<run>_<regression test>[_<output>]_<type>`` (at most 55 characters)."""
        finding = self.finding
        output = f'_{finding.output_id}' if finding.output_id is not None else ''
        return f'err_{self.run_id}_{finding.regression_id}{output}_{finding.type.value}'

    def document(self) -> dict[str, Any]:
        """The contract's ErrorItem."""
        finding = self.finding
        return {
            'error_id': self.error_id,
            'run_id': self.run_id,
            'sample_id': self.sample_id,
            'regression_id': finding.regression_id,
            'type': finding.type.value,
            'severity': finding.severity.value,
            'message': finding.message[:MAX_MESSAGE],
            'location': self._location(),
            'occurred_at': isoformat_z(self.occurred_at),
        }

    def _location(self) -> dict[str, Any]:
        place, finding = self.regression, self.finding
        sample = None
        if place is not None and place.sample_id is not None:
            sample = {'id': place.sample_id, 'sha': place.sample_sha, 'name': place.sample_name}
        output: dict[str, Any] | None = None
        if finding.output_id is not None:
            output = {'id': finding.output_id, 'expected_file': None, 'actual_file': None}
            if self.output is not None:
                if self.output.correct is not None:
                    output['expected_file'] = self.output.correct + self.output.extension
                if finding.actual is not None:
                    output['actual_file'] = finding.actual + self.output.extension
        return {
            'sample': sample,
            'regression_test': {'id': finding.regression_id,
                                'command': place.command[:MAX_COMMAND] if place is not None else None},
            'output': output,
            'category': self.category,
        }


# --- derivation (pure) ---------------------------------------------------------------------------------------------

def findings(samples: Iterable[tuple[SampleFacts, SampleVerdict]]) -> list[Finding]:
    """The errors of the failing regression tests among (facts, verdict) pairs, in list order."""
    found: list[Finding] = []
    for facts, verdict in samples:
        if verdict.status in FAILING:
            found += _sample_findings(facts, verdict)
    return sorted(found, key=lambda finding: finding.order)


def _sample_findings(facts: SampleFacts, verdict: SampleVerdict) -> list[Finding]:
    """The errors of one failing regression test (see the module docstring)."""
    regression_id, result = facts.regression_id, facts.result
    found = []
    if result is not None and not result.exit_code_matched:
        crashed = result.exit_code is not None and result.exit_code < 0
        found.append(Finding(regression_id, None, ErrorType.EXIT_CODE_MISMATCH,
                             Severity.CRITICAL if crashed else Severity.ERROR,
                             f'Regression test {regression_id} exited with code {_code(result.exit_code)}, expected '
                             f'{_code(result.expected_rc)}' + (' (killed by a signal or crashed)' if crashed else '')))
    exit_failed = bool(found)
    for item in verdict.outputs:
        kind = OUTPUT_ERRORS.get(item.status)
        if kind is ErrorType.MISSING_OUTPUT:
            found.append(Finding(regression_id, item.output_id, kind, Severity.ERROR,
                                 f'Regression test {regression_id}: no output generated for expected output '
                                 f'{item.output_id}, but there should be'))
        elif kind is ErrorType.DIFF_MISMATCH:
            found.append(Finding(
                regression_id, item.output_id, kind, Severity.WARNING if exit_failed else Severity.ERROR,
                f'Regression test {regression_id}: output {item.output_id} differs from the expected file and every '
                f'accepted variant' + ('; not what failed the test: the platform does not compare outputs once the '
                                       'exit code is wrong' if exit_failed else ''),
                item.actual_hash))
    if not found:
        found.append(Finding(regression_id, None, ErrorType.TEST_FAILURE, Severity.ERROR,
                             f'Regression test {regression_id} failed (status {verdict.status.value})'))
    return found


def _code(value: int | None) -> str:
    return 'none' if value is None else str(value)


def result_time(view: RunView) -> datetime:
    """When the run's results stood as they are (``occurred_at`` of its test errors).

    The run's last progress row (its completed_at once finished), else its creation time (no progress row yet).
    """
    if view.facts.progress:
        return as_utc(view.facts.progress[-1].timestamp)
    return view.created_at


# --- loading -------------------------------------------------------------------------------------------------------

def result_errors(view: RunView) -> list[RunError]:
    """Every test error of the run, ordered by (regression test, output, type); :data:`LOCATION_QUERY_COUNT` queries."""
    found = findings(zip(view.facts.samples, view.verdict.samples))
    tests = regression_places({finding.regression_id for finding in found})
    outputs = _output_places({finding.output_id for finding in found if finding.output_id is not None})
    moment = result_time(view)
    return [RunError(view.test.id, finding, moment, tests.get(finding.regression_id),
                     outputs.get(finding.output_id) if finding.output_id is not None else None)
            for finding in found]


def regression_places(regression_ids: Iterable[int]) -> dict[int, RegressionPlace]:
    """Command, sample and first category (by id) of each regression test (one query)."""
    ids = sorted(regression_ids)
    link, named = regressionTestLinkTable, aliased(Category)
    first = (select(link.c.regression_id.label('regression_id'), func.min(Category.id).label('category_id'))
             .join(Category, Category.id == link.c.category_id)
             .where(link.c.regression_id.in_(ids)).group_by(link.c.regression_id).subquery('first_category'))
    rows = db.session.execute(
        select(RegressionTest.id, RegressionTest.command, Sample.id, Sample.sha, Sample.original_name, named.name)
        .outerjoin(Sample, Sample.id == RegressionTest.sample_id)
        .outerjoin(first, first.c.regression_id == RegressionTest.id)
        .outerjoin(named, named.id == first.c.category_id)
        .where(RegressionTest.id.in_(ids))).tuples().all()
    return {regression_id: RegressionPlace(command or '', sample_id, sha, name, category)
            for regression_id, command, sample_id, sha, name, category in rows}


def _output_places(output_ids: Iterable[int]) -> dict[int, OutputPlace]:
    """Reference file name parts of each output (one query)."""
    rows = db.session.execute(
        select(RegressionTestOutput.id, RegressionTestOutput.correct, RegressionTestOutput.correct_extension)
        .where(RegressionTestOutput.id.in_(sorted(output_ids)))).tuples().all()
    return {output_id: OutputPlace(correct, extension or '') for output_id, correct, extension in rows}


# --- filtering and grouping ----------------------------------------------------------------------------------------

GROUP_KEYS: dict[str, Callable[[RunError], Any]] = {
    'type': lambda error: error.finding.type.value,
    'sample_id': lambda error: error.sample_id,
    'regression_id': lambda error: error.finding.regression_id,
    'category': lambda error: error.category,
    'severity': lambda error: error.finding.severity.value,
}


def matching(errors: Iterable[RunError], kind: str | None = None, severity: str | None = None,
             sample_id: int | None = None) -> list[RunError]:
    """The errors of this type, severity and media sample (None: any)."""
    return [error for error in errors
            if kind in (None, error.finding.type.value) and severity in (None, error.finding.severity.value)
            and sample_id in (None, error.sample_id)]


def summarize(errors: Sequence[RunError], group_by: str) -> list[dict[str, Any]]:
    """ErrorSummaryBuckets of ``errors`` grouped by ``group_by`` (a key of :data:`GROUP_KEYS`).

    Keys are strings: an id in decimal, a missing value (no sample, unnamed category) as ``''``. Buckets come by
    count (largest first), then key (ids numerically). Severity is the highest of the bucket's errors.
    """
    buckets: dict[str, list[RunError]] = {}
    for error in errors:
        value = GROUP_KEYS[group_by](error)
        buckets.setdefault('' if value is None else str(value)[:MAX_KEY], []).append(error)
    ordered = sorted(buckets.items(), key=lambda item: (-len(item[1]), _natural(item[0])))
    return [_bucket(key, members) for key, members in ordered]


def _natural(key: str) -> tuple[int, int, str]:
    """Sort key putting decimal ids in numeric order, before other keys in text order."""
    return (0, int(key), '') if key.isdigit() else (1, 0, key)


def _bucket(key: str, members: Sequence[RunError]) -> dict[str, Any]:
    sample_ids = sorted({error.sample_id for error in members if error.sample_id is not None})
    return {
        'key': key,
        'count': len(members),
        'severity': max((error.finding.severity for error in members), key=lambda severity: severity.rank).value,
        'sample_ids': sample_ids[:MAX_SAMPLE_IDS],
        'first_seen_at': isoformat_z(min(error.occurred_at for error in members)),
        'last_seen_at': isoformat_z(max(error.occurred_at for error in members)),
    }
