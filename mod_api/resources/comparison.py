"""`/runs/{run_id}/comparison`: what a run broke, fixed and inherited compared with a reference run.

An operation beyond the contract (issue #7), declared like the others so it is in the served OpenAPI document.
Built by :mod:`mod_api.comparison_view` (loading, checks) and :mod:`mod_api.comparison` (classification); the
rules are in ``mod_api/docs/comparison.md``.
"""
from typing import Any

from flask import Blueprint
from marshmallow import fields, validate

from mod_api.comparison import EntryClass, Unmatched, Verdict
from mod_api.comparison_view import CHOSEN_BY_PLATFORM, CHOSEN_BY_REQUEST, NO_REFERENCE, Filters, run_comparison
from mod_api.etag import conditional
from mod_api.failure_signature import MAX_LENGTH as MAX_SIGNATURE
from mod_api.operations import operation
from mod_api.resources.run_samples import NOT_MODIFIED, OUTPUT_STATUSES, SAMPLE_STATUSES
from mod_api.resources.runs import RunSchema
from mod_api.resources.system import PageQuery, PageSchema, page_body
from mod_api.sample_view import MAX_CATEGORY, MAX_OUTPUTS
from mod_api.schemas import ResponseSchema
from mod_api.validation import integer_id

blueprint = Blueprint('comparison', __name__)

CLASSES = tuple(kind.value for kind in EntryClass)
REASONS = tuple(reason.value for reason in Unmatched)


class ComparisonQuery(PageQuery):
    """``against`` picks the reference run; ``class`` and ``category`` filter the entries."""

    against = integer_id(metadata={
        'description': 'Run to compare with (same platform, finished). Default: the newest completed master commit '
                       'run of the main repository on the run\'s platform (the baseline of the platform\'s PR '
                       'comment).'})
    entry_class = fields.String(data_key='class', validate=validate.OneOf(CLASSES),
                                metadata={'description': 'Only entries of this class'})
    category = fields.String(validate=validate.Length(max=50),
                             metadata={'description': 'Only tests whose first category by id has this name '
                                                      '(ignoring case)'})


class ComparedSampleSchema(ResponseSchema):
    """The media sample of a regression test."""

    id = fields.Integer(required=True, validate=validate.Range(min=1))
    sha = fields.String(required=True, allow_none=True)
    name = fields.String(required=True, allow_none=True)


class ComparedOutputSchema(ResponseSchema):
    """One output of the test in one run, with the URL of its diff."""

    output_id = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf(OUTPUT_STATUSES))
    diff_url = fields.Url(required=True, allow_none=True, require_tld=False)


class ComparedLinksSchema(ResponseSchema):
    """Where to drill down in one run."""

    result = fields.Url(required=True, allow_none=True, require_tld=False,
                        metadata={'description': 'The RunSample of this test in the run (null without a sample)'})
    errors = fields.Url(required=True, require_tld=False,
                        metadata={'description': 'The run\'s errors, filtered by the test\'s sample when it has one'})


class ComparedSideSchema(ResponseSchema):
    """A regression test in one of the two runs."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf(SAMPLE_STATUSES))
    failure_signature = fields.String(required=True, allow_none=True, validate=validate.Length(max=MAX_SIGNATURE))
    outputs = fields.List(fields.Nested(ComparedOutputSchema), required=True, validate=validate.Length(max=MAX_OUTPUTS))
    links = fields.Nested(ComparedLinksSchema, required=True)


class ComparisonEntrySchema(ResponseSchema):
    """One regression test in scope of the run, classified against the reference."""

    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample = fields.Nested(ComparedSampleSchema, required=True, allow_none=True)
    category = fields.String(required=True, allow_none=True, validate=validate.Length(max=MAX_CATEGORY))
    entry_class = fields.String(data_key='class', required=True, validate=validate.OneOf(CLASSES))
    not_comparable_reason = fields.String(required=True, allow_none=True, validate=validate.OneOf(REASONS))
    same_signature = fields.Boolean(required=True, allow_none=True,
                                    metadata={'description': 'still_failing only: same failure_signature in both'})
    run = fields.Nested(ComparedSideSchema, required=True)
    reference = fields.Nested(ComparedSideSchema, required=True, allow_none=True,
                              metadata={'description': 'null without a reference run or when the test is not in '
                                                       'its scope'})


# One count per class (named by the class, so the schema follows the enum) and the total.
ComparisonCountsSchema = type('ComparisonCountsSchema', (ResponseSchema,), {
    '__doc__': 'Entries per class over the whole comparison (not the page, not the filters), and their total.',
    **{name: fields.Integer(required=True, validate=validate.Range(min=0)) for name in (*CLASSES, 'total')},
})


class ComparisonSchema(PageSchema):
    """A page of a run comparison with both runs, the counts and the PR verdict."""

    data = fields.List(fields.Nested(ComparisonEntrySchema), required=True)
    run = fields.Nested(RunSchema, required=True)
    reference = fields.Nested(RunSchema, required=True, allow_none=True)
    reference_chosen_by = fields.String(required=True, validate=validate.OneOf([CHOSEN_BY_PLATFORM,
                                                                                 CHOSEN_BY_REQUEST]))
    reference_missing_reason = fields.String(required=True, allow_none=True, validate=validate.OneOf([NO_REFERENCE]))
    verdict = fields.String(required=True, validate=validate.OneOf([verdict.value for verdict in Verdict]))
    counts = fields.Nested(ComparisonCountsSchema, required=True)


DESCRIPTION = (
    'The platform\'s PR-comment triage as data. One entry per regression test in scope of the run, by '
    'regression_id: new_failure (fails here; passed — or was skipped, which the platform counts as passed — in the '
    'reference), still_failing (fails in both; same_signature compares the failure signatures), fixed (passes here, '
    'failed there), unchanged_pass, not_comparable (not_comparable_reason: no_reference, not_in_reference, '
    'skipped_here, skipped_in_reference). Fails = fail or missing_output. Default reference: the platform\'s '
    '(newest completed run with branch master and type commit on the run\'s platform, by its completed progress '
    'row; never the run itself); against picks another. No reference: reference null, reference_missing_reason '
    'no_completed_master_run, every entry not_comparable. verdict: success iff nothing failing counts as new (with '
    'no reference every failure does). counts cover the whole comparison. Filters: class, category (first category '
    'by id, ignoring case). 404 unknown run or against (details.parameter against); 422 same_run or other_platform; '
    '409 run_not_finished (details.side run or reference). Carries an ETag; If-None-Match answers 304.')


@blueprint.route('/runs/<int:run_id>/comparison', methods=['GET'])
@operation('Compare a run with the platform\'s reference run (or another run)', ('Results',), scope='results:read',
           query=ComparisonQuery,
           responses={200: ('Paginated comparison', ComparisonSchema), 304: NOT_MODIFIED,
                      409: 'The run or the reference has not finished (run_not_finished)',
                      422: 'against is the run itself (same_run) or a run of another platform (other_platform)'},
           description=DESCRIPTION)
def get_comparison(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's comparison with its reference run."""
    filters = Filters(query.get('entry_class'), query.get('category'))
    data, total, header = run_comparison(run_id, query.get('against'), filters, query['limit'], query['offset'])
    return conditional(page_body(data, total, query, **header))
