"""`/regression-tests`: regression test definitions (built by :mod:`mod_api.regression_query`)."""
from typing import Any

from flask import Blueprint
from marshmallow import fields, validate

from mod_api.content_types import DEFAULT_CONTENT_TYPE
from mod_api.operations import operation
from mod_api.regression_query import RegressionFilters, list_regression_tests
from mod_api.resources.samples import SHA256_PATTERN
from mod_api.resources.system import PageQuery, PageSchema, page_body, true_or_false
from mod_api.sample_view import MAX_CATEGORY, MAX_COMMAND, MAX_OUTPUTS, MAX_TAG, MAX_TAGS
from mod_api.schemas import ResponseSchema
from mod_api.storage import MAX_FILENAME_LENGTH
from mod_api.validation import integer_id

blueprint = Blueprint('regression_tests', __name__)

STORAGE_STATUSES = ('ok', 'degraded', 'missing')


class RegressionTestQuery(PageQuery):
    """Filters of ``GET /regression-tests``."""

    active = true_or_false()
    category = fields.String(validate=validate.Length(max=50))
    tag = fields.String(validate=validate.Length(max=MAX_TAG))
    sample_id = integer_id()


class OutputFileReferenceSchema(ResponseSchema):
    """The contract's OutputFile as a reference: ``content`` is always empty (the bytes are served elsewhere)."""

    run_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1),
                            metadata={'description': 'Null for expected output not tied to a specific run.'})
    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    output_id = fields.Integer(required=True, validate=validate.Range(min=1))
    filename = fields.String(required=True, validate=validate.Length(max=MAX_FILENAME_LENGTH))
    content_type = fields.String(required=True, validate=validate.Length(max=100), metadata={
        'description': f'By extension: .srt application/x-subrip, .txt/.ttxt text/plain, .xml/.dfxp '
                       f'application/xml, .vtt text/vtt, else {DEFAULT_CONTENT_TYPE}.'})
    encoding = fields.String(required=True, validate=validate.OneOf(('base64',)))
    content = fields.String(required=True, validate=validate.Length(max=0), metadata={
        'description': 'Always empty: a reference. The content is served by '
                       'GET /runs/{run_id}/samples/{sample_id}/expected.'})
    sha256 = fields.String(validate=validate.Regexp(SHA256_PATTERN))
    storage_status = fields.String(required=True, validate=validate.OneOf(STORAGE_STATUSES), metadata={
        'description': 'ok = verified in both local and GCS storage (local only when GCS is not configured). '
                       'degraded = exists in one backend only. missing = not found in either backend.'})


class RegressionTestSchema(ResponseSchema):
    """The contract's RegressionTest."""

    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    command = fields.String(required=True, validate=validate.Length(max=MAX_COMMAND))
    active = fields.Boolean(required=True)
    category = fields.String(validate=validate.Length(max=MAX_CATEGORY))
    tags = fields.List(fields.String(validate=validate.Length(max=MAX_TAG)), required=True,
                       validate=validate.Length(max=MAX_TAGS))
    expected_outputs = fields.List(fields.Nested(OutputFileReferenceSchema), required=True,
                                   validate=validate.Length(max=MAX_OUTPUTS), metadata={
                                       'description': 'File references stored under TestResults, the first 20 by '
                                                      'output_id. Content is resolved from GCS or local '
                                                      'SAMPLE_REPOSITORY at request time.'})


class RegressionTestPageSchema(PageSchema):
    """A page of RegressionTests."""

    data = fields.List(fields.Nested(RegressionTestSchema), required=True)


DESCRIPTION = (
    'The active filter must be applied explicitly. The legacy get_customized_regressiontests() returns all '
    'regression tests — including inactive ones — when no custom set is defined. Only tests with a media sample are '
    'listed, by regression_id. active=false also matches a NULL flag. category: the test\'s first category by id '
    '(the one shown), tag: a tag of its sample; both whole names, ignoring case.')


@blueprint.route('/regression-tests', methods=['GET'])
@operation('List regression test definitions', ('Samples',), scope='runs:read', query=RegressionTestQuery,
           responses={200: ('Paginated regression test definitions', RegressionTestPageSchema)},
           description=DESCRIPTION)
def list_all(query: dict[str, Any]) -> Any:
    """A page of regression test definitions."""
    filters = RegressionFilters(query.get('active'), query.get('category'), query.get('tag'), query.get('sample_id'))
    data, total = list_regression_tests(filters, query['limit'], query['offset'])
    return page_body(data, total, query)
