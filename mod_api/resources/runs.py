"""`/runs` reads: list, detail, summary, progress and configuration of CI runs.

Run documents come from :mod:`mod_api.run_view` (times and ``run_errors``) and :mod:`mod_api.verdicts` (status,
counts, progress events); the list is filtered, sorted and paged in SQL by :mod:`mod_api.run_query`. Run, summary
and progress answers carry a strong ``ETag`` and honour ``If-None-Match`` (:mod:`mod_api.etag`).
"""
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Any, cast

from flask import Blueprint, jsonify
from marshmallow import fields, validate
from sqlalchemy import and_, exists, or_, select, true

from mod_api import status_store
from mod_api.db import db
from mod_api.environments import Environment, find_environment
from mod_api.errors import not_found
from mod_api.legacy import Category, CustomizedTest, RegressionTest, regressionTestLinkTable
from mod_api.operations import operation
from mod_api.page_cache import cached_json, cached_run_json
from mod_api.resources.branches import REPOSITORY_PATTERN
from mod_api.resources.environments import EnvironmentSchema
from mod_api.resources.system import PLATFORMS, PageQuery, PageSchema, page_body
from mod_api.run_query import DEFAULT_SORT, SORTS, RunFilters, page_of_runs, reads_derived_columns
from mod_api.run_view import TEXT_MAX_LENGTH, RunView, load_listed_runs, load_runs, run_document, triggered_by
from mod_api.schemas import ResponseSchema
from mod_api.validation import FullMatch
from mod_api.verdicts import RunStatus, progress_events

blueprint = Blueprint('runs', __name__)

RUN_STATUSES = tuple(status.value for status in RunStatus)
EVENT_STATUSES = ('queued', 'preparation', 'testing', 'completed', 'canceled', 'error')
RUN_ERRORS = ('yes', 'no', 'unknown')
COMMIT_PATTERN = r'^[a-fA-F0-9]{40}$'
MATRIX_MAX_ITEMS = 500
NOT_MODIFIED = 'Not modified: If-None-Match names the current ETag (no body, not charged to the read budget)'


# --- query strings ---------------------------------------------------------------------------------------------

class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time loaded as naive UTC (a value without offset means UTC).

    Instants beyond the range of datetime once in UTC (e.g. year 1 at +01:00) become its lower or upper end.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format='iso', default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return datetime.min if moment.year == datetime.min.year else datetime.max


class RunListQuery(PageQuery):
    """Filters and sort of ``GET /runs``."""

    status = fields.String(validate=validate.OneOf(RUN_STATUSES), metadata={
        'description': 'Normalized run status. Derived from TestProgress rows and TestResult outcomes.'})
    branch = fields.String(validate=validate.Length(max=100))
    commit_sha = fields.String(validate=FullMatch(COMMIT_PATTERN),
                               metadata={'description': 'Full 40-character SHA-1 commit hash'})
    repository = fields.String(validate=[validate.Length(max=100), FullMatch(REPOSITORY_PATTERN)],
                               metadata={'description': 'GitHub repository in owner/repo format'})
    platform = fields.String(validate=validate.OneOf(PLATFORMS))
    created_after = UtcDateTime(metadata={
        'description': 'ISO 8601 datetime. Returns runs created after this time.'})
    created_before = UtcDateTime(metadata={
        'description': 'ISO 8601 datetime. Returns runs created before this time.'})
    sort = fields.String(load_default=DEFAULT_SORT, validate=validate.OneOf(SORTS),
                         metadata={'description': 'Sort field. Prefix with - for descending order.'})


class ProgressQuery(PageQuery):
    """Filter of ``GET /runs/{run_id}/progress``."""

    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))


# --- responses -------------------------------------------------------------------------------------------------

class RunSchema(ResponseSchema):
    """The contract's Run (every field is always present; nullable ones are null when not derivable)."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf(RUN_STATUSES))
    repository = fields.String(required=True, validate=validate.Length(max=TEXT_MAX_LENGTH))
    branch = fields.String(required=True, allow_none=True, validate=validate.Length(max=100))
    commit_sha = fields.String(required=True, validate=validate.Regexp(COMMIT_PATTERN))
    commit_short = fields.String(required=True, validate=validate.Length(max=10))
    pull_request = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    run_errors = fields.String(required=True, validate=validate.OneOf(RUN_ERRORS))
    triggered_by = fields.String(required=True, allow_none=True, validate=validate.Length(max=TEXT_MAX_LENGTH))
    created_at = fields.DateTime(required=True)
    queued_at = fields.DateTime(required=True, allow_none=True)
    started_at = fields.DateTime(required=True, allow_none=True)
    completed_at = fields.DateTime(required=True, allow_none=True)
    duration_ms = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))
    links = fields.Dict(keys=fields.String(), values=fields.Url(), required=True)


class RunPageSchema(PageSchema):
    """A page of runs."""

    data = fields.List(fields.Nested(RunSchema), required=True)


class RunSummarySchema(ResponseSchema):
    """The contract's RunSummary: the five counts add up to ``total_samples``."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    total_samples = fields.Integer(required=True, validate=validate.Range(min=0))
    pass_count = fields.Integer(required=True, validate=validate.Range(min=0))
    fail_count = fields.Integer(required=True, validate=validate.Range(min=0))
    skipped_count = fields.Integer(required=True, validate=validate.Range(min=0))
    missing_output_count = fields.Integer(required=True, validate=validate.Range(min=0))
    error_count = fields.Integer(required=True, validate=validate.Range(min=0))
    duration_ms = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))
    triggered_by = fields.String(required=True, allow_none=True, validate=validate.Length(max=TEXT_MAX_LENGTH))


class ProgressEventSchema(ResponseSchema):
    """The contract's ProgressEvent."""

    timestamp = fields.DateTime(required=True)
    status = fields.String(required=True, validate=validate.OneOf(EVENT_STATUSES))
    message = fields.String(required=True, validate=validate.Length(max=500))
    step = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))


class ProgressPageSchema(PageSchema):
    """A page of progress events."""

    data = fields.List(fields.Nested(ProgressEventSchema), required=True)


class RunConfigSchema(ResponseSchema):
    """The contract's RunConfig."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    environment = fields.Nested(EnvironmentSchema, required=True)
    matrix = fields.List(fields.Dict(), required=True, validate=validate.Length(max=MATRIX_MAX_ITEMS))
    regression_test_ids = fields.List(fields.Integer(validate=validate.Range(min=1)), required=True,
                                      validate=validate.Length(max=MATRIX_MAX_ITEMS),
                                      metadata={'uniqueItems': True})
    command_defaults = fields.List(fields.String(validate=validate.Length(max=100)), required=True,
                                   validate=validate.Length(max=50))


# --- handlers --------------------------------------------------------------------------------------------------

LIST_DESCRIPTION = (
    'Every run, paged and filtered in the database. Sorted by -created_at by default (newest first); times sort '
    'with nulls last and ties are broken by run_id in the same direction. created_at (= queued_at) is when the API '
    'created the run, else its earliest progress row, else its VM row, else when the API first saw it (recorded, '
    'so it never changes). created_after / created_before compare it strictly (ISO 8601; a time without offset is '
    'UTC). status filters on the derived status (the same rules as GET /runs/{run_id}). branch matches exactly '
    '(case-sensitive; PR runs are on the branch pull_request), commit_sha and repository (owner/repo of the fork\'s '
    'clone URL, as the Run\'s repository field shows it) case-insensitively.')
RUN_DESCRIPTION = (
    'Normalized status derived from the last progress row (highest id), the VM row and, once completed, the '
    'regression results: queued, running, pass, fail, incomplete (nothing failed but some test in scope has no '
    'result), canceled (someone stopped it: the API or the platform\'s cancel messages) and error (the platform '
    'aborted it). run_errors is the platform\'s test.failed: unknown until finished, then yes iff the last row is '
    'canceled. Carries an ETag; If-None-Match answers 304.')
SUMMARY_DESCRIPTION = (
    'Counts per regression test in scope (its customized tests, else every regression test, in both cases only '
    'those in a category), from TestResult/TestResultFile rows — never from test.failed. pass + fail + skipped + '
    'missing_output + error = total_samples; skipped also counts tests not run yet; error_count is always 0 (an '
    'aborted run is an error of the run). Carries an ETag; If-None-Match answers 304.')
PROGRESS_DESCRIPTION = (
    'One event per TestProgress row, oldest first, timestamps in UTC with Z; step is the stage index (0 '
    'preparation, 1 testing, 2 completed; null for canceled/error/queued). A canceled row is canceled or error by '
    'the run-status rule. A run without rows yields one queued event at its creation time. status filters the '
    'events. Carries an ETag; If-None-Match answers 304.')
CONFIG_DESCRIPTION = (
    'regression_test_ids: the run\'s customized tests (those that still exist, whether active or not), or, when '
    'it has none, every regression test with active=true (filtered explicitly), ascending, at most 500. matrix: '
    'one object per id with regression_id, sample_id, command, category (name of its first category by id, or '
    'null), active and expected_rc. environment: the one the run was created for, else its platform\'s. '
    'command_defaults is empty: the platform adds no default arguments, each test\'s full command is in matrix.')


def _view(run_id: int) -> RunView:
    """The run's RunView, or 404."""
    view = load_runs([run_id]).get(run_id)
    if view is None:
        raise not_found('run', run_id)
    return view


@blueprint.route('/runs', methods=['GET'])
@operation('List CI runs', ('Runs',), scope='runs:read', query=RunListQuery,
           responses={200: ('Paginated runs', RunPageSchema)}, description=LIST_DESCRIPTION)
def list_runs(query: dict[str, Any]) -> Any:
    """A page of runs (a constant number of queries: the page with its statuses and the total, then documents).

    Served again from :mod:`mod_api.page_cache` while no row it shows has changed.
    """
    filters = RunFilters(**{field.name: query.get(field.name) for field in dataclass_fields(RunFilters)})

    def build(usable: bool) -> dict[str, Any]:
        stored = usable and reads_derived_columns(filters, query['sort'])
        if stored:
            status_store.refresh_stale()
        page, total = page_of_runs(filters, query['sort'], query['limit'], query['offset'], stored)
        return page_body([run_document(view) for view in load_listed_runs(page)], total, query)
    return cached_json(query, build)


@blueprint.route('/runs/<int:run_id>', methods=['GET'])
@operation('Get a CI run', ('Runs',), scope='runs:read',
           responses={200: ('Run details', RunSchema), 304: NOT_MODIFIED}, description=RUN_DESCRIPTION)
def get_run(run_id: int, query: dict[str, Any]) -> Any:
    """The Run document (served again while the run's mark holds, as every document of a run below)."""
    return cached_run_json(run_id, query, lambda: run_document(_view(run_id)), conditional=True)


@blueprint.route('/runs/<int:run_id>/summary', methods=['GET'])
@operation('Get pass/fail summary for a run', ('Runs',), scope='runs:read',
           responses={200: ('Run summary', RunSummarySchema), 304: NOT_MODIFIED}, description=SUMMARY_DESCRIPTION)
def get_run_summary(run_id: int, query: dict[str, Any]) -> Any:
    """The RunSummary: sample counts by status, duration and who started the run."""
    def build() -> dict[str, Any]:
        view = _view(run_id)
        return {'run_id': run_id, **view.verdict.counts.summary_fields(), 'duration_ms': view.duration_ms,
                'triggered_by': triggered_by(view)}
    return cached_run_json(run_id, query, build, conditional=True)


@blueprint.route('/runs/<int:run_id>/progress', methods=['GET'])
@operation('Get progress events for a run', ('Runs',), scope='runs:read', query=ProgressQuery,
           responses={200: ('Paginated progress events', ProgressPageSchema), 304: NOT_MODIFIED},
           description=PROGRESS_DESCRIPTION)
def get_run_progress(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's progress events (a run has a handful of rows: filtered and paged in memory)."""
    def build() -> dict[str, Any]:
        view = _view(run_id)
        events = [asdict(event) for event in progress_events(view.facts, view.created_at)
                  if query.get('status') in (None, event.status)]
        return page_body(events[query['offset']:query['offset'] + query['limit']], len(events), query)
    return cached_run_json(run_id, query, build, conditional=True)


@blueprint.route('/runs/<int:run_id>/config', methods=['GET'])
@operation('Get run configuration and test matrix', ('Runs',), scope='runs:read',
           responses={200: ('Run configuration', RunConfigSchema)}, description=CONFIG_DESCRIPTION)
def get_run_config(run_id: int, query: dict[str, Any]) -> Any:
    """The run's environment and regression tests (three queries besides the run's and its environment's)."""
    view = _view(run_id)
    matrix = _matrix(run_id)
    return jsonify({'run_id': run_id, 'environment': asdict(_environment(view)), 'matrix': matrix,
                    'regression_test_ids': [item['regression_id'] for item in matrix], 'command_defaults': []})


def _environment(view: RunView) -> Environment:
    """The environment the run was created for (API record), else the one of its platform (one per platform)."""
    recorded = view.record.environment_id if view.record is not None else None
    environment = find_environment(recorded) if recorded else None
    return environment or cast(Environment, find_environment(view.test.platform.value))


def _matrix(run_id: int) -> list[dict[str, Any]]:
    """One item per configured regression test: customized ones, else the active ones; ascending, at most 500."""
    customized = exists().where(CustomizedTest.test_id == run_id)
    chosen = RegressionTest.id.in_(select(CustomizedTest.regression_id).where(CustomizedTest.test_id == run_id))
    tests = db.session.execute(
        select(RegressionTest.id, RegressionTest.sample_id, RegressionTest.command, RegressionTest.active,
               RegressionTest.expected_rc)
        .where(or_(and_(customized, chosen), and_(~customized, RegressionTest.active == true())))
        .order_by(RegressionTest.id).limit(MATRIX_MAX_ITEMS)).all()
    link = regressionTestLinkTable
    categories: dict[int, str] = {}
    for regression_id, name in db.session.execute(
            select(link.c.regression_id, Category.name).join(Category, Category.id == link.c.category_id)
            .where(link.c.regression_id.in_([test.id for test in tests])).order_by(Category.id.desc())):
        categories[regression_id] = name  # the category with the lowest id wins
    return [{'regression_id': test.id, 'sample_id': test.sample_id, 'command': test.command,
             'category': categories.get(test.id), 'active': bool(test.active), 'expected_rc': test.expected_rc}
            for test in tests]

