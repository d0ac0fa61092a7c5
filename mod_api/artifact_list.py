"""The artifacts of a run (``GET /runs/{run_id}/artifacts``): which files it has, where they are, how to get them.

Which artifacts (paths of SCHEMA.md §6.1; regression tests are those of the run's scope, docs/verdicts.md §1):

* ``build_log``: the run log ``LogFiles/<run id>.txt``.
* ``sample_output``: each output the worker uploaded (a result file with ``got`` not NULL):
  ``TestResults/<got><correct_extension>`` (the extension the platform's diff reads it with, §5.4).
* ``expected_output``: each reference file of an output of the scope: ``TestResults/<correct><correct_extension>``.
* ``diff``: one per output whose verdict is ``diff_mismatch`` (:func:`mod_api.verdicts.judge`). A diff is not a
  stored file but the API's ``GET /runs/{run_id}/samples/{sample_id}/diff?regression_id=&output_id=`` (JSON, same
  ``results:read`` scope): its ``storage_status`` is the weaker of its two files' (missing when either is), its
  ``download_url`` is that endpoint's URL when both files are available, the test has a media sample and the API
  serves the route; ``size_bytes`` is null (computed on request).
* ``media_info``: ``TestFiles/media/<sha>.xml`` of each media sample of the scope.
* ``binary``: the CCExtractor build the VM was given, ``vm_data/<platform>-<run id>/unsafe-ccextractor/
  ccextractor.zip``, listed only when stored (the platform keeps it only for runs it prepared a VM for).

A file named by several rows (two outputs sharing a reference, the same ``got`` twice) is listed once; its
``sample_id`` is the one sample it belongs to, null when it belongs to several. A file name that is not a safe
repository path is listed ``missing`` without being looked up.

Order and pages: by type (the contract's enum order above), then path, then ``artifact_id``
(``<type>-<24 hex of SHA-256 of the path>``; of ``diff/<regression id>/<output id>`` for a diff: stable across
requests). The list of a run is bounded by its scope, so it is built in memory in :data:`QUERY_COUNT` queries and
paged there; only the page's files (and the binary, whose presence decides whether it is listed) are looked up, in
one :meth:`Storage.status_many` call (concurrent, cached per request, within its time budget).

``download_url`` only for a file found in some backend (:meth:`Storage.download_url`: a signed GCS URL, or the
API's own short-lived signed URL); null when missing.
"""
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select

from mod_api.content_types import content_type_for
from mod_api.db import db
from mod_api.errors import not_found
from mod_api.legacy import RegressionTest, RegressionTestOutput, Sample, Test
from mod_api.media_info import media_info_path
from mod_api.run_data import JUDGED_QUERY_COUNT as FACTS_QUERY_COUNT
from mod_api.run_data import load_judged
from mod_api.storage import ObjectStatus, Storage, UnsafePath, safe_filename, safe_relative
from mod_api.verdicts import OutputStatus, SampleFacts, SampleVerdict

TYPES = ('build_log', 'sample_output', 'expected_output', 'diff', 'media_info', 'binary')
STATUS_ORDER = ('missing', 'degraded', 'ok')
DIFF_CONTENT_TYPE = 'application/json'
QUERY_COUNT = 1 + FACTS_QUERY_COUNT + 2
CACHED_FILES = 16384  # candidates of about a dozen big runs; a few MB


@dataclass(frozen=True)
class Candidate:
    """An artifact the run has, before its storage is checked.

    ``identity`` names it (a path; ``diff/<regression id>/<output id>`` for a diff). ``paths`` are the repository
    files it depends on (None for a name that is not a safe path): one, or a diff's expected and actual outputs.
    """

    type: str
    identity: str
    paths: tuple[str | None, ...]
    filename: str
    sample_ids: frozenset[int | None]
    regression_id: int | None = None
    output_id: int | None = None

    @cached_property
    def artifact_id(self) -> str:
        """``<type>-<24 hex digits of the identity's SHA-256>``."""
        return f'{self.type}-{hashlib.sha256(self.identity.encode("utf-8")).hexdigest()[:24]}'

    @property
    def sample_id(self) -> int | None:
        """The one media sample the artifact belongs to (None: of the run, or of several samples)."""
        return next(iter(self.sample_ids)) if len(self.sample_ids) == 1 else None

    @cached_property
    def content_type(self) -> str:
        """The media type of the file, by its name's extension (a diff's is set by the page, not here)."""
        return content_type_for(PurePosixPath(self.filename).suffix)

    @cached_property
    def sort_key(self) -> tuple[int, str, str]:
        """Type (enum order), then path, then artifact id."""
        return TYPES.index(self.type), self.paths[-1] or self.identity, self.artifact_id


@dataclass(frozen=True)
class RunArtifacts:
    """Every artifact of a run that needs no storage check to be listed (sorted), and the binary's candidate."""

    run_id: int
    listed: tuple[Candidate, ...]
    binary: Candidate


@lru_cache(maxsize=CACHED_FILES)
def _file(kind: str, path: str, sample_id: int | None) -> Candidate:
    """The candidate of one repository file, offered under its own name.

    Cached: a run's files are the same at every read of its artifacts, and checking a path, naming the file and
    digesting its id (:attr:`Candidate.artifact_id`, computed once per candidate) is most of a listing's time.
    """
    safe = _safe(path)
    name = path.rpartition('/')[2] if safe is not None else PurePosixPath(path).name  # the same for a safe path
    return Candidate(kind, path, (safe,), safe_filename(name), frozenset({sample_id}))


def _safe(path: str) -> str | None:
    """``path`` when it is a safe repository path (then it can be looked up), else None."""
    try:
        safe_relative(path)
    except UnsafePath:
        return None
    return path


def load_run_artifacts(run_id: int) -> RunArtifacts:
    """The artifacts of run ``run_id`` (404 when it does not exist), in :data:`QUERY_COUNT` queries."""
    platform = db.session.scalar(select(Test.platform).where(Test.id == run_id))
    if platform is None:
        raise not_found('run', run_id)
    facts, verdict = load_judged([run_id])[run_id]
    scope = [sample.regression_id for sample in facts.samples]
    samples = {regression_id: (sample_id, sha) for regression_id, sample_id, sha in db.session.execute(
        select(RegressionTest.id, Sample.id, Sample.sha).join(Sample, Sample.id == RegressionTest.sample_id)
        .where(RegressionTest.id.in_(scope))).tuples()}
    output_ids = {output.id for sample in facts.samples for output in sample.outputs}
    output_ids |= {file.output.id for sample in facts.samples for file in sample.files}
    extensions = dict(db.session.execute(select(RegressionTestOutput.id, RegressionTestOutput.correct_extension)
                                         .where(RegressionTestOutput.id.in_(output_ids))).tuples().all())
    candidates = [_file('build_log', f'LogFiles/{run_id}.txt', None)]
    for sample, judged in zip(facts.samples, verdict.samples):
        sample_id = samples.get(sample.regression_id, (None, None))[0]
        candidates += _outputs(sample, judged, sample_id, extensions)
    candidates += [_file('media_info', media_info_path(sha), owner) for owner, sha in set(samples.values()) if sha]
    binary = _file('binary', f'vm_data/{platform.value}-{run_id}/unsafe-ccextractor/ccextractor.zip', None)
    return RunArtifacts(run_id, tuple(sorted(_merged(candidates), key=lambda item: item.sort_key)), binary)


def _outputs(sample: SampleFacts, judged: SampleVerdict, sample_id: int | None,
             extensions: dict[int, str]) -> list[Candidate]:
    """The sample_output, expected_output and diff candidates of one regression test of the run."""
    def result_path(name: str, output_id: int) -> str:
        return f'TestResults/{name}{extensions.get(output_id, "")}'

    found = [_file('sample_output', result_path(file.got, file.output.id), sample_id)
             for file in sample.files if file.got is not None]
    found += [_file('expected_output', result_path(output.correct, output.id), sample_id)
              for output in sample.outputs if output.correct]
    differing = {item.output_id for item in judged.outputs if item.status is OutputStatus.DIFF_MISMATCH}
    for file in sample.files:
        if file.output.id not in differing or file.matched or file.got is None:
            continue
        differing.discard(file.output.id)  # one diff per output
        correct = file.output.correct
        expected = _safe(result_path(correct, file.output.id)) if correct else None
        actual = _safe(result_path(file.got, file.output.id))
        identity = f'diff/{sample.regression_id}/{file.output.id}'
        filename = f'diff_regression{sample.regression_id}_output{file.output.id}.json'
        found.append(Candidate('diff', identity, (expected, actual), filename, frozenset({sample_id}),
                               sample.regression_id, file.output.id))
    return found


def _merged(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per (type, identity), with the sample ids of all rows naming it."""
    merged: dict[tuple[str, str], Candidate] = {}
    for candidate in candidates:
        key = (candidate.type, candidate.identity)
        known = merged.get(key)
        merged[key] = candidate if known is None else replace(known, sample_ids=known.sample_ids | candidate.sample_ids)
    return list(merged.values())


def page_of_artifacts(artifacts: RunArtifacts, kind: str | None, limit: int, offset: int, storage: Storage,
                      api_url: Callable[[str], str], diff_url: Callable[[Candidate], str | None]
                      ) -> tuple[list[dict[str, Any]], int]:
    """The Artifact documents of one page (``kind``: the type filter) and how many artifacts match in all."""
    chosen = list(artifacts.listed) if kind is None else [item for item in artifacts.listed if item.type == kind]
    wanted = [path for item in chosen[offset:offset + limit] for path in item.paths if path is not None]
    binary = artifacts.binary if kind in (None, 'binary') else None
    binary_path = binary.paths[0] if binary is not None else None
    statuses = storage.status_many(wanted + ([binary_path] if binary_path else [])) if wanted or binary_path else {}
    if binary is not None and binary_path is not None and statuses[binary_path].present:
        chosen.append(binary)
    return [_document(artifacts.run_id, item, statuses, storage, api_url, diff_url)
            for item in chosen[offset:offset + limit]], len(chosen)


def _document(run_id: int, item: Candidate, statuses: dict[str, ObjectStatus], storage: Storage,
              api_url: Callable[[str], str], diff_url: Callable[[Candidate], str | None]) -> dict[str, Any]:
    """The contract's Artifact of one checked candidate."""
    found = [statuses[path] if path is not None else None for path in item.paths]
    status = min((checked.storage_status if checked is not None else 'missing' for checked in found),
                 key=STATUS_ORDER.index)
    document: dict[str, Any] = {
        'artifact_id': item.artifact_id, 'run_id': run_id, 'sample_id': item.sample_id, 'type': item.type,
        'filename': item.filename, 'storage_status': status,
    }
    if item.type == 'diff':
        return {**document, 'content_type': DIFF_CONTENT_TYPE, 'size_bytes': None,
                'download_url': diff_url(item) if status != 'missing' else None}
    checked = found[0]
    return {**document, 'content_type': item.content_type,
            'size_bytes': checked.size if checked is not None else None,
            'download_url': storage.download_url(checked, item.filename, api_url) if checked is not None else None}
