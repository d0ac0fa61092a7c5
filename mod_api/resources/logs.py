"""`/runs/{run_id}/logs` and `/runs/{run_id}/samples/{sample_id}/logs`: run logs, line by line, with cursors.

The log is ``LogFiles/<run id>.txt`` in the sample repository or the GCS bucket. A page is read from the byte
offset its cursor names (:mod:`mod_api.log_cursor`) with :meth:`Storage.open_lines`, so memory and time per request
are bounded whatever the log's size: the page stops after ``limit`` lines, or after :data:`SCAN_BYTES` of log were
read without filling it (then fewer lines come back, possibly none, with a ``next_cursor`` to go on). Lines are
interpreted by :mod:`mod_api.log_lines`; every rule (line shapes, sources, the sample-log rule) is in
``mod_api/docs/logs.md``.
"""
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, current_app, jsonify
from marshmallow import ValidationError, fields, validate
from sqlalchemy import select

from mod_api.db import db
from mod_api.errors import ApiError, not_found
from mod_api.legacy import RegressionTest, Sample, Test
from mod_api.log_cursor import MAX_LENGTH, CursorCodec, InvalidCursor, Position, binding
from mod_api.log_lines import LEVELS, MAX_MESSAGE, SOURCES, Clock, Entry, SampleMarkers, entries
from mod_api.operations import operation
from mod_api.resources.artifacts import file_absent, storage_unavailable
from mod_api.resources.system import DEFAULT_LIMIT, MAX_LIMIT
from mod_api.run_data import load_judged
from mod_api.schemas import ResponseSchema
from mod_api.storage import FileMissing, FileUnreadable, LineReader
from mod_api.timeutil import isoformat_z
from mod_api.validation import StrictSchema, WholeNumber

blueprint = Blueprint('logs', __name__)

MAX_LINE_BYTES = 256 * 1024
SCAN_BYTES = 1024 * 1024
MAX_CONTAINS = 100
OFFSET_REFUSED = 'Not supported here: log pages are chained with cursors. Pass pagination.next_cursor as cursor.'
CURSOR_REASONS = {
    'tampered': 'The cursor is not one this API issued (modified, truncated or malformed).',
    'expired': 'The cursor has expired; start again without a cursor.',
    'foreign': 'The cursor belongs to another listing (another run, sample or filters).',
    'stale': 'The log has been replaced since the cursor was issued; start again without a cursor.',
}
RULES = (
    'Each line of LogFiles/<run id>.txt (local sample repository, else GCS) is one LogLine; blank lines are left '
    'out. Timestamp and level come from the start of the line when it carries them (ISO 8601, '
    '"YYYY-MM-DD HH:MM:SS[,ms] [UTC]", "YYYY/MM/DD HH:MM:SS", date(1) output, "[HH:MM:SS]"; [LEVEL], LEVEL:, '
    'LEVEL -, level=...); otherwise a line inherits the previous line\'s timestamp (the file\'s modification time '
    'before the first stamped line) and its level is error when it reads like a failure, else info. source: '
    'test suite lines test_runner, VM scripts orchestrator, progress-reporter/HTTP lines web, compiler output '
    f'build, else worker. message: the line after its timestamp and level, cut to {MAX_MESSAGE} characters. '
    'Filters: level and source exact, contains a case-insensitive substring of message. Pages are chained with '
    'cursors (opaque, signed, valid 1 hour, bound to the run, sample and filters: another or a modified one is 400 '
    f'invalid_cursor); offset is refused. A page stops after limit lines or {SCAN_BYTES // (1024 * 1024)} MiB of '
    'log, so it may hold fewer lines than limit (even none) while next_cursor is not null; next_cursor is null at '
    'the end of the log. A log in no storage backend is 404 log_not_found (details.checked names the backends '
    'looked at); a backend failure that leaves it unknown is 503 storage_unavailable.')
SAMPLE_RULES = (
    'The lines of the run log that belong to the sample: a line naming the sample (its SHA-256, hence its file '
    'name and output names, or "regression test <id>" of one of its regression tests in the run) and the lines '
    'after it until one names another sample of the run or comes from the orchestrator. A run or sample that does '
    'not exist, or a sample without a regression test in the run\'s scope, is 404 not_found. ')


class LogQuery(StrictSchema):
    """Query of both log operations: cursor pagination and the level/contains filters."""

    limit = WholeNumber(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT),
                        metadata={'description': 'Maximum number of results to return (1–100)'})
    cursor = fields.String(validate=validate.Length(max=MAX_LENGTH), metadata={
        'description': 'Opaque cursor token for cursor-based pagination. Do not mix with offset. Obtain '
                       'next_cursor from the previous response\'s pagination object.'})
    level = fields.String(validate=validate.OneOf(LEVELS))
    contains = fields.String(validate=validate.Length(max=MAX_CONTAINS))

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        """An ``offset`` parameter is told that these lists use cursors (not just "Unknown field")."""
        if isinstance(error.messages, dict) and 'offset' in error.messages:
            raise ValidationError({**error.messages, 'offset': [OFFSET_REFUSED]})


class RunLogQuery(LogQuery):
    """Query of ``GET /runs/{run_id}/logs``: also ``source``."""

    source = fields.String(validate=validate.OneOf(SOURCES))


class LogLineSchema(ResponseSchema):
    """The contract's LogLine."""

    timestamp = fields.DateTime(required=True)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    message = fields.String(required=True, validate=validate.Length(max=MAX_MESSAGE))
    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))


class CursorPaginationSchema(ResponseSchema):
    """The contract's CursorPage ``pagination``."""

    limit = fields.Integer(required=True, validate=validate.Range(min=1))
    next_cursor = fields.String(required=True, allow_none=True, validate=validate.Length(max=MAX_LENGTH),
                                metadata={'description': 'Opaque cursor for the next page. Null when there are no '
                                                         'more results.'})


class LogPageSchema(ResponseSchema):
    """A CursorPage of LogLines."""

    data = fields.List(fields.Nested(LogLineSchema), required=True)
    pagination = fields.Nested(CursorPaginationSchema, required=True)


@dataclass(frozen=True)
class Listing:
    """One log listing: the run, the sample (None: the whole run log) and the filters."""

    run_id: int
    sample_id: int | None
    level: str | None = None
    source: str | None = None
    contains: str | None = None

    @property
    def bound(self) -> str:
        """The binding its cursors carry."""
        return binding(self.run_id, self.sample_id, self.level, self.source, self.contains)

    def keeps(self, entry: Entry) -> bool:
        """True when ``entry`` passes the filters (cheapest first: level and source are worked out on demand)."""
        return ((self.contains is None or self.contains.casefold() in entry.message.casefold())
                and (self.level is None or entry.level == self.level)
                and (self.source is None or entry.source == self.source))

    def document(self, entry: Entry) -> dict[str, Any]:
        """The LogLine of ``entry``."""
        return {'timestamp': isoformat_z(entry.timestamp), 'level': entry.level, 'source': entry.source,
                'message': entry.message, 'run_id': self.run_id, 'sample_id': self.sample_id}


def invalid_cursor(reason: str) -> ApiError:
    """400 ``invalid_cursor`` saying why."""
    return ApiError(400, 'invalid_cursor', CURSOR_REASONS[reason], {'parameter': 'cursor', 'reason': reason})


def _require_run(run_id: int) -> None:
    """404 ``not_found`` for a run that does not exist."""
    if db.session.scalar(select(Test.id).where(Test.id == run_id)) is None:
        raise not_found('run', run_id)


def sample_markers(run_id: int, sample_id: int) -> SampleMarkers:
    """What names the sample and the other samples of the run's scope; 404 for an unknown run or sample.

    Scope is the one the run is judged on (``run_data.load_run_facts``, docs/verdicts.md §1).
    """
    _require_run(run_id)
    facts, _ = load_judged([run_id])[run_id]
    scope = [sample.regression_id for sample in facts.samples]
    rows = db.session.execute(
        select(RegressionTest.id, RegressionTest.sample_id, Sample.sha)
        .join(Sample, Sample.id == RegressionTest.sample_id).where(RegressionTest.id.in_(scope))).tuples().all()
    own = [(regression_id, sha) for regression_id, owner, sha in rows if owner == sample_id]
    if not own:
        if db.session.scalar(select(Sample.id).where(Sample.id == sample_id)) is None:
            raise not_found('sample', sample_id)
        raise ApiError(404, 'not_found', f'Sample {sample_id} has no regression test in run {run_id}.',
                       {'resource': 'sample', 'id': sample_id, 'run_id': run_id})
    others = [(regression_id, sha) for regression_id, owner, sha in rows if owner != sample_id]
    return SampleMarkers(frozenset((sha or '').lower() for _, sha in own), frozenset(test for test, _ in own),
                         frozenset((sha or '').lower() for _, sha in others), frozenset(test for test, _ in others))


def _open(listing: Listing, offset: int) -> LineReader:
    """The run's log opened at ``offset``; 404 log_not_found when absent, 503 when a backend failed."""
    storage = current_app.extensions['mod_api'].storage
    try:
        return storage.open_lines(f'LogFiles/{listing.run_id}.txt', offset, max_line_bytes=MAX_LINE_BYTES)
    except (FileMissing, FileUnreadable) as error:
        raise _log_error(error, listing) from None


def _log_error(error: FileMissing | FileUnreadable, listing: Listing) -> ApiError:
    """404 log_not_found when every backend answered that the log is absent, else 503 storage_unavailable."""
    details: dict[str, Any] = {'run_id': listing.run_id}
    if listing.sample_id is not None:
        details['sample_id'] = listing.sample_id
    if file_absent(error):
        return ApiError(404, 'log_not_found',
                        f'Log file for run {listing.run_id} does not exist in any storage backend.',
                        {**details, 'checked': list(error.checked)})
    return storage_unavailable(error, **details)


def read_page(listing: Listing, limit: int, cursor: str | None, markers: SampleMarkers | None) -> dict[str, Any]:
    """A CursorPage of the listing's lines from the cursor's position (the start of the log without one).

    A missing log is answered (404) before a refused cursor (400), as the run and the sample are.
    """
    codec = CursorCodec(current_app.config['API_SECRET_KEY'])
    start, refused = Position(0, 0), None
    try:
        start = codec.decode(cursor, listing.bound) if cursor is not None else start
    except InvalidCursor as error:
        refused = error.reason
    reader = _open(listing, start.offset)  # a log in no backend is 404 whatever the cursor
    with reader:
        if refused is None and cursor is not None and start.size != reader.size:
            refused = 'stale'
        if refused is not None:
            raise invalid_cursor(refused)
        clock = Clock(reader.mtime or datetime.now(timezone.utc), start.last_timestamp)
        inside, position, data = start.inside, start.offset, []
        try:
            for line, entry in entries(reader, clock):
                position = line.end
                if entry is not None:
                    belongs = True
                    if markers is not None:
                        belongs, inside = markers.follow(entry, inside)
                    if belongs and listing.keeps(entry):
                        data.append(listing.document(entry))
                if len(data) >= limit or position - start.offset >= SCAN_BYTES:
                    break
        except (FileMissing, FileUnreadable) as error:  # vanished or failed while being read
            raise _log_error(error, listing) from None
    following = Position(position, reader.size, clock.last, inside)
    next_cursor = codec.encode(listing.bound, following) if position < reader.size else None
    return {'data': data, 'pagination': {'limit': limit, 'next_cursor': next_cursor}}


@blueprint.route('/runs/<int:run_id>/logs', methods=['GET'])
@operation('Get raw logs for a run', ('Errors and Logs',), scope='system:read', query=RunLogQuery,
           responses={200: ('Cursor-paginated run log lines', LogPageSchema),
                      404: 'Run not found (not_found), or its log file is in no storage backend (log_not_found)',
                      503: 'A storage backend failed, so whether the log exists is unknown (storage_unavailable)'},
           description=RULES)
def run_logs(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's log lines."""
    _require_run(run_id)
    listing = Listing(run_id, None, query.get('level'), query.get('source'), query.get('contains'))
    return jsonify(read_page(listing, query['limit'], query.get('cursor'), None))


@blueprint.route('/runs/<int:run_id>/samples/<int:sample_id>/logs', methods=['GET'])
@operation('Get raw logs for a regression test result in a run', ('Errors and Logs',), scope='system:read',
           query=LogQuery,
           responses={200: ('Cursor-paginated sample log lines', LogPageSchema),
                      404: 'Run or sample not found, sample not in the run (not_found), or no log (log_not_found)',
                      503: 'A storage backend failed, so whether the log exists is unknown (storage_unavailable)'},
           description=SAMPLE_RULES + RULES)
def sample_logs(run_id: int, sample_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's log lines that belong to the sample."""
    markers = sample_markers(run_id, sample_id)
    listing = Listing(run_id, sample_id, query.get('level'), None, query.get('contains'))
    return jsonify(read_page(listing, query['limit'], query.get('cursor'), markers))
