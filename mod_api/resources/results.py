"""`/runs/{run_id}/samples/{sample_id}/expected|actual|diff`: output files and diffs of a run's results.

The ids are resolved by :mod:`mod_api.result_lookup` (404 naming the run, sample, regression test or output that
does not fit); files are read only through :mod:`mod_api.storage` (a backend that errors or times out counts as
not having the file: it is logged there, never a 500); diffs come from :mod:`mod_api.diffing`.

Sizes. The contract bounds ``OutputFile.content`` at 1 MiB (1048576 characters), and a body is never truncated: a
file that cannot be served whole is refused from its metadata, before any byte is read, with 413
``output_too_large`` (``details``: ``size``, ``limit``, ``format``, ``path`` and the run's ``artifacts_url``). With
``format=text`` the limit is 1 MiB (UTF-8 text has at most one character per byte); with ``format=base64`` it is
768 KiB, the largest file whose base64 text fits 1 MiB. Each input of a diff may be up to 1 MiB.
"""
import base64
import hashlib
import logging
from pathlib import PurePosixPath
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from marshmallow import fields, validate

from mod_api.content_types import content_type_for
from mod_api.diffing import (
    MAX_CONTEXT,
    MAX_HUNK_LINES,
    MAX_HUNKS,
    MAX_TEXT,
    LineDiff,
    diff_lines,
    split_lines,
    unified_text,
)
from mod_api.errors import ApiError
from mod_api.operations import operation
from mod_api.result_lookup import ResultOutput, resolve
from mod_api.run_view import run_links
from mod_api.schemas import ResponseSchema
from mod_api.storage import FileMissing, FileTooLarge, FileUnreadable, safe_filename
from mod_api.validation import StrictSchema, WholeNumber, integer_id
from mod_api.verdicts import OutputStatus, ResultFile

log = logging.getLogger('mod_api')
blueprint = Blueprint('results', __name__)

MAX_CONTENT = 1024 * 1024  # the contract's maxLength of OutputFile.content
SIZE_LIMITS = {'text': MAX_CONTENT, 'base64': MAX_CONTENT // 4 * 3}
DIFF_INPUT_LIMIT = MAX_CONTENT
SHA256_PATTERN = r'^[a-fA-F0-9]{64}$'
IDENTICAL, DIFFERENT, MISSING_EXPECTED, MISSING_ACTUAL = 'identical', 'different', 'missing_expected', 'missing_actual'
EXPECTED_FILE, ACTUAL_FILE = 'expected_output', 'actual_output'


# --- schemas -------------------------------------------------------------------------------------------------------

class ResultQuery(StrictSchema):
    """The contract's RegressionId and OutputId query parameters."""

    regression_id = integer_id(required=True, metadata={'description': 'Regression test definition ID'})
    output_id = integer_id(required=True, metadata={
        'description': 'Output file ID within a regression test definition'})


class FileQuery(ResultQuery):
    """Query of ``/expected`` and ``/actual``: the contract's Format parameter."""

    format = fields.String(load_default='base64', validate=validate.OneOf(['text', 'base64']), metadata={
        'description': 'Content encoding: text (utf-8, only for a file that decodes as UTF-8, else 400 not_utf8) or '
                       'base64 (any file).'})


class DiffQuery(ResultQuery):
    """Query of ``/diff``."""

    context_lines = WholeNumber(load_default=3, validate=validate.Range(min=0, max=MAX_CONTEXT),
                                metadata={'description': 'Unchanged lines shown around each change'})
    format = fields.String(load_default='structured', validate=validate.OneOf(['structured', 'unified']),
                           metadata={'description': 'structured: hunks; unified: the same hunks as unified-diff text '
                                                    '(field unified)'})


class OutputFileSchema(ResponseSchema):
    """The contract's OutputFile, with the whole file in ``content``, plus its ``size`` in bytes."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    output_id = fields.Integer(required=True, validate=validate.Range(min=1))
    filename = fields.String(required=True, validate=validate.Length(max=255))
    content_type = fields.String(required=True, validate=validate.Length(max=100))
    encoding = fields.String(required=True, validate=validate.OneOf(['utf-8', 'base64']))
    content = fields.String(required=True, validate=validate.Length(max=MAX_CONTENT))
    sha256 = fields.String(required=True, validate=validate.Regexp(SHA256_PATTERN),
                           metadata={'description': 'SHA-256 of the bytes served'})
    storage_status = fields.String(required=True, validate=validate.OneOf(['ok', 'degraded']), metadata={
        'description': 'ok = in every configured backend (local and GCS; local alone when GCS is not configured); '
                       'degraded = in one backend only (a backend that errors or times out counts as not having '
                       'it). A file in neither backend is a 404.'})
    size = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_CONTENT),
                          metadata={'description': 'Size of the file in bytes (an addition to the contract)'})


class DiffSummarySchema(ResponseSchema):
    """Counts of the whole diff, also when hunks were left out."""

    added_lines = fields.Integer(required=True, validate=validate.Range(min=0))
    removed_lines = fields.Integer(required=True, validate=validate.Range(min=0))
    changed_hunks = fields.Integer(required=True, validate=validate.Range(min=0))


class DiffLineSchema(ResponseSchema):
    """One line of a hunk, numbered from 1 on each side it is on."""

    kind = fields.String(required=True, validate=validate.OneOf(['context', 'added', 'removed']))
    expected_line = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    actual_line = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    text = fields.String(required=True, validate=validate.Length(max=MAX_TEXT),
                         metadata={'description': 'The line without its line end (\\n or \\r\\n)'})
    truncated = fields.Boolean(validate=validate.Equal(True),
                               metadata={'description': f'Present (true) when the text was cut to {MAX_TEXT} '
                                                        'characters'})
    no_newline = fields.Boolean(validate=validate.Equal(True),
                                metadata={'description': 'Present (true) on a last line that has no line end'})


class DiffHunkSchema(ResponseSchema):
    """A group of changes with context; starts follow the unified-diff convention (see the operation)."""

    expected_start = fields.Integer(required=True, validate=validate.Range(min=0))
    actual_start = fields.Integer(required=True, validate=validate.Range(min=0))
    expected_count = fields.Integer(required=True, validate=validate.Range(min=0),
                                    metadata={'description': 'Lines of the hunk on the expected side'})
    actual_count = fields.Integer(required=True, validate=validate.Range(min=0),
                                  metadata={'description': 'Lines of the hunk on the actual side'})
    lines = fields.List(fields.Nested(DiffLineSchema), required=True, validate=validate.Length(max=MAX_HUNK_LINES))
    truncated = fields.Boolean(validate=validate.Equal(True), metadata={
        'description': f'Present (true) when lines past the first {MAX_HUNK_LINES} were left out'})


class DiffSchema(ResponseSchema):
    """The contract's Diff, with ``unified``, ``truncated``, ``binary``, ``accepted_variant`` and ``output_status``."""

    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, validate=validate.Range(min=1))
    regression_id = fields.Integer(required=True, validate=validate.Range(min=1))
    output_id = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf([IDENTICAL, DIFFERENT, MISSING_EXPECTED,
                                                                    MISSING_ACTUAL]))
    summary = fields.Nested(DiffSummarySchema, metadata={'description': 'Present when status is identical or '
                                                                        'different'})
    hunks = fields.List(fields.Nested(DiffHunkSchema), validate=validate.Length(max=MAX_HUNKS),
                        metadata={'description': 'format=structured, text files: the first 500 hunks'})
    unified = fields.String(metadata={'description': 'format=unified, text files: the same hunks as unified-diff '
                                                     'text (an addition to the contract)'})
    truncated = fields.Boolean(required=True, metadata={
        'description': 'True when hunks, hunk lines or line texts were left out or cut (summary counts everything)'})
    binary = fields.Boolean(required=True, metadata={
        'description': 'True when a file is not UTF-8 text: status only, summary zeros, no hunks'})
    accepted_variant = fields.Boolean(required=True, metadata={
        'description': 'True when the actual output differs from the reference but equals an accepted variant '
                       '(the output passes)'})
    output_status = fields.String(required=True, allow_none=True,
                                  validate=validate.OneOf([status.value for status in OutputStatus]),
                                  metadata={'description': 'The output\'s status in the run (RunSample outputs); '
                                                           'match means it passes'})


# --- descriptions --------------------------------------------------------------------------------------------------

IDS_RULE = (
    'regression_id must be a regression test of the sample in the run\'s scope, and output_id one of its outputs '
    '(or an output its result files in the run compare); else 404 whose details.resource names the run, sample, '
    'regression_test or output that does not fit. ')
FILE_RULE = (
    'content is the whole file: format=text answers encoding utf-8 only when the bytes decode as UTF-8 (else 400 '
    'not_utf8); format=base64 (default) serves any file. sha256 is computed from the bytes served. A file over the '
    'limit (1 MiB with format=text, 768 KiB with base64: the base64 text must fit the 1 MiB content) is refused '
    'before it is read: 413 output_too_large with size, limit and the run\'s artifacts_url, never a truncated body. '
    'Read from the local sample repository or GCS; storage_status says which backends have it. ')
EXPECTED_DESCRIPTION = (
    'The reference file of the output, TestResults/<correct><correct_extension> (the one the platform compares '
    'against; run_id is the run asked about). Missing from both storage backends (or no reference recorded): 404 '
    'file_not_found with details.checked. ' + IDS_RULE + FILE_RULE)
ACTUAL_DESCRIPTION = (
    'TestResultFile.got = null means the actual output MATCHED expected (204, no body: use /expected), not that it '
    'is missing. 200: the output differed, TestResults/<got><correct_extension>. 404 missing_output: the platform\'s '
    'missing-output rule (the regression test produced no result file while a non-ignored output was expected; the '
    'dummy row is never returned as an object). 404 output_not_reported: the run has no result file for this output '
    'otherwise (not run yet, ignored, or not reported while others were). 404 file_not_found: the file is in '
    'neither backend. ' + IDS_RULE + FILE_RULE)
DIFF_DESCRIPTION = (
    'Line diff (difflib, patience-anchored) between the reference file and the actual output, as JSON (no HTML, no '
    '50-line cut). status: identical (also when got is null: the actual output is the expected one), different, '
    'missing_expected (the reference is in neither backend), missing_actual (the actual file is in neither '
    'backend, or the platform\'s missing-output rule applies). accepted_variant: the actual output differs from the '
    'reference but equals an accepted variant, so the output passes (output_status match). Lines are compared with '
    'their line ends; numbers are 1-based; a hunk\'s expected_start/actual_start is its first line on that side, '
    'or for a side without lines the line after which the change sits (0 at the top, e.g. an empty file). '
    'format=structured gives hunks, format=unified the same hunks as unified-diff text in unified. At most 500 hunks '
    'of at most 500 lines, texts cut at 1000 characters: anything left out sets truncated (the summary still counts '
    'every line and hunk). Binary files (not UTF-8): status and a summary of zeros, binary true, no hunks. Each '
    'file may be up to 1 MiB, else 413 output_too_large. 404 output_not_reported as for /actual. ' + IDS_RULE)
NOT_UTF8 = 'format=text for a file that is not UTF-8 text (not_utf8), or the query failed validation'
TOO_LARGE = 'The file is over the size limit (output_too_large): see the run\'s artifacts'


# --- operations ----------------------------------------------------------------------------------------------------

@blueprint.route('/runs/<int:run_id>/samples/<int:sample_id>/expected', methods=['GET'])
@operation('Get expected output for a regression test result', ('Results',), scope='results:read', query=FileQuery,
           responses={200: ('Expected output file', OutputFileSchema), 400: NOT_UTF8, 413: TOO_LARGE},
           description=EXPECTED_DESCRIPTION)
def get_expected(run_id: int, sample_id: int, query: dict[str, Any]) -> Any:
    """The reference file of an output, whole."""
    result = resolve(run_id, sample_id, query['regression_id'], query['output_id'])
    return jsonify(output_file(result, result.expected_path, EXPECTED_FILE, query['format']))


@blueprint.route('/runs/<int:run_id>/samples/<int:sample_id>/actual', methods=['GET'])
@operation('Get actual output generated by a regression test in a run', ('Results',), scope='results:read',
           query=FileQuery,
           responses={200: ('Actual output file (output exists and differs from expected)', OutputFileSchema),
                      204: 'No actual file stored: got = null means the output matched expected. Use /expected to '
                           'retrieve the matched content.',
                      400: NOT_UTF8, 413: TOO_LARGE},
           description=ACTUAL_DESCRIPTION)
def get_actual(run_id: int, sample_id: int, query: dict[str, Any]) -> Any:
    """The run's actual output of an output, whole; 204 when it matched."""
    result = resolve(run_id, sample_id, query['regression_id'], query['output_id'])
    file = reported_file(result)
    if file.got is None:
        return Response(status=204, mimetype='application/json')
    return jsonify(output_file(result, result.actual_path, ACTUAL_FILE, query['format']))


@blueprint.route('/runs/<int:run_id>/samples/<int:sample_id>/diff', methods=['GET'])
@operation('Get expected-vs-actual diff for a failing regression test result', ('Results',), scope='results:read',
           query=DiffQuery, responses={200: ('Structured or unified diff', DiffSchema), 413: TOO_LARGE},
           description=DIFF_DESCRIPTION)
def get_diff(run_id: int, sample_id: int, query: dict[str, Any]) -> Any:
    """The line diff of the reference and the run's actual output."""
    result = resolve(run_id, sample_id, query['regression_id'], query['output_id'])
    verdict = result.verdict
    document: dict[str, Any] = {
        'run_id': run_id, 'sample_id': sample_id, 'regression_id': result.regression_id,
        'output_id': result.output_id, 'truncated': False, 'binary': False,
        'accepted_variant': result.accepted_variant, 'output_status': verdict.status.value if verdict else None,
    }
    if result.file is None and result.missing_output:
        return jsonify({**document, 'status': MISSING_ACTUAL})
    if reported_file(result).got is None:  # matched: the actual output is the expected one, nothing to read
        return jsonify({**document, **render(diff_lines([], [], query['context_lines']), IDENTICAL, query, '', '')})
    try:
        expected, _ = read_file(result, result.expected_path, EXPECTED_FILE, DIFF_INPUT_LIMIT, 'diff')
    except FileNotFound:
        return jsonify({**document, 'status': MISSING_EXPECTED})
    try:
        actual, _ = read_file(result, result.actual_path, ACTUAL_FILE, DIFF_INPUT_LIMIT, 'diff')
    except FileNotFound:
        return jsonify({**document, 'status': MISSING_ACTUAL})
    names = (f'expected/{file_name(result.expected_path)}', f'actual/{file_name(result.actual_path)}')
    return jsonify({**document, **compared(expected, actual, query, *names)})


# --- helpers -------------------------------------------------------------------------------------------------------

class FileNotFound(ApiError):
    """404 ``file_not_found``: the output names no file, or its file is in no storage backend."""


def reported_file(result: ResultOutput) -> ResultFile:
    """The run's result file row of the output; 404 ``missing_output`` or ``output_not_reported`` without one."""
    file = result.file
    if file is not None:
        return file
    ids = {'run_id': result.run_id, 'regression_id': result.regression_id, 'output_id': result.output_id}
    if result.missing_output:
        raise ApiError(404, 'missing_output', f'Regression test {result.regression_id} generated no output in run '
                                              f'{result.run_id}, but output {result.output_id} was expected.',
                       {'resource': ACTUAL_FILE, **ids})
    raise ApiError(404, 'output_not_reported', f'Run {result.run_id} has no result for output {result.output_id} of '
                                               f'regression test {result.regression_id}.',
                   {'resource': ACTUAL_FILE, 'output_status': result.verdict.status.value if result.verdict else None,
                    **ids})


def file_name(path: str | None) -> str:
    """The file name of a repository path, fit for a download."""
    return safe_filename(PurePosixPath(path).name if path else '')


def read_file(result: ResultOutput, path: str | None, what: str, limit: int, purpose: str) -> tuple[bytes, str]:
    """The bytes of a repository file and its ``storage_status``.

    Raises FileNotFound (404) when ``path`` is None or the file is in no backend (a backend that errors or times
    out counts as not having it), and 413 ``output_too_large`` over ``limit`` bytes, from the file's metadata.
    """
    if path is None:
        raise FileNotFound(404, 'file_not_found', f'Output {result.output_id} names no {what.replace("_", " ")} file.',
                           {'resource': what, 'path': None, 'checked': []})
    storage = current_app.extensions['mod_api'].storage
    status = storage.status(path)
    problems = status.problems
    if status.present:
        try:
            return storage.read_bytes(path, limit), status.storage_status
        except FileTooLarge as error:
            raise ApiError(413, 'output_too_large',
                           f'{file_name(path)} is {error.size} bytes, over the {error.limit}-byte limit of '
                           f'{purpose}: download it from the run\'s artifacts.',
                           {'size': error.size, 'limit': error.limit, 'format': purpose, 'path': path,
                            'artifacts_url': run_links(result.run_id)['artifacts']}) from None
        except (FileMissing, FileUnreadable) as error:
            log.warning('Reading %s failed after it was found: %s', path, type(error).__name__)
            problems = {**problems, 'read': type(error).__name__}
    raise FileNotFound(404, 'file_not_found', f'The {what.replace("_", " ")} file {file_name(path)} is in no storage '
                                              f'backend.',
                       {'resource': what, 'path': path, 'checked': list(status.checked), 'problems': problems})


def output_file(result: ResultOutput, path: str | None, what: str, encoding: str) -> dict[str, Any]:
    """The contract's OutputFile of a whole file; 400 ``not_utf8`` when text is asked of a file that is not."""
    data, storage_status = read_file(result, path, what, SIZE_LIMITS[encoding], encoding)
    if encoding == 'text':
        try:
            content = data.decode('utf-8')
        except UnicodeDecodeError as error:
            raise ApiError(400, 'not_utf8', f'{file_name(path)} is not UTF-8 text (invalid byte at offset '
                                            f'{error.start}): ask for format=base64.',
                           {'format': 'text', 'offset': error.start, 'size': len(data)}) from None
    else:
        content = base64.b64encode(data).decode('ascii')
    return {
        'run_id': result.run_id, 'sample_id': result.sample_id, 'regression_id': result.regression_id,
        'output_id': result.output_id, 'filename': file_name(path), 'content_type': content_type_for(result.extension),
        'encoding': 'utf-8' if encoding == 'text' else 'base64', 'content': content,
        'sha256': hashlib.sha256(data).hexdigest(), 'storage_status': storage_status, 'size': len(data),
    }


def compared(expected: bytes, actual: bytes, query: dict[str, Any], expected_name: str,
             actual_name: str) -> dict[str, Any]:
    """Status, summary and hunks (or unified text) of two files' contents; binary files get no hunks."""
    texts = [_text(data) for data in (expected, actual)]
    status = IDENTICAL if expected == actual else DIFFERENT
    if texts[0] is None or texts[1] is None:
        return {'status': status, 'binary': True,
                'summary': {'added_lines': 0, 'removed_lines': 0, 'changed_hunks': 0}}
    diff = diff_lines(split_lines(texts[0]), split_lines(texts[1]), query['context_lines'])
    return render(diff, status, query, expected_name, actual_name)


def render(diff: LineDiff, status: str, query: dict[str, Any], expected_name: str, actual_name: str) -> dict[str, Any]:
    """The Diff fields of a text diff: hunks (``format=structured``) or unified text (``format=unified``)."""
    document: dict[str, Any] = {'status': status, 'summary': diff.summary(), 'truncated': diff.truncated}
    if query['format'] == 'unified':
        document['unified'] = unified_text(diff, expected_name, actual_name)
    else:
        document['hunks'] = [hunk.document() for hunk in diff.hunks]
    return document


def _text(data: bytes) -> str | None:
    """``data`` decoded as UTF-8, None when it is not UTF-8."""
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return None
