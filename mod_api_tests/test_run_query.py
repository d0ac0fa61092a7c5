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
from mod_api.legacy import Test as Run
from mod_api.run_query import run_columns
from mod_api.run_view import load_runs, local_utc_offset, vm_time_as_utc
from mod_api.timeutil import as_utc
from mod_api.verdicts import RunStatus
from mod_api_tests.generated_platforms import RUNS_PER_ROUND, clear, generate_runs, regression_data
from mod_api_tests.runs_data import add_run

ROUNDS = 14


@pytest.fixture()
def local_time_east_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The platform host's local time is UTC+05:30 (a POSIX TZ string: no zone database needed)."""
    monkeypatch.setenv('TZ', 'IST-5:30')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


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
        tests, outputs = regression_data(rng)
        ids = generate_runs(rng, tests, outputs)
        db.session.commit()
        views = load_runs(ids)  # also records "first seen" for queued runs
        sql = _sql_columns(ids)

        for run_id, view in views.items():
            status, created, started = sql[run_id]
            assert status == view.verdict.status.value, (seed, run_id, repr(view.facts))
            assert as_utc(created) == view.created_at, (seed, run_id)
            assert (as_utc(started) if started else None) == view.started_at, (seed, run_id)
            seen[status] += 1
        clear()

    assert sum(seen.values()) == ROUNDS * RUNS_PER_ROUND
    assert all(seen[status.value] >= 5 for status in RunStatus), seen


def test_vm_times_shift_by_the_local_offset_in_sql_and_python(app: Flask, local_time_east_of_utc: None) -> None:
    run = add_run(vm=True, vm_time=datetime(2024, 5, 17, 12, 0, 0))
    db.session.commit()
    status, created, started = _sql_columns([run.id])[run.id]
    assert (status, created, started) == ('running', datetime(2024, 5, 17, 6, 30), datetime(2024, 5, 17, 6, 30))
    assert vm_time_as_utc(datetime(2024, 5, 17, 12, 0, 0)) == datetime(2024, 5, 17, 6, 30, tzinfo=UTC)
