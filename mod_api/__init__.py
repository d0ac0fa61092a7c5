"""mod_api: the JSON REST API of the CCExtractor sample platform, as a Flask blueprint.

The host app (``run.py`` here, the platform's ``run.py`` after install) calls :func:`init_app` once::

    from mod_api import init_app
    init_app(app)               # serves the API under /api/v1

mod_api brings its own flask-sqlalchemy session on ``DATABASE_URI``, its own tables, rate limiter and error
handling, and reaches the platform's data layer only through :mod:`mod_api.legacy`.
"""
from dataclasses import dataclass
from typing import Any, Optional

import click
from flask import Blueprint, Flask
from flask_limiter import Limiter

from mod_api import facts_cache, openapi
from mod_api.db import create_api_tables, init_db
from mod_api.errors import install_error_handlers
from mod_api.http import install_request_hooks, is_api_request
from mod_api.ratelimit import create_limiter
from mod_api.resources import (
    approvals,
    artifacts,
    auth,
    branches,
    comparison,
    environments,
    logs,
    regression_tests,
    results,
    run_actions,
    run_errors,
    run_samples,
    runs,
    samples,
    system,
)
from mod_api.settings import apply_settings
from mod_api.storage import Storage, init_storage

API_PREFIX = '/api/v1'
RESOURCES = (auth, runs, run_samples, run_actions, samples, regression_tests, results, approvals, run_errors, logs,
             artifacts, branches, environments, system, comparison, openapi)

mod_api = Blueprint('mod_api', __name__)
for _resource in RESOURCES:
    mod_api.register_blueprint(_resource.blueprint)


@dataclass
class ApiState:
    """What mod_api keeps per app, in ``app.extensions['mod_api']``."""

    prefix: str
    limiter: Limiter
    storage: Storage
    openapi_document: Optional[dict[str, Any]] = None


def init_app(app: Flask, url_prefix: str = API_PREFIX) -> None:
    """Mount the API on ``app`` under ``url_prefix``; raises settings.ConfigError on bad configuration."""
    apply_settings(app.config)
    init_db(app)
    facts_cache.install(app)
    install_request_hooks(app)
    install_error_handlers(app, is_api_request)
    app.extensions['mod_api'] = ApiState(prefix=url_prefix, limiter=None, storage=init_storage(app))  # type: ignore
    app.extensions['mod_api'].limiter = create_limiter(app)
    app.register_blueprint(mod_api, url_prefix=url_prefix)
    app.cli.add_command(_create_tables_command)


@click.command('create-api-tables')
def _create_tables_command() -> None:
    """Create mod_api's own tables (idempotent; legacy tables are never touched)."""
    from flask import current_app
    create_api_tables(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo('mod_api tables are in place.')
