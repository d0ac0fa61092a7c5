"""`/runs/{run_id}/samples`: the regression test results of a run (built by :mod:`mod_api.sample_view`)."""
from typing import Any

from flask import Blueprint
from marshmallow import fields, validate

from mod_api.operations import operation
from mod_api.page_cache import cached_run_json
from mod_api.resources.system import PageQuery, PageSchema, page_body
from mod_api.sample_view import (
    MAX_CATEGORY,
    MAX_COMMAND,
    MAX_MESSAGE,
    MAX_OUTPUTS,
    MAX_TAG,
    MAX_TAGS,
    Filters,
    get_run_sample,
    list_run_samples,
)
from mod_api.schemas import ResponseSchema
from mod_api.validation import StrictSchema, integer_id
from mod_api.verdicts import OutputStatus, SampleStatus

blueprint = Blueprint('run_samples', __name__)

SAMPLE_STATUSES = tuple(status.value for status in SampleStatus)
OUTPUT_STATUSES = tuple(status.value for status in OutputStatus)
SHA256_PATTERN = r'^[a-fA-F0-9]{64}$'


class RunSampleQuery(PageQuery):
    """Filters of ``GET /runs/{run_id}/samples``."""

    status = fields.String(validate=validate.OneOf(SAMPLE_STATUSES))
    name = fields.String(validate=validate.Length(max=100))
    tag = fields.String(validate=validate.Length(max=MAX_TAG))
    category = fields.String(validate=validate.Length(max=50))


class RunSampleDetailQuery(StrictSchema):
    """``regression_id`` picks one of the sample's regression tests in the run (an addition to the contract)."""

    regression_id = integer_id(metadata={
        'description': 'Regression test definition ID: required when the sample has several regression tests in '
                       'the run (else 409 ambiguous_sample, listing them in details.regression_ids).'})


class RunSampleOutputSchema(ResponseSchema):
    """One item of RunSample ``outputs``."""

    output_id = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf(OUTPUT_STATUSES))
    expected_hash = fields.String(required=True, allow_none=True, validate=validate.Regexp(SHA256_PATTERN))
    actual_hash = fields.String(required=True, allow_none=True, validate=validate.Regexp(SHA256_PATTERN))


class RunSampleSchema(ResponseSchema):
    """The contract's RunSample: one regression test of a run with its verdict."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    category = fields.String(validate=validate.Length(max=MAX_CATEGORY))
    command = fields.String(required=True, validate=validate.Length(max=MAX_COMMAND))
    status = fields.String(required=True, validate=validate.OneOf(SAMPLE_STATUSES))
    runtime_ms = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))
    exit_code = fields.Integer(required=True, allow_none=True)
    expected_exit_code = fields.Integer(required=True, allow_none=True)
    result_message = fields.String(required=True, allow_none=True, validate=validate.Length(max=MAX_MESSAGE))
    tags = fields.List(fields.String(validate=validate.Length(max=MAX_TAG)), required=True,
                       validate=validate.Length(max=MAX_TAGS))
    outputs = fields.List(fields.Nested(RunSampleOutputSchema), required=True,
                          validate=validate.Length(max=MAX_OUTPUTS))


class RunSamplePageSchema(PageSchema):
    """A page of RunSamples."""

    data = fields.List(fields.Nested(RunSampleSchema), required=True)


RULES = (
    'Statuses follow the platform\'s pass/fail rules (exit code against the result\'s expected_rc snapshot, then '
    'output files against every accepted baseline; missing_output when nothing was produced but something was '
    'required). A regression test whose media sample was deleted is not listed. category: the test\'s first '
    'category by id (omitted when unnamed). outputs: at most 20, by output id. The response carries an ETag; '
    'If-None-Match with it answers 304 (not charged to the rate limit).')
NOT_MODIFIED = 'Not modified: If-None-Match names the current ETag (no body)'
LIST_DESCRIPTION = (
    'One entry per regression test in scope of the run (not one per media file), by regression_id. Filters: status; '
    'name (substring of the sample\'s original name), tag (a tag of the sample) and category (the category shown), '
    'all ignoring case. ' + RULES)
DETAIL_DESCRIPTION = (
    'sample_id is the media sample\'s id. When the sample has several regression tests in the run, regression_id '
    'picks one; without it the answer is 409 ambiguous_sample with the candidates in details.regression_ids. A '
    'regression_id that is not one of them is 404 (resource regression_test). ' + RULES)


@blueprint.route('/runs/<int:run_id>/samples', methods=['GET'])
@operation('List regression test results in a run', ('Samples',), scope='runs:read', query=RunSampleQuery,
           responses={200: ('Paginated regression test results', RunSamplePageSchema), 304: NOT_MODIFIED},
           description=LIST_DESCRIPTION)
def list_samples(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's regression test results."""
    def build() -> dict[str, Any]:
        filters = Filters(query.get('status'), query.get('name'), query.get('tag'), query.get('category'))
        data, total = list_run_samples(run_id, filters, query['limit'], query['offset'])
        return page_body(data, total, query)
    return cached_run_json(run_id, query, build, conditional=True)


@blueprint.route('/runs/<int:run_id>/samples/<int:sample_id>', methods=['GET'])
@operation('Get full details for a regression test result in a run', ('Samples',), scope='runs:read',
           query=RunSampleDetailQuery,
           responses={200: ('Regression test result details', RunSampleSchema), 304: NOT_MODIFIED,
                      409: 'The sample has several regression tests in the run: pick one with regression_id'},
           description=DETAIL_DESCRIPTION)
def get_sample(run_id: int, sample_id: int, query: dict[str, Any]) -> Any:
    """One regression test result of the run, by media sample (and regression test when ambiguous)."""
    return cached_run_json(run_id, query, lambda: get_run_sample(run_id, sample_id, query.get('regression_id')),
                           conditional=True)
