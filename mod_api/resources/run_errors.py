"""`/runs/{run_id}/errors`, `/error-summary`, `/infrastructure-errors`: what went wrong in a run.

Test errors come from :mod:`mod_api.error_items` (the verdicts), infrastructure errors from
:mod:`mod_api.infra_errors` (the progress rows); the rules are in ``mod_api/docs/errors.md``. Each operation loads
the run's view (a constant number of queries), then filters and pages in memory: a run's errors are bounded by
its scope and its progress rows.
"""
from typing import Any

from flask import Blueprint, current_app
from marshmallow import fields, validate

from mod_api.error_items import (
    GROUP_KEYS,
    MAX_KEY,
    MAX_MESSAGE,
    MAX_SAMPLE_IDS,
    ErrorType,
    Severity,
    matching,
    result_errors,
    summarize,
)
from mod_api.errors import not_found
from mod_api.infra_errors import INFRA_TYPES, MAX_STACK_LINE, MAX_STACK_LINES, infrastructure_errors, masks
from mod_api.operations import operation
from mod_api.page_cache import cached_run_json
from mod_api.resources.system import PageQuery, PageSchema, page_body, true_or_false
from mod_api.run_view import RunView, load_runs
from mod_api.schemas import ResponseSchema
from mod_api.validation import integer_id

blueprint = Blueprint('run_errors', __name__)

SEVERITIES = tuple(severity.value for severity in Severity)
ERROR_TYPES = tuple(kind.value for kind in ErrorType)
TAGS = ('Errors and Logs',)


class ErrorQuery(PageQuery):
    """Filters of ``GET /runs/{run_id}/errors``."""

    type = fields.String(validate=validate.OneOf(ERROR_TYPES))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    sample_id = integer_id()


class SummaryQuery(PageQuery):
    """Grouping and filter of ``GET /runs/{run_id}/error-summary``."""

    group_by = fields.String(load_default='type', validate=validate.OneOf(tuple(GROUP_KEYS)))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))


class InfrastructureQuery(PageQuery):
    """Filters of ``GET /runs/{run_id}/infrastructure-errors``."""

    type = fields.String(validate=validate.OneOf(INFRA_TYPES))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    include_stack = true_or_false(load_default=False, metadata={
        'description': 'Default false. Set true only when debugging infrastructure failures. Stacks may contain '
                       'internal paths; access requires system:read scope.'})


class ErrorItemSchema(ResponseSchema):
    """The contract's ErrorItem (``stack`` only on infrastructure errors asked with include_stack=true)."""

    error_id = fields.String(required=True, validate=validate.Length(max=100))
    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    regression_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    type = fields.String(required=True, validate=validate.Length(max=100))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    message = fields.String(required=True, validate=validate.Length(max=MAX_MESSAGE))
    location = fields.Dict(required=True, allow_none=True)
    stack = fields.List(fields.String(validate=validate.Length(max=MAX_STACK_LINE)),
                        validate=validate.Length(max=MAX_STACK_LINES),
                        metadata={'description': 'Only present when include_stack=true was requested.'})
    occurred_at = fields.DateTime(required=True)


class ErrorPageSchema(PageSchema):
    """A page of ErrorItems."""

    data = fields.List(fields.Nested(ErrorItemSchema), required=True)


class ErrorSummaryBucketSchema(ResponseSchema):
    """The contract's ErrorSummaryBucket."""

    key = fields.String(required=True, validate=validate.Length(max=MAX_KEY))
    count = fields.Integer(required=True, validate=validate.Range(min=0))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    sample_ids = fields.List(fields.Integer(validate=validate.Range(min=1)), required=True,
                             validate=validate.Length(max=MAX_SAMPLE_IDS))
    first_seen_at = fields.DateTime(required=True, allow_none=True)
    last_seen_at = fields.DateTime(required=True, allow_none=True)


class ErrorSummaryPageSchema(PageSchema):
    """A page of ErrorSummaryBuckets."""

    data = fields.List(fields.Nested(ErrorSummaryBucketSchema), required=True)


ERRORS_DESCRIPTION = (
    'Error types are derived from TestResult and TestResultFile rows. missing_output is detected from the dummy '
    '(-1,-1,-1,\'\',\'error\') row pattern, not from got=null (which means match, not missing). One item per '
    'failing (regression test, output): exit_code_mismatch (error; critical for a negative exit code: killed or '
    'crashed), missing_output (error), diff_mismatch (error; warning when the exit code already failed the test, '
    'as the platform then does not compare outputs), test_failure (error) for a failing test none of these '
    'explains. error_id is err_<run>_<regression>[_<output>]_<type>. occurred_at: the run\'s last progress row '
    '(its completed_at once finished), else its creation time. location: sample (id, sha, name; null when the '
    'sample was deleted), regression_test (id, command), output (id, expected_file, actual_file), category. '
    'Ordered by regression_id, output_id, type.')
SUMMARY_DESCRIPTION = (
    'Use this endpoint to triage a run before drilling into individual errors. group_by=type gives a high-level '
    'failure breakdown; group_by=sample_id helps identify flaky samples. Groups the items of GET '
    '/runs/{run_id}/errors (severity filters them before grouping). key: the type or severity; an id in decimal; '
    'the category name (the test\'s first category by id); \'\' when the error has no sample or the category no '
    'name. severity: the highest of the bucket. first_seen_at/last_seen_at: the earliest/latest occurred_at. '
    'Buckets by count (largest first), then key (ids numerically).')
INFRASTRUCTURE_DESCRIPTION = (
    'Errors are extracted from TestProgress rows written by the CI worker. Messages are currently unstructured '
    'text. The type filter does best-effort text matching until the worker protocol emits structured error types. '
    'Stack traces are opt-in (include_stack defaults to false) to avoid leaking internal paths to unauthorized '
    'callers. A row counts when it is canceled by the platform (not by a user, an admin, the API, a closed PR or '
    '"no code changes") or when another row\'s message looks like a failure (then at most warning). Types come '
    'from an ordered table of patterns (first match wins; unknown text is worker); location names the progress '
    'row, its stage and the rule that matched. error_id is infra_<run>_<progress row id>. The sample repository '
    'and install folder are masked (<SAMPLE_REPOSITORY>, <INSTALL_FOLDER>); stack holds the lines of a multi-line '
    'message (empty for one line), only with include_stack=true. Ordered by progress row id.')


def _view(run_id: int) -> RunView:
    """The run's RunView, or 404."""
    view = load_runs([run_id]).get(run_id)
    if view is None:
        raise not_found('run', run_id)
    return view


@blueprint.route('/runs/<int:run_id>/errors', methods=['GET'])
@operation('Get structured test errors for a run', TAGS, scope='results:read', query=ErrorQuery,
           responses={200: ('Paginated test errors', ErrorPageSchema)}, description=ERRORS_DESCRIPTION)
def list_errors(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's test errors (served again while the run's mark holds, as the two below)."""
    def build() -> dict[str, Any]:
        errors = matching(result_errors(_view(run_id)), query.get('type'), query.get('severity'),
                          query.get('sample_id'))
        page = errors[query['offset']:query['offset'] + query['limit']]
        return page_body([error.document() for error in page], len(errors), query)
    return cached_run_json(run_id, query, build)


@blueprint.route('/runs/<int:run_id>/error-summary', methods=['GET'])
@operation('Get grouped error summary for a run', TAGS, scope='results:read', query=SummaryQuery,
           responses={200: ('Paginated grouped error summary', ErrorSummaryPageSchema)},
           description=SUMMARY_DESCRIPTION)
def error_summary(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's test errors grouped by ``group_by``."""
    def build() -> dict[str, Any]:
        buckets = summarize(matching(result_errors(_view(run_id)), severity=query.get('severity')),
                            query['group_by'])
        return page_body(buckets[query['offset']:query['offset'] + query['limit']], len(buckets), query)
    return cached_run_json(run_id, query, build)


@blueprint.route('/runs/<int:run_id>/infrastructure-errors', methods=['GET'])
@operation('Get worker, provisioning, and build errors for a run', TAGS, scope='system:read',
           query=InfrastructureQuery, responses={200: ('Paginated infrastructure errors', ErrorPageSchema)},
           description=INFRASTRUCTURE_DESCRIPTION)
def list_infrastructure_errors(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's infrastructure errors."""
    def build() -> dict[str, Any]:
        items = [item for item in infrastructure_errors(run_id, _view(run_id).facts.progress,
                                                        query['include_stack'], masks(current_app.config))
                 if query.get('type') in (None, item['type']) and query.get('severity') in (None, item['severity'])]
        return page_body(items[query['offset']:query['offset'] + query['limit']], len(items), query)
    return cached_run_json(run_id, query, build)
