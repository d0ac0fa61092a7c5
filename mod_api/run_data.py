"""Bulk loading of the facts :mod:`mod_api.verdicts` judges, for a list of runs in a fixed number of queries.

:func:`load_run_facts` issues :data:`QUERY_COUNT` SELECTs whatever the number of runs, results and files (no lazy
loading: only columns are selected), then :func:`assemble` turns the plain rows into frozen dataclasses.
"""
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, null, or_, select, union_all

from mod_api.db import db
from mod_api.facts_cache import cache
from mod_api.legacy import (
    Category,
    CustomizedTest,
    EnumSymbol,
    GcpInstance,
    RegressionTest,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    TestProgress,
    TestResult,
    TestResultFile,
    regressionTestLinkTable,
)
from mod_api.verdicts import Output, ProgressRow, Result, ResultFile, RunFacts, RunVerdict, SampleFacts, in_scope, judge

QUERY_COUNT = 7
JUDGED_QUERY_COUNT = 1 + QUERY_COUNT  # at most: the keys (a run's mark or the digests), then the facts not cached


@dataclass(frozen=True)
class Rows:
    """What the queries return for a list of runs, as plain tuples (field order in the comments)."""

    progress: Sequence[tuple[int, int, EnumSymbol, datetime, str]]  # row id, run id, status, timestamp, message
    vm_runs: Collection[int]  # ids of runs having a gcp_instance row
    results: Sequence[tuple[int, int, int | None, int | None, int | None]]  # run, test, runtime, exit, rc
    files: Sequence[tuple[int, int, int, str | None]]  # run id, regression test id, output id, got
    # output id, regression test id, correct, ignore, one variant's file_hashes (None: no variant); one line per variant
    outputs: Sequence[tuple[int, int | None, str | None, bool | None, str | None]]


def load_run_facts(run_ids: Iterable[int], api_cancel_row_ids: Collection[int] = (),
                   only_tests: Collection[int] | None = None) -> dict[int, RunFacts]:
    """Facts of every run in ``run_ids`` (ids of existing runs), keyed by run id, in :data:`QUERY_COUNT` queries.

    ``api_cancel_row_ids`` are the ids of the ``canceled`` progress rows the API wrote itself (its cancel record).
    ``only_tests``: keep only the samples of these regression tests (the scope is still decided on the run's whole
    ``customized_test`` list) and load only their results and files — for reads about a few samples across many
    runs (a sample's history); empty: no sample at all, only progress and VM rows (a run list's times). Each kept
    sample is judged exactly as in the full facts, but the run's own status and counts then cover those samples only
    and must not be used.
    Uses ``db.session``; only columns are selected, so nothing is lazy-loaded afterwards.
    """
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    session = db.session
    kept = None if only_tests is None else sorted(set(only_tests))
    scoped_runs = ids if kept is None or kept else []  # nothing kept: no run's scope matters, read none
    customized = _customized_tests(scoped_runs, kept)
    categorised = frozenset(session.scalars(_of_tests(_categorised_tests(), RegressionTest.id, kept)))
    # A run whose rows name none of the kept tests has none of them in scope (no rows at all: every test is).
    scopes = {run_id: in_scope(customized.get(run_id, ()), categorised)
              if customized.get(run_id, True) else () for run_id in ids}
    if kept is not None:
        wanted = set(kept)
        scopes = {run_id: tuple(test_id for test_id in scope if test_id in wanted) for run_id, scope in scopes.items()}
    tests = set().union(*scopes.values())
    files = session.execute(_of_tests(
        select(TestResultFile.test_id, TestResultFile.regression_test_id, TestResultFile.regression_test_output_id,
               TestResultFile.got).where(TestResultFile.test_id.in_(ids)), TestResultFile.regression_test_id, kept)
    ).tuples().all()
    compared_outputs = {output_id for _, test_id, output_id, _ in files if test_id in tests}
    rows = Rows(
        progress=session.execute(
            select(TestProgress.id, TestProgress.test_id, TestProgress.status, TestProgress.timestamp,
                   TestProgress.message).where(TestProgress.test_id.in_(ids))).tuples().all(),
        vm_runs=set(session.scalars(select(GcpInstance.test_id).where(GcpInstance.test_id.in_(ids)))),
        results=session.execute(_of_tests(
            select(TestResult.test_id, TestResult.regression_test_id, TestResult.runtime, TestResult.exit_code,
                   TestResult.expected_rc).where(TestResult.test_id.in_(ids)), TestResult.regression_test_id, kept)
        ).tuples().all(),
        files=files,
        outputs=session.execute(_outputs_with_variants(sorted(tests), sorted(compared_outputs))).tuples().all(),
    )
    return assemble(scopes, rows, api_cancel_row_ids)


def _customized_tests(run_ids: Sequence[int], kept: Sequence[int] | None) -> dict[int, list[int]]:
    """Per run having ``customized_test`` rows, the regression tests they name (only ``kept`` ones, when given).

    With ``kept``, one statement reads the rows naming those tests and one line per run having any row (its
    ``regression_id`` NULL), instead of every row of every run.
    """
    every_row = select(CustomizedTest.test_id, CustomizedTest.regression_id).where(CustomizedTest.test_id.in_(run_ids))
    rows: Select | CompoundSelect = every_row if kept is None else union_all(
        every_row.where(CustomizedTest.regression_id.in_(kept)),
        select(CustomizedTest.test_id, null()).where(CustomizedTest.test_id.in_(run_ids))
        .group_by(CustomizedTest.test_id))
    customized: dict[int, list[int]] = defaultdict(list)
    for run_id, regression_id in db.session.execute(rows):
        named = customized[run_id]
        if regression_id is not None:
            named.append(regression_id)
    return customized


def load_judged(run_ids: Iterable[int], api_cancel_row_ids: Collection[int] = ()
                ) -> dict[int, tuple[RunFacts, RunVerdict]]:
    """Facts and verdict of every run in ``run_ids``, like :func:`load_run_facts` then ``judge``, through the cache.

    :mod:`mod_api.facts_cache` answers runs whose rows are unchanged since it judged them; the others are loaded.
    At most :data:`JUDGED_QUERY_COUNT` queries, one when every run is cached.
    """
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    return cache.judged(ids, api_cancel_row_ids, lambda missing: load_and_judge(missing, api_cancel_row_ids))


def load_and_judge(run_ids: Iterable[int], api_cancel_row_ids: Collection[int] = (),
                   only_tests: Collection[int] | None = None) -> dict[int, tuple[RunFacts, RunVerdict]]:
    """:func:`load_run_facts` and each run's ``judge`` verdict, bypassing the cache (``only_tests`` as there)."""
    return {run_id: (facts, judge(facts)) for run_id, facts in load_run_facts(run_ids, api_cancel_row_ids,
                                                                               only_tests).items()}


def _of_tests(statement: Select, column: Any, kept: Sequence[int] | None) -> Select:
    """``statement`` restricted to the regression tests ``kept`` (None: unrestricted)."""
    return statement if kept is None else statement.where(column.in_(kept))


def _categorised_tests() -> Select:
    """Ids of the regression tests linked to at least one existing category (the only ones the platform shows)."""
    link = regressionTestLinkTable
    return (select(RegressionTest.id).distinct()
            .join(link, link.c.regression_id == RegressionTest.id)
            .join(Category, Category.id == link.c.category_id))


def _outputs_with_variants(test_ids: Sequence[int], output_ids: Sequence[int]) -> Select:
    """The outputs of ``test_ids`` and the outputs ``output_ids``, one line per variant (outer join)."""
    return (select(RegressionTestOutput.id, RegressionTestOutput.regression_id, RegressionTestOutput.correct,
                   RegressionTestOutput.ignore, RegressionTestOutputFiles.file_hashes)
            .outerjoin(RegressionTestOutputFiles,
                       RegressionTestOutputFiles.regression_test_output_id == RegressionTestOutput.id)
            .where(or_(RegressionTestOutput.regression_id.in_(test_ids), RegressionTestOutput.id.in_(output_ids))))


def assemble(scopes: Mapping[int, Sequence[int]], rows: Rows,
             api_cancel_row_ids: Collection[int] = ()) -> dict[int, RunFacts]:
    """Build the RunFacts of each run of ``scopes`` (run id → regression test ids in scope) from loaded ``rows``.

    Pure (no database): the property test feeds it generated rows. Progress rows end up in ascending id order,
    outputs and files in output id order; a file whose output no longer exists gets an output without variants.
    """
    progress: dict[int, list[ProgressRow]] = defaultdict(list)
    for row_id, run_id, status, timestamp, message in sorted(rows.progress, key=lambda row: row[0]):
        progress[run_id].append(ProgressRow(row_id, status, timestamp, message, row_id in api_cancel_row_ids))
    outputs = _outputs(rows.outputs)
    outputs_of_test: dict[int | None, list[Output]] = defaultdict(list)
    for regression_id, output in sorted(outputs.values(), key=lambda pair: pair[1].id):
        outputs_of_test[regression_id].append(output)
    results = {(run_id, test_id): Result(exit_code, expected_rc, runtime)
               for run_id, test_id, runtime, exit_code, expected_rc in rows.results}
    files: dict[tuple[int, int], list[ResultFile]] = defaultdict(list)
    for run_id, test_id, output_id, got in sorted(rows.files, key=lambda row: row[2]):
        output = outputs[output_id][1] if output_id in outputs else Output(output_id, None, None)
        files[run_id, test_id].append(ResultFile(output, got))
    return {run_id: RunFacts(run_id, tuple(progress[run_id]), run_id in rows.vm_runs,
                             tuple(SampleFacts(test_id, tuple(outputs_of_test[test_id]), results.get((run_id, test_id)),
                                               tuple(files[run_id, test_id])) for test_id in scope))
            for run_id, scope in scopes.items()}


def _outputs(lines: Iterable[tuple[int, int | None, str | None, bool | None, str | None]]
             ) -> dict[int, tuple[int | None, Output]]:
    """Output id → (regression test id, Output with its variants) from output lines outer-joined to variants."""
    variants: dict[int, set[str]] = defaultdict(set)
    specs: dict[int, tuple[int | None, str | None, bool | None]] = {}
    for output_id, regression_id, correct, ignore, variant in lines:
        specs[output_id] = (regression_id, correct, None if ignore is None else bool(ignore))
        if variant is not None:
            variants[output_id].add(variant)
    return {output_id: (regression_id, Output(output_id, correct, ignore, frozenset(variants[output_id])))
            for output_id, (regression_id, correct, ignore) in specs.items()}
