"""mod_api.run_data: facts loaded from legacy rows (on SQLite and MariaDB) in a constant number of queries.

The platform's ``Test*`` model classes are imported under other names so that pytest does not try to collect them.
"""
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import event, null, select

from mod_api import facts_cache
from mod_api.db import db
from mod_api.legacy import (
    Category,
    CustomizedTest,
    Fork,
    GcpInstance,
    RegressionTest,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    TestPlatform,
    TestStatus,
    TestType,
    regressionTestLinkTable,
)
from mod_api.legacy import Test as Run
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import TestResult as RunResult
from mod_api.legacy import TestResultFile as RunResultFile
from mod_api.run_data import QUERY_COUNT, load_run_facts
from mod_api.verdicts import Output, OutputStatus, RunStatus, SampleStatus, judge, progress_events
from mod_regression.models import InputType, OutputType

REF, VARIANT, OTHER = 'd' * 64, 'a' * 64, 'b' * 64
NAIVE_NOON = datetime(2024, 5, 17, 12, 0, 0)


def store(*objects: object) -> None:
    db.session.add_all(objects)
    db.session.flush()


def add_category(name: str) -> Category:
    category = Category(name, f'{name} samples')
    store(category)
    return category


def add_regression_test(*categories: Category, outputs: tuple[tuple[str, bool | None], ...] = (),
                        active: bool = True) -> tuple[RegressionTest, list[RegressionTestOutput]]:
    """A regression test linked to ``categories`` with outputs given as (correct, ignore); ignore None stays NULL."""
    regression_test = RegressionTest(None, '-autoprogram', InputType.file, OutputType.file, None, 0, active)
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


def add_run(fork: Fork, *statuses: tuple[object, str], customized: tuple[int, ...] = (), vm: bool = False) -> Run:
    """A linux commit run with progress rows (status, message), customized rows and optionally a VM row."""
    run = Run(TestPlatform.linux, TestType.commit, fork.id, 'master', 'f' * 40)
    store(run)
    store(*[Progress(run.id, status, message, NAIVE_NOON) for status, message in statuses],
          *[CustomizedTest(run.id, regression_id) for regression_id in customized])
    if vm:
        store(GcpInstance(f'linux-{run.id}', run.id))
    return run


def add_fork() -> Fork:
    fork = Fork('https://github.com/test_owner/test_repo.git')
    store(fork)
    return fork


DONE = ((TestStatus.preparation, 'Loaded'), (TestStatus.testing, 'Running tests'), (TestStatus.completed, 'Ran all'))


def test_facts_follow_the_platform_rules(app: Flask) -> None:
    dvb, broken = add_category('DVB'), add_category('Broken')
    rt1, (required, null_ignore) = add_regression_test(dvb, outputs=((REF, False), (REF, None)))
    rt2, (ignored,) = add_regression_test(dvb, broken, outputs=(('sample_out2', True),))
    rt3, _ = add_regression_test(broken, active=False)
    rt4, _ = add_regression_test(outputs=((REF, False),))  # in no category
    db.session.execute(regressionTestLinkTable.insert().values(regression_id=rt2.id, category_id=broken.id))
    store(RegressionTestOutputFiles(VARIANT, required.id))
    fork = add_fork()
    customized = add_run(fork, *DONE, customized=(rt1.id, rt1.id, rt3.id, rt4.id))
    everything = add_run(fork, vm=True)
    stopped = add_run(fork, (TestStatus.preparation, 'Loaded'), (TestStatus.canceled, 'Stopped from the API'))
    failed = add_run(fork, *DONE, customized=(rt1.id, rt2.id))
    store(RunResult(customized.id, rt1.id, 120, 0, 0), RunResult(customized.id, rt3.id, 80, 0, 0),
          RunResultFile(customized.id, rt1.id, required.id, REF, VARIANT),
          RunResult(failed.id, rt1.id, 100, 0, 0), RunResultFile(failed.id, rt1.id, required.id, REF, OTHER),
          RunResult(failed.id, rt2.id, 100, 0, 0), RunResultFile(failed.id, rt2.id, required.id, REF, VARIANT))
    api_row = db.session.scalars(select(Progress.id).where(Progress.test_id == stopped.id,
                                                           Progress.status == TestStatus.canceled)).one()
    db.session.commit()

    facts = load_run_facts([customized.id, everything.id, stopped.id, failed.id, customized.id], {api_row})

    assert sorted(facts) == sorted([customized.id, everything.id, stopped.id, failed.id])
    first = facts[customized.id]
    assert [sample.regression_id for sample in first.samples] == [rt1.id, rt3.id]  # duplicates once, rt4 out
    assert first.samples[0].outputs == (Output(required.id, REF, False, frozenset({VARIANT})),
                                        Output(null_ignore.id, REF, None))
    verdict = judge(first)
    assert verdict.status is RunStatus.PASS
    assert [(sample.status, [item.status for item in sample.outputs]) for sample in verdict.samples] == [
        (SampleStatus.PASS, [OutputStatus.MATCH]), (SampleStatus.PASS, [])]
    assert [event.timestamp for event in progress_events(first, NAIVE_NOON)] == ['2024-05-17T12:00:00Z'] * 3

    second = facts[everything.id]
    assert (second.has_vm, [sample.regression_id for sample in second.samples]) == (True, [rt1.id, rt2.id, rt3.id])
    assert judge(second).status is RunStatus.RUNNING
    assert {sample.status for sample in judge(second).samples} == {SampleStatus.NOT_STARTED}

    assert judge(facts[stopped.id]).status is RunStatus.CANCELED
    assert judge(load_run_facts([stopped.id])[stopped.id]).status is RunStatus.ERROR

    fourth = judge(facts[failed.id])
    assert fourth.status is RunStatus.FAIL
    assert [(sample.status, [item.status for item in sample.outputs]) for sample in fourth.samples] == [
        (SampleStatus.FAIL, [OutputStatus.DIFF_MISMATCH]), (SampleStatus.PASS, [OutputStatus.MATCH])]
    assert facts[failed.id].samples[1].outputs == (Output(ignored.id, 'sample_out2', True),)
    assert facts[failed.id].samples[1].files[0].output.id == required.id  # a file of rt1's output, reported by rt2


def test_timestamps_stored_naive_or_aware_come_back_as_utc(app: Flask) -> None:
    run = add_run(add_fork())
    store(Progress(run.id, TestStatus.preparation, 'Loaded', datetime(2024, 5, 17, 12, 0, 0)),
          Progress(run.id, TestStatus.testing, 'Running tests', datetime(2024, 5, 17, 12, 5, 0, tzinfo=UTC)),
          Progress(run.id, TestStatus.canceled, 'Canceled by user'))
    db.session.commit()

    events = progress_events(load_run_facts([run.id])[run.id], NAIVE_NOON)

    assert [event.timestamp for event in events[:2]] == ['2024-05-17T12:00:00Z', '2024-05-17T12:05:00Z']
    assert events[2].timestamp.endswith('Z')
    assert [event.status for event in events] == ['preparation', 'testing', 'canceled']


@contextmanager
def counted_queries(afresh: bool = True) -> Iterator[list[str]]:
    """The statements sent meanwhile; ``afresh``: the facts cache is emptied first (a run it holds costs fewer)."""
    statements: list[str] = []
    if afresh:
        facts_cache.cache.clear()

    def record(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, 'before_cursor_execute', record)
    try:
        yield statements
    finally:
        event.remove(db.engine, 'before_cursor_execute', record)


def test_the_number_of_queries_does_not_depend_on_runs_or_results(app: Flask) -> None:
    category = add_category('General')
    tests = [add_regression_test(category, outputs=((REF, False), (REF, None)))[0] for _ in range(12)]
    store(*[RegressionTestOutputFiles(VARIANT, output.id) for test in tests for output in test.output_files])
    fork = add_fork()
    runs = []
    for number in range(30):
        scope = tuple(test.id for test in tests[:number % 3 * 5]) * 2  # none, 5 twice, 10 twice
        run = add_run(fork, *DONE, customized=scope, vm=number % 4 == 0)
        store(*[RunResult(run.id, test.id, 10, number % 2, 0) for test in tests],
              *[RunResultFile(run.id, test.id, output.id, REF, OTHER if number % 5 else None)
                for test in tests for output in test.output_files])
        runs.append(run.id)
    db.session.commit()

    with counted_queries() as one:
        single = load_run_facts(runs[:1])
    with counted_queries() as many:
        page = load_run_facts(runs)

    assert len(one) == len(many) == QUERY_COUNT
    assert len(single[runs[0]].samples) == 12
    assert len(page) == 30
    in_scope_files = 10 * (12 * 2) + 10 * (5 * 2) + 10 * (10 * 2)  # no customized rows: all 12 tests; then 5; 10
    assert sum(len(sample.files) for facts in page.values() for sample in facts.samples) == in_scope_files


def test_facts_of_some_tests_judge_those_samples_like_the_full_facts(app: Flask) -> None:
    category = add_category('General')
    tests = [add_regression_test(category, outputs=((REF, False),))[0] for _ in range(6)]
    fork = add_fork()
    scoped = add_run(fork, *DONE, customized=(tests[0].id, tests[1].id, tests[2].id))  # tests[3] not in its scope
    everything = add_run(fork, *DONE)
    running = add_run(fork, (TestStatus.preparation, 'Loaded'), (TestStatus.testing, 'Running tests'))
    other = add_run(fork, *DONE, customized=(tests[0].id,))  # none of the chosen tests in its scope
    for run in (scoped, everything, running, other):
        store(*[RunResult(run.id, test.id, 10, index % 2, 0) for index, test in enumerate(tests[:3])],
              *[RunResultFile(run.id, test.id, test.output_files[0].id, REF, OTHER if index == 2 else None)
                for index, test in enumerate(tests[:3])])
    db.session.commit()
    runs, chosen = [scoped.id, everything.id, running.id, other.id], {tests[1].id, tests[2].id, tests[3].id}

    with counted_queries() as statements:
        some = load_run_facts(runs, only_tests=chosen)
    full = load_run_facts(runs)

    assert len(statements) == QUERY_COUNT
    assert [sample.regression_id for sample in some[scoped.id].samples] == [tests[1].id, tests[2].id]
    assert [sample.regression_id for sample in some[everything.id].samples] == sorted(chosen)
    assert some[other.id].samples == ()
    for run_id in runs:
        expected = {sample.regression_id: sample for sample in judge(full[run_id]).samples
                    if sample.regression_id in chosen}
        assert {sample.regression_id: sample for sample in judge(some[run_id]).samples} == expected
        assert all(sample.files == next(item for item in full[run_id].samples
                                        if item.regression_id == sample.regression_id).files
                   for sample in some[run_id].samples)


def test_facts_of_no_test_hold_the_progress_and_vm_rows_only(app: Flask) -> None:
    category = add_category('General')
    tests = [add_regression_test(category, outputs=((REF, False),))[0] for _ in range(2)]
    fork = add_fork()
    done = add_run(fork, *DONE, customized=(tests[0].id,))
    running = add_run(fork, (TestStatus.preparation, 'Loaded'), vm=True)
    store(RunResult(done.id, tests[0].id, 10, 1, 0))
    db.session.commit()

    ids = [done.id, running.id]
    with counted_queries() as statements:
        none = load_run_facts(ids, only_tests=())
    full = load_run_facts(ids)

    assert len(statements) == QUERY_COUNT
    for run_id in ids:
        assert none[run_id].samples == ()
        assert (none[run_id].progress, none[run_id].has_vm) == (full[run_id].progress, full[run_id].has_vm)
    assert full[ids[0]].samples and full[ids[1]].has_vm
