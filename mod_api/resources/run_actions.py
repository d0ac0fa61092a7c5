"""`/runs` writes: trigger a run, cancel a run, retry a run (the rows they write: :mod:`mod_api.run_writes`).

Each write is one transaction with its audit row (actions ``run.trigger``, ``run.cancel``, ``run.retry``; outcome
``accepted``, ``no_op``, ``rejected`` for the 403/422 refusals of these handlers, ``replayed`` for an
``Idempotency-Key`` replay), its response built before the commit: a database error answers 503 and leaves
nothing. Trigger and retry are committed by :func:`mod_api.idempotency.run_once`, with their key's stored answer.
A refused write leaves nothing behind but its audit row. ``POST /runs`` and the retry
take an optional ``Idempotency-Key`` (:mod:`mod_api.idempotency`).
"""
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import fields, validate

from mod_api import audit, run_writes
from mod_api.access import Principal, require_principal
from mod_api.db import db
from mod_api.errors import ApiError
from mod_api.idempotency import DESCRIPTION as IDEMPOTENCY_DESCRIPTION
from mod_api.idempotency import HEADER as IDEMPOTENCY_HEADER
from mod_api.idempotency import IdempotencyHeaders, run_once
from mod_api.operations import operation
from mod_api.resources.branches import REPOSITORY_PATTERN
from mod_api.resources.runs import COMMIT_PATTERN, RunSchema
from mod_api.resources.system import PLATFORMS
from mod_api.run_view import load_runs, run_document, run_links
from mod_api.schemas import ResponseSchema
from mod_api.validation import FullMatch, StrictBoolean, StrictSchema, UniqueItems, integer_id

blueprint = Blueprint('run_actions', __name__)

WRITERS = ('admin', 'tester', 'contributor')
AUDITED_REFUSALS = (403, 422)
BRANCH_PATTERN = r'^[A-Za-z0-9._\/-]+$'
IDEMPOTENCY_NOTE = f'Header {IDEMPOTENCY_HEADER}: {IDEMPOTENCY_DESCRIPTION}'
TRIGGER_DESCRIPTION = (
    'Requires runs:write scope and the admin, tester or contributor role. The regression_test_ids set is validated '
    'against active tests only (unknown and inactive IDs: 422 naming them in details.unknown_ids / '
    'details.inactive_ids; an empty set: 422). If omitted, all active regression tests are used (422 when there is '
    'none). environment_id, when given, must be an active environment of the platform (GET /environments), else '
    '422; the platform\'s maintenance mode does not otherwise stop a run from being queued. The run is written as '
    'the platform writes it: the repository\'s fork row (reused when it exists), type pr with branch pull_request '
    'when pull_request is given, else type commit on the given branch (default master), the commit in lower case, '
    'a customized_test row per regression test and a test_fork row making the caller its owner (who may cancel '
    'it). 202 with the Run and a Location header (its URL). ' + IDEMPOTENCY_NOTE)
CANCEL_DESCRIPTION = (
    'Idempotent. Canceling an already-canceled or completed run returns 202 with status no_op and a message rather '
    'than an error. Requires runs:write scope. An admin may cancel any run; a tester or contributor only a run they '
    'own (started on the platform or through this API), else 403 with details.rule admin_or_run_owner. Appends the '
    'platform\'s own canceled progress row ("Canceled by admin" / "Canceled by user") and records who asked and the '
    'reason. Like the platform\'s stop, it does not stop a VM already running; a worker that keeps reporting can '
    'revive the run, which may then be canceled again.')
RETRY_DESCRIPTION = (
    'Creates a NEW run record with the same configuration as the source run (repository, commit, branch, pull '
    'request, platform, environment) and the same regression tests: the source\'s customized set, else every '
    'regression test it is judged on (422 when that set is empty). The original run and all its results are '
    'preserved; the legacy restart is never used. failed_only narrows the set to the tests that failed (fail or '
    'missing_output) in the source; 422 when the source has not finished or nothing failed. new_run_id in the '
    'response is the ID of the newly created run; the Location header is its URL. No ownership is needed (the new '
    'run is owned by the caller). ' + IDEMPOTENCY_NOTE)


class RunCreateRequestSchema(StrictSchema):
    """The contract's RunCreateRequest."""

    repository = fields.String(required=True, validate=[validate.Length(max=100), FullMatch(REPOSITORY_PATTERN)])
    branch = fields.String(validate=[validate.Length(max=100), FullMatch(BRANCH_PATTERN)])
    commit_sha = fields.String(required=True, validate=FullMatch(COMMIT_PATTERN))
    pull_request = integer_id(strict=True, allow_none=True)
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    regression_test_ids = fields.List(
        integer_id(strict=True), validate=[validate.Length(max=500), UniqueItems()],
        metadata={'description': 'Optional subset of active regression test IDs. If omitted, all active tests are '
                                 'used. Inactive test IDs are rejected with 422.'})
    environment_id = fields.String(validate=validate.Length(max=50))


class RunCancelRequestSchema(StrictSchema):
    """The optional body of a cancel."""

    reason = fields.String(validate=validate.Length(max=255))


class RunRetryRequestSchema(StrictSchema):
    """The optional body of a retry."""

    failed_only = StrictBoolean(load_default=False, metadata={
        'description': 'If true, only re-run regression tests that failed in the source run. If false (default), '
                       're-run the full test set.'})
    reason = fields.String(validate=validate.Length(max=255))


class RunActionResultSchema(ResponseSchema):
    """The contract's RunActionResult."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    new_run_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    action = fields.String(required=True, validate=validate.OneOf(['cancel', 'retry']))
    status = fields.String(required=True, validate=validate.OneOf(['accepted', 'rejected', 'no_op']))
    message = fields.String(required=True, validate=validate.Length(max=500))


@contextmanager
def refusals_audited(action: str, principal: Principal, run_id: int | None) -> Iterator[None]:
    """Audit a 403/422 raised inside (alone: whatever the write had added is rolled back), then re-raise it."""
    try:
        yield
    except ApiError as error:
        if error.status in AUDITED_REFUSALS:
            db.session.rollback()
            audit.record(action, 'rejected', principal, target_type='run', target_id=run_id, code=error.code,
                         status=error.status, details=error.details)
            db.session.commit()
        raise


def action_result(run_id: int, action: str, status: str, message: str, new_run_id: int | None = None) -> Response:
    """A 202 RunActionResult."""
    response = jsonify({'run_id': run_id, 'new_run_id': new_run_id, 'action': action, 'status': status,
                        'message': message})
    response.status_code = 202
    return response


@blueprint.route('/runs', methods=['POST'])
@operation('Trigger a new CI run', ('Runs',), scope='runs:write', roles=WRITERS, headers=IdempotencyHeaders,
           body=RunCreateRequestSchema,
           responses={202: ('Run queued. Poll /runs/{run_id}/progress for status.', RunSchema),
                      409: 'A request with this Idempotency-Key is still being processed',
                      422: 'Request is valid JSON but semantically invalid'},
           description=TRIGGER_DESCRIPTION)
def trigger_run(query: dict[str, Any], headers: dict[str, Any], body: dict[str, Any]) -> Any:
    """Queue a new run on one platform (see :mod:`mod_api.run_writes` for the rows it writes)."""
    principal = require_principal()
    return run_once('run.trigger', principal, headers.get('idempotency_key'), body,
                    lambda: _trigger(principal, body))


def _trigger(principal: Principal, body: dict[str, Any]) -> Response:
    with refusals_audited('run.trigger', principal, None):
        spec = run_writes.trigger_spec(body)
    run_id = run_writes.create_run(spec, principal)
    audit.record('run.trigger', 'accepted', principal, target_type='run', target_id=run_id,
                 repository=body['repository'], commit_sha=spec.commit, platform=body['platform'],
                 pull_request=spec.pr_nr or None, regression_test_count=len(spec.regression_ids),
                 environment_id=spec.environment_id)
    response = jsonify(run_document(load_runs([run_id], recorded=True)[run_id]))  # in the write's transaction
    response.status_code = 202
    response.headers['Location'] = run_links(run_id)['self']
    return response


@blueprint.route('/runs/<int:run_id>/cancel', methods=['POST'])
@operation('Cancel a queued or running CI run', ('Runs',), scope='runs:write', roles=WRITERS,
           body=RunCancelRequestSchema, body_required=False,
           responses={202: ('Cancellation accepted (or no-op if already terminal)', RunActionResultSchema)},
           description=CANCEL_DESCRIPTION)
def cancel_run(run_id: int, query: dict[str, Any], body: dict[str, Any]) -> Any:
    """Append the platform's ``canceled`` row to an unfinished run the caller may stop; a finished run is a no-op."""
    principal = require_principal()
    with refusals_audited('run.cancel', principal, run_id):
        outcome = run_writes.cancel(run_id, principal, body.get('reason'))
    audit.record('run.cancel', outcome.status, principal, target_type='run', target_id=run_id,
                 reason=body.get('reason'), progress_id=outcome.progress_id)
    db.session.commit()
    return action_result(run_id, 'cancel', outcome.status, outcome.message)


@blueprint.route('/runs/<int:run_id>/retry', methods=['POST'])
@operation('Create a new run copied from an existing run', ('Runs',), scope='runs:write', roles=WRITERS,
           headers=IdempotencyHeaders, body=RunRetryRequestSchema, body_required=False,
           responses={202: ('Retry run queued. new_run_id is the ID of the new run.', RunActionResultSchema),
                      409: 'A request with this Idempotency-Key is still being processed',
                      422: 'Request is valid JSON but semantically invalid'},
           description=RETRY_DESCRIPTION)
def retry_run(run_id: int, query: dict[str, Any], headers: dict[str, Any], body: dict[str, Any]) -> Any:
    """Queue a new run copied from run ``run_id`` (whose rows stay untouched)."""
    principal = require_principal()
    return run_once('run.retry', principal, headers.get('idempotency_key'), body,
                    lambda: _retry(run_id, principal, body))


def _retry(run_id: int, principal: Principal, body: dict[str, Any]) -> Response:
    with refusals_audited('run.retry', principal, run_id):
        spec = run_writes.retry_spec(run_id, body['failed_only'])
    new_run_id = run_writes.create_run(spec, principal)
    audit.record('run.retry', 'accepted', principal, target_type='run', target_id=run_id, new_run_id=new_run_id,
                 failed_only=body['failed_only'], reason=body.get('reason'),
                 regression_test_count=len(spec.regression_ids))
    scope = 'failed regression tests' if body['failed_only'] else 'regression tests'
    response = action_result(run_id, 'retry', 'accepted',
                             f'Run {new_run_id} queued as a retry of run {run_id} '
                             f'({len(spec.regression_ids)} {scope}).', new_run_id)
    response.headers['Location'] = run_links(new_run_id)['self']
    return response
