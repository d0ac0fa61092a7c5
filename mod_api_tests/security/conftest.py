"""Fixtures of the security suite: an app whose budgets never throttle a crawl, and the demo dataset on it."""
from typing import Any, Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api_tests.security.served import Dataset, document_of, seed_dataset

GENEROUS_LIMIT = '100000/minute'


@pytest.fixture()
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The app under test with every budget generous (API4 builds its own apps with the real budgets)."""
    application = make_app(API_READ_LIMIT=GENEROUS_LIMIT, API_WRITE_LIMIT=GENEROUS_LIMIT,
                           API_AUTH_LIMIT=GENEROUS_LIMIT, API_ANONYMOUS_LIMIT=GENEROUS_LIMIT)
    with application.app_context():
        yield application


@pytest.fixture()
def dataset(app: Flask, client: FlaskClient) -> Dataset:
    """The demo data seeded into the app under test (see :func:`served.seed_dataset`)."""
    return seed_dataset(app, client)


@pytest.fixture()
def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document the app under test serves."""
    return document_of(app)
