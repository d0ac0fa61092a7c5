"""Small platform databases generated at random (seeded): every kind of run the status rules tell apart.

Shared by the tests that compare SQL statuses with ``verdicts.judge`` (``test_run_query.py``) and stored statuses
with both (``test_stored_status.py``).
"""
import random
from datetime import UTC, datetime, timedelta

from mod_api.db import db
from mod_api.legacy import Base, RegressionTest, RegressionTestOutput, TestStatus, regressionTestLinkTable
from mod_api.legacy import Test as Run
from mod_api.models import RunCancellation
from mod_api.verdicts import CANCELLATION_MESSAGES
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

RUNS_PER_ROUND = 26
HASHES = ['a' * 64, 'b' * 64, 'c' * 64]
MESSAGES = sorted(CANCELLATION_MESSAGES) + [
    ' PR closed\t', '\r\nTests canceled\n', 'pr closed', 'Canceled by admin\x0b', 'Canceled\tby user',
    'Duplicate Entries', 'artifact', 'Could not complete test, time limit exceeded', '']
STAGES = [TestStatus.preparation, TestStatus.testing, TestStatus.completed, TestStatus.canceled]



def regression_data(rng: random.Random) -> tuple[list[RegressionTest], list[RegressionTestOutput]]:
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


def progress(rng: random.Random) -> list[tuple[object, str, datetime]]:
    """0..4 random rows, often ending in completed, naive or aware UTC; canceled rows' messages from MESSAGES."""
    statuses = [rng.choice(STAGES) for _ in range(rng.choice([0, 0, 1, 2, 3, 4]))]
    if rng.random() < 0.45:
        statuses.append(TestStatus.completed)
    moments = [BASE_TIME + timedelta(minutes=rng.randint(-600, 600)) for _ in statuses]
    moments = [moment.replace(tzinfo=UTC) if rng.random() < 0.3 else moment for moment in moments]
    return [(status, rng.choice(MESSAGES) if status is TestStatus.canceled else 'row', moment)
            for status, moment in zip(statuses, moments)]


def results(rng: random.Random, run: Run, tests: list[RegressionTest], outputs: list[RegressionTestOutput]) -> None:
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


def generate_runs(rng: random.Random, tests: list[RegressionTest], outputs: list[RegressionTestOutput]) -> list[int]:
    """RUNS_PER_ROUND runs with random progress, VM rows, scopes, API cancellations, records and results."""
    user = factories.make_user('tester')
    ids = []
    for _ in range(RUNS_PER_ROUND):
        rows = progress(rng)
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
        results(rng, run, tests, outputs)
        ids.append(run.id)
    return ids


def clear() -> None:
    """Remove every legacy and API row (the next round is a new platform database)."""
    for table in reversed(Base.metadata.sorted_tables + db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()
    db.session.expunge_all()
