"""mod_api.status_store: stored run statuses and times never disagree with the live derivation, on both backends.

Platform databases are generated at random after ``create_api_tables`` installed the triggers, then changed in
every way a status can depend on (API cancels, late worker reports, results edited in place, approved and removed
variants, scopes, catalogue edits, VM rows, progress rows removed) with no refresh in between: each time, the runs
every status filter lists must be exactly those ``verdicts.judge`` gives that status, and once refreshed every
stored status must equal the verdict.
"""
import hashlib
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import mysql, sqlite

from mod_api import page_cache, run_query, status_store, status_triggers
from mod_api.db import create_api_tables, db
from mod_api.legacy import (
    CustomizedTest,
    GcpInstance,
    RegressionTest,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    TestStatus,
    regressionTestLinkTable,
)
from mod_api.legacy import Test as Run
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import TestResult as Result
from mod_api.legacy import TestResultFile as ResultFile
from mod_api.models import RunCancellation, RunRecord, StoredRunStatus, StoredStatusState
from mod_api.queue import QUEUED, RUNNING, load_queue
from mod_api.run_query import (
    RunFilters,
    _columns_for_offset,
    every_stored_status_holds,
    page_of_runs,
    stored_status_holds,
)
from mod_api.run_view import load_runs
from mod_api.verdicts import RunStatus
from mod_api_tests import factories
from mod_api_tests.approvals_data import mismatch, requested, review
from mod_api_tests.generated_platforms import HASHES, clear, generate_runs, regression_data
from mod_api_tests.run_writes_data import caller, fresh
from mod_api_tests.runs_data import (
    BASE_TIME,
    add_category,
    add_progress,
    add_regression_test,
    add_result_file,
    add_run,
    store,
)
from mod_api_tests.test_run_data import counted_queries

ROUNDS = 8
URL = '/api/v1/runs'


@pytest.fixture()
def triggers(app: Flask) -> None:
    """The stored statuses installed by ``create_api_tables`` (conftest drops the triggers after each test).

    The session commits before each trigger DDL: MariaDB's DDL waits for open transactions that read the table.
    """
    db.session.commit()
    create_api_tables(app)


def verdicts(ids: list[int]) -> dict[int, str]:
    """Run id -> its status, derived live in Python (verdicts.judge over the loaded facts)."""
    db.session.commit()
    return {run_id: view.verdict.status.value for run_id, view in load_runs(ids).items()}


def filtered() -> dict[int, str]:
    """Run id -> the status whose filter lists it, read through stored statuses (each run must be listed once)."""
    assert status_store.usable()
    found: dict[int, str] = {}
    for status in RunStatus:
        page, total = page_of_runs(RunFilters(status=status.value), 'run_id', 1000, 0, stored=True)
        assert total == len(page)
        for run_id, shown in page:
            assert shown == status.value and run_id not in found, (run_id, status, shown, found.get(run_id))
            found[run_id] = status.value
    return found


def assert_sorted_as_live() -> None:
    """Every time sort and creation filter orders the same pages through stored rows as derived live."""
    filters = [RunFilters(), RunFilters(created_after=BASE_TIME), RunFilters(created_before=BASE_TIME, status='pass')]
    for sort in ('created_at', '-created_at', 'started_at', '-started_at'):
        for chosen in filters:
            assert (page_of_runs(chosen, sort, 1000, 0, stored=True)
                    == page_of_runs(chosen, sort, 1000, 0, stored=False)), (sort, chosen)


def stored_statuses() -> dict[int, str | None]:
    """Run id -> its stored status, for the runs whose stored status holds."""
    return dict(db.session.execute(select(StoredRunStatus.run_id, StoredRunStatus.status)
                                   .where(stored_status_holds())).tuples().all())


def refresh_all() -> None:
    while status_store.refresh(7):  # small batches: several refresh statements per round
        pass


# --- changes a status depends on ----------------------------------------------------------------------------------

def _cancel(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    row = add_progress(db.session.get(Run, run_id), (TestStatus.canceled, 'Stopped', BASE_TIME))[0]
    store(RunCancellation(run_id=run_id, progress_id=row.id, created_at=BASE_TIME, user_id=context['user']))


def _late_report(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    reported = set(db.session.scalars(select(Result.regression_test_id).where(Result.test_id == run_id)))
    missing = [test for test in context['tests'] if test.id not in reported]
    if missing:
        store(Result(run_id, rng.choice(missing).id, 100, rng.choice([0, 1]), 0))  # type: ignore[arg-type]


def _exit_code_edited(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    db.session.execute(update(Result).where(Result.test_id == run_id).values(exit_code=rng.choice([0, 1])))


def _got_edited(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    db.session.execute(update(ResultFile).where(ResultFile.test_id == run_id)
                       .values(got=rng.choice([None, *HASHES])))


def _baseline_approved(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    files = db.session.execute(select(ResultFile.regression_test_output_id, ResultFile.got)
                               .where(ResultFile.test_id == run_id, ResultFile.got.isnot(None))).all()
    if files:
        output_id, got = rng.choice(files)
        store(RegressionTestOutputFiles(got, output_id))


def _variant_removed(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    """A variant accepting one of the run's outputs is deleted (when there is one)."""
    variants = db.session.scalars(select(RegressionTestOutputFiles.id).join(ResultFile, and_(
        ResultFile.regression_test_output_id == RegressionTestOutputFiles.regression_test_output_id,
        ResultFile.got == RegressionTestOutputFiles.file_hashes)).where(ResultFile.test_id == run_id)).all()
    if variants:
        chosen = rng.choice(variants)
        db.session.execute(delete(RegressionTestOutputFiles).where(RegressionTestOutputFiles.id == chosen))


def _scope_changed(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    if rng.random() < 0.5 and context['tests']:
        store(CustomizedTest(run_id, rng.choice(context['tests']).id))
    else:
        db.session.execute(delete(CustomizedTest).where(CustomizedTest.test_id == run_id))


def _catalogue_edited(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    if rng.random() < 0.5:
        db.session.execute(update(RegressionTestOutput).values(ignore=rng.choice([True, False, None]))
                           .where(RegressionTestOutput.id == select(RegressionTestOutput.id).limit(1)
                                  .scalar_subquery()))
    else:
        links = db.session.execute(select(regressionTestLinkTable)).all()
        if links:
            regression_id, category_id = rng.choice(links)
            db.session.execute(regressionTestLinkTable.delete().where(
                regressionTestLinkTable.c.regression_id == regression_id,
                regressionTestLinkTable.c.category_id == category_id))


def _vm_started(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    store(GcpInstance(f'vm-{run_id}-{rng.randrange(10 ** 6)}', run_id, BASE_TIME))


def _last_progress_removed(rng: random.Random, run_id: int, context: dict[str, Any]) -> None:
    last = db.session.scalar(select(Progress.id).where(Progress.test_id == run_id)
                             .order_by(Progress.id.desc()).limit(1))
    canceled_by_api = select(RunCancellation.id).where(RunCancellation.progress_id == last)
    if last is not None and db.session.scalar(canceled_by_api) is None:
        db.session.execute(delete(Progress).where(Progress.id == last))


CHANGES: list[Callable[[random.Random, int, dict[str, Any]], None]] = [
    _cancel, _late_report, _exit_code_edited, _got_edited, _baseline_approved, _variant_removed, _scope_changed,
    _catalogue_edited, _vm_started, _last_progress_removed]
# Changes to results, which matter in finished runs only: made there.
RESULT_CHANGES = {_late_report, _exit_code_edited, _got_edited, _baseline_approved, _variant_removed, _scope_changed}
FINISHED = {RunStatus.PASS.value, RunStatus.FAIL.value, RunStatus.INCOMPLETE.value}


def test_status_filters_agree_with_the_verdicts_before_and_after_every_kind_of_change(
        app: Flask, triggers: None) -> None:
    flips: Counter[str] = Counter()
    for seed in range(ROUNDS):
        status_store.install(db.engine)  # the state row again (each round ends with an empty database)
        rng = random.Random(7000 + seed)
        tests, outputs = regression_data(rng)
        ids = generate_runs(rng, tests, outputs)
        before = verdicts(ids)
        assert filtered() == before, seed  # nothing computed yet: every run judged live
        assert_sorted_as_live()
        refresh_all()
        assert stored_statuses() == before, seed
        assert filtered() == before, seed
        assert_sorted_as_live()

        context = {'tests': tests, 'user': factories.make_user('tester').id}
        for change in CHANGES:
            finished = [run_id for run_id in ids if before[run_id] in FINISHED]
            candidates = finished if change in RESULT_CHANGES else ids
            for run_id in rng.sample(candidates, min(5, len(candidates))):
                change(rng, run_id, context)
            after = verdicts(ids)
            assert filtered() == after, (seed, change.__name__)  # stale statuses judged live
            assert_sorted_as_live()
            flips[change.__name__] += sum(before[run_id] != after[run_id] for run_id in ids)
            refresh_all()
            assert stored_statuses() == after, (seed, change.__name__)
            assert filtered() == after, (seed, change.__name__)
            assert_sorted_as_live()
            before = after
        clear()
    assert all(flips[change.__name__] > 0 for change in CHANGES), flips  # every kind of change flipped a status


def test_a_status_computed_before_a_concurrent_change_does_not_hold(app: Flask, triggers: None) -> None:
    """A worker's report committed between the refresh's read and its write leaves the status stale, not wrong."""
    run = add_run(progress=((TestStatus.completed, 'done'),))
    db.session.commit()
    other = sqlalchemy.create_engine(db.engine.url)

    reported: list[bool] = []

    def report_meanwhile(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        """Before the refresh locks (MariaDB) or writes (SQLite) the row it computed: a worker's report."""
        if not reported and ('FOR UPDATE' in statement or statement.startswith('UPDATE api_run_status')):
            reported.append(True)
            with other.begin() as writer:
                writer.execute(Progress.__table__.insert().values(
                    test_id=run.id, status=TestStatus.canceled, timestamp=BASE_TIME, message='PR closed'))

    sqlalchemy.event.listen(db.engine, 'before_cursor_execute', report_meanwhile)
    try:
        assert status_store.refresh(10) == 1  # written: 'pass' (nothing in scope), as of the version before the report
    finally:
        sqlalchemy.event.remove(db.engine, 'before_cursor_execute', report_meanwhile)
        other.dispose()
    assert db.session.scalar(select(StoredRunStatus.status)) == 'pass'
    assert stored_statuses() == {}  # it does not hold
    assert filtered() == verdicts([run.id]) == {run.id: 'canceled'}
    assert status_store.refresh(10) == 1
    assert stored_statuses() == {run.id: 'canceled'}


def test_the_status_filter_follows_an_api_cancel_a_late_report_and_an_approved_baseline(
        client: FlaskClient, app: Flask, triggers: None) -> None:
    """The issue's three cases, over HTTP, each right after the change (no refresh in between)."""
    case = mismatch()  # a completed run failing on one output
    queued = add_run()
    regression_test = db.session.get(RegressionTest, case.regression_id)
    late = add_run(progress=((TestStatus.completed, 'done'),))
    db.session.commit()
    _, reader = caller('admin')

    def listed(status: str) -> list[int]:
        fresh()
        response = client.get(URL, query_string={'status': status, 'sort': 'run_id'}, headers=reader)
        assert response.status_code == 200, response.get_json()
        return [run['run_id'] for run in response.get_json()['data']]

    assert (listed('fail'), listed('queued')) == ([case.run_id, late.id], [queued.id])  # late: output missing
    assert client.post(f'{URL}/{queued.id}/cancel', headers=reader, json={'reason': 'wrong commit'}).status_code == 202
    assert (listed('queued'), listed('canceled')) == ([], [queued.id])

    store(Result(late.id, regression_test.id, 100, 0, 0))  # type: ignore[arg-type]  # the worker reports late
    add_result_file(late, regression_test, db.session.get(RegressionTestOutput, case.output_id))
    db.session.commit()
    assert (listed('fail'), listed('pass')) == ([case.run_id], [late.id])

    approval_id, admin = requested(client, case)
    assert review(client, admin, approval_id).status_code == 200
    assert (listed('fail'), listed('pass')) == ([], [case.run_id, late.id])


def test_the_queue_read_through_stored_statuses_is_the_live_queue(app: Flask, triggers: None) -> None:
    for seed in range(3):
        status_store.install(db.engine)
        tests, outputs = regression_data(random.Random(900 + seed))
        generate_runs(random.Random(950 + seed), tests, outputs)
        db.session.commit()
        refresh_all()
        assert db.session.scalar(every_stored_status_holds())
        assert len(load_queue(None, None, 100, 0, stored=True).jobs) > 0
        for platform, status in ((None, None), ('linux', None), (None, QUEUED), ('windows', RUNNING)):
            assert (load_queue(platform, status, 100, 0, stored=True)
                    == load_queue(platform, status, 100, 0)), (seed, platform, status)
        add_run()  # a new run: its status is not stored yet, so the queue is judged live
        db.session.commit()
        assert not db.session.scalar(every_stored_status_holds())
        clear()


def test_a_request_recomputes_stale_rows_batch_after_batch_within_its_time_budget(
        app: Flask, triggers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_store, 'REQUEST_REFRESH_BATCH', 2)
    for _ in range(5):
        add_run(progress=((TestStatus.completed, 'done'),))
    db.session.commit()
    monkeypatch.setattr(status_store, 'REQUEST_REFRESH_SECONDS', 0.0)
    assert status_store.ready() and status_store.stale_count() == 3  # one batch, then the budget was spent
    monkeypatch.setattr(status_store, 'REQUEST_REFRESH_SECONDS', 60.0)
    assert status_store.ready() and status_store.stale_count() == 0


def test_a_refresh_skips_the_rows_a_platform_writer_holds(app: Flask, triggers: None, backend: str) -> None:
    """A worker's open transaction holds its run's row: the refresh writes the others without waiting for it."""
    if backend != 'mysql':
        pytest.skip('row locks: MariaDB (SQLite has one writer at a time)')
    busy, idle = (add_run(progress=((TestStatus.completed, 'done'),)) for _ in range(2))
    db.session.commit()
    other = sqlalchemy.create_engine(db.engine.url)
    with other.connect() as worker:
        worker.execute(Progress.__table__.insert().values(  # the trigger locks busy's row until the worker ends
            test_id=busy.id, status=TestStatus.canceled, timestamp=BASE_TIME, message='PR closed'))
        assert status_store.refresh(10) == 1
        worker.rollback()
    other.dispose()
    assert stored_statuses() == {idle.id: 'pass'}
    assert status_store.refresh(10) == 1
    assert stored_statuses() == {idle.id: 'pass', busy.id: 'pass'}


def test_a_deleted_run_leaves_no_status_that_holds(app: Flask, triggers: None) -> None:
    """The filter's fast path (every run's stored status holds) counts holding rows: a deleted run's must not hold."""
    category = add_category()
    regression_test, _ = add_regression_test(category)
    kept, deleted = (add_run(progress=((TestStatus.completed, 'done'),)) for _ in range(2))
    for run in (kept, deleted):
        store(Result(run.id, regression_test.id, 100, 0, 0))  # type: ignore[arg-type]
    db.session.commit()
    refresh_all()
    assert filtered() == {kept.id: 'pass', deleted.id: 'pass'}

    db.session.execute(delete(Run).where(Run.id == deleted.id))  # MariaDB cascades to its rows, firing no trigger
    db.session.execute(update(Result).where(Result.test_id == kept.id).values(exit_code=1))  # a late correction
    assert filtered() == verdicts([kept.id, deleted.id]) == {kept.id: 'fail'}
    refresh_all()
    assert filtered() == {kept.id: 'fail'}
    assert status_store.stale_count() == 0


def test_a_list_by_creation_time_through_stored_rows_records_when_it_first_saw_the_queued_runs(
        app: Flask, triggers: None) -> None:
    queued = add_run()
    add_run(vm=True)
    add_run(progress=((TestStatus.completed, 'done'),))
    db.session.commit()
    refresh_all()
    assert status_store.stale_count() == 0  # so the queued runs are found from the stored rows
    page, _ = page_of_runs(RunFilters(), '-created_at', 10, 0, stored=True)
    assert set(db.session.scalars(select(RunRecord.run_id))) == {queued.id}
    assert page[0] == (queued.id, 'queued')


def test_a_change_committed_while_first_seen_runs_are_recorded_is_judged_live(
        app: Flask, triggers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording first-seen runs commits, so every stored status holding before it may not hold after it."""
    unseen, starting = add_run(), add_run()
    db.session.commit()
    refresh_all()
    record_first_seen = run_query.record_first_seen

    def recording_then_a_worker_reports(run_ids: Any) -> bool:
        committed = record_first_seen(run_ids)
        add_progress(db.session.get(Run, starting.id), (TestStatus.preparation, 'Loaded', BASE_TIME))
        db.session.commit()
        return committed
    monkeypatch.setattr(run_query, 'record_first_seen', recording_then_a_worker_reports)
    page, total = page_of_runs(RunFilters(status='queued'), '-created_at', 10, 0, stored=True)
    assert page == [(unseen.id, 'queued')] and total == 1


def test_stored_statuses_serve_only_while_every_trigger_and_the_rules_version_are_current(
        app: Flask, triggers: None) -> None:
    add_run(progress=((TestStatus.completed, 'done'),))
    epoch = db.session.scalar(select(StoredStatusState.epoch))
    db.session.commit()
    create_api_tables(app)  # again: every status recomputed in a new epoch (the remedy after a TRUNCATE)
    assert db.session.scalar(select(StoredStatusState.epoch)) == epoch + 1
    assert status_store.usable() and status_store.stale_count() == 0

    db.session.commit()
    with db.engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP TRIGGER {status_triggers.trigger_name('test_result', 'i')}"))
    assert not status_store.usable()  # a lost trigger: filters are judged live
    db.session.commit()
    create_api_tables(app)
    assert status_store.usable() and status_store.stale_count() == 0

    db.session.execute(update(StoredStatusState).values(rules_version=status_triggers.STATUS_RULES_VERSION - 1))
    db.session.commit()
    assert not status_store.usable()


def test_the_list_filters_through_stored_statuses_at_a_constant_query_count(
        client: FlaskClient, app: Flask, triggers: None) -> None:
    headers = factories.bearer(factories.make_token(factories.make_user('contributor')))
    tests, outputs = regression_data(random.Random(11))
    ids = generate_runs(random.Random(12), tests, outputs)
    expected = verdicts(ids)

    def listed(**params: Any) -> tuple[list[int], int]:
        page_cache.pages.clear()  # the page is built each time (test_page_cache.py counts pages served again)
        with counted_queries() as executed:
            response = client.get(URL, query_string={'sort': 'run_id', **params}, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert all(run['status'] == params['status'] for run in body['data'])
        return [run['run_id'] for run in body['data']], len(executed)

    status = Counter(expected.values()).most_common(1)[0][0]
    matching = sorted(run_id for run_id, value in expected.items() if value == status)
    (first, refreshing), (again, settled) = listed(status=status, limit=1), listed(status=status, limit=1)
    assert first == again == matching[:1]
    assert status_store.stale_count() == 0
    many, settled_many = listed(status=status, limit=50)
    assert many == matching[:50] and settled_many == settled < refreshing


# The status rules and triggers that STATUS_RULES_VERSION names: a digest of the status SQL (values included) and of
# every trigger, per dialect. Changing either changes the digest: raise STATUS_RULES_VERSION, then record the pair.
RULES_DIGESTS = {1: 'f046a071b4c35b431f25e972b02eddceaf249fedd6a94571f43ed0774ee1a2e1',
                 2: '69c192edb5802fb45cbda96d149258fe540a860de2b040c051e3a71601eece8f',
                 3: '7083a0284ba1eb4367bdd21e3c3c810b16654b49f337559b41e7a7c20ef024dc',
                 4: '40226f808ac56176dcc0d32d66fad0e5fb33fc44eb46eb1759173e6339f9b8c8'}


def test_the_rules_version_is_raised_whenever_the_status_sql_or_the_triggers_change() -> None:
    runs = _columns_for_offset(0)
    parts = []
    for dialect in (sqlite.dialect(), mysql.dialect()):
        parts.append(str(runs.status.compile(dialect=dialect, compile_kwargs={'literal_binds': True})))
        parts.extend(status_triggers.definitions(dialect.name).values())
    digest = hashlib.sha256('\n'.join(parts).encode()).hexdigest()
    assert RULES_DIGESTS.get(status_triggers.STATUS_RULES_VERSION) == digest, (
        'the status SQL or the triggers changed: raise STATUS_RULES_VERSION and record its digest', digest)
