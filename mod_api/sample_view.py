"""The contract's RunSample documents of one run, in a constant number of queries.

Which regression tests are samples of a run and what their statuses and ``outputs`` are come only from
:func:`mod_api.run_data.load_run_facts` and :func:`mod_api.verdicts.judge` (``docs/verdicts.md`` §1, §4, §5).
This module adds what the verdicts do not carry (media sample, command, category, tags), picks the entries a
request asks for, and explains each status in ``result_message``.

Cost, and where filtering happens. A run's scope is bounded by the number of regression tests, and the status
filter, the order and an exact ``total`` need the verdict of every in-scope test, so the facts of the whole run are
loaded (``run_data.QUERY_COUNT`` queries: ``run_data`` cannot load part of a run, so no filter can save them) and
ordered, filtered and paged in memory. The ``name`` / ``tag`` / ``category`` narrowing runs in SQL, as one query
returning only the ids of the regression tests that are listable and match: names, tags and categories are never
loaded to be filtered. The descriptive columns are then loaded for the page only (3 queries). A list costs
:data:`LIST_QUERY_COUNT` queries and one sample :data:`SAMPLE_QUERY_COUNT`, whatever the scope and the page size.

Rules on points the contract leaves open:

* A regression test without a media sample (``sample_id`` NULL: the platform's ORM delete of a sample nulls it,
  SCHEMA.md §3) has no RunSample (``sample_id`` is required) and is not listed; the run summary still counts it.
* ``category``: the regression test's first existing category by id (the one the platform's edit form shows);
  omitted when that category has no name. The ``category`` filter matches that same category, so a filter and the
  field never disagree.
* ``name`` is a substring of the sample's original name, ``tag`` and ``category`` whole names; all three ignore
  case (ASCII letters on every backend; MariaDB's collation may also fold accents).
* ``expected_exit_code``: the result's ``expected_rc`` snapshot (what the verdict used), else the regression test's
  current ``expected_rc``. ``runtime_ms``: null when the stored runtime is negative.
* Contract bounds: ``command`` is cut to 500 characters, ``category`` to 100, ``outputs`` to the first 20 by output
  id; tag names longer than 50 characters are left out (a cut name would name no tag), then the first 50 by name.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import aliased

from mod_api.db import db
from mod_api.errors import ApiError, not_found
from mod_api.legacy import Category, RegressionTest, Sample, Tag, Test, regressionTestLinkTable, sample_tag_association
from mod_api.run_data import JUDGED_QUERY_COUNT, load_judged
from mod_api.verdicts import (
    OutputStatus,
    OutputVerdict,
    RunFacts,
    RunVerdict,
    SampleFacts,
    SampleStatus,
    SampleVerdict,
)

LIST_QUERY_COUNT = 1 + JUDGED_QUERY_COUNT + 1 + 3
SAMPLE_QUERY_COUNT = 1 + JUDGED_QUERY_COUNT + 3
MAX_COMMAND, MAX_CATEGORY, MAX_TAG, MAX_TAGS, MAX_OUTPUTS, MAX_MESSAGE = 500, 100, 50, 50, 20, 500
LISTED_OUTPUT_IDS = 5


@dataclass(frozen=True)
class Judged:
    """One in-scope regression test of a run: its facts and its verdict."""

    facts: SampleFacts
    verdict: SampleVerdict

    @property
    def regression_id(self) -> int:
        """The regression test's id."""
        return self.facts.regression_id


@dataclass(frozen=True)
class Details:
    """What a RunSample shows of a regression test beyond its verdict."""

    sample_id: int
    command: str
    expected_rc: int | None
    category: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Filters:
    """The list filters of ``GET /runs/{run_id}/samples`` (None: not given)."""

    status: str | None = None
    name: str | None = None
    tag: str | None = None
    category: str | None = None


# --- loading -------------------------------------------------------------------------------------------------------

def judged_samples(run_id: int) -> tuple[Judged, ...]:
    """Every in-scope regression test of the run with its verdict, by regression id; 404 for an unknown run.

    The cancellation record is not passed to ``load_run_facts``: it only tells a cancelled run from an aborted one,
    which no sample status depends on (a sample only depends on whether the run is finished).
    """
    if db.session.scalar(select(Test.id).where(Test.id == run_id)) is None:
        raise not_found('run', run_id)
    return judged_of(*load_judged([run_id])[run_id])


def judged_of(facts: RunFacts, verdict: RunVerdict) -> tuple[Judged, ...]:
    """Each in-scope regression test of a run paired with its verdict (``verdict`` is ``judge(facts)``)."""
    return tuple(Judged(sample, judged) for sample, judged in zip(facts.samples, verdict.samples))


def load_details(condition: ColumnElement[bool]) -> dict[int, Details]:
    """Details of the regression tests with a sample that satisfy ``condition``, by regression id (3 queries)."""
    rows = db.session.execute(
        select(RegressionTest.id, RegressionTest.sample_id, RegressionTest.command, RegressionTest.expected_rc)
        .where(RegressionTest.sample_id.isnot(None), condition)).tuples().all()
    ids = [row[0] for row in rows]
    categories = _first_categories(ids)
    tags = _tags(ids)
    return {regression_id: Details(sample_id, command or '', expected_rc, categories.get(regression_id),
                                   tags.get(regression_id, ()))
            for regression_id, sample_id, command, expected_rc in rows}


def _first_categories(regression_ids: Sequence[int]) -> dict[int, str | None]:
    """Name of each test's first existing category by id (None when it has no name)."""
    link = regressionTestLinkTable
    first: dict[int, tuple[int, str | None]] = {}
    for regression_id, category_id, name in db.session.execute(
            select(link.c.regression_id, Category.id, Category.name).join(Category, Category.id == link.c.category_id)
            .where(link.c.regression_id.in_(regression_ids))).tuples():
        if regression_id not in first or category_id < first[regression_id][0]:
            first[regression_id] = (category_id, name)
    return {regression_id: name for regression_id, (_, name) in first.items()}


def _tags(regression_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Names of the tags of each test's sample that fit the contract (at most 50 characters), the first 50 by name."""
    link = sample_tag_association
    names: dict[int, set[str]] = {}
    for regression_id, name in db.session.execute(
            select(RegressionTest.id, Tag.name).join(link, link.c.sample_id == RegressionTest.sample_id)
            .join(Tag, Tag.id == link.c.tag_id).where(RegressionTest.id.in_(regression_ids))).tuples():
        if len(name) <= MAX_TAG:
            names.setdefault(regression_id, set()).add(name)
    return {regression_id: tuple(sorted(found)[:MAX_TAGS]) for regression_id, found in names.items()}


def matching_ids(filters: Filters) -> set[int]:
    """Ids of the regression tests that have a sample and match the name, tag and category filters (1 query)."""
    statement: Select = select(RegressionTest.id).where(RegressionTest.sample_id.isnot(None))
    if filters.name is not None:
        statement = statement.where(exists().where(
            Sample.id == RegressionTest.sample_id,
            func.lower(Sample.original_name).contains(filters.name.lower(), autoescape=True)))
    if filters.tag is not None:
        link = sample_tag_association
        statement = statement.where(exists().where(
            link.c.sample_id == RegressionTest.sample_id, Tag.id == link.c.tag_id,
            func.lower(Tag.name) == filters.tag.lower()))
    if filters.category is not None:
        statement = in_first_category(statement, filters.category)
    return set(db.session.scalars(statement))


def in_first_category(statement: Select, name: str) -> Select:
    """``statement`` kept to the tests whose first existing category (by id) is named ``name`` (ignoring case)."""
    link, linked, named = regressionTestLinkTable, aliased(Category), aliased(Category)
    first = (select(link.c.regression_id, func.min(linked.id).label('category_id'))
             .join(linked, linked.id == link.c.category_id).group_by(link.c.regression_id).subquery('first_category'))
    return (statement.join(first, first.c.regression_id == RegressionTest.id)
            .join(named, named.id == first.c.category_id).where(func.lower(named.name) == name.lower()))


# --- reads ---------------------------------------------------------------------------------------------------------

def list_run_samples(run_id: int, filters: Filters, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the run's RunSamples matching ``filters``, by regression id, and how many match in all."""
    judged = judged_samples(run_id)
    matching = matching_ids(filters)
    chosen = [entry for entry in judged if entry.regression_id in matching
              and filters.status in (None, entry.verdict.status.value)]
    page = chosen[offset:offset + limit]
    details = load_details(RegressionTest.id.in_([entry.regression_id for entry in page]))
    # a test whose sample was deleted between the two queries is left out of the page
    return [run_sample_document(run_id, entry, details[entry.regression_id]) for entry in page
            if entry.regression_id in details], len(chosen)


def get_run_sample(run_id: int, sample_id: int, regression_id: int | None) -> dict[str, Any]:
    """The RunSample of media sample ``sample_id`` in the run; ``regression_id`` picks one of its tests.

    404 for an unknown run, for a sample without a regression test in the run's scope, and for a ``regression_id``
    that is not one of them; 409 ``ambiguous_sample`` (listing the candidates) when several match and none is picked.
    """
    judged = {entry.regression_id: entry for entry in judged_samples(run_id)}
    details = {key: value for key, value in load_details(RegressionTest.sample_id == sample_id).items()
               if key in judged}
    if not details:
        raise not_found('sample', sample_id)
    candidates = sorted(details)
    if regression_id is None and len(candidates) > 1:
        raise ApiError(409, 'ambiguous_sample',
                       f'Sample {sample_id} has {len(candidates)} regression tests in run {run_id}: pick one with '
                       f'regression_id.', {'sample_id': sample_id, 'regression_ids': candidates})
    chosen = candidates[0] if regression_id is None else regression_id
    if chosen not in details:
        raise ApiError(404, 'not_found',
                       f'Regression test {chosen} is not a regression test of sample {sample_id} in run {run_id}.',
                       {'resource': 'regression_test', 'id': chosen, 'regression_ids': candidates})
    return run_sample_document(run_id, judged[chosen], details[chosen])


# --- documents -----------------------------------------------------------------------------------------------------

def run_sample_document(run_id: int, entry: Judged, details: Details) -> dict[str, Any]:
    """The contract's RunSample of one judged regression test."""
    result = entry.facts.result
    document: dict[str, Any] = {
        'run_id': run_id,
        'sample_id': details.sample_id,
        'regression_id': entry.regression_id,
        'command': details.command[:MAX_COMMAND],
        'status': entry.verdict.status.value,
        'runtime_ms': result.runtime if result is not None and (result.runtime or 0) >= 0 else None,
        'exit_code': result.exit_code if result is not None else None,
        'expected_exit_code': result.expected_rc if result is not None else details.expected_rc,
        'result_message': result_message(entry),
        'tags': list(details.tags),
        'outputs': [_output_document(item) for item in entry.verdict.outputs[:MAX_OUTPUTS]],
    }
    if details.category is not None:
        document['category'] = details.category[:MAX_CATEGORY]
    return document


def _output_document(item: OutputVerdict) -> dict[str, Any]:
    return {'output_id': item.output_id, 'status': item.status.value, 'expected_hash': item.expected_hash,
            'actual_hash': item.actual_hash}


def result_message(entry: Judged) -> str:
    """A short explanation of the sample's status, from the facts the verdict was reached on."""
    facts, verdict = entry.facts, entry.verdict
    result = facts.result
    status = verdict.status
    if status is SampleStatus.FAIL:
        if result is not None and not result.exit_code_matched:
            return f'Exit code {_code(result.exit_code)}, expected {_code(result.expected_rc)}'
        phrase = _outputs_phrase(verdict, OutputStatus.DIFF_MISMATCH, 'differs', 'differ')
        return f'{phrase[0].upper()}{phrase[1:]} from every accepted baseline'
    message = {
        SampleStatus.MISSING_OUTPUT: 'No output generated but there should be',
        SampleStatus.SKIPPED: 'Not run: the run finished without a result, and no output was required',
        SampleStatus.NOT_STARTED: 'Not started: the run has not begun testing',
        SampleStatus.RUNNING: 'Running: no result yet',
    }.get(status)
    if message is not None:
        return message
    if any(file.got is not None for file in facts.files):
        message = 'Matched an accepted variant'
    elif facts.files:
        message = 'Output matched the expected baseline'
    else:
        message = f'Exit code {_code(result.exit_code if result else None)} as expected; no output to compare'
    if result is None:
        message += '; no exit code was reported'
    if any(item.status is OutputStatus.MISSING_EXPECTED for item in verdict.outputs):
        message += '; ' + _outputs_phrase(verdict, OutputStatus.MISSING_EXPECTED, 'was', 'were') + ' not reported'
    return message[:MAX_MESSAGE]


def _outputs_phrase(verdict: SampleVerdict, status: OutputStatus, singular: str, plural: str) -> str:
    """"output 12 differs" / "outputs 12, 13 and 2 more differ" for the verdict's outputs with ``status``."""
    ids = [item.output_id for item in verdict.outputs if item.status is status]
    shown = ', '.join(str(output_id) for output_id in ids[:LISTED_OUTPUT_IDS])
    more = f' and {len(ids) - LISTED_OUTPUT_IDS} more' if len(ids) > LISTED_OUTPUT_IDS else ''
    return f'output {shown} {singular}' if len(ids) == 1 else f'outputs {shown}{more} {plural}'


def _code(value: int | None) -> str:
    return 'none' if value is None else str(value)
