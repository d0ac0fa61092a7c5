"""The contract's RegressionTest documents: regression test definitions, filtered and paged in SQL.

Which tests. Every ``regression_test`` row with a media sample (``sample_id`` is required; a test whose sample was
deleted has NULL there, SCHEMA.md §3), categorised or not, active or not, by id ascending.

Filters, all combined with AND and applied only when given (``get_customized_regressiontests()`` ignores ``active``,
so the API never applies it on its own): ``active`` true keeps the tests whose flag is true, false the others (a
NULL flag counts as inactive, as the platform's queueing treats it); ``category`` the name of the test's first
existing category by id, ignoring case (the ``category`` field shows that same category, as run samples do);
``tag`` a whole tag name of the test's sample, ignoring case; ``sample_id`` the media sample.

Fields. ``command`` cut to 500 characters, ``active`` (NULL → false), ``category`` (left out when the test has no
category or it has no name; cut to 100), ``tags`` (as run samples: names of at most 50 characters, the first 50 by
name), ``expected_outputs``: OutputFile references (:mod:`mod_api.expected_outputs`) of the test's outputs, the
first 20 by output id. A page costs :data:`QUERY_COUNT` queries whatever its size, plus one batched storage check.
"""
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Select, false, func, or_, select, true

from mod_api.db import db
from mod_api.expected_outputs import ExpectedOutput, references
from mod_api.legacy import RegressionTest, RegressionTestOutput
from mod_api.sample_query import has_tag
from mod_api.sample_view import MAX_CATEGORY, MAX_COMMAND, MAX_OUTPUTS, in_first_category, load_details

QUERY_COUNT = 1 + 1 + 3 + 1  # count, page, details (sample_view.load_details), outputs


@dataclass(frozen=True)
class RegressionFilters:
    """The filters of ``GET /regression-tests`` (None: not given)."""

    active: bool | None = None
    category: str | None = None
    tag: str | None = None
    sample_id: int | None = None


def _matching(filters: RegressionFilters) -> Select:
    """Ids and ``active`` flags of the listable regression tests matching ``filters``."""
    statement = select(RegressionTest.id, RegressionTest.active).where(RegressionTest.sample_id.isnot(None))
    if filters.active is True:
        statement = statement.where(RegressionTest.active == true())
    elif filters.active is False:
        statement = statement.where(or_(RegressionTest.active == false(), RegressionTest.active.is_(None)))
    if filters.sample_id is not None:
        statement = statement.where(RegressionTest.sample_id == filters.sample_id)
    if filters.tag is not None:
        statement = statement.where(has_tag(filters.tag, RegressionTest.sample_id))
    if filters.category is not None:
        statement = in_first_category(statement, filters.category)
    return statement


def list_regression_tests(filters: RegressionFilters, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of RegressionTests matching ``filters`` by id, and how many match in all."""
    matching = _matching(filters)
    total = db.session.scalar(select(func.count()).select_from(matching.subquery('matching'))) or 0
    page = db.session.execute(matching.order_by(RegressionTest.id).limit(limit).offset(offset)).tuples().all()
    ids = [regression_id for regression_id, _ in page]
    details = load_details(RegressionTest.id.in_(ids))
    outputs: dict[int, list[ExpectedOutput]] = defaultdict(list)
    for output_id, regression_id, correct, extension in db.session.execute(
            select(RegressionTestOutput.id, RegressionTestOutput.regression_id, RegressionTestOutput.correct,
                   RegressionTestOutput.correct_extension)
            .where(RegressionTestOutput.regression_id.in_(ids)).order_by(RegressionTestOutput.id)).tuples():
        if regression_id in details and len(outputs[regression_id]) < MAX_OUTPUTS:
            outputs[regression_id].append(ExpectedOutput(output_id, regression_id, details[regression_id].sample_id,
                                                         correct, extension or ''))
    found = references([output for listed in outputs.values() for output in listed],
                       current_app.extensions['mod_api'].storage)
    documents = []
    for regression_id, active in page:
        if regression_id not in details:
            continue  # its sample was deleted between the two queries
        test = details[regression_id]
        document: dict[str, Any] = {
            'regression_id': regression_id,
            'sample_id': test.sample_id,
            'command': test.command[:MAX_COMMAND],
            'active': bool(active),
            'tags': list(test.tags),
            'expected_outputs': [found[output.output_id] for output in outputs[regression_id]],
        }
        if test.category is not None:
            document['category'] = test.category[:MAX_CATEGORY]
        documents.append(document)
    return documents, total
