"""A completed run with one failing regression test of each kind, for the test-error and error-summary tests.

Built through :mod:`mod_api_tests.runs_data` (shared builders); see :func:`failing_run` for what fails and why.
"""
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.legacy import RegressionTest, RegressionTestOutput, Sample
from mod_api_tests import factories
from mod_api_tests.runs_data import (
    DONE,
    OTHER,
    REF,
    add_category,
    add_customized,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
)

# DONE's rows get BASE_TIME + 0, 1, 2 minutes: the last one (completed) is the run's result time.
FINISHED_AT = '2024-05-17T12:02:00Z'
FINISHED = datetime(2024, 5, 17, 12, 2)


@dataclass
class FailingRun:
    """The run and the regression tests, outputs and samples of :func:`failing_run`."""

    run_id: int
    tests: dict[str, RegressionTest]
    outputs: dict[str, RegressionTestOutput]
    samples: dict[str, Sample]


def failing_run() -> FailingRun:
    """A completed run over seven regression tests (ids ascending in this order), committed.

    * ``passed``   — matches: no error.
    * ``exit``     — exit code 3, expected 0, no output file: exit_code_mismatch + missing_output (sample ``shared``).
    * ``crash``    — exit code -11 and a differing file: exit_code_mismatch (critical) + diff_mismatch (warning).
    * ``diff``     — one output matches, the other differs: diff_mismatch (sample ``shared``; linked to Gamma, then
      Beta: its first category by id is Beta).
    * ``missing``  — nothing reported; one required output and one with a NULL ignore flag: one missing_output.
    * ``partial``  — one of two required outputs reported and matched: no error (missing_expected is not one).
    * ``orphan``   — its sample was deleted (sample_id NULL), exit code 1: exit_code_mismatch without a sample (Beta).

    The others are in category Alpha.
    """
    alpha, beta, gamma = add_category('Alpha'), add_category('Beta'), add_category('Gamma')
    shared = add_sample(original_name='shared clip')
    samples = {'shared': shared, 'crash': add_sample(original_name='crashing clip'),
               'missing': add_sample(original_name='silent clip'), 'passed': add_sample(original_name='good clip'),
               'partial': add_sample(original_name='partial clip')}
    tests: dict[str, RegressionTest] = {}
    outputs: dict[str, RegressionTestOutput] = {}
    tests['passed'], (outputs['passed'],) = add_regression_test(alpha, outputs=((REF, False),),
                                                                sample=samples['passed'])
    tests['exit'], (outputs['exit'],) = add_regression_test(alpha, outputs=((REF, False),), sample=shared,
                                                            command='-autoprogram -out=srt')
    tests['crash'], (outputs['crash'],) = add_regression_test(alpha, outputs=((REF, False),), sample=samples['crash'])
    tests['diff'], (outputs['diff_ok'], outputs['diff']) = add_regression_test(
        gamma, beta, outputs=((REF, False), (REF, False)), sample=shared)
    tests['missing'], (outputs['missing'], outputs['missing_null']) = add_regression_test(
        alpha, outputs=((REF, False), (REF, None)), sample=samples['missing'])
    tests['partial'], (outputs['partial'], _) = add_regression_test(alpha, outputs=((REF, False), (REF, False)),
                                                                    sample=samples['partial'])
    tests['orphan'], _ = add_regression_test(beta, expected_rc=0)
    run = add_run(progress=DONE)
    add_result(run, tests['passed'])
    add_result_file(run, tests['passed'], outputs['passed'])
    add_result(run, tests['exit'], exit_code=3, expected_rc=0)
    add_result(run, tests['crash'], exit_code=-11, expected_rc=0)
    add_result_file(run, tests['crash'], outputs['crash'], got=OTHER)
    add_result(run, tests['diff'])
    add_result_file(run, tests['diff'], outputs['diff_ok'])
    add_result_file(run, tests['diff'], outputs['diff'], got=OTHER)
    add_result(run, tests['partial'])
    add_result_file(run, tests['partial'], outputs['partial'])
    add_result(run, tests['orphan'], exit_code=1, expected_rc=0)
    db.session.commit()
    return FailingRun(run.id, tests, outputs, samples)


def run_with_diffs(size: int) -> int:
    """A completed run over ``size`` tests, each with its own sample and a differing output (one error each)."""
    category = add_category(f'Sized {size}')
    run = add_run(progress=DONE)
    for _ in range(size):
        test, (output,) = add_regression_test(category, outputs=((REF, False),), sample=add_sample())
        add_customized(run, test.id)
        add_result(run, test)
        add_result_file(run, test, output, got=OTHER)
    db.session.commit()
    return run.id


def results_reader() -> dict[str, str]:
    """Headers of a plain user's token holding results:read only (commits the session)."""
    db.session.commit()
    return factories.bearer(factories.make_token(factories.make_user('user'), ['results:read']))


def get_page(client: FlaskClient, url: str, headers: dict[str, str], schema: Any, **params: Any) -> dict[str, Any]:
    """A 200 page, checked against its response schema."""
    response = client.get(url, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert schema().validate(body) == {}, schema().validate(body)
    return body
