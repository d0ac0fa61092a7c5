"""mod_api.run_query: the SQL status and times of runs agree with verdicts.judge and run_view, on both backends.

Many small platform databases are generated at random (seeded) and every run's SQL status, created_at and
started_at are compared with what run_view/verdicts derive from the loaded facts.
"""
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from mod_api.db import db
from mod_api.legacy import Base, RegressionTest, RegressionTestOutput, TestStatus, regressionTestLinkTable
from mod_api.legacy import Test as Run
from mod_api.models import RunCancellation
from mod_api.run_query import run_columns
from mod_api.run_view import load_runs, local_utc_offset, vm_time_as_utc
from mod_api.timeutil import as_utc
from mod_api.verdicts import CANCELLATION_MESSAGES, RunStatus
from mod_api_tests import factories
from mod_api_tests.runs_data import (
    BASE_TIME,
    add_category,
    add_customized,
    add_progress,
    add_record,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_variant,
    store,
)

ROUNDS, RUNS_PER_ROUND = 14, 26
HASHES = ['a' * 64, 'b' * 64, 'c' * 64]
MESSAGES = sorted(CANCELLATION_MESSAGES) + [
    ' PR closed\t', '\r\nTests canceled\n', 'pr closed', 'Canceled by admin\x0b', 'Canceled\tby user',
    'Duplicate Entries', 'artifact', 'Could not complete test, time limit exceeded', '']
STAGES = [TestStatus.preparation, TestStatus.testing, TestStatus.completed, TestStatus.canceled]


@pytest.fixture()
def local_time_east_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The platform host's local time is UTC+05:30 (a POSIX TZ string: no zone database needed)."""
    monkeypatch.setenv('TZ', 'IST-5:30')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _regression_data(rng: random.Random) -> tuple[list[RegressionTest], list[RegressionTestOutput]]:
    """Categories, regression tests (0..2 categories each, sometimes linked twice), outputs and variants."""
    categories = [add_category(f'category {number}') for number in range(rng.randint(0, 3))]
    tests, outputs = [], []
    for _ in range(rng.randint(0, 5)):
        linked = rng.sample(categories, rng.randint(0, min(2, len(categories))))
        regression_test, stored = add_regression_test(
            *linked, active=rng.random() < 0.7,
            outputs=[(rng.choice(HASHES + ['sample_out']), rng.choice([True, False, False, None]))
                     for _ in range(rng.randint(0, 3))])
        if linked and rng.random() < 0.2:
            db.session.execute(regressionTestLinkTable.insert().values(regression_id=regression_test.id,
                                                                       category_id=linked[0].id))
        for output in stored:
            for variant in rng.sample(HASHES, rng.randint(0, 2)):
                add_variant(output, variant)
        tests.append(regression_test)
        outputs.extend(stored)
    return tests, outputs


def _progress(rng: random.Random) -> list[tuple[object, str, datetime]]:
    """0..4 random rows, often ending in completed, naive or aware UTC; canceled rows' messages from MESSAGES."""
    statuses = [rng.choice(STAGES) for _ in range(rng.choice([0, 0, 1, 2, 3, 4]))]
    if rng.random() < 0.45:
        statuses.append(TestStatus.completed)
    moments = [BASE_TIME + timedelta(minutes=rng.randint(-600, 600)) for _ in statuses]
    moments = [moment.replace(tzinfo=UTC) if rng.random() < 0.3 else moment for moment in moments]
    return [(status, rng.choice(MESSAGES) if status is TestStatus.canceled else 'row', moment)
            for status, moment in zip(statuses, moments)]


def _results(rng: random.Random, run: Run, tests: list[RegressionTest], outputs: list[RegressionTestOutput]) -> None:
    """Results and result files: mostly clean (so that pass occurs), with random defects."""
    clean = rng.random() < 0.5
    for regression_test in tests:
        if rng.random() < (0.9 if clean else 0.5):
            codes = (0, 0) if clean and rng.random() < 0.9 else (rng.choice([0, 1, None]), rng.choice([0, 1, None]))
            add_result(run, regression_test, *codes)
        own = [output for output in outputs if output.regression_id == regression_test.id]
        others = rng.sample(outputs, min(len(outputs), rng.randint(0, 1)))
        for output in {output.id: output for output in own + others}.values():
            if rng.random() < (0.9 if clean else 0.4):
                gots = [None] * 6 + HASHES + [HASHES[0] + ' ', HASHES[1].upper(), '']
                add_result_file(run, regression_test, output, None if clean and rng.random() < 0.8
                                else rng.choice(gots))


def _runs(rng: random.Random, tests: list[RegressionTest], outputs: list[RegressionTestOutput]) -> list[int]:
    """RUNS_PER_ROUND runs with random progress, VM rows, scopes, API cancellations, records and results."""
    user = factories.make_user('tester')
    ids = []
    for _ in range(RUNS_PER_ROUND):
        rows = _progress(rng)
        run = add_run(rng.choice(['linux', 'windows']), progress=rows, vm=rng.random() < 0.3,
                      vm_time=BASE_TIME + timedelta(minutes=rng.randint(-900, 900)))
        if tests and rng.random() < 0.4:
            add_customized(run, *rng.choices([test.id for test in tests] + [None], k=rng.randint(1, 4)))
        if rng.random() < 0.2:
            add_record(run, BASE_TIME + timedelta(minutes=rng.randint(-900, 900)))
        if rows and rows[-1][0] is TestStatus.canceled and rng.random() < 0.4:
            last = max(row.id for row in run.progress)
            store(RunCancellation(run_id=run.id, progress_id=last, created_at=BASE_TIME, user_id=user.id))
        if rng.random() < 0.1:  # revived after an API cancellation
            canceled = add_progress(run, (TestStatus.canceled, 'Stopped', BASE_TIME + timedelta(hours=2)))[0]
            store(RunCancellation(run_id=run.id, progress_id=canceled.id, created_at=BASE_TIME, user_id=user.id))
            add_progress(run, (rng.choice(STAGES), 'later', BASE_TIME + timedelta(hours=3)))
        _results(rng, run, tests, outputs)
        ids.append(run.id)
    return ids


def _clear() -> None:
    """Remove every legacy and API row (the next round is a new platform database)."""
    for table in reversed(Base.metadata.sorted_tables + db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()
    db.session.expunge_all()


def _sql_columns(ids: list[int]) -> dict[int, tuple[str, datetime, datetime | None]]:
    runs = run_columns()
    rows = db.session.execute(runs.select(Run.id, runs.status, runs.created_at, runs.started_at)
                              .where(Run.id.in_(ids))).all()
    return {run_id: (status, created, started) for run_id, status, created, started in rows}


def test_sql_status_and_times_agree_with_the_verdicts_over_generated_platforms(
        app: Flask, local_time_east_of_utc: None) -> None:
    assert local_utc_offset() == timedelta(hours=5, minutes=30)
    seen: Counter[str] = Counter()
    for seed in range(ROUNDS):
        rng = random.Random(4000 + seed)
        tests, outputs = _regression_data(rng)
        ids = _runs(rng, tests, outputs)
        db.session.commit()
        views = load_runs(ids)  # also records "first seen" for queued runs
        sql = _sql_columns(ids)

        for run_id, view in views.items():
            status, created, started = sql[run_id]
            assert status == view.verdict.status.value, (seed, run_id, repr(view.facts))
            assert as_utc(created) == view.created_at, (seed, run_id)
            assert (as_utc(started) if started else None) == view.started_at, (seed, run_id)
            seen[status] += 1
        _clear()

    assert sum(seen.values()) == ROUNDS * RUNS_PER_ROUND
    assert all(seen[status.value] >= 5 for status in RunStatus), seen


def test_vm_times_shift_by_the_local_offset_in_sql_and_python(app: Flask, local_time_east_of_utc: None) -> None:
    run = add_run(vm=True, vm_time=datetime(2024, 5, 17, 12, 0, 0))
    db.session.commit()
    status, created, started = _sql_columns([run.id])[run.id]
    assert (status, created, started) == ('running', datetime(2024, 5, 17, 6, 30), datetime(2024, 5, 17, 6, 30))
    assert vm_time_as_utc(datetime(2024, 5, 17, 12, 0, 0)) == datetime(2024, 5, 17, 6, 30, tzinfo=UTC)
