"""Builders of compared runs for the comparison tests (runs and rows come from :mod:`runs_data`).

A regression test's outcome in a finished run is given by name (:data:`OUTCOMES`); every builder flushes, commit
when done (``results_reader`` does).
"""
from dataclasses import dataclass, field

from mod_api.legacy import Category, EnumSymbol, RegressionTest, RegressionTestOutput, TestPlatform, TestType
from mod_api.legacy import Test as Run
from mod_api_tests.runs_data import (
    DONE,
    OTHER,
    REF,
    VARIANT,
    add_category,
    add_customized,
    add_progress,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
)

# outcome name -> how the run reports the test's one output (required unless the test was built with optional=True)
OUTCOMES = ('pass', 'diff', 'other_diff', 'crash', 'missing', 'nothing')


@dataclass
class Case:
    """A regression test with one output (required, or ignored when ``optional``)."""

    row: RegressionTest
    output: RegressionTestOutput

    @property
    def id(self) -> int:
        """The regression test's id."""
        return self.row.id


def add_test(category: Category, optional: bool = False, with_sample: bool = True) -> Case:
    """A regression test in ``category`` with one output (``ignore`` true when ``optional``) and a sample."""
    row, (output,) = add_regression_test(category, outputs=((REF, optional),),
                                         sample=add_sample() if with_sample else None)
    return Case(row, output)


def report(run: Run, test: Case, outcome: str) -> None:
    """Rows making ``test`` have ``outcome`` in the finished ``run``.

    ``pass``: exit code and output matched; ``diff`` / ``other_diff``: the output differs (two different actual
    files); ``crash``: exit code 1 instead of 0; ``missing``: a result but no output file; ``nothing``: no row at all
    (``missing_output`` for a required output, ``skipped`` for an optional one).
    """
    if outcome == 'nothing':
        return
    add_result(run, test.row, exit_code=1 if outcome == 'crash' else 0)
    if outcome in ('pass', 'diff', 'other_diff'):
        add_result_file(run, test.row, test.output, got={'pass': None, 'diff': OTHER, 'other_diff': VARIANT}[outcome])


def finished_run(platform: EnumSymbol = TestPlatform.linux, *, branch: str = 'master',
                 test_type: EnumSymbol = TestType.commit, tests: tuple[Case, ...] = (),
                 outcomes: dict[int, str] | None = None) -> Run:
    """A completed run with ``tests`` in scope (customized rows) and their ``outcomes`` by regression id."""
    run = add_run(platform, progress=DONE, branch=branch, test_type=test_type,
                  pr_nr=1 if test_type is TestType.pull_request else 0)
    add_customized(run, *[test.id for test in tests])
    for test in tests:
        report(run, test, (outcomes or {}).get(test.id, 'pass'))
    return run


def unfinished_run(platform: EnumSymbol = TestPlatform.linux, tests: tuple[Case, ...] = ()) -> Run:
    """A master run still testing, with ``tests`` in scope."""
    run = add_run(platform, progress=DONE[:2])
    add_customized(run, *[test.id for test in tests])
    return run


def complete(run: Run) -> None:
    """Append a ``completed`` row to ``run`` (its id is then the highest completed row so far)."""
    add_progress(run, DONE[2])


@dataclass
class EveryClass:
    """A PR run and its reference with one regression test per case of the classification table."""

    run: Run
    reference: Run
    tests: dict[str, Case] = field(default_factory=dict)

    def id_of(self, case: str) -> int:
        """The regression id of a case."""
        return self.tests[case].id


# case -> (optional output, outcome here, outcome in the reference; None: not in the reference's scope)
CASES = {
    'new_failure': (False, 'diff', 'pass'),
    'new_missing_output': (False, 'missing', 'pass'),
    'new_after_skipped': (True, 'crash', 'nothing'),
    'still_same': (False, 'diff', 'diff'),
    'still_other': (False, 'other_diff', 'diff'),
    'still_crash_vs_diff': (False, 'crash', 'diff'),
    'fixed': (False, 'pass', 'crash'),
    'unchanged_pass': (False, 'pass', 'pass'),
    'not_in_reference': (False, 'diff', None),
    'skipped_here': (True, 'nothing', 'crash'),
    'skipped_in_reference': (True, 'pass', 'nothing'),
}
EXPECTED = {
    'new_failure': ('new_failure', None, None),
    'new_missing_output': ('new_failure', None, None),
    'new_after_skipped': ('new_failure', None, None),
    'still_same': ('still_failing', None, True),
    'still_other': ('still_failing', None, False),
    'still_crash_vs_diff': ('still_failing', None, False),
    'fixed': ('fixed', None, None),
    'unchanged_pass': ('unchanged_pass', None, None),
    'not_in_reference': ('not_comparable', 'not_in_reference', None),
    'skipped_here': ('not_comparable', 'skipped_here', None),
    'skipped_in_reference': ('not_comparable', 'skipped_in_reference', None),
}


def every_class(category_names: tuple[str, str] = ('DVB', 'MP4')) -> EveryClass:
    """A master reference run and a PR run on Linux covering :data:`CASES` (even cases in the first category)."""
    categories = [add_category(name) for name in category_names]
    tests = {case: add_test(categories[index % 2], optional=CASES[case][0]) for index, case in enumerate(CASES)}
    reference = finished_run(tests=tuple(test for case, test in tests.items() if CASES[case][2] is not None),
                             outcomes={test.id: CASES[case][2] for case, test in tests.items() if CASES[case][2]})
    run = finished_run(branch='pull_request', test_type=TestType.pull_request, tests=tuple(tests.values()),
                       outcomes={test.id: CASES[case][1] for case, test in tests.items()})
    return EveryClass(run, reference, tests)


def sized_pair(size: int) -> tuple[Run, Run]:
    """A reference and a PR run of ``size`` tests each, a quarter failing on each side."""
    category = add_category(f'Size {size}')
    tests = tuple(add_test(category) for _ in range(size))
    reference = finished_run(tests=tests, outcomes={test.id: 'diff' for test in tests[::4]})
    run = finished_run(branch='pull_request', test_type=TestType.pull_request, tests=tests,
                       outcomes={test.id: 'crash' for test in tests[1::4]})
    return run, reference
