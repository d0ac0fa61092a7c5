"""Helpers of the run-write tests (trigger, cancel, retry, idempotency): callers, parallel requests, row counts.

The test modules' ``app`` fixture comes from :func:`generous_app`: conftest's app, with write and read budgets large
enough for many requests per test (the contract's 20 writes a minute would throttle them).
"""
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mod_api.access import allowed_scopes
from mod_api.db import db
from mod_api.legacy import Category, RegressionTest, User
from mod_api.models import AuditLogEntry
from mod_api_tests.factories import bearer, make_token, make_user
from mod_api_tests.runs_data import add_category, add_regression_test

GENEROUS_LIMIT = '100000/minute'
COMMIT = '0632bff4e382d5f86eff9073b9ddd37f03f9778c'


def generous_app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The app under test with generous rate limits, an application context pushed (body of an ``app`` fixture)."""
    application = make_app(API_WRITE_LIMIT=GENEROUS_LIMIT, API_READ_LIMIT=GENEROUS_LIMIT)
    with application.app_context():
        yield application


def caller(role: str = 'admin', scopes: tuple[str, ...] | None = None) -> tuple[User, dict[str, str]]:
    """A user with ``role`` and the Authorization header of a token with the scopes the role allows."""
    user = make_user(role)
    return user, bearer(make_token(user, scopes if scopes is not None else allowed_scopes(role)))


def regression_tests(active: int = 2, inactive: int = 0, category: Category | None = None) -> list[RegressionTest]:
    """``active`` then ``inactive`` regression tests in one category (committed)."""
    category = category or add_category('General')
    made = [add_regression_test(category, active=index < active)[0] for index in range(active + inactive)]
    db.session.commit()
    return made


def fresh() -> None:
    """End the test's own transaction, so the next query sees what requests committed (MariaDB snapshots)."""
    db.session.rollback()


def count(entity: Any, *conditions: Any) -> int:
    """How many rows of ``entity`` match ``conditions`` (read in a new transaction)."""
    fresh()
    return db.session.scalar(select(func.count()).select_from(entity).where(*conditions))


def audit_rows(action: str) -> list[AuditLogEntry]:
    """The audit rows of ``action``, oldest first."""
    fresh()
    return list(db.session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == action)
                                   .order_by(AuditLogEntry.id)))


def in_parallel(app: Flask, count_: int, send: Callable[[FlaskClient, int], Any]) -> list[Any]:
    """Call ``send(client, index)`` from ``count_`` threads released together; their results in index order."""
    db.session.commit()
    barrier = threading.Barrier(count_)

    def worker(index: int) -> Any:
        client = app.test_client()
        barrier.wait()
        return send(client, index)

    with ThreadPoolExecutor(max_workers=count_) as pool:
        results = list(pool.map(worker, range(count_)))
    fresh()
    return results
