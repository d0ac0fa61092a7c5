"""`/samples`: media samples (:mod:`mod_api.sample_query`), their history (:mod:`mod_api.sample_history`)."""
from typing import Any

from flask import Blueprint
from marshmallow import fields, validate

from mod_api.failure_signature import MAX_LENGTH as MAX_SIGNATURE
from mod_api.operations import operation
from mod_api.page_cache import cached_json
from mod_api.resources.runs import COMMIT_PATTERN, RUN_STATUSES, UtcDateTime
from mod_api.resources.system import PLATFORMS, PageQuery, PageSchema, page_body
from mod_api.run_query import RunFilters
from mod_api.sample_history import HISTORY_STATUSES, MAX_BRANCH, sample_history
from mod_api.sample_query import MAX_EXTENSION, MAX_NAME, MAX_NOTES, SampleFilters, get_sample, list_samples
from mod_api.sample_view import MAX_TAG, MAX_TAGS
from mod_api.schemas import ResponseSchema
from mod_api.validation import FullMatch

blueprint = Blueprint('samples', __name__)

SHA256_PATTERN = r'^[a-fA-F0-9]{64}$'
EXTENSION_PATTERN = r'^[a-zA-Z0-9]+$'


class SampleListQuery(PageQuery):
    """Filters of ``GET /samples``."""

    status = fields.String(validate=validate.OneOf(('active', 'inactive')), metadata={
        'description': 'Derived from linked regression tests. The sample table itself has no quarantine state; '
                       'active/inactive reflects whether any active regression tests reference the sample.'})
    name = fields.String(validate=validate.Length(max=100))
    tag = fields.String(validate=validate.Length(max=MAX_TAG))
    sha256 = fields.String(validate=FullMatch(SHA256_PATTERN))
    extension = fields.String(validate=[validate.Length(max=MAX_EXTENSION), FullMatch(EXTENSION_PATTERN)])


class HistoryQuery(PageQuery):
    """Filters of ``GET /samples/{sample_id}/history`` (on the run of each entry)."""

    status = fields.String(validate=validate.OneOf(RUN_STATUSES), metadata={
        'description': 'Normalized run status. Derived from TestProgress rows and TestResult outcomes.'})
    branch = fields.String(validate=validate.Length(max=100))
    platform = fields.String(validate=validate.OneOf(PLATFORMS))
    created_after = UtcDateTime(metadata={'description': 'ISO 8601 datetime. Returns runs created after this time.'})
    created_before = UtcDateTime(metadata={
        'description': 'ISO 8601 datetime. Returns runs created before this time.'})


class SampleSchema(ResponseSchema):
    """The contract's Sample."""

    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sha256 = fields.String(required=True, validate=validate.Regexp(SHA256_PATTERN))
    name = fields.String(required=True, validate=validate.Length(max=MAX_NAME))
    extension = fields.String(validate=validate.Length(max=MAX_EXTENSION))
    tags = fields.List(fields.String(validate=validate.Length(max=MAX_TAG)), required=True,
                       validate=validate.Length(max=MAX_TAGS))
    media_info = fields.Dict(metadata={
        'description': 'The media-info XML as an object: attributes under "@attributes", text beside child elements '
                       'under "#text", a repeated child element as a list. Absent when the sample has no readable '
                       'media-info file.'})
    notes = fields.String(required=True, allow_none=True, validate=validate.Length(max=MAX_NOTES))


class SamplePageSchema(PageSchema):
    """A page of Samples."""

    data = fields.List(fields.Nested(SampleSchema), required=True)


class SampleHistoryEntrySchema(ResponseSchema):
    """The contract's SampleHistoryEntry."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    run_created_at = fields.DateTime(required=True)
    commit_sha = fields.String(required=True, allow_none=True, validate=validate.Regexp(COMMIT_PATTERN))
    branch = fields.String(required=True, allow_none=True, validate=validate.Length(max=MAX_BRANCH))
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    status = fields.String(required=True, validate=validate.OneOf(sorted(status.value for status in HISTORY_STATUSES)))
    runtime_ms = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))
    failure_signature = fields.String(required=True, allow_none=True, validate=validate.Length(max=MAX_SIGNATURE),
                                      metadata={'description': (
                                          'Stable string identifying the failure type and output ID, null for a '
                                          'pass or skip: exit_code:<code>:expected:<rc>, '
                                          'diff:<output id>:<actual hash>[;...] or missing_output:<output ids>; '
                                          'over 255 characters, <kind>:sha256:<digest of the full string>.')})


class SampleHistoryPageSchema(PageSchema):
    """A page of SampleHistoryEntries."""

    data = fields.List(fields.Nested(SampleHistoryEntrySchema), required=True)


SAMPLE_RULES = (
    'Only samples whose stored SHA is a SHA-256 digest are API samples (others are not listed; their detail is '
    '404 with details.reason sha_not_sha256). name and tag filters ignore case (name: substring); sha256 and '
    'extension match the whole stored value, ignoring case. notes: the notes of the sample\'s upload, null without '
    'one. Ordered by sample_id.')
HISTORY_RULES = (
    'One entry per (run, regression test of the sample) where the test is in the run\'s scope and the run has a '
    'result or result file for it, or named it in its custom test selection and has finished; newest run first '
    '(run_id descending, then regression_id). status/branch/platform/created_* filter on the run, like GET /runs. '
    'Entry status is the regression test\'s verdict in that run.')


@blueprint.route('/samples', methods=['GET'])
@operation('List all known media samples', ('Samples',), scope='runs:read', query=SampleListQuery,
           responses={200: ('Paginated media samples', SamplePageSchema)}, description=SAMPLE_RULES)
def list_all(query: dict[str, Any]) -> Any:
    """A page of media samples."""
    filters = SampleFilters(query.get('status'), query.get('name'), query.get('tag'), query.get('sha256'),
                            query.get('extension'))
    data, total = list_samples(filters, query['limit'], query['offset'])
    return page_body(data, total, query)


@blueprint.route('/samples/<int:sample_id>', methods=['GET'])
@operation('Get media sample metadata', ('Samples',), scope='runs:read',
           responses={200: ('Media sample metadata', SampleSchema)}, description=SAMPLE_RULES)
def get_one(sample_id: int, query: dict[str, Any]) -> Any:
    """One media sample."""
    return get_sample(sample_id)


@blueprint.route('/samples/<int:sample_id>/history', methods=['GET'])
@operation('Get regression test result history for a sample across runs', ('Samples',), scope='runs:read',
           query=HistoryQuery, responses={200: ('Paginated sample history', SampleHistoryPageSchema)},
           description=('Use failure_signature for flake detection: a stable signature across multiple runs on '
                        'different commits indicates a genuine regression, not infrastructure noise. '
                        + HISTORY_RULES))
def history(sample_id: int, query: dict[str, Any]) -> Any:
    """A page of the sample's regression test results across runs, served again while no row it shows changed."""
    filters = RunFilters(status=query.get('status'), branch=query.get('branch'), platform=query.get('platform'),
                         created_after=query.get('created_after'), created_before=query.get('created_before'))

    def build(_usable: bool) -> dict[str, Any]:
        data, total = sample_history(sample_id, filters, query['limit'], query['offset'])
        return page_body(data, total, query)
    return cached_json(query, build)
