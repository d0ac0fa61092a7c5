"""Builders and HTTP helpers of the baseline-approval tests.

Runs are built with the shared builders of :mod:`mod_api_tests.runs_data`; every builder here commits, so requests
(and threads) see the rows. Hashes: REF is every reference, OTHER the actual output the approvals accept.
"""
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from mod_api.db import db
from mod_api.legacy import Category, RegressionTest, RegressionTestOutput, RegressionTestOutputFiles, Sample, User
from mod_api.legacy import Test as Run
from mod_api.models import BaselineApproval
from mod_api_tests.run_writes_data import caller, fresh
from mod_api_tests.runs_data import (
    DONE,
    OTHER,
    REF,
    add_category,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
)

REASON = 'Decoder now keeps the roll-up timing; new output checked by hand.'
URL = '/api/v1/runs/{}/samples/{}/baseline-approval'
APPROVALS = '/api/v1/baseline-approvals'


@dataclass(frozen=True)
class Mismatch:
    """A completed run in which one regression test of a sample fails on one output (``got`` = OTHER)."""

    run_id: int
    sample_id: int
    regression_id: int
    output_id: int

    def body(self, **extra: Any) -> dict[str, Any]:
        """A valid BaselineApprovalRequest for the mismatching output, with ``extra`` fields."""
        return {'regression_id': self.regression_id, 'output_id': self.output_id, 'reason': REASON, **extra}


def add_test_with_output(category: Category, sample: Sample, extension: str = '.srt',
                         expected_filename: str | None = '', ignore: bool | None = False
                         ) -> tuple[RegressionTest, RegressionTestOutput]:
    """A regression test of ``sample`` with one output (reference REF) named by ``extension``/``expected_filename``."""
    regression_test, (output,) = add_regression_test(category, outputs=[(REF, ignore)], sample=sample)
    output.correct_extension = extension
    output.expected_filename = expected_filename
    db.session.flush()
    return regression_test, output


def add_finished_run(*results: tuple[RegressionTest, RegressionTestOutput, str | None]) -> Run:
    """A completed run with a passing exit code and one result file per (test, output, got)."""
    run = add_run(progress=DONE)
    for regression_test, output, got in results:
        add_result(run, regression_test)
        add_result_file(run, regression_test, output, got)
    return run


def general() -> Category:
    """The category ``General``, created when absent."""
    return db.session.scalars(select(Category).where(Category.name == 'General')).first() or add_category('General')


def mismatch() -> Mismatch:
    """A new completed run with one failing regression test of a new sample (committed)."""
    sample = add_sample()
    regression_test, output = add_test_with_output(general(), sample)
    run = add_finished_run((regression_test, output, OTHER))
    db.session.commit()
    return Mismatch(run.id, sample.id, regression_test.id, output.id)


def without_email(user: User) -> User:
    """``user`` with a NULL e-mail address (the legacy column is nullable)."""
    user.email = None
    db.session.commit()
    return user


def ask(client: FlaskClient, headers: dict[str, str], case: Mismatch, **body: Any) -> Any:
    """POST the baseline-approval request of ``case`` (``body`` overrides fields; a None value drops the field)."""
    payload = {key: value for key, value in {**case.body(), **body}.items() if value is not None}
    return client.post(URL.format(case.run_id, case.sample_id), headers=headers, json=payload)


def review(client: FlaskClient, headers: dict[str, str], approval_id: str, decision: str = 'approve',
           **extra: Any) -> Any:
    """POST a review of ``approval_id``."""
    return client.post(f'{APPROVALS}/{approval_id}/review', headers=headers, json={'decision': decision, **extra})


def requested(client: FlaskClient, case: Mismatch, **body: Any) -> tuple[str, dict[str, str]]:
    """A contributor's pending approval of ``case``: its id, and an admin's headers who may review it."""
    _, contributor = caller('contributor')
    response = ask(client, contributor, case, **body)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()['approval_id'], caller('admin')[1]


def variants_of(*output_ids: int) -> list[tuple[int, str]]:
    """(output id, file_hashes) of every variant row of these outputs, in a fresh transaction."""
    fresh()
    files = RegressionTestOutputFiles
    return sorted(db.session.execute(select(files.regression_test_output_id, files.file_hashes)
                                     .where(files.regression_test_output_id.in_(output_ids))).tuples())


def approvals() -> list[BaselineApproval]:
    """Every approval row, oldest first, in a fresh transaction."""
    fresh()
    return list(db.session.scalars(select(BaselineApproval).order_by(BaselineApproval.id)))
