"""mod_api.page_cache: run-list and sample-history pages are served again only while no row they show changed.

Each change below is one a platform writer (or the API) makes to a row some Run document shows. After it, the
page served must be the page built afresh (the cache emptied), and must differ from the page before (the change
is visible): a change the status triggers missed would serve the old page and fail.
"""
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, update

from mod_api import page_cache, status_store, status_triggers
from mod_api.db import create_api_tables, db
from mod_api.legacy import Fork, GcpInstance, RegressionTest, TestStatus, User
from mod_api.legacy import Test as Run
from mod_api.legacy import TestFork as Starter
from mod_api.legacy import TestResult as Result
from mod_api.models import RunRecord, StoredRunStatus
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
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/runs'
QUERIES = ({}, {'status': 'fail'}, {'sort': 'started_at'}, {'sort': 'run_id', 'limit': 2, 'offset': 1})
HISTORY_URL = '/api/v1/samples/{}/history'


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
    """Every run-list page of :data:`QUERIES` and two of the sample's history pages, as served (through the cache)."""
    headers = factories.bearer(factories.make_token(factories.make_user('contributor')))
    history = HISTORY_URL.format(platform['sample'].id)
    requests = [(URL, query) for query in QUERIES] + [(history, {}), (history, {'status': 'fail'})]

    def fetch() -> list[dict[str, Any]]:
        db.session.commit()
        bodies = []
        for url, query in requests:
            response = client.get(url, query_string=query, headers=headers)
            assert response.status_code == 200, response.get_json()
            bodies.append(response.get_json())
        return bodies
    return fetch


def built_afresh(pages: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The pages built with an empty cache."""
    page_cache.pages.clear()
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


CHANGES = [_branch_renamed, _fork_moved, _starter_email_changed, _starter_added, _starter_removed, _record_changed,
           _record_added, _progress_added, _vm_started, _result_failed, _variant_accepted, _category_emptied,
           _test_moved_to_another_sample, _runtime_edited, _run_added, _run_deleted]


@pytest.mark.parametrize('change', CHANGES, ids=lambda change: change.__name__.strip('_'))
def test_a_page_is_served_again_until_a_row_it_shows_changes(
        platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]],
        change: Callable[[dict[str, Any]], None]) -> None:
    before = pages()
    assert pages() == before
    change(platform)
    db.session.commit()
    served = pages()
    assert served == built_afresh(pages)
    assert served != before


def test_a_page_served_again_costs_the_mark_query_alone(
        platform: dict[str, Any], pages: Callable[[], list[dict[str, Any]]]) -> None:
    pages()  # records the runs first seen, which advances their versions: those pages are built again next time
    with counted_queries() as building:
        first = pages()
    with counted_queries() as serving:
        assert pages() == first
    assert len(serving) == 2 * len(first)  # each request: its token, the change mark
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
    assert status_store.change_mark() is None
    db.session.execute(update(Run).where(Run.id == platform['finished'].id).values(branch='unwatched'))
    db.session.commit()
    served = pages()
    assert served != before and served == built_afresh(pages)
