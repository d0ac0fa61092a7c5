"""Resolving the (run, sample, regression test, output) of a result request, and what the run holds for it.

The four ids must name one thing, checked in this order (404 ``not_found`` whose ``details.resource`` names the
first id that does not fit):

1. ``run``: the run exists.
2. ``sample``: the media sample exists.
3. ``regression_test``: the regression test exists, belongs to that sample, and is in the run's scope (the scope the
   run is judged on, :func:`mod_api.run_data.load_run_facts`: its customized tests, else every test, categorised).
4. ``output``: one of the regression test's own outputs, or an output its result files in that run compare (a file
   row may name another test's output: the platform judges it, so it is reachable, but only through that row).

Nothing is looked up by one id alone: ids of another run, sample or regression test never reach a result.

What the run holds comes from the verdict facts (the one place the platform's rules are applied,
:mod:`mod_api.verdicts`): whether a ``test_result_file`` row exists, its ``got``, whether an accepted variant equals
it, and the output's status in the run (``missing_output`` is the platform's rule for a regression test that
produced no file while a non-ignored output was expected).

File names (SCHEMA.md §6.1): the reference is ``TestResults/<correct><correct_extension>`` and the actual output
``TestResults/<got><correct_extension>``, the extension taken as stored (the legacy installer's ``srt`` without a dot
names the file the platform itself reads). A name that is empty or not a safe repository path names no file.
"""
from dataclasses import dataclass

from sqlalchemy import select

from mod_api.db import db
from mod_api.errors import ApiError, not_found
from mod_api.legacy import RegressionTest, RegressionTestOutput, Sample
from mod_api.sample_view import Judged, judged_samples
from mod_api.storage import UnsafePath, safe_relative
from mod_api.verdicts import OutputStatus, OutputVerdict, ResultFile

RESULTS_FOLDER = 'TestResults'


@dataclass(frozen=True)
class ResultOutput:
    """One output of one regression test of a media sample in a run, with what the run holds for it."""

    run_id: int
    sample_id: int
    regression_id: int
    output_id: int
    correct: str | None
    extension: str
    entry: Judged

    @property
    def file(self) -> ResultFile | None:
        """The run's ``test_result_file`` row for this output (None when the run has none)."""
        return next((file for file in self.entry.facts.files if file.output.id == self.output_id), None)

    @property
    def verdict(self) -> OutputVerdict | None:
        """The output's item in the run's verdict (None when the verdict lists none: not run yet, ignored, ...)."""
        return next((item for item in self.entry.verdict.outputs if item.output_id == self.output_id), None)

    @property
    def missing_output(self) -> bool:
        """True when the platform's missing-output rule applies to this output (its verdict is ``missing_output``)."""
        verdict = self.verdict
        return verdict is not None and verdict.status is OutputStatus.MISSING_OUTPUT

    @property
    def accepted_variant(self) -> bool:
        """True when the run's actual output differs from the reference but equals an accepted variant."""
        file = self.file
        return file is not None and file.got is not None and file.matched

    @property
    def expected_path(self) -> str | None:
        """Repository path of the reference file (None when the output names none)."""
        return output_path(self.correct, self.extension)

    @property
    def actual_path(self) -> str | None:
        """Repository path of the run's actual output (None without a row, or when it matched: ``got`` NULL)."""
        file = self.file
        return output_path(file.got, self.extension) if file is not None else None


def output_path(name: str | None, extension: str) -> str | None:
    """``TestResults/<name><extension>``, or None when ``name`` is empty or the path is not a safe repository path."""
    if not name:
        return None
    path = f'{RESULTS_FOLDER}/{name}{extension}'
    try:
        safe_relative(path)
    except UnsafePath:
        return None
    return path


def judged_regression_test(run_id: int, sample_id: int, regression_id: int) -> Judged:
    """The judged regression test of the media sample in the run's scope (404 naming the sample or the test)."""
    judged = {entry.regression_id: entry for entry in judged_samples(run_id)}
    if db.session.scalar(select(Sample.id).where(Sample.id == sample_id)) is None:
        raise not_found('sample', sample_id)
    owner = db.session.scalar(select(RegressionTest.sample_id).where(RegressionTest.id == regression_id))
    if owner != sample_id or regression_id not in judged:
        raise ApiError(404, 'not_found', f'Regression test {regression_id} is not a regression test of sample '
                                         f'{sample_id} in run {run_id}.',
                       {'resource': 'regression_test', 'id': regression_id})
    return judged[regression_id]


def resolve(run_id: int, sample_id: int, regression_id: int, output_id: int) -> ResultOutput:
    """The ResultOutput the four ids name together, or the 404 of the first id that does not fit (module doc)."""
    entry = judged_regression_test(run_id, sample_id, regression_id)
    row = db.session.execute(
        select(RegressionTestOutput.regression_id, RegressionTestOutput.correct, RegressionTestOutput.correct_extension)
        .where(RegressionTestOutput.id == output_id)).first()
    compared = {file.output.id for file in entry.facts.files}
    if row is None or (row.regression_id != regression_id and output_id not in compared):
        raise ApiError(404, 'not_found', f'Output {output_id} is not an output of regression test {regression_id} '
                                         f'in run {run_id}.', {'resource': 'output', 'id': output_id})
    return ResultOutput(run_id, sample_id, regression_id, output_id, row.correct, row.correct_extension or '', entry)
