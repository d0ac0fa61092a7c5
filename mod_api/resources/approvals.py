"""Baseline approvals: request one for a run's output, list them, review them (rules: :mod:`mod_api.approval_flow`).

Scopes: requesting needs ``baselines:write`` and the admin or contributor role (the contract); reviewing, which
changes what the platform accepts, needs ``baselines:write`` and the admin role; reading approvals needs
``results:read`` (every role holds it: approvals are part of the results, like the run's ``triggered_by``).

Audit (one row in the transaction of the write it describes, action ``baseline_approval.request`` /
``baseline_approval.review``): outcome ``created`` or ``existing`` for a request, ``approved`` (with the variant
rows) or ``rejected`` for a review, and ``refused`` for an attempt to review one's own approval.
"""
from typing import Any

from flask import Blueprint, jsonify
from marshmallow import fields, validate
from sqlalchemy import func, select, true

from mod_api import approval_flow, audit
from mod_api.access import require_principal
from mod_api.db import db, in_retried_transaction
from mod_api.errors import ApiError
from mod_api.models import BaselineApproval
from mod_api.operations import operation
from mod_api.resources.system import PageQuery, PageSchema, page_body
from mod_api.schemas import ResponseSchema
from mod_api.timeutil import isoformat_z
from mod_api.validation import StrictBoolean, StrictSchema, integer_id

blueprint = Blueprint('approvals', __name__)

REQUESTERS = ('admin', 'contributor')
REVIEWERS = ('admin',)
SHA256_PATTERN = r'^[a-fA-F0-9]{64}$'
APPROVAL_ID_PATTERN = r'^apr_[1-9][0-9]*$'
TEXT_MAX_LENGTH = 500
EMAIL_MAX_LENGTH = 255

REQUEST_DESCRIPTION = (
    'Requires baselines:write scope and admin or contributor role. This is a destructive write — the approved '
    'output becomes the new expected baseline for the regression test. Provide a reason; it is stored in the audit '
    'log. The request is stored as pending_review; once an admin approves it (POST '
    '/baseline-approvals/{approval_id}/review), the actual output becomes an accepted variant of the output (the '
    'platform\'s regression_test_output_files; the reference file is never replaced). sample_id is the media '
    'sample\'s id; regression_id must be a regression test of that sample in the run\'s scope and output_id one '
    'of its outputs in the run, else 404 naming which (details.resource). Only an output whose status in the run '
    'is diff_mismatch can be approved, else 409 nothing_to_approve (details.output_status, details.sample_status). '
    + approval_flow.REASON_RULE + ' (400 validation_error on reason, checked once the ids are found.) '
    'The requester needs an e-mail address on their platform account (requested_by), else 403 email_required. '
    'One pending approval per output and actual hash: a request for an output and hash that already have one (from '
    'any run or requester) returns it unchanged with 202.')
REVIEW_DESCRIPTION = (
    'Not in the contract: decides a pending approval. Requires baselines:write scope and the admin role; the '
    'requester may not review their own approval (403 self_review); a decided approval is not reviewed again (409 '
    'already_reviewed). approve adds the actual output as an accepted variant (a regression_test_output_files row '
    'with file_hashes = the actual hash) of the output and, with apply_to_variants, of the same output (same '
    'correct_extension and expected_filename) of the sample\'s other regression tests whose actual output in that '
    'run has the same hash; an output that already accepts the hash gets no second row, and the reference file is '
    'never changed. 409 output_gone when the output was deleted since the request. reject records the decision only.')
LIST_DESCRIPTION = ('Not in the contract: baseline approvals, newest first (created_at, then approval id). Filter '
                    'by status. Requires results:read.')
DETAIL_DESCRIPTION = ('Not in the contract: one baseline approval (approval_id apr_<number>; any other value is '
                      '404). Requires results:read.')


class BaselineApprovalRequestSchema(StrictSchema):
    """The contract's BaselineApprovalRequest."""

    regression_id = integer_id(strict=True, required=True)
    output_id = integer_id(strict=True, required=True)
    reason = fields.String(required=True, validate=validate.Length(min=10, max=TEXT_MAX_LENGTH), metadata={
        'description': 'Required justification stored in the audit log. Minimum 10 characters; do not accept '
                       'placeholder values. ' + approval_flow.REASON_RULE})
    apply_to_variants = StrictBoolean(load_default=False, metadata={
        'description': 'If true, apply this baseline to all command variants of the regression test, not just the '
                       'specific output_id: on approval, also to the same output (same correct_extension and '
                       'expected_filename) of the sample\'s other regression tests whose actual output in the run '
                       'has the same hash.'})


class BaselineApprovalReviewSchema(StrictSchema):
    """The body of a review."""

    decision = fields.String(required=True, validate=validate.OneOf(tuple(approval_flow.DECISIONS)))
    comment = fields.String(validate=validate.Length(max=TEXT_MAX_LENGTH),
                            metadata={'description': 'Optional note stored with the decision and in the audit log.'})


class ApprovalListQuery(PageQuery):
    """Filters of ``GET /baseline-approvals``."""

    status = fields.String(validate=validate.OneOf(approval_flow.STATUSES))


class BaselineApprovalSchema(ResponseSchema):
    """The contract's BaselineApproval, with the request's details and the review."""

    approval_id = fields.String(required=True, validate=[validate.Length(max=100),
                                                         validate.Regexp(APPROVAL_ID_PATTERN)])
    status = fields.String(required=True, validate=validate.OneOf(approval_flow.STATUSES))
    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    output_id = fields.Integer(required=True, validate=validate.Range(min=1))
    requested_by = fields.Email(required=True, validate=validate.Length(max=EMAIL_MAX_LENGTH))
    created_at = fields.DateTime(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=10, max=TEXT_MAX_LENGTH))
    apply_to_variants = fields.Boolean(required=True)
    actual_hash = fields.String(required=True, validate=validate.Regexp(SHA256_PATTERN),
                                metadata={'description': 'The actual output (got) the approval accepts.'})
    reviewed_by = fields.Email(required=True, allow_none=True, validate=validate.Length(max=EMAIL_MAX_LENGTH),
                               metadata={'description': 'E-mail of the reviewer (null while pending, or when the '
                                                        'reviewer has no e-mail address).'})
    reviewed_at = fields.DateTime(required=True, allow_none=True)
    review_comment = fields.String(required=True, allow_none=True, validate=validate.Length(max=TEXT_MAX_LENGTH))


class BaselineApprovalPageSchema(PageSchema):
    """A page of baseline approvals."""

    data = fields.List(fields.Nested(BaselineApprovalSchema), required=True)


def approval_document(approval: BaselineApproval) -> dict[str, Any]:
    """The BaselineApproval document of a row."""
    return {
        'approval_id': approval_flow.public_id(approval.id), 'status': approval.status, 'run_id': approval.run_id,
        'sample_id': approval.sample_id, 'regression_id': approval.regression_id, 'output_id': approval.output_id,
        'requested_by': approval.requested_by, 'created_at': isoformat_z(approval.created_at),
        'reason': approval.reason, 'apply_to_variants': approval.apply_to_variants,
        'actual_hash': approval.actual_hash, 'reviewed_by': approval.reviewed_by,
        'reviewed_at': isoformat_z(approval.reviewed_at), 'review_comment': approval.review_comment,
    }


@blueprint.route('/runs/<int:run_id>/samples/<int:sample_id>/baseline-approval', methods=['POST'])
@operation('Approve actual output as the new expected baseline', ('Results',), scope='baselines:write',
           roles=REQUESTERS, body=BaselineApprovalRequestSchema,
           responses={202: ('Baseline approval recorded. Status begins as pending_review.', BaselineApprovalSchema),
                      409: 'nothing_to_approve: the output is not a diff_mismatch in this run',
                      422: 'The actual output is not named by a SHA-256 hash'},
           description=REQUEST_DESCRIPTION)
def request_approval(run_id: int, sample_id: int, query: dict[str, Any], body: dict[str, Any]) -> Any:
    """Store a pending approval of the output's actual file (or return the pending one), audited."""
    return in_retried_transaction(lambda: _request_approval(run_id, sample_id, body))


def _request_approval(run_id: int, sample_id: int, body: dict[str, Any]) -> Any:
    principal = require_principal()
    approval, created = approval_flow.request_approval(principal, run_id, sample_id, body)
    audit.record('baseline_approval.request', 'created' if created else 'existing', principal,
                 target_type='baseline_approval', target_id=approval_flow.public_id(approval.id), run_id=run_id,
                 sample_id=sample_id, regression_id=body['regression_id'], output_id=body['output_id'],
                 actual_hash=approval.actual_hash, apply_to_variants=body['apply_to_variants'], reason=body['reason'])
    response = jsonify(approval_document(approval))  # before the commit, which expires the row's attributes
    response.status_code = 202
    db.session.commit()
    return response


@blueprint.route('/baseline-approvals', methods=['GET'])
@operation('List baseline approvals', ('Results',), scope='results:read', query=ApprovalListQuery,
           responses={200: ('Paginated baseline approvals', BaselineApprovalPageSchema)},
           description=LIST_DESCRIPTION)
def list_approvals(query: dict[str, Any]) -> Any:
    """A page of approvals, newest first, paged in SQL (two queries whatever the page size)."""
    status = query.get('status')
    condition = BaselineApproval.status == status if status is not None else true()
    total = db.session.scalar(select(func.count()).select_from(BaselineApproval).where(condition)) or 0
    rows = db.session.scalars(select(BaselineApproval).where(condition)
                              .order_by(BaselineApproval.created_at.desc(), BaselineApproval.id.desc())
                              .limit(query['limit']).offset(query['offset']))
    return jsonify(page_body([approval_document(row) for row in rows], total, query))


@blueprint.route('/baseline-approvals/<approval_id>', methods=['GET'])
@operation('Get a baseline approval', ('Results',), scope='results:read',
           responses={200: ('Baseline approval', BaselineApprovalSchema)}, description=DETAIL_DESCRIPTION)
def get_approval(approval_id: str, query: dict[str, Any]) -> Any:
    """One approval by its ``approval_id``."""
    return jsonify(approval_document(approval_flow.find(approval_id)))


@blueprint.route('/baseline-approvals/<approval_id>/review', methods=['POST'])
@operation('Review a baseline approval', ('Results',), scope='baselines:write', roles=REVIEWERS,
           body=BaselineApprovalReviewSchema,
           responses={200: ('Decision recorded', BaselineApprovalSchema),
                      409: 'already_reviewed, or output_gone'},
           description=REVIEW_DESCRIPTION)
def review_approval(approval_id: str, query: dict[str, Any], body: dict[str, Any]) -> Any:
    """Approve (adding the variant rows) or reject a pending approval, with its audit row, in one transaction."""
    return in_retried_transaction(lambda: _review_approval(approval_id, body))


def _review_approval(approval_id: str, body: dict[str, Any]) -> Any:
    principal = require_principal()
    try:
        approval, accepted = approval_flow.review(principal, approval_id, body['decision'], body.get('comment'))
    except ApiError as error:
        if error.code == 'self_review':
            audit.record('baseline_approval.review', 'refused', principal, target_type='baseline_approval',
                         target_id=approval_id, code=error.code)
            db.session.commit()
        raise
    audit.record('baseline_approval.review', approval.status, principal, target_type='baseline_approval',
                 target_id=approval_id, decision=body['decision'], comment=body.get('comment'),
                 variants=[{'regression_id': item.regression_id, 'output_id': item.output_id,
                            'variant_id': item.variant_id, 'added': item.added} for item in accepted])
    response = jsonify(approval_document(approval))  # before the commit, which expires the row's attributes
    db.session.commit()
    return response
