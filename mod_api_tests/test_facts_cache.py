"""The judged-runs cache (:mod:`mod_api.facts_cache`), on both backends: it saves queries, and it is never stale.

Each change below is one the derivation must see — a cancel, a late worker report, an approved baseline, a result
edited in place, a re-categorised test... After it, the cached answer must equal a fresh derivation
(``load_run_facts`` + ``judge``, no cache) and differ from the answer before the change.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from mod_api import facts_cache, status_store, status_triggers
from mod_api.db import create_api_tables, db
from mod_api.legacy import (
    Category,
    GcpInstance,
    RegressionTestOutput,
    TestStatus,
    regressionTestLinkTable,
)
from mod_api.legacy import Test as Run
from mod_api.legacy import TestResult as RunResult
from mod_api.legacy import TestResultFile as RunResultFile
from mod_api.run_data import JUDGED_QUERY_COUNT, load_judged, load_run_facts
from mod_api.run_view import api_cancel_rows
from mod_api.verdicts import RunStatus, judge
from mod_api_tests.factories import make_user
from mod_api_tests.runs_data import (
    BASE_TIME,
    DONE,
    OTHER,
    REF,
    add_api_cancellation,
    add_category,
    add_customized,
    add_progress,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_variant,
    store,
)
from mod_api_tests.test_run_data import counted_queries


@pytest.fixture()
def app(make_app):
    application = make_app()
    with application.app_context():
        yield application


@dataclass
class Scene:
    """A finished run with a passing and a failing sample, and a running run with one result so far."""

    finished: Run
    running: Run
    category: Category
    passing: tuple[Any, RegressionTestOutput]
    failing: tuple[Any, RegressionTestOutput]
    unreported: tuple[Any, RegressionTestOutput]


def scene(category_name: str = 'General') -> Scene:
    category = add_category(category_name)
    tests = [add_regression_test(category, outputs=((REF, False),)) for _ in range(3)]
    passing, failing, unreported = [(test, outputs[0]) for test, outputs in tests]
    finished = add_run(progress=DONE)
    running = add_run(progress=DONE[:2])
    for run in (finished, running):
        add_result(run, passing[0])
        add_result_file(run, *passing)
    add_result(finished, failing[0])
    add_result_file(finished, *failing, got=OTHER)
    add_result(finished, unreported[0])
    add_result_file(finished, *unreported)
    db.session.commit()
    return Scene(finished, running, category, passing, failing, unreported)


def fresh(run_id: int, cancels: frozenset[int] = frozenset()) -> Any:
    """The run's facts and verdict derived without the cache."""
    facts = load_run_facts([run_id], cancels)[run_id]
    return facts, judge(facts)


CHANGES: dict[str, Callable[[Scene], int]] = {
    # each returns the id of the run whose verdict it changes
    'API cancel of a running run': lambda s: add_api_cancellation(s.running, make_user('admin')).test_id,
    'late worker report (result after completed)': lambda s: (add_result(s.running, s.failing[0]),
                                                              s.running.id)[1],
    'late result file': lambda s: (add_result_file(s.running, *s.failing, got=OTHER), s.running.id)[1],
    'progress row': lambda s: (add_progress(s.running, (TestStatus.completed, 'Ran all')), s.running.id)[1],
    'approved baseline (a variant row)': lambda s: (add_variant(s.failing[1], OTHER), s.finished.id)[1],
    'reference changed in place': lambda s: (db.session.execute(update(RegressionTestOutput).where(
        RegressionTestOutput.id == s.failing[1].id).values(correct=OTHER)), s.finished.id)[1],
    'output ignored in place': lambda s: (db.session.execute(update(RegressionTestOutput).where(
        RegressionTestOutput.id == s.failing[1].id).values(ignore=True)), s.finished.id)[1],
    'got edited in place': lambda s: (db.session.execute(update(RunResultFile).where(
        RunResultFile.test_id == s.finished.id, RunResultFile.regression_test_id == s.failing[0].id)
        .values(got=None)), s.finished.id)[1],
    'exit code edited in place': lambda s: (db.session.execute(update(RunResult).where(
        RunResult.test_id == s.finished.id, RunResult.regression_test_id == s.passing[0].id)
        .values(exit_code=3)), s.finished.id)[1],
    'test taken out of its category': lambda s: (db.session.execute(delete(regressionTestLinkTable).where(
        regressionTestLinkTable.c.regression_id == s.failing[0].id)), s.finished.id)[1],
    'customized scope': lambda s: (add_customized(s.finished, s.passing[0].id), s.finished.id)[1],
    'VM row': lambda s: (store(GcpInstance('linux-late', s.running.id, BASE_TIME)), s.running.id)[1],
}


@pytest.fixture()
def triggers(app) -> None:
    """The stored statuses' triggers in place (conftest drops them after each test): one run is keyed by its mark."""
    db.session.commit()
    create_api_tables(app)


def judged_alone(run_id: int, cancels: frozenset[int]) -> Any:
    """The run judged on its own: keyed by its mark."""
    return load_judged([run_id], cancels)[run_id]


def judged_with_another(run_id: int, cancels: frozenset[int]) -> Any:
    """The run judged in a list of two: keyed by the digests."""
    other = db.session.scalar(select(Run.id).where(Run.id != run_id).limit(1))
    return load_judged([run_id, other], cancels)[run_id]


@pytest.mark.parametrize('judged', [judged_alone, judged_with_another])
@pytest.mark.parametrize('change', CHANGES)
def test_a_cached_run_is_never_stale(app, triggers, change: str, judged: Callable[[int, frozenset[int]], Any]) -> None:
    made = scene()
    before = {run_id: judged(run_id, frozenset(api_cancel_rows([run_id])))  # now cached
              for run_id in (made.finished.id, made.running.id)}

    changed = CHANGES[change](made)
    db.session.commit()
    cancels = frozenset(api_cancel_rows([changed]))
    after = judged(changed, cancels)

    assert after == fresh(changed, cancels)
    assert after != before[changed]


@pytest.mark.parametrize('keyed_by', ['mark', 'digests'])
def test_an_unchanged_run_is_answered_from_the_cache_in_one_query(app, triggers, keyed_by: str) -> None:
    made = scene()
    run_ids = [made.finished.id] if keyed_by == 'mark' else [made.finished.id, made.running.id]
    with counted_queries() as first:
        judged = load_judged(run_ids)
    with counted_queries(afresh=False) as second:
        again = load_judged(run_ids)
    assert len(first) == JUDGED_QUERY_COUNT
    assert len(second) == 1
    assert ('api_run_status' in second[0]) == (keyed_by == 'mark')
    assert again == judged == {run_id: fresh(run_id) for run_id in run_ids}
    assert judged[made.finished.id][1].status is RunStatus.FAIL


def test_one_run_is_not_cached_while_a_trigger_is_missing(app, triggers) -> None:
    run_id = scene().finished.id
    db.session.commit()
    with db.engine.begin() as connection:
        connection.execute(text(f"DROP TRIGGER {status_triggers.trigger_name('test_result', 'u')}"))
    status_store.forget_trigger_checks()
    load_judged([run_id])
    db.session.execute(update(RunResult).where(RunResult.test_id == run_id).values(exit_code=7))  # no trigger fires
    db.session.commit()
    with counted_queries(afresh=False) as statements:
        after = load_judged([run_id])[run_id]
    assert len(statements) == JUDGED_QUERY_COUNT
    assert after == fresh(run_id)


def test_the_cache_keeps_its_size_and_drops_the_least_recently_used(app, triggers) -> None:
    small = facts_cache.FactsCache(size=2)
    runs = [scene(f'Category {number}').finished.id for number in range(3)]

    def load(missing: list[int]) -> dict[int, Any]:
        loads.append(missing)
        return {run_id: fresh(run_id) for run_id in missing}

    loads: list[list[int]] = []
    for run_id in (runs[0], runs[1], runs[0], runs[2], runs[0], runs[1]):
        small.judged([run_id], (), load)
    assert loads == [[runs[0]], [runs[1]], [runs[2]], [runs[1]]]  # runs[1] was the least recently used


def test_the_cancel_record_is_part_of_the_key(app, triggers) -> None:
    made = scene()
    plain = load_judged([made.running.id])[made.running.id]
    row = add_api_cancellation(made.running, make_user('admin'))
    db.session.commit()
    assert load_judged([made.running.id], {row.id})[made.running.id] == fresh(made.running.id, frozenset({row.id}))
    assert load_judged([made.running.id])[made.running.id] == fresh(made.running.id) != plain
