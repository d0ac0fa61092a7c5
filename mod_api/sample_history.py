"""``GET /samples/{sample_id}/history``: a sample's regression test outcomes across runs, paged in SQL.

Entries. One per (run, regression test of the sample) pair such that

1. the regression test is in the run's scope (:func:`mod_api.verdicts.in_scope`: categorised, and named by the
   run's ``customized_test`` rows when it has any), and
2. the run has evidence about that test: a ``test_result`` row, a ``test_result_file`` row, or a ``customized_test``
   row naming it — the latter only once the run is finished (last progress row ``completed`` or ``canceled``).

So a run that never knew the test (older runs without customized rows have "every test" in scope, including tests
added later) contributes nothing, and a test still waiting in an unfinished run (which would be ``running`` or
``not_started``, statuses the contract's history does not have) appears once it has a result or its run finishes.
Candidates come from a UNION of the three tables restricted to the sample's regression tests, each pair flagged
with whether a result or result file row names it and whether a customized row does; rule 2's "finished" and
rule 1 are checked per pair in the same SELECT, as are the run filters, so ``total`` is exact.

Order: run id descending (newest first), then regression test id. Filters (the ``GET /runs`` ones, the same SQL
from :mod:`mod_api.run_query`): ``status`` is the RUN's derived status, ``branch`` byte for byte, ``platform``,
``created_after`` / ``created_before`` on the run's creation time (:mod:`mod_api.run_view`'s rule; exclusive).

Fields of an entry: ``status`` is the sample's verdict in that run (:func:`mod_api.verdicts.judge`, facts loaded for
the page's runs only); ``failure_signature`` from :mod:`mod_api.failure_signature`; ``runtime_ms`` the result's
runtime (null without a result or when negative); ``commit_sha`` null when the stored commit is not 40 hexadecimal
characters; ``branch`` cut to 100 characters. A page costs a constant number of queries whatever its size.
404 when no ``sample`` row has this id (a sample whose stored SHA is not SHA-256 still has a history).
"""
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from mod_api.db import db
from mod_api.errors import not_found
from mod_api.failure_signature import failure_signature
from mod_api.legacy import (
    CustomizedTest,
    RegressionTest,
    Sample,
    Test,
    TestProgress,
    TestResult,
    TestResultFile,
    TestStatus,
)
from mod_api.run_query import RunColumns, RunFilters, categorised, has_customized_rows, run_columns, run_conditions
from mod_api.run_view import RunView, load_runs, record_first_seen
from mod_api.timeutil import isoformat_z
from mod_api.verdicts import SampleStatus

HISTORY_STATUSES = frozenset({SampleStatus.PASS, SampleStatus.FAIL, SampleStatus.SKIPPED, SampleStatus.MISSING_OUTPUT})
MAX_BRANCH = 100
_COMMIT = re.compile(r'[0-9a-fA-F]{40}')


def _finished(run_id: Any) -> ColumnElement[bool]:
    """The run's last progress row (highest id) is ``completed`` or ``canceled``: one primary key lookup per run."""
    last = aliased(TestProgress)
    last_id = (select(func.max(TestProgress.id)).where(TestProgress.test_id == run_id)
               .correlate_except(TestProgress).scalar_subquery())
    return (exists().where(last.id == last_id, last.status.in_([TestStatus.completed, TestStatus.canceled]))
            .correlate_except(last))


def _pairs(runs: RunColumns, sample_id: int, filters: RunFilters) -> Any:
    """SELECT (run id, regression test id) of the history's entries that match ``filters`` (unordered).

    Rule 2's "finished" is looked up only for pairs no result names (the OR is evaluated in order), and rule 1's
    "named by the run's customized rows" comes from the candidates themselves, so a pair costs a few index lookups.
    Only a status filter joins the runs' last progress rows (:meth:`RunColumns.select`).
    """
    tests = select(RegressionTest.id).where(RegressionTest.sample_id == sample_id)
    rows = union_all(
        select(TestResult.test_id.label('run_id'), TestResult.regression_test_id.label('regression_id'),
               literal(1).label('reported'), literal(0).label('named')).where(TestResult.regression_test_id.in_(tests)),
        select(TestResultFile.test_id, TestResultFile.regression_test_id, literal(1), literal(0))
        .where(TestResultFile.regression_test_id.in_(tests)),
        select(CustomizedTest.test_id, CustomizedTest.regression_id, literal(0), literal(1))
        .where(CustomizedTest.regression_id.in_(tests)),
    ).subquery('named')
    candidate = (select(rows.c.run_id, rows.c.regression_id, func.max(rows.c.reported).label('reported'),
                        func.max(rows.c.named).label('named'))
                 .group_by(rows.c.run_id, rows.c.regression_id).subquery('candidate'))
    in_scope = and_(categorised(candidate.c.regression_id),
                    or_(candidate.c.named == 1, ~has_customized_rows(Test.id)))
    select_runs = runs.select if filters.status is not None else runs.times_select
    return (select_runs(Test.id.label('run_id'), candidate.c.regression_id)
            .join(candidate, candidate.c.run_id == Test.id)
            .where(in_scope, or_(candidate.c.reported == 1, _finished(Test.id)), *run_conditions(runs, filters)))


def sample_history(sample_id: int, filters: RunFilters, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the history of sample ``sample_id`` and its total; 404 for an unknown sample.

    The page carries the total (a window count over the same rows), so one statement serves both; only a page
    past the end counts again.
    """
    if db.session.scalar(select(Sample.id).where(Sample.id == sample_id)) is None:
        raise not_found('sample', sample_id)
    if filters.by_creation:
        record_first_seen()  # every run gets the stable creation time the created_* filters compare
    runs = run_columns()
    pairs = _pairs(runs, sample_id, filters)
    rows = db.session.execute(pairs.add_columns(func.count().over().label('total'))
                              .order_by(Test.id.desc(), pairs.selected_columns.regression_id)
                              .limit(limit).offset(offset)).tuples().all()
    page = [(run_id, regression_id) for run_id, regression_id, _ in rows]
    total = rows[0][2] if rows else db.session.scalar(select(func.count()).select_from(pairs.subquery('pairs'))) or 0
    views = load_runs([run_id for run_id, _ in page], only_tests={regression_id for _, regression_id in page})
    return _entries(sample_id, page, views), total


def _entries(sample_id: int, page: Sequence[tuple[int, int]], views: dict[int, RunView]) -> list[dict[str, Any]]:
    """The entries of the page's pairs, in page order (a pair no longer in its run's scope is left out)."""
    judged = {(run_id, facts.regression_id): (facts, verdict) for run_id, view in views.items()
              for facts, verdict in zip(view.facts.samples, view.verdict.samples)}
    entries = []
    for run_id, regression_id in page:
        if (run_id, regression_id) not in judged:
            continue  # the run's scope or the test changed between the two queries
        facts, verdict = judged[run_id, regression_id]
        test = views[run_id].test
        result = facts.result
        # running/not_started cannot pass the SQL rules; only a restart racing this request leads here
        status = verdict.status if verdict.status in HISTORY_STATUSES else SampleStatus.SKIPPED
        entries.append({
            'run_id': run_id,
            'sample_id': sample_id,
            'regression_id': regression_id,
            'run_created_at': isoformat_z(views[run_id].created_at),
            'commit_sha': test.commit if test.commit and _COMMIT.fullmatch(test.commit) else None,
            'branch': test.branch[:MAX_BRANCH] if test.branch is not None else None,
            'platform': test.platform.value,
            'status': status.value,
            'runtime_ms': result.runtime if result is not None and (result.runtime or 0) >= 0 else None,
            'failure_signature': failure_signature(facts, verdict),
        })
    return entries
