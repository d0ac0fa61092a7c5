"""``GET /runs/{run_id}/comparison``: which run is the reference, the checks on both runs, and the documents.

The classification itself is :mod:`mod_api.comparison` (pure); rules and decisions are in ``docs/comparison.md``.

Reference. With ``against``, that run. Without it, the platform's own pick for the PR comment (SCHEMA.md §5.6,
``last_test_master``): a run with branch ``master`` (byte for byte, on every backend), type ``commit`` and the run's
platform that has a ``completed`` progress row, the one whose ``completed`` row has the highest id — never the run
itself — and, as the issue asks, of the main repository (``fork`` row of GITHUB_OWNER/GITHUB_REPOSITORY): the only
runs whose results the platform copies into ``last_passed_on_<platform>``, the cache its PR verdict reads.

Checks, in this order: 404 for an unknown run; for ``against``: 422 ``same_run`` when it is the run itself, 404
(``details.parameter`` ``against``) when no such run exists — the rule of the other ids given in query strings
(``regression_id``, ``output_id``) — and 422 ``other_platform``; then 409 ``run_not_finished`` when the run or the
reference is queued or running (no partial comparison).

Cost: a constant number of queries whatever the number of regression tests (:data:`QUERY_COUNT`): the run, the
reference, both runs' documents and facts in one :func:`mod_api.run_view.load_runs`, and where each test sits
(sample, first category) in one query.
"""
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from mod_api.comparison import Comparison, Entry, compare
from mod_api.db import db
from mod_api.error_items import RegressionPlace, regression_places
from mod_api.errors import ApiError, not_found
from mod_api.forks import main_repository, repository_condition
from mod_api.legacy import EnumSymbol, Fork, Test, TestProgress, TestStatus, TestType
from mod_api.resources.artifacts import diff_url
from mod_api.run_data import JUDGED_QUERY_COUNT as FACTS_QUERY_COUNT
from mod_api.run_view import RunView, load_runs, run_document, run_links
from mod_api.run_writes import UNFINISHED_RUN
from mod_api.sample_view import MAX_CATEGORY, MAX_OUTPUTS, Judged, judged_of
from mod_api.sql_functions import Exact

REFERENCE_BRANCH = 'master'
NO_REFERENCE = 'no_completed_master_run'
CHOSEN_BY_PLATFORM, CHOSEN_BY_REQUEST = 'platform', 'against'
# run_view.load_runs: first-seen record, runs, API records, cancellations, VM times, starters, then the facts
LOAD_RUNS_QUERY_COUNT = 6 + FACTS_QUERY_COUNT
QUERY_COUNT = 2 + LOAD_RUNS_QUERY_COUNT + 1


@dataclass(frozen=True)
class Filters:
    """The list filters (None: not given): an entry class and a category name (ignoring case)."""

    entry_class: str | None = None
    category: str | None = None

    def keep(self, entry: Entry, place: RegressionPlace | None) -> bool:
        """True when ``entry`` (in ``place``) passes both filters."""
        category = place.category if place is not None else None
        return (self.entry_class in (None, entry.kind.value)
                and (self.category is None or (category is not None and category.lower() == self.category.lower())))


def platform_reference(run_id: int, platform: EnumSymbol) -> int | None:
    """The platform's reference run for ``platform`` (module docstring), other than ``run_id``; None if none."""
    return db.session.scalar(
        select(Test.id).join(TestProgress, TestProgress.test_id == Test.id).join(Fork, Fork.id == Test.fork_id)
        .where(Exact(Test.branch) == REFERENCE_BRANCH, Test.test_type == TestType.commit, Test.platform == platform,
               TestProgress.status == TestStatus.completed, Test.id != run_id,
               repository_condition(main_repository()))
        .order_by(TestProgress.id.desc()).limit(1))


def reference_id(run_id: int, against: int | None) -> int | None:
    """The id of the reference run, after the 404/422 checks of the module docstring."""
    platform = db.session.scalar(select(Test.platform).where(Test.id == run_id))
    if platform is None:
        raise not_found('run', run_id)
    if against is None:
        return platform_reference(run_id, platform)
    if against == run_id:
        raise ApiError(422, 'same_run', f'Run {run_id} cannot be compared with itself: name another run in against, '
                                        'or omit it to use the platform\'s reference run.',
                       {'run_id': run_id, 'against': against})
    other = db.session.scalar(select(Test.platform).where(Test.id == against))
    if other is None:
        raise ApiError(404, 'not_found', f'Run {against} (against) not found.',
                       {'resource': 'run', 'id': against, 'parameter': 'against'})
    if other is not platform:
        raise ApiError(422, 'other_platform', f'Run {against} ran on {other.value}, run {run_id} on '
                                              f'{platform.value}: only runs of one platform can be compared.',
                       {'run_id': run_id, 'platform': platform.value, 'against': against,
                        'against_platform': other.value})
    return against


def _finished(view: RunView, side: str) -> RunView:
    """``view`` itself, or 409 ``run_not_finished`` naming the side (``run`` or ``reference``) and its status."""
    if view.verdict.status in UNFINISHED_RUN:
        raise ApiError(409, 'run_not_finished', f'Run {view.test.id} ({side}) has not finished '
                                                f'({view.verdict.status.value}): runs are compared once both are '
                                                'completed or stopped.',
                       {'run_id': view.test.id, 'side': side, 'status': view.verdict.status.value})
    return view


def run_comparison(run_id: int, against: int | None, filters: Filters, limit: int,
                   offset: int) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """A page of the comparison's entries, how many pass the filters, and the comparison's other fields."""
    chosen = reference_id(run_id, against)
    views = load_runs([run_id] if chosen is None else [run_id, chosen])
    run = _finished(views[run_id], 'run')
    reference = _finished(views[chosen], 'reference') if chosen is not None else None
    comparison = compare(judged_of(run.facts, run.verdict),
                         judged_of(reference.facts, reference.verdict) if reference is not None else None)
    places = regression_places(entry.regression_id for entry in comparison.entries)
    kept = [entry for entry in comparison.entries if filters.keep(entry, places.get(entry.regression_id))]
    page = [entry_document(entry, run_id, chosen, places.get(entry.regression_id))
            for entry in kept[offset:offset + limit]]
    return page, len(kept), _header(run, reference, against, comparison)


def _header(run: RunView, reference: RunView | None, against: int | None,
            comparison: Comparison) -> dict[str, Any]:
    """The fields of the comparison beside its page: both runs, how the reference was chosen, counts, verdict."""
    return {
        'run': run_document(run),
        'reference': run_document(reference) if reference is not None else None,
        'reference_chosen_by': CHOSEN_BY_PLATFORM if against is None else CHOSEN_BY_REQUEST,
        'reference_missing_reason': NO_REFERENCE if reference is None else None,
        'verdict': comparison.verdict.value,
        'counts': {**comparison.counts, 'total': len(comparison.entries)},
    }


def entry_document(entry: Entry, run_id: int, reference_run_id: int | None,
                   place: RegressionPlace | None) -> dict[str, Any]:
    """One ComparisonEntry: the test, where it sits, its class, and its side in each run."""
    sample_id = place.sample_id if place is not None else None
    sample = None
    if place is not None and sample_id is not None:
        sample = {'id': sample_id, 'sha': place.sample_sha, 'name': place.sample_name}
    category = place.category if place is not None else None
    return {
        'regression_id': entry.regression_id,
        'sample': sample,
        'category': category[:MAX_CATEGORY] if category is not None else None,
        'class': entry.kind.value,
        'not_comparable_reason': entry.reason.value if entry.reason is not None else None,
        'same_signature': entry.same_signature,
        'run': side_document(run_id, entry.here, entry.signature_here, sample_id),
        'reference': (side_document(reference_run_id, entry.there, entry.signature_there, sample_id)
                      if reference_run_id is not None and entry.there is not None else None),
    }


def side_document(run_id: int, judged: Judged, signature: str | None, sample_id: int | None) -> dict[str, Any]:
    """A regression test in one run: status, failure signature, outputs with their diff URLs, and links.

    Without a media sample there is no RunSample and no diff to link (their URLs need the sample's id): those are
    null, and ``errors`` links the run's whole error list.
    """
    links = run_links(run_id)
    regression_id = judged.regression_id
    result, errors = None, links['errors']
    if sample_id is not None:
        result = f'{links["samples"]}/{sample_id}?{urlencode({"regression_id": regression_id})}'
        errors += f'?{urlencode({"sample_id": sample_id})}'
    return {
        'run_id': run_id,
        'status': judged.verdict.status.value,
        'failure_signature': signature,
        'outputs': [{'output_id': item.output_id, 'status': item.status.value,
                     'diff_url': (diff_url(run_id, sample_id, regression_id, item.output_id)
                                  if sample_id is not None else None)}
                    for item in judged.verdict.outputs[:MAX_OUTPUTS]],
        'links': {'result': result, 'errors': errors},
    }
