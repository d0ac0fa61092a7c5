"""``/system``: health of the API and of what it depends on."""
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Callable, Optional

from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import fields, validate
from sqlalchemy import text

from mod_api.db import db
from mod_api.operations import operation
from mod_api.ratelimit import storage_is_healthy
from mod_api.schemas import ResponseSchema
from mod_api.timeutil import isoformat_z, utcnow

blueprint = Blueprint('system', __name__, url_prefix='/system')

HEALTH_BUDGET_SECONDS = 0.8
STATUSES = ('ok', 'degraded', 'down')


class DependencySchema(ResponseSchema):
    """One dependency's health."""

    name = fields.String(required=True, validate=validate.Length(max=100))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    message = fields.String(allow_none=True, validate=validate.Length(max=500))


class SystemHealthSchema(ResponseSchema):
    """The contract's SystemHealth."""

    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    checked_at = fields.DateTime(required=True)
    dependencies = fields.List(fields.Nested(DependencySchema), required=True)


def _check_database(app: Flask) -> Optional[str]:
    with app.app_context():
        try:
            db.session.execute(text('SELECT 1'))
        except Exception as error:  # noqa: BLE001 - reported as the dependency's state
            return f'database unreachable ({type(error).__name__})'
        finally:
            db.session.remove()
    return None


def _check_rate_limit_storage(app: Flask) -> Optional[str]:
    limiter = app.extensions['mod_api'].limiter
    if storage_is_healthy(limiter):
        return None
    return 'rate-limit storage unreachable; per-process in-memory limits in use'


def _check_gcs(app: Flask) -> Optional[str]:
    storage = app.extensions['mod_api'].storage
    return storage.check_gcs() if storage.gcs_configured else None


# name, check, status when the check fails
CHECKS: tuple[tuple[str, Callable[[Flask], Optional[str]], str], ...] = (
    ('database', _check_database, 'down'),
    ('sample_repository', lambda app: app.extensions['mod_api'].storage.check_local(), 'degraded'),
    ('gcs', _check_gcs, 'degraded'),
    ('rate_limit_storage', _check_rate_limit_storage, 'degraded'),
)


def dependency_health(app: Flask) -> list[dict[str, Any]]:
    """Run every check concurrently; one that does not answer within the budget counts as failed."""
    executor = ThreadPoolExecutor(max_workers=len(CHECKS))
    futures = [executor.submit(check, app) for _, check, _ in CHECKS]
    wait(futures, timeout=HEALTH_BUDGET_SECONDS)
    executor.shutdown(wait=False)
    report = []
    for (name, _, failed_status), future in zip(CHECKS, futures):
        problem = future.result() if future.done() else f'no answer within {HEALTH_BUDGET_SECONDS}s'
        status = 'ok' if problem is None else failed_status
        message = problem
        if name == 'gcs' and problem is None and not app.extensions['mod_api'].storage.gcs_configured:
            message = 'not configured'
        report.append({'name': name, 'status': status, 'message': message})
    return report


@blueprint.route('/health', methods=['GET'])
@operation('Get CI system health and dependency status', ('System',), public=True,
           responses={200: ('System healthy or degraded', SystemHealthSchema),
                      503: ('System is down', SystemHealthSchema)},
           description='Unauthenticated. Overall status is down (503) only when the database is down.')
def health(query: dict[str, Any]) -> Any:
    """Report each dependency and the overall status: down iff the database is down, else degraded or ok."""
    dependencies = dependency_health(current_app._get_current_object())  # type: ignore[attr-defined]
    statuses = {dependency['status'] for dependency in dependencies}
    overall = 'down' if 'down' in statuses else 'degraded' if 'degraded' in statuses else 'ok'
    body = {'status': overall, 'checked_at': isoformat_z(utcnow()), 'dependencies': dependencies}
    return jsonify(body), 503 if overall == 'down' else 200
