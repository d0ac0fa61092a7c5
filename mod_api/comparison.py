"""What a run broke, fixed and inherited compared with a reference run: pure classification of judged samples.

The platform answers this question in its PR comment (SCHEMA.md §5.6): "extra failed" (new failures), "common
failed" and "fixed". Here the same question is answered from the verdicts of both runs (:mod:`mod_api.verdicts`),
one entry per regression test in scope of the run. Nothing here touches the database: the caller picks the reference
run (:mod:`mod_api.comparison_view`) and loads both runs. Every rule is written down in ``docs/comparison.md``.

Outcomes, as the platform's ``get_test_results`` sees a test of a finished run (its ``error`` flag):

* failing: ``fail`` or ``missing_output`` (error true);
* passing: ``pass`` (error false, with a verdict);
* skipped: ``skipped`` (error false, but nothing ran and nothing was required).

The platform counts skipped as passed (``last_passed_on_<platform>`` is set for it), so a test failing here and
skipped in the reference is a ``new_failure`` (it decides the PR verdict); the other pairs with a skipped side are
``not_comparable``.
"""
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from mod_api.failure_signature import failure_signature
from mod_api.sample_view import Judged
from mod_api.verdicts import SampleStatus


class EntryClass(StrEnum):
    """How a regression test's outcome in the run relates to its outcome in the reference run."""

    NEW_FAILURE = 'new_failure'
    STILL_FAILING = 'still_failing'
    FIXED = 'fixed'
    UNCHANGED_PASS = 'unchanged_pass'
    NOT_COMPARABLE = 'not_comparable'


class Unmatched(StrEnum):
    """Why an entry is ``not_comparable``."""

    NO_REFERENCE = 'no_reference'
    NOT_IN_REFERENCE = 'not_in_reference'
    SKIPPED_HERE = 'skipped_here'
    SKIPPED_IN_REFERENCE = 'skipped_in_reference'


class Verdict(StrEnum):
    """The PR comment's verdict: success iff nothing failed that the platform counts as new."""

    SUCCESS = 'success'
    FAILURE = 'failure'


FAILING = frozenset({SampleStatus.FAIL, SampleStatus.MISSING_OUTPUT})


@dataclass(frozen=True)
class Entry:
    """One regression test of the run: its judged result here and in the reference (None: not in its scope)."""

    here: Judged
    there: Judged | None
    kind: EntryClass
    reason: Unmatched | None

    @property
    def regression_id(self) -> int:
        """The regression test's id."""
        return self.here.regression_id

    @property
    def signature_here(self) -> str | None:
        """The failure signature of the test in the run (None when it did not fail)."""
        return failure_signature(self.here.facts, self.here.verdict)

    @property
    def signature_there(self) -> str | None:
        """The failure signature of the test in the reference run (None when it did not fail or is not there)."""
        return failure_signature(self.there.facts, self.there.verdict) if self.there is not None else None

    @property
    def same_signature(self) -> bool | None:
        """For ``still_failing``: whether it fails the same way in both runs; None for every other class."""
        if self.kind is not EntryClass.STILL_FAILING:
            return None
        return self.signature_here == self.signature_there


@dataclass(frozen=True)
class Comparison:
    """Every entry of a comparison (run's scope, by regression id), the count per class and the verdict."""

    entries: tuple[Entry, ...]
    counts: dict[str, int]
    verdict: Verdict


def classify(here: Judged, there: Judged | None, has_reference: bool) -> tuple[EntryClass, Unmatched | None]:
    """The class of one regression test, with the reason when it is ``not_comparable`` (table in the docs)."""
    if not has_reference:
        return EntryClass.NOT_COMPARABLE, Unmatched.NO_REFERENCE
    if there is None:
        return EntryClass.NOT_COMPARABLE, Unmatched.NOT_IN_REFERENCE
    status, reference = here.verdict.status, there.verdict.status
    if status in FAILING:
        return (EntryClass.STILL_FAILING if reference in FAILING else EntryClass.NEW_FAILURE), None
    if status is not SampleStatus.PASS:
        return EntryClass.NOT_COMPARABLE, Unmatched.SKIPPED_HERE
    if reference in FAILING:
        return EntryClass.FIXED, None
    if reference is SampleStatus.PASS:
        return EntryClass.UNCHANGED_PASS, None
    return EntryClass.NOT_COMPARABLE, Unmatched.SKIPPED_IN_REFERENCE


def compare(run: Sequence[Judged], reference: Sequence[Judged] | None) -> Comparison:
    """Compare the judged samples of a finished run with those of a finished reference run (None: there is none).

    The verdict is the PR comment's: failure iff some test failing here is counted as new — with a reference, a
    ``new_failure``; without one, every failing test (the platform then counts every failure as extra).
    """
    there = {entry.regression_id: entry for entry in reference or ()}
    entries = tuple(Entry(entry, there.get(entry.regression_id),
                          *classify(entry, there.get(entry.regression_id), reference is not None))
                    for entry in sorted(run, key=lambda judged: judged.regression_id))
    counted = Counter(entry.kind for entry in entries)
    counts = {kind.value: counted[kind] for kind in EntryClass}
    if reference is None:
        failed = any(entry.here.verdict.status in FAILING for entry in entries)
    else:
        failed = counted[EntryClass.NEW_FAILURE] > 0
    return Comparison(entries, counts, Verdict.FAILURE if failed else Verdict.SUCCESS)
