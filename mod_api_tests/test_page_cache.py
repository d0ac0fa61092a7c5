"""mod_api.page_cache: lists, histories, the queue and run documents are served again only while nothing shown changed.

Each change below is one a platform writer (or the API) makes to a row some page or run document shows. After it,
every body served must be the body built afresh (the caches emptied), and some must differ from the bodies before
(the change is visible): a change the status triggers missed would serve an old body and fail.
"""
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from mod_api import page_cache, status_store, status_triggers
from mod_api.db import create_api_tables, db
from mod_api.legacy import (
    Category,
    Fork,
    GcpInstance,
    RegressionTest,
    RegressionTestOutput,
    Sample,
    Tag,
    TestStatus,
    User,
)
from mod_api.legacy import Test as Run
from mod_api.legacy import TestFork as Starter
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import TestResult as Result
from mod_api.models import ChangeLogEntry, RunRecord, StoredRunStatus
from mod_api_tests import factories
from mod_api_tests.runs_data import (
    BASE_TIME,
    DONE,
    REF,
    add_category,
    add_fork,
    add_owner,
    add_progress,
    add_record,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
    add_variant,
    store,
)
from mod_api_tests.system_data import set_maintenance
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/runs'
QUERIES = ({}, {'status': 'fail'}, {'sort': 'started_at'}, {'sort': 'run_id', 'limit': 2, 'offset': 1})
HISTORY_URL = '/api/v1/samples/{}/history'
RUN_DOCUMENTS = ('', '/summary', '/progress', '/samples', '/errors', '/error-summary', '/infrastructure-errors',
                 '/artifacts')


@pytest.fixture()
def platform(app: Flask) -> dict[str, Any]:
    """A few runs of every kind, with the stored statuses installed (conftest drops the triggers after the test)."""
    category = add_category()
    sample = add_sample()
    test, (output,) = add_regression_test(category, outputs=((REF, False),), sample=sample)
    starter = factories.make_user('contributor', email='starter@example.org')
    finished = add_run(progress=DONE)
    add_result(finished, test)
    add_result_file(finished, test, output, got='d' * 64)
    add_owner(finished, starter)
    queued = add_run(branch='feature', fork=add_fork('https://github.com/someone/ccextractor.git'))
    running = add_run(progress=DONE[:2], vm=True)
    db.session.commit()
    create_api_tables(app)
    return {'category': category, 'test': test, 'output': output, 'starter': starter, 'finished': finished,
            'queued': queued, 'running': running, 'sample': sample}


@pytest.fixture()
def pages(client: FlaskClient, platform: dict[str, Any]) -> Callable[[], list[dict[str, Any]]]:
    """Every run-list page of :data:`QUERIES`, two of the sample's history pages and the finished and running runs'
    documents (:data:`RUN_DOCUMENTS`, the sample's result), as served (through the caches)."""
    headers = factories.bearer(factories.make_token(factories.make_user('admin')))
    history = HISTORY_URL.format(platform['sample'].id)
    requests = [(URL, query) for query in QUERIES] + [(history, {}), (history, {'status': 'fail'})]
    requests += [('/api/v1/system/queue', {}), ('/api/v1/system/queue', {'platform': 'linux', 'limit': 1})]
    for run in (platform['finished'], platform['running']):
        requests += [(f'{URL}/{run.id}{document}', {}) for document in RUN_DOCUMENTS]
        requests += [(f"{URL}/{run.id}/samples/{platform['sample'].id}", {}), (f'{URL}/{run.id}/samples',
                                                                                {'status': 'fail'})]

    def fetch() -> list[dict[str, Any]]:
        db.session.commit()
        bodies = []
        for url, query in requests:
            response = client.get(url, query_string=query, headers=headers)
            assert response.status_code in (200, 404), response.get_json()  # 404: the sample left the run's scope
            bodies.append({'status': response.status_code, 'body': response.get_json()})
        return bodies
    return fetch


def built_afresh(pages: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The pages and documents built with empty caches."""
    for cache in (page_cache.pages, page_cache.run_documents, page_cache.run_values):
        cache.clear()
    return pages()


def _branch_renamed(data: dict[str, Any]) -> None:
    db.session.execute(update(Run).where(Run.id == data['finished'].id).values(branch='renamed'))


def _fork_moved(data: dict[str, Any]) -> None:
    db.session.execute(update(Fork).where(Fork.id == data['queued'].fork_id)
                       .values(github='https://github.com/elsewhere/ccextractor.git'))


def _starter_email_changed(data: dict[str, Any]) -> None:
    db.session.execute(update(User).where(User.id == data['starter'].id).values(email='renamed@example.org'))


def _starter_added(data: dict[str, Any]) -> None:
    add_owner(data['queued'], data['starter'])


def _starter_removed(data: dict[str, Any]) -> None:
    db.session.execute(delete(Starter).where(Starter.test_id == data['finished'].id))


def _record_changed(data: dict[str, Any]) -> None:
    db.session.execute(update(RunRecord).where(RunRecord.run_id == data['queued'].id)
                       .values(triggered_by='someone-else', created_at=BASE_TIME - timedelta(days=1)))


def _record_added(data: dict[str, Any]) -> None:
    db.session.execute(delete(RunRecord).where(RunRecord.run_id == data['running'].id))
    add_record(data['running'], BASE_TIME - timedelta(days=2), triggered_by='api-user')


def _progress_added(data: dict[str, Any]) -> None:
    add_progress(data['running'], (TestStatus.completed, 'Ran all', BASE_TIME + timedelta(hours=1)))


def _vm_started(data: dict[str, Any]) -> None:
    store(GcpInstance(f"linux-{data['queued'].id}", data['queued'].id, BASE_TIME))


def _result_failed(data: dict[str, Any]) -> None:
    add_result_file(data['running'], data['test'], data['output'], got='e' * 64)
    add_progress(data['running'], (TestStatus.completed, 'Ran all', BASE_TIME + timedelta(hours=1)))


def _variant_accepted(data: dict[str, Any]) -> None:
    add_variant(data['output'], 'd' * 64)


def _category_emptied(data: dict[str, Any]) -> None:
    data['category'].regression_tests.remove(data['test'])
    db.session.flush()


def _test_moved_to_another_sample(data: dict[str, Any]) -> None:
    db.session.execute(update(RegressionTest).where(RegressionTest.id == data['test'].id)
                       .values(sample_id=add_sample().id))


def _runtime_edited(data: dict[str, Any]) -> None:
    db.session.execute(update(Result).where(Result.test_id == data['finished'].id).values(runtime=4321))


def _run_added(data: dict[str, Any]) -> None:
    add_run(branch='new-branch')


def _run_deleted(data: dict[str, Any]) -> None:
    db.session.execute(delete(RunRecord).where(RunRecord.run_id == data['queued'].id))
    db.session.execute(delete(Run).where(Run.id == data['queued'].id))


def _sample_renamed(data: dict[str, Any]) -> None:
    db.session.execute(update(Sample).where(Sample.id == data['sample'].id).values(original_name='renamed.ts'))


def _sample_tagged(data: dict[str, Any]) -> None:
    tag = Tag('teletext', 'Teletext subtitles')
    data['sample'].tags.append(tag)
    db.session.flush()


def _command_edited(data: dict[str, Any]) -> None:
    db.session.execute(update(RegressionTest).where(RegressionTest.id == data['test'].id).values(command='-out=srt'))


def _category_renamed(data: dict[str, Any]) -> None:
    db.session.execute(update(Category).where(Category.id == data['category'].id).values(name='Renamed'))


def _expected_output_replaced(data: dict[str, Any]) -> None:
    db.session.execute(update(RegressionTestOutput).where(RegressionTestOutput.id == data['output'].id)
                       .values(correct='f' * 64))


def _maintenance_started(data: dict[str, Any]) -> None:
    set_maintenance('linux', True)


def _vm_row_without_run(data: dict[str, Any]) -> None:
    store(GcpInstance('linux-lost', None))


CHANGES = [_branch_renamed, _fork_moved, _starter_email_changed, _starter_added, _starter_removed, _record_changed,
           _record_added, _progress_added, _vm_started, _result_failed, _variant_accepted, _category_emptied,
           _test_moved_to_another_sample, _runtime_edited, _run_added, _run_deleted, _sample_renamed, _sample_tagged,
           _command_edited, _category_renamed, _expected_output_replaced, _maintenance_started, _vm_row_without_run]


@pytest.mark.parametrize('change', CHANGES, ids=lambda change: change.__name__.strip('_'))
def test_a_body_is_served_again_until_a_row_it_shows_changes(
        platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]],
        change: Callable[[dict[str, Any]], None]) -> None:
    before = pages()
    assert {served['status'] for served in before} == {200}
    assert pages() == before
    change(platform)
    db.session.commit()
    served = pages()
    assert served == built_afresh(pages)
    assert served != before


def test_a_body_served_again_costs_the_mark_query_alone(
        platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]]) -> None:
    pages()  # records the runs first seen, which advances their versions: those pages are built again next time
    with counted_queries() as building:
        first = pages()
    with counted_queries() as serving:
        assert pages() == first
    # each request: its token, the change mark; the two queue pages also read the blocking rows (two queries)
    assert len(serving) == 2 * len(first) + 2 * 2
    assert len(building) > len(serving)


def test_a_refresh_leaves_the_mark_unchanged(platform: dict[str, Any]) -> None:
    db.session.execute(update(StoredRunStatus).values(computed_version=None))
    db.session.commit()
    mark = status_store.change_mark()
    assert mark is not None
    assert status_store.refresh(100) == 3
    assert status_store.change_mark() == mark


def test_nothing_is_cached_without_usable_stored_rows(
        platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]]) -> None:
    before = pages()
    db.session.commit()  # MariaDB's DDL waits for open transactions that read the table
    with db.engine.begin() as connection:
        status_triggers.remove(connection)
    status_store.forget_trigger_checks()  # this worker checked them a moment ago: trusted for a second otherwise
    assert status_store.change_mark() is None
    db.session.execute(update(Run).where(Run.id == platform['finished'].id).values(branch='unwatched'))
    db.session.commit()
    served = pages()
    assert served != before and served == built_afresh(pages)


def test_a_run_document_served_again_keeps_its_etag(client: FlaskClient, platform: dict[str, Any]) -> None:
    headers = factories.bearer(factories.make_token(factories.make_user('contributor')))
    url = f"{URL}/{platform['finished'].id}/samples"
    built = client.get(url, headers=headers)
    with counted_queries() as serving:
        again = client.get(url, headers=headers)
        unchanged = client.get(url, headers={**headers, 'If-None-Match': built.headers['ETag']})
    assert len(serving) == 4  # token and run mark, twice
    assert (again.status_code, again.data, again.headers['ETag']) == (200, built.data, built.headers['ETag'])
    assert (unchanged.status_code, unchanged.data, unchanged.headers['ETag']) == (304, b'', built.headers['ETag'])


def log_rows() -> int:
    """How many rows the change log has."""
    return db.session.scalar(select(func.count()).select_from(ChangeLogEntry)) or 0


def test_compacting_the_change_log_keeps_the_mark_and_later_changes_move_it(
        platform: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for minute in range(6):
        add_progress(platform['running'], (TestStatus.testing, f'step {minute}', BASE_TIME + timedelta(minutes=minute)))
    db.session.commit()
    mark, before = status_store.change_mark(), log_rows()
    assert mark is not None and before >= 6
    monkeypatch.setattr(status_store, 'LOG_ROWS_KEPT', 1)
    monkeypatch.setattr(status_store, 'COMPACT_BATCH', 3)  # several batches
    status_store.compact_change_log()
    assert log_rows() == 1
    assert status_store.change_mark() == mark
    add_progress(platform['running'], (TestStatus.completed, 'done', BASE_TIME + timedelta(hours=1)))
    db.session.commit()
    assert status_store.change_mark() != mark


def test_a_page_built_after_changes_compacts_the_log(
        platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_store, 'LOG_ROWS_KEPT', 4)
    pages()
    for minute in range(6):
        add_progress(platform['running'], (TestStatus.testing, f'step {minute}', BASE_TIME + timedelta(minutes=minute)))
    db.session.commit()
    assert log_rows() > 4
    assert pages() == built_afresh(pages)
    assert log_rows() <= 4


def test_a_compaction_counts_a_change_a_writer_commits_meanwhile(
        platform: dict[str, Any], backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer's uncommitted log row older than a committed one: the compaction waits for it and counts it."""
    if backend != 'mysql':
        pytest.skip('concurrent writers: MariaDB (SQLite has one writer at a time)')
    monkeypatch.setattr(status_store, 'LOG_ROWS_KEPT', 1)
    for minute in range(3):  # a log long enough to compact
        add_progress(platform['running'], (TestStatus.testing, f'step {minute}', BASE_TIME + timedelta(minutes=minute)))
    db.session.commit()
    mark = status_store.change_mark()
    assert mark is not None
    db.session.commit()
    other = sqlalchemy.create_engine(db.engine.url)
    progress = Progress.__table__.insert()
    with other.connect() as slow, other.connect() as fast:
        slow.execute(progress.values(test_id=platform['running'].id, status=TestStatus.testing, timestamp=BASE_TIME,
                                     message='slow'))  # its log row is older and stays uncommitted
        fast.execute(progress.values(test_id=platform['queued'].id, status=TestStatus.preparation,
                                     timestamp=BASE_TIME, message='fast'))
        fast.commit()
        compaction = threading.Thread(target=_compact_in, args=(current_app._get_current_object(),))
        compaction.start()
        compaction.join(0.5)
        slow.commit()
        compaction.join(10)
        assert not compaction.is_alive()
    other.dispose()
    db.session.commit()
    assert log_rows() == 1
    assert status_store.change_mark() == (*mark[:2], mark[2] + 2)


def _compact_in(app: Flask) -> None:
    with app.app_context():
        status_store.compact_change_log()
        db.session.remove()


def test_a_worker_counts_the_triggers_again_a_second_after_it_last_found_them(
        platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Marks trust the last count for TRIGGER_CHECK_SECONDS; a page built, and ``usable``, always count."""
    pages()
    clock = [1000.0]
    monkeypatch.setattr(status_store.time, 'monotonic', lambda: clock[0])
    status_store.forget_trigger_checks()
    with counted_queries() as counting:
        mark = status_store.run_mark(platform['finished'].id)
    db.session.commit()
    with db.engine.begin() as connection:
        status_triggers.remove(connection)
    with counted_queries() as trusting:
        assert status_store.run_mark(platform['finished'].id) == mark  # within the second: not counted again
    assert 'TRIGGERS' in counting[0] or 'sqlite_master' in counting[0]
    assert 'TRIGGERS' not in trusting[0] and 'sqlite_master' not in trusting[0]
    assert not status_store.usable()
    clock[0] += status_store.TRIGGER_CHECK_SECONDS
    assert status_store.run_mark(platform['finished'].id) is None and status_store.change_mark() is None


def test_a_page_built_counts_the_triggers(platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]]) -> None:
    """A run list built reads stored statuses only when every trigger is counted now, whatever a mark trusted."""
    pages()
    db.session.commit()
    with db.engine.begin() as connection:
        status_triggers.remove(connection)
    db.session.execute(update(Result).where(Result.test_id == platform['finished'].id).values(exit_code=3))
    db.session.commit()  # no trigger saw it: the stored status of the finished run is wrong now
    page_cache.pages.clear()
    served = pages()
    assert served == built_afresh(pages)
    statuses = {run['run_id']: run['status'] for run in served[0]['body']['data']}
    assert statuses[platform['finished'].id] == 'fail'
