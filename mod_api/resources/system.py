"""``/system``: health of the API and of what it depends on, and the CI queue; offset pages of the System lists.

Health runs every dependency check in its own daemon thread and answers after at most
``HEALTH_BUDGET_SECONDS``: a check that has not answered by then counts as failed. A check still running from an
earlier request is not started again (its answer is awaited instead), so a hanging dependency holds at most one
thread per check, however often health is asked.
"""
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import Any, Optional

from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import fields, validate
from sqlalchemy import text

from mod_api import status_store
from mod_api.db import db
from mod_api.legacy import TestPlatform
from mod_api.operations import operation
from mod_api.page_cache import cached_json
from mod_api.queue import BLOCKERS, QUEUED, RUNNING, QueueJob, blocking_rows, load_queue
from mod_api.ratelimit import storage_is_healthy
from mod_api.run_query import every_stored_status_holds
from mod_api.schemas import PaginationSchema, ResponseSchema
from mod_api.timeutil import isoformat_z, utcnow
from mod_api.validation import MAX_DB_INTEGER, StrictSchema, WholeNumber

blueprint = Blueprint('system', __name__, url_prefix='/system')

HEALTH_BUDGET_SECONDS = 0.8
STATUSES = ('ok', 'degraded', 'down')
PLATFORMS = tuple(TestPlatform.values())
DEFAULT_LIMIT, MAX_LIMIT = 50, 100


# --- offset pages (the contract's Page), shared by the System lists ------------------------------------------------

class PageQuery(StrictSchema):
    """The contract's Limit and Offset parameters; list query schemas derive from it."""

    limit = WholeNumber(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT),
                        metadata={'description': 'Maximum number of results to return (1–100)'})
    offset = WholeNumber(load_default=0, validate=validate.Range(min=0, max=MAX_DB_INTEGER),
                         metadata={'description': 'Number of results to skip for pagination'})


def true_or_false(**kwargs: Any) -> fields.Boolean:
    """A boolean query parameter spelled exactly ``true`` or ``false``."""
    return fields.Boolean(truthy={'true'}, falsy={'false'}, **kwargs)


def page_body(data: Sequence[Any], total: int, query: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A Page: ``data``, then ``pagination`` (``next_offset`` null on the last page) and any ``extra`` fields."""
    following = query['offset'] + query['limit']
    return {'data': list(data), 'pagination': {'limit': query['limit'], 'offset': query['offset'], 'total': total,
                                               'next_offset': following if following < total else None}, **extra}


class PageSchema(ResponseSchema):
    """A Page's ``pagination``; subclasses add ``data``."""

    pagination = fields.Nested(PaginationSchema, required=True)


# --- health --------------------------------------------------------------------------------------------------------

class DependencySchema(ResponseSchema):
    """One dependency's health."""

    name = fields.String(required=True, validate=validate.Length(max=100))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    message = fields.String(required=True, allow_none=True, validate=validate.Length(max=500))


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


def _check_sample_repository(app: Flask) -> Optional[str]:
    return app.extensions['mod_api'].storage.check_local()


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
    ('sample_repository', _check_sample_repository, 'degraded'),
    ('gcs', _check_gcs, 'degraded'),
    ('rate_limit_storage', _check_rate_limit_storage, 'degraded'),
)
_running_checks: 'weakref.WeakKeyDictionary[Flask, dict[str, Future]]' = weakref.WeakKeyDictionary()
_running_checks_lock = threading.Lock()


def _in_thread(name: str, check: Callable[[Flask], Optional[str]], app: Flask) -> Future:
    """Run ``check(app)`` in a daemon thread (never joined: a hanging dependency must not hold up exit)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(check(app))
        except Exception as error:  # noqa: BLE001 - a failing check is the dependency's state
            future.set_result(f'check failed ({type(error).__name__})')

    threading.Thread(target=run, name=f'mod_api-health-{name}', daemon=True).start()
    return future


def _start_checks(app: Flask) -> list[Future]:
    """One future per check: the check still running from an earlier request, else a new one."""
    with _running_checks_lock:
        running = _running_checks.setdefault(app, {})
        for name, check, _ in CHECKS:
            if name not in running or running[name].done():
                running[name] = _in_thread(name, check, app)
        return [running[name] for name, _, _ in CHECKS]


def dependency_health(app: Flask) -> list[dict[str, Any]]:
    """Every check, concurrently; one that does not answer within the budget counts as failed."""
    futures = _start_checks(app)
    wait(futures, timeout=HEALTH_BUDGET_SECONDS)
    report = []
    for (name, _, failed_status), future in zip(CHECKS, futures):
        problem = future.result() if future.done() else f'no answer within {HEALTH_BUDGET_SECONDS}s'
        message = problem
        if name == 'gcs' and problem is None and not app.extensions['mod_api'].storage.gcs_configured:
            message = 'not configured'
        report.append({'name': name, 'status': 'ok' if problem is None else failed_status, 'message': message})
    return report


@blueprint.route('/health', methods=['GET'])
@operation('Get CI system health and dependency status', ('System',), public=True,
           responses={200: ('System healthy or degraded', SystemHealthSchema),
                      503: ('System is down', SystemHealthSchema)},
           description='Unauthenticated. Checks the database, the local sample repository, GCS (a bucket metadata '
                       'call, or "not configured") and the rate-limit storage, concurrently, answering within about '
                       f'{HEALTH_BUDGET_SECONDS} s: a check without an answer by then has failed. Overall status is '
                       'down (503) only when the database is down, degraded when anything else failed.')
def health(query: dict[str, Any]) -> Any:
    """Report each dependency and the overall status: down iff the database is down, else degraded or ok."""
    dependencies = dependency_health(current_app._get_current_object())  # type: ignore[attr-defined]
    statuses = {dependency['status'] for dependency in dependencies}
    overall = 'down' if 'down' in statuses else 'degraded' if 'degraded' in statuses else 'ok'
    body = {'status': overall, 'checked_at': isoformat_z(utcnow()), 'dependencies': dependencies}
    return jsonify(body), 503 if overall == 'down' else 200


# --- queue ---------------------------------------------------------------------------------------------------------

class QueueQuery(PageQuery):
    """Filters of ``GET /system/queue``."""

    platform = fields.String(validate=validate.OneOf(PLATFORMS))
    status = fields.String(validate=validate.OneOf((QUEUED, RUNNING)))


class QueueJobSchema(ResponseSchema):
    """The contract's QueueJob."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf((QUEUED, RUNNING)))
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    queued_at = fields.DateTime(required=True)
    started_at = fields.DateTime(required=True, allow_none=True)
    position = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1),
                              metadata={'description': 'Queue position. Null for jobs that are already running.'})


class QueuePlatformSchema(ResponseSchema):
    """One platform's queue, and what keeps its cron from starting any run (empty when nothing does)."""

    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    queue_depth = fields.Integer(required=True, validate=validate.Range(min=0))
    running_count = fields.Integer(required=True, validate=validate.Range(min=0))
    blocked_by = fields.List(fields.String(validate=validate.OneOf(BLOCKERS)), required=True,
                             validate=validate.Length(max=len(BLOCKERS)))


class QueuePageSchema(PageSchema):
    """The queue page: jobs, counts (platform filter applied, status filter not) and the platforms' state."""

    data = fields.List(fields.Nested(QueueJobSchema), required=True)
    queue_depth = fields.Integer(required=True, validate=validate.Range(min=0))
    running_count = fields.Integer(required=True, validate=validate.Range(min=0))
    platforms = fields.List(fields.Nested(QueuePlatformSchema), required=True,
                            validate=validate.Length(max=len(PLATFORMS)))


QUEUE_DESCRIPTION = (
    'Runs waiting for or holding a CI VM, as the platform\'s cron sees them. queued: no progress yet and no VM; '
    'running: a VM was created (no progress yet) or the last progress row is preparation/testing. Running jobs '
    'come first, then queued ones, each by run id. position (queued jobs): 1-based per platform, the order in '
    'which the cron starts them (run id ascending). queued_at: the run\'s creation time; started_at: its first '
    'progress row, else its VM. queue_depth and running_count count the jobs of the platform filter (status filter '
    'ignored). platforms[].blocked_by lists what keeps a platform\'s cron from starting anything: maintenance mode, '
    'or a gcp_instance row without a run (stops every platform); positions then tell the order once unblocked.')


def _queue_job(job: QueueJob) -> dict[str, Any]:
    return {'run_id': job.run_id, 'status': job.status, 'platform': job.platform,
            'queued_at': isoformat_z(job.queued_at), 'started_at': isoformat_z(job.started_at),
            'position': job.position}


@blueprint.route('/queue', methods=['GET'])
@operation('Get queue depth and currently running jobs', ('System',), scope='system:read', query=QueueQuery,
           responses={200: ('Queue status and active jobs', QueuePageSchema)}, description=QUEUE_DESCRIPTION)
def queue(query: dict[str, Any]) -> Any:
    """A page of queued and running runs with the queue's counts and each platform's state.

    Served again (:mod:`mod_api.page_cache`) while no run changed and the blocking rows read the same.
    """
    def build(usable: bool) -> dict[str, Any]:
        if usable:
            status_store.refresh_stale()
        stored = usable and bool(db.session.scalar(every_stored_status_holds()))
        page = load_queue(query.get('platform'), query.get('status'), query['limit'], query['offset'], stored)
        platforms = [{'platform': platform.platform, 'queue_depth': platform.queue_depth,
                      'running_count': platform.running_count, 'blocked_by': list(platform.blocked_by)}
                     for platform in page.platforms]
        return page_body([_queue_job(job) for job in page.jobs], page.total, query,
                         queue_depth=page.queue_depth, running_count=page.running_count, platforms=platforms)
    return cached_json(query, build, unwatched=blocking_rows)
