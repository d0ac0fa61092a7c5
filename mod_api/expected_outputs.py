"""OutputFile references to the expected (reference) output files of regression tests, with their storage status.

A reference names a file without carrying it: ``encoding`` ``base64`` and ``content`` ``''``; the bytes are served
by ``GET /runs/{run_id}/samples/{sample_id}/expected``. ``run_id`` is null (a definition is tied to no run).

* The file is ``TestResults/<correct><correct_extension>`` (SCHEMA.md §6.1), taken as stored: the legacy installer's
  extension without its dot (``srt``) names the file the platform itself would look for.
* ``filename``: that file name made fit for a download (:func:`mod_api.storage.safe_filename`); ``output_<id>``
  when ``correct`` is NULL or empty (there is no reference file).
* ``content_type``: :func:`mod_api.content_types.content_type_for` of ``correct_extension``.
* ``sha256``: ``correct`` when it is a SHA-256 digest (the platform names reference files by their content hash),
  left out otherwise.
* ``storage_status``: every file of a page is checked in one :meth:`Storage.status_many` call (concurrent, within
  its time budget: a check unanswered by then counts as absent). A reference without a file, or whose name is not
  a safe repository path, is ``missing`` without being looked up.
"""
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mod_api.content_types import content_type_for
from mod_api.result_lookup import output_path
from mod_api.storage import Storage, safe_filename

_SHA256 = re.compile(r'[0-9a-fA-F]{64}')


@dataclass(frozen=True)
class ExpectedOutput:
    """One ``regression_test_output`` row, with the ids of its regression test and media sample."""

    output_id: int
    regression_id: int
    sample_id: int
    correct: str | None
    extension: str

    @property
    def path(self) -> str | None:
        """Repository path of the reference file, None when there is none or its name is not a safe path."""
        return output_path(self.correct, self.extension)


def references(outputs: Iterable[ExpectedOutput], storage: Storage) -> dict[int, dict[str, Any]]:
    """The OutputFile reference of each output, keyed by output id (one batched storage check for all)."""
    outputs = list(outputs)
    statuses = storage.status_many({output.path for output in outputs if output.path is not None})
    found = {}
    for output in outputs:
        path = output.path
        reference: dict[str, Any] = {
            'run_id': None,
            'sample_id': output.sample_id,
            'regression_id': output.regression_id,
            'output_id': output.output_id,
            'filename': safe_filename(f'{output.correct}{output.extension}' if output.correct else '',
                                      default=f'output_{output.output_id}'),
            'content_type': content_type_for(output.extension),
            'encoding': 'base64',
            'content': '',
            'storage_status': statuses[path].storage_status if path is not None else 'missing',
        }
        if output.correct is not None and _SHA256.fullmatch(output.correct):
            reference['sha256'] = output.correct
        found[output.output_id] = reference
    return found
