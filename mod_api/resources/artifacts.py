"""`/runs/{run_id}/artifacts`: the files of a run (built by :mod:`mod_api.artifact_list`); `/downloads/<token>`.

``GET /downloads/<token>`` is the API's own signed download URL (:meth:`Storage.download_url` hands it out for a
file that is only local, or when the GCS client cannot sign). It is the one non-JSON success response of the API:
the file's bytes, streamed from storage in chunks, as an attachment (``Content-Disposition``; the API's
``X-Content-Type-Options: nosniff`` applies). It takes no bearer token (``public=True``): the token in the path is
its authentication, an itsdangerous signature over the path and file name (:class:`mod_api.signing.
DownloadSigner`) valid ``API_SIGNED_URL_MINUTES``; a modified or expired one is 403 ``invalid_download_token``, a
file gone since the URL was made is 404 — both JSON.
"""
from functools import partial
from pathlib import PurePosixPath
from typing import Any, Callable, TypeGuard
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from marshmallow import fields, validate
from werkzeug.exceptions import HTTPException

from mod_api.artifact_list import TYPES, Candidate, load_run_artifacts, page_of_artifacts
from mod_api.content_types import content_type_for
from mod_api.errors import ApiError
from mod_api.operations import operation
from mod_api.page_cache import cached_run_value
from mod_api.resources.system import PageQuery, PageSchema, page_body
from mod_api.schemas import ResponseSchema
from mod_api.signing import ExpiredToken, InvalidToken
from mod_api.storage import FileMissing, FileUnreadable, StorageError, content_disposition

blueprint = Blueprint('artifacts', __name__)

STORAGE_STATUSES = ('ok', 'degraded', 'missing')
DOWNLOAD_ENDPOINT = 'mod_api.artifacts.download_file'
LIST_DESCRIPTION = (
    'Every artifact of the run: build_log (LogFiles/<run id>.txt), sample_output (each output the worker uploaded, '
    'got not null), expected_output (the reference files of the run\'s regression tests), diff (one per output '
    'whose status is diff_mismatch: download_url is the API\'s diff endpoint, JSON, same scope), media_info '
    '(TestFiles/media/<sha>.xml of each sample) and binary (the CCExtractor build given to the VM, only when '
    'stored). Ordered by type (in this order), then path. storage_status: ok = in every configured backend, '
    'degraded = in one only, missing = in none (download_url null, size_bytes null). download_url is only given for '
    'a file verified to exist: a GCS V4 signed URL, or the API\'s own short-lived signed URL (GET /downloads/...). '
    'Only the page\'s files are looked up, concurrently and within a bounded time.')
DOWNLOAD_DESCRIPTION = (
    'The file a download URL of this API names, as an attachment (not JSON). The URL\'s token is its '
    'authentication (no bearer token): a modified or expired one is 403 invalid_download_token; a file no longer '
    'in any storage backend is 404; a failing backend is 503.')
TOKEN_REASONS = {
    'expired': 'This download URL has expired; list the artifacts again for a fresh one.',
    'tampered': 'This download URL is not valid.',
}


class ArtifactQuery(PageQuery):
    """Query of ``GET /runs/{run_id}/artifacts``."""

    type = fields.String(validate=validate.OneOf(TYPES))


class ArtifactSchema(ResponseSchema):
    """The contract's Artifact."""

    artifact_id = fields.String(required=True, validate=validate.Length(max=100))
    run_id = fields.Integer(required=True, validate=validate.Range(min=1))
    sample_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    type = fields.String(required=True, validate=validate.OneOf(TYPES))
    filename = fields.String(required=True, validate=validate.Length(max=255))
    content_type = fields.String(required=True, validate=validate.Length(max=100))
    size_bytes = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))
    storage_status = fields.String(required=True, validate=validate.OneOf(STORAGE_STATUSES))
    download_url = fields.Url(required=True, allow_none=True, require_tld=False, metadata={
        'description': 'Only present and non-null when storage_status is ok or degraded.'})


class ArtifactPageSchema(PageSchema):
    """A Page of Artifacts."""

    data = fields.List(fields.Nested(ArtifactSchema), required=True)


def file_absent(error: StorageError) -> TypeGuard[FileMissing]:
    """True when every backend answered that the file is not there (not merely that one could not be asked)."""
    return isinstance(error, FileMissing) and not error.problems


def storage_unavailable(error: StorageError, **details: Any) -> ApiError:
    """503 ``storage_unavailable``: a backend failed, so the file cannot be served (and may well exist)."""
    if isinstance(error, FileUnreadable):
        problems = {error.backend: error.reason}
    else:
        problems = dict(getattr(error, 'problems', {}))
    return ApiError(503, 'storage_unavailable', 'A storage backend failed; retry later.',
                    {**details, 'problems': problems}, {'Retry-After': '5'})


def download_links() -> Callable[[str], str]:
    """The absolute URL of the API's download route for a token; the route is built once (tokens are URL-safe)."""
    route = url_for(DOWNLOAD_ENDPOINT, token='token', _external=True).rpartition('/')[0]
    return lambda token: f'{route}/{token}'


def diff_link(run_id: int, item: Candidate) -> str | None:
    """The absolute URL of the API's diff of a diff artifact; None without a sample or without that route."""
    if item.sample_id is None or item.regression_id is None or item.output_id is None:
        return None
    return diff_url(run_id, item.sample_id, item.regression_id, item.output_id)


def diff_url(run_id: int, sample_id: int, regression_id: int, output_id: int) -> str | None:
    """The absolute URL of the API's diff of one output of a regression test in a run; None without that route."""
    path = f'{current_app.extensions["mod_api"].prefix}/runs/{run_id}/samples/{sample_id}/diff'
    try:
        current_app.url_map.bind_to_environ(request.environ).match(path, method='GET')
    except HTTPException:
        return None
    query = urlencode({'regression_id': regression_id, 'output_id': output_id})
    return f'{request.url_root.rstrip("/")}{path}?{query}'


@blueprint.route('/runs/<int:run_id>/artifacts', methods=['GET'])
@operation('List downloadable artifacts for a run', ('System',), scope='results:read', query=ArtifactQuery,
           responses={200: ('Paginated run artifacts', ArtifactPageSchema)}, description=LIST_DESCRIPTION)
def list_artifacts(run_id: int, query: dict[str, Any]) -> Any:
    """A page of the run's artifacts, with their storage status and verified download URLs."""
    storage = current_app.extensions['mod_api'].storage
    artifacts = cached_run_value(run_id, 'artifacts', lambda: load_run_artifacts(run_id))
    data, total = page_of_artifacts(artifacts, query.get('type'), query['limit'], query['offset'], storage,
                                    download_links(), partial(diff_link, run_id))
    return jsonify(page_body(data, total, query))


@blueprint.route('/downloads/<token>', methods=['GET'])
@operation('Download a file through a signed URL of this API', ('System',), public=True, no_store=True,
           responses={200: 'The file, as an attachment (its own media type, not JSON)',
                      403: 'The download URL is modified or expired (invalid_download_token)',
                      404: 'The file is no longer in any storage backend',
                      503: 'A storage backend failed (storage_unavailable)'},
           description=DOWNLOAD_DESCRIPTION)
def download_file(token: str, query: dict[str, Any]) -> Any:
    """Stream the file a genuine, unexpired download token names."""
    storage = current_app.extensions['mod_api'].storage
    try:
        grant = storage.signer.verify(token)
    except InvalidToken as error:
        reason = 'expired' if isinstance(error, ExpiredToken) else 'tampered'
        raise ApiError(403, 'invalid_download_token', TOKEN_REASONS[reason], {'reason': reason}) from None
    try:
        stream = storage.stream(grant.path)
    except (FileMissing, FileUnreadable) as error:
        if file_absent(error):
            raise ApiError(404, 'not_found', 'The file is no longer in any storage backend.',
                           {'resource': 'file', 'filename': grant.filename, 'checked': list(error.checked)}) from None
        raise storage_unavailable(error, filename=grant.filename) from None
    response = Response(stream, content_type=content_type_for(PurePosixPath(grant.filename).suffix),
                        direct_passthrough=True)
    response.headers['Content-Disposition'] = content_disposition(grant.filename)
    response.content_length = stream.size
    return response
