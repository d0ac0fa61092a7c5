"""The verdict rules of mod_api.verdicts (docs/verdicts.md), table by table, and their agreement with the platform.

The last part compares the derivation with a reference implementation of SCHEMA.md §5.5 ``get_test_results``
written literally from the text, over thousands of generated scenarios.
"""
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mod_api.legacy import TestStatus
from mod_api.run_data import Rows, assemble
from mod_api.verdicts import (
    CANCELLATION_MESSAGES,
    Output,
    OutputStatus,
    OutputVerdict,
    ProgressEvent,
    ProgressRow,
    Result,
    ResultFile,
    RunFacts,
    RunStatus,
    SampleCounts,
    SampleFacts,
    SampleStatus,
    in_scope,
    judge,
    progress_events,
    run_errors,
)

NOON = datetime(2024, 5, 17, 12, 0, 0)
REF, H1, H2 = 'd' * 64, 'a' * 64, 'b' * 64

PREP = ProgressRow(1, TestStatus.preparation, NOON, 'Loaded variables, created log file and checking for artifact')
TESTING = ProgressRow(2, TestStatus.testing, NOON, 'Running tests')
COMPLETED = ProgressRow(3, TestStatus.completed, NOON, 'Ran all tests')
DONE = (PREP, TESTING, COMPLETED)

ABORT_MESSAGES = [
    'Could not complete test, time limit exceeded', 'Cancelling tests as Github Action(s) failed',
    'Build succeeded but artifact not yet available - please retry', 'artifact', 'Invalid PR number',
    'Duplicate Entries', 'ZONE_RESOURCE_POOL_EXHAUSTED: no capacity', 'Something we never heard of', '',
]


def stop(row_id: int, message: str, by_api: bool = False) -> ProgressRow:
    return ProgressRow(row_id, TestStatus.canceled, NOON, message, by_api)


def output(output_id: int = 1, ignore: bool | None = False, variants: tuple[str, ...] = (),
           correct: str | None = REF) -> Output:
    return Output(output_id, correct, ignore, frozenset(variants))


OUT = output()


OK = Result(0, 0)


def sample(result: Result | None = OK, outputs: tuple[Output, ...] = (OUT,),
           files: tuple[ResultFile, ...] = (ResultFile(OUT, None),), regression_id: int = 1) -> SampleFacts:
    return SampleFacts(regression_id, outputs, result, files)


PASSING = sample()
NOT_RUN = sample(result=None, files=())
NOT_RUN_NOTHING_EXPECTED = sample(result=None, outputs=(), files=())


def run(*rows: ProgressRow, samples: tuple[SampleFacts, ...] = (PASSING,), vm: bool = False) -> RunFacts:
    return RunFacts(7, rows, vm, samples)


# --- run status ----------------------------------------------------------------------------------------------------

RUN_STATUS_CASES = {
    'queued: no rows, no VM': (run(), RunStatus.QUEUED),
    'starting: a VM, no rows': (run(vm=True), RunStatus.RUNNING),
    'preparation': (run(PREP, vm=True), RunStatus.RUNNING),
    'testing': (run(PREP, TESTING, vm=True), RunStatus.RUNNING),
    'testing without a VM row (stuck) is still running': (run(PREP, TESTING), RunStatus.RUNNING),
    'completed, everything passed': (run(*DONE), RunStatus.PASS),
    'completed with the VM row left behind (no GITHUB_TOKEN)': (run(*DONE, vm=True), RunStatus.PASS),
    'completed without regression tests in scope': (run(*DONE, samples=()), RunStatus.PASS),
    'completed, an exit code differs': (run(*DONE, samples=(PASSING, sample(Result(1, 0), regression_id=2))),
                                        RunStatus.FAIL),
    'completed, an output is missing': (run(*DONE, samples=(sample(files=()),)), RunStatus.FAIL),
    'completed, a test never reported and was expected to': (run(*DONE, samples=(PASSING, NOT_RUN)), RunStatus.FAIL),
    'completed, a test has files but no TestResult': (run(*DONE, samples=(sample(result=None),)),
                                                      RunStatus.INCOMPLETE),
    'completed, a test with nothing expected never reported': (run(*DONE, samples=(PASSING, NOT_RUN_NOTHING_EXPECTED)),
                                                               RunStatus.INCOMPLETE),
    'completed, a failure beats a missing TestResult': (
        run(*DONE, samples=(sample(Result(1, 0)), NOT_RUN_NOTHING_EXPECTED)), RunStatus.FAIL),
    'canceled during preparation by a user': (run(PREP, stop(2, 'Canceled by user')), RunStatus.CANCELED),
    'cancel message with surrounding whitespace': (run(stop(1, '  Canceled by admin\n')), RunStatus.CANCELED),
    'cancel message in another case is not a known cancellation': (run(stop(1, 'canceled by admin')),
                                                                    RunStatus.ERROR),
    'a row the API wrote, whatever its message': (run(PREP, stop(2, 'Canceled through the API', by_api=True)),
                                                  RunStatus.CANCELED),
    'canceled then revived (worker kept reporting)': (
        run(stop(1, 'Canceled by user'), ProgressRow(2, TestStatus.preparation, NOON, 'Loaded')), RunStatus.RUNNING),
    'canceled then revived and completed': (run(PREP, stop(2, 'Canceled by admin'), ProgressRow(
        3, TestStatus.testing, NOON, 'Running tests'), ProgressRow(4, TestStatus.completed, NOON, 'Ran all tests')),
        RunStatus.PASS),
    'completed then a late worker report (Duplicate Entries)': (run(*DONE, stop(4, 'Duplicate Entries')),
                                                                RunStatus.ERROR),
    'user cancel followed by a worker abort: the last row decides': (
        run(PREP, stop(2, 'Canceled by user'), stop(3, 'artifact')), RunStatus.ERROR),
    'an API cancel on an earlier row does not decide': (
        run(PREP, stop(2, 'x', by_api=True), stop(3, 'Duplicate Entries')), RunStatus.ERROR),
}


@pytest.mark.parametrize('facts, expected', RUN_STATUS_CASES.values(), ids=RUN_STATUS_CASES.keys())
def test_run_status(facts: RunFacts, expected: RunStatus) -> None:
    assert judge(facts).status is expected


@pytest.mark.parametrize('message', sorted(CANCELLATION_MESSAGES))
def test_every_cancellation_message_means_canceled(message: str) -> None:
    assert judge(run(PREP, stop(2, message))).status is RunStatus.CANCELED
    assert judge(run(stop(1, f' {message} '))).status is RunStatus.CANCELED


def test_the_cancellation_messages_are_exactly_the_platforms() -> None:
    assert CANCELLATION_MESSAGES == {'Canceled by admin', 'Canceled by user', 'PR closed', 'PR is closed',
                                     'Tests canceled', 'Not ran - no code changes'}


@pytest.mark.parametrize('message', ABORT_MESSAGES)
def test_every_abort_message_means_error(message: str) -> None:
    assert judge(run(PREP, TESTING, stop(3, message))).status is RunStatus.ERROR


RUN_ERRORS_CASES = {
    'queued': (run(), 'unknown'),
    'starting': (run(vm=True), 'unknown'),
    'preparation': (run(PREP), 'unknown'),
    'testing': (run(PREP, TESTING), 'unknown'),
    'completed and passed': (run(*DONE), 'no'),
    'completed with failing tests is still no (Test.failed)': (run(*DONE, samples=(sample(Result(1, 0)),)), 'no'),
    'canceled by a user': (run(stop(1, 'Canceled by user')), 'yes'),
    'aborted': (run(PREP, stop(2, 'artifact')), 'yes'),
    'canceled then revived': (run(stop(1, 'Canceled by user'), TESTING), 'unknown'),
    'canceled then revived and completed': (run(stop(1, 'Canceled by user'), TESTING, COMPLETED), 'no'),
}


@pytest.mark.parametrize('facts, expected', RUN_ERRORS_CASES.values(), ids=RUN_ERRORS_CASES.keys())
def test_run_errors(facts: RunFacts, expected: str) -> None:
    assert run_errors(facts) == expected
    assert judge(facts).run_errors == expected


# --- sample status and outputs -------------------------------------------------------------------------------------

IGNORED, NULL_IGNORE = output(2, ignore=True), output(3, ignore=None)
WITH_VARIANT = output(4, variants=(H1,))
OTHER_TESTS_OUTPUT = output(9, variants=(H2,))


def match(output_id: int = 1, actual: str | None = None) -> OutputVerdict:
    return OutputVerdict(output_id, OutputStatus.MATCH, REF, actual)


def mismatch(output_id: int = 1, actual: str | None = H2) -> OutputVerdict:
    return OutputVerdict(output_id, OutputStatus.DIFF_MISMATCH, REF, actual)


def missing(output_id: int = 1, status: OutputStatus = OutputStatus.MISSING_OUTPUT) -> OutputVerdict:
    return OutputVerdict(output_id, status, REF, None)


SAMPLE_CASES = {
    'exit code and file matched': (sample(), SampleStatus.PASS, (match(),)),
    'exit code differs, file matched': (sample(Result(3, 0)), SampleStatus.FAIL, (match(),)),
    'exit code differs and the file differs': (sample(Result(3, 0), files=(ResultFile(OUT, H2),)), SampleStatus.FAIL,
                                               (mismatch(),)),
    'exit code differs, no files': (sample(Result(3, 0), files=()), SampleStatus.FAIL, (missing(),)),
    'exit code NULL, expected 0': (sample(Result(None, 0)), SampleStatus.FAIL, (match(),)),
    'exit code 0, expected snapshot NULL': (sample(Result(0, None)), SampleStatus.FAIL, (match(),)),
    'both NULL compare equal': (sample(Result(None, None)), SampleStatus.PASS, (match(),)),
    'non-zero expected exit code matched, file differs': (sample(Result(10, 10), files=(ResultFile(OUT, H2),)),
                                                          SampleStatus.FAIL, (mismatch(),)),
    'got equals an accepted variant': (sample(outputs=(WITH_VARIANT,), files=(ResultFile(WITH_VARIANT, H1),)),
                                       SampleStatus.PASS, (match(4, H1),)),
    'got equals no variant': (sample(outputs=(WITH_VARIANT,), files=(ResultFile(WITH_VARIANT, H2),)),
                              SampleStatus.FAIL, (mismatch(4),)),
    'variants match exactly (no trimming)': (
        sample(outputs=(WITH_VARIANT,), files=(ResultFile(WITH_VARIANT, H1 + ' '),)), SampleStatus.FAIL,
        (mismatch(4, None),)),
    'variants match case-sensitively': (
        sample(outputs=(WITH_VARIANT,), files=(ResultFile(WITH_VARIANT, H1.upper()),)), SampleStatus.FAIL,
        (mismatch(4, H1.upper()),)),
    'got that is not a SHA-256 has no actual_hash': (sample(files=(ResultFile(OUT, 'out2'),)), SampleStatus.FAIL,
                                                     (mismatch(1, None),)),
    'correct that is not a SHA-256 has no expected_hash': (
        sample(outputs=(output(correct='sample_out1'),), files=(ResultFile(output(correct='sample_out1'), None),)),
        SampleStatus.PASS, (OutputVerdict(1, OutputStatus.MATCH, None, None),)),
    'a differing file of an ignored output still fails (every row is checked)': (
        sample(outputs=(IGNORED,), files=(ResultFile(IGNORED, H2),)), SampleStatus.FAIL, (mismatch(2),)),
    "a file of another test's output is judged against that output's variants": (
        sample(files=(ResultFile(OTHER_TESTS_OUTPUT, H2),)), SampleStatus.PASS,
        (missing(1, OutputStatus.MISSING_EXPECTED), match(9, H2))),
    'no files while a required output is expected (the dummy row)': (sample(files=()), SampleStatus.MISSING_OUTPUT,
                                                                      (missing(),)),
    'no files, only ignored outputs': (sample(outputs=(IGNORED,), files=()), SampleStatus.PASS, ()),
    'no files, ignore NULL counts as ignored': (sample(outputs=(NULL_IGNORE,), files=()), SampleStatus.PASS, ()),
    'no files, no outputs at all': (sample(outputs=(), files=()), SampleStatus.PASS, ()),
    'no files, required and ignored outputs': (sample(outputs=(OUT, IGNORED, NULL_IGNORE), files=()),
                                               SampleStatus.MISSING_OUTPUT, (missing(),)),
    'a required output without a row while another has one': (
        sample(outputs=(OUT, WITH_VARIANT), files=(ResultFile(WITH_VARIANT, None),)), SampleStatus.PASS,
        (missing(1, OutputStatus.MISSING_EXPECTED), match(4))),
    'an ignored output without a row is left out': (sample(outputs=(OUT, IGNORED), files=(ResultFile(OUT, None),)),
                                                    SampleStatus.PASS, (match(),)),
    'files matched but no TestResult': (sample(result=None), SampleStatus.PASS, (match(),)),
    'files differ and no TestResult: files are checked': (sample(result=None, files=(ResultFile(OUT, H2),)),
                                                          SampleStatus.FAIL, (mismatch(),)),
    'never reported, output expected': (NOT_RUN, SampleStatus.MISSING_OUTPUT, (missing(),)),
    'never reported, nothing expected': (NOT_RUN_NOTHING_EXPECTED, SampleStatus.SKIPPED, ()),
    'never reported, only NULL-ignore outputs': (sample(result=None, outputs=(NULL_IGNORE,), files=()),
                                                 SampleStatus.SKIPPED, ()),
}


@pytest.mark.parametrize('facts, status, outputs', SAMPLE_CASES.values(), ids=SAMPLE_CASES.keys())
def test_sample_status_in_a_completed_run(facts: SampleFacts, status: SampleStatus,
                                          outputs: tuple[OutputVerdict, ...]) -> None:
    verdict = judge(run(*DONE, samples=(facts,))).samples[0]
    assert (verdict.regression_id, verdict.status, verdict.outputs) == (1, status, outputs)


UNFINISHED_CASES = {
    'queued': ((), False, SampleStatus.NOT_STARTED),
    'starting (VM, no rows)': ((), True, SampleStatus.NOT_STARTED),
    'preparation': ((PREP,), True, SampleStatus.NOT_STARTED),
    'testing': ((PREP, TESTING), True, SampleStatus.RUNNING),
    'revived after a cancel, testing': ((stop(1, 'Canceled by user'), TESTING), True, SampleStatus.RUNNING),
}


@pytest.mark.parametrize('rows, vm, status', UNFINISHED_CASES.values(), ids=UNFINISHED_CASES.keys())
def test_a_test_that_has_not_reported_in_an_unfinished_run(rows: tuple[ProgressRow, ...], vm: bool,
                                                           status: SampleStatus) -> None:
    verdicts = judge(run(*rows, vm=vm, samples=(NOT_RUN, NOT_RUN_NOTHING_EXPECTED))).samples
    assert [(verdict.status, verdict.outputs) for verdict in verdicts] == [(status, ()), (status, ())]


def test_a_test_that_has_reported_in_an_unfinished_run_is_judged() -> None:
    verdicts = judge(run(PREP, TESTING, samples=(
        PASSING, sample(Result(1, 0), regression_id=2), sample(files=(), regression_id=3),
        sample(result=None, regression_id=4)))).samples
    assert [verdict.status for verdict in verdicts] == [SampleStatus.PASS, SampleStatus.FAIL,
                                                        SampleStatus.MISSING_OUTPUT, SampleStatus.PASS]


@pytest.mark.parametrize('message', ['Canceled by user', 'artifact'])
def test_tests_that_never_reported_in_a_stopped_run(message: str) -> None:
    verdicts = judge(run(PREP, stop(2, message), samples=(NOT_RUN, NOT_RUN_NOTHING_EXPECTED))).samples
    assert [verdict.status for verdict in verdicts] == [SampleStatus.MISSING_OUTPUT, SampleStatus.SKIPPED]


# --- counts --------------------------------------------------------------------------------------------------------

def test_counts_partition_the_samples_and_never_use_test_failed() -> None:
    samples = (PASSING, sample(Result(1, 0)), sample(files=()), NOT_RUN_NOTHING_EXPECTED)
    verdict = judge(run(PREP, stop(2, 'artifact'), samples=samples))
    assert verdict.counts == SampleCounts(total=4, passed=1, failed=1, skipped=1, missing_output=1, not_started=0,
                                          running=0)
    assert verdict.counts.summary_fields() == {'total_samples': 4, 'pass_count': 1, 'fail_count': 1,
                                               'skipped_count': 1, 'missing_output_count': 1, 'error_count': 0}


def test_samples_without_a_verdict_yet_count_as_skipped() -> None:
    samples = (PASSING, sample(Result(1, 0)), NOT_RUN, NOT_RUN_NOTHING_EXPECTED)
    fields = judge(run(PREP, TESTING, samples=samples)).counts.summary_fields()
    assert fields == {'total_samples': 4, 'pass_count': 1, 'fail_count': 1, 'skipped_count': 2,
                      'missing_output_count': 0, 'error_count': 0}
    assert judge(run(samples=samples)).counts.summary_fields()['skipped_count'] == 2


# --- scope ---------------------------------------------------------------------------------------------------------

SCOPE_CASES = {
    'customized rows, duplicates counted once': ([3, 1, 3, 1], {1, 2, 3}, (1, 3)),
    'no customized rows: every categorised test': ([], {2, 1, 5}, (1, 2, 5)),
    'uncategorised customized tests are out of scope': ([1, 4], {1, 2}, (1,)),
    'customized rows that are all out of scope do not fall back': ([4], {1, 2}, ()),
    'nothing categorised': ([], set(), ()),
}


@pytest.mark.parametrize('customized, categorised, expected', SCOPE_CASES.values(), ids=SCOPE_CASES.keys())
def test_scope(customized: list[int], categorised: set[int], expected: tuple[int, ...]) -> None:
    assert in_scope(customized, categorised) == expected


# --- progress events -----------------------------------------------------------------------------------------------

PLUS_TWO = timezone(timedelta(hours=2))
TIMESTAMP_CASES = {
    'naive means UTC': (datetime(2024, 5, 17, 12, 0, 0), '2024-05-17T12:00:00Z'),
    'aware UTC': (datetime(2024, 5, 17, 12, 0, 0, tzinfo=UTC), '2024-05-17T12:00:00Z'),
    'aware elsewhere is converted': (datetime(2024, 5, 17, 14, 0, 0, tzinfo=PLUS_TWO), '2024-05-17T12:00:00Z'),
    'microseconds kept': (datetime(2024, 5, 17, 12, 0, 0, 250), '2024-05-17T12:00:00.000250Z'),
}


@pytest.mark.parametrize('stored, expected', TIMESTAMP_CASES.values(), ids=TIMESTAMP_CASES.keys())
def test_event_timestamps_are_utc_with_z(stored: datetime, expected: str) -> None:
    row = ProgressRow(1, TestStatus.preparation, stored, 'Loaded')
    assert progress_events(run(row), NOON)[0].timestamp == expected
    assert progress_events(run(), stored)[0].timestamp == expected


def test_events_map_status_step_and_message() -> None:
    rows = (PREP, TESTING, stop(3, 'Canceled by user'), ProgressRow(4, TestStatus.testing, NOON, 'Running tests'),
            ProgressRow(5, TestStatus.completed, NOON, 'Ran all tests'), stop(6, 'Duplicate Entries'),
            stop(7, 'whatever', by_api=True))
    events = progress_events(run(*rows), NOON)
    assert [(event.status, event.step, event.message) for event in events] == [
        ('preparation', 0, PREP.message), ('testing', 1, 'Running tests'), ('canceled', None, 'Canceled by user'),
        ('testing', 1, 'Running tests'), ('completed', 2, 'Ran all tests'), ('error', None, 'Duplicate Entries'),
        ('canceled', None, 'whatever')]


@pytest.mark.parametrize('vm', [False, True], ids=['queued', 'starting'])
def test_a_run_without_rows_has_one_synthesized_queued_event(vm: bool) -> None:
    created = datetime(2024, 5, 17, 9, 30, tzinfo=PLUS_TWO)
    assert progress_events(run(vm=vm), created) == (ProgressEvent('2024-05-17T07:30:00Z', 'queued', 'Queued', None),)


def test_event_messages_are_cut_to_the_contract_length() -> None:
    events = progress_events(run(stop(1, 'x' * 600)), NOON)
    assert events[0].message == 'x' * 500


# --- agreement with the platform (property) ------------------------------------------------------------------------

RUN = 1
CASES_PER_SEED = 600
HASHES = (H1, H2, 'c' * 64)


@dataclass
class World:
    """A tiny platform database around one finished run (row lists as the tables hold them)."""

    tests: list[int]
    categories: dict[int, str]  # category id -> name (only existing categories)
    links: list[tuple[int, int]]  # regression_test_category rows: (regression id, category id), duplicates allowed
    outputs: dict[int, tuple[int, bool | None]]  # output id -> (regression id, ignore)
    variants: list[tuple[int, str]]  # regression_test_output_files rows: (output id, file_hashes)
    customized: list[int]  # customized_test rows of the run (regression ids, duplicates allowed)
    results: dict[int, tuple[int | None, int | None]]  # regression id -> (exit_code, expected_rc)
    files: dict[tuple[int, int], str | None]  # (regression id, output id) -> got
    last_status: object


def random_world(rng: random.Random) -> World:
    """A small random world: few tests, dangling links and customized rows, mixed ignore flags, variants, files."""
    tests = list(range(1, rng.randint(1, 4) + 1))
    names = rng.sample(['DVB', 'DVD', 'MP4', 'Broken', 'General'], rng.choice([0, 1, 2, 3, 3]))
    categories = dict(enumerate(names, start=1))
    links = [(rng.choice(tests + [99]), rng.randint(1, 4)) for _ in range(rng.randint(1, 7))]
    outputs: dict[int, tuple[int, bool | None]] = {}
    for test in tests:
        for _ in range(rng.randint(0, 2)):
            outputs[len(outputs) + 1] = (test, rng.choice([False, True, None]))
    output_ids = sorted(outputs)
    variants = [(rng.choice(output_ids), rng.choice(HASHES)) for _ in range(rng.randint(0, 3) if outputs else 0)]
    customized = [rng.choice(tests + [99]) for _ in range(rng.randint(0, 4))]
    codes = [None, 0, 1, 10]
    results = {test: (rng.choice(codes), rng.choice(codes)) for test in tests if rng.random() < 0.7}
    got = [None, None, H1, H2, 'c' * 64, 'error', H1 + ' ']
    files = {(rng.choice(tests), rng.choice(output_ids)): rng.choice(got)
             for _ in range(rng.randint(0, 4) if outputs else 0)}
    last_status = rng.choice([TestStatus.completed, TestStatus.canceled])
    return World(tests, categories, links, outputs, variants, customized, results, files, last_status)


def platform_get_test_results(world: World) -> list[dict]:
    """SCHEMA.md §5.5, step by step: categories with tests in scope, each test with its ``error`` flag."""
    customized = world.customized or list(world.tests)  # get_customized_regressiontests(): all tests when none
    populated = [category for category in world.categories if any(link[1] == category for link in world.links)]
    listing = []
    for category in sorted(populated, key=lambda populated_id: world.categories[populated_id]):  # 1. by name
        items = []
        for test in [regression for regression, linked in world.links if linked == category]:  # link order
            if test not in world.tests or test not in customized:  # 2. tests of the category in scope
                continue
            result = world.results.get(test)
            files = [(output_id, got) for (regression, output_id), got in world.files.items() if regression == test]
            error = False
            if result is not None and result[0] != result[1]:  # 3a. exit code differs from the snapshot
                error = True
            if files:  # 3b. files checked only when no result or the exit code matched
                for output_id, got in files:
                    accepted = [hashes for variant_output, hashes in world.variants if variant_output == output_id]
                    if got is not None and (result is None or result[0] == result[1]) and got not in accepted:
                        error = True
            elif any(regression == test and ignore is False for regression, ignore in world.outputs.values()):
                error = True  # 3c. the dummy row with got 'error' (ignore IS FALSE: NULL counts as ignored)
            items.append({'test': test, 'error': error})
        listing.append({'category': category, 'tests': items, 'error': any(item['error'] for item in items)})
    return listing


def derive(world: World) -> RunFacts:
    """The API's facts for the world's run, built by the same code as from the database (run_data.assemble)."""
    categorised = {test for test, category in world.links if category in world.categories and test in world.tests}
    variants: dict[int, list[str | None]] = {output_id: [hashes for variant_output, hashes in world.variants
                                                         if variant_output == output_id] for output_id in world.outputs}
    output_lines = [(output_id, test, REF, ignore, hashes)  # outer join: one line with None when there is no variant
                    for output_id, (test, ignore) in world.outputs.items() for hashes in variants[output_id] or [None]]
    rows = Rows(progress=[(1, RUN, TestStatus.testing, NOON, 'Running tests'), (2, RUN, world.last_status, NOON, 'x')],
                vm_runs=(), results=[(RUN, test, 100, *codes) for test, codes in world.results.items()],
                files=[(RUN, test, output_id, got) for (test, output_id), got in world.files.items()],
                outputs=output_lines)
    return assemble({RUN: in_scope(world.customized, categorised)}, rows)[RUN]


@pytest.mark.parametrize('seed', range(5))
def test_the_api_agrees_with_get_test_results(seed: int) -> None:
    rng = random.Random(seed)
    for case in range(CASES_PER_SEED):
        world = random_world(rng)
        try:
            check_agreement(world)
        except AssertionError as failure:
            raise AssertionError(f'seed {seed}, case {case}: {world}') from failure


def check_agreement(world: World) -> None:
    listing = platform_get_test_results(world)
    shown = {item['test'] for category in listing for item in category['tests']}
    in_error = {item['test'] for category in listing for item in category['tests'] if item['error']}
    verdict = judge(derive(world))
    failing = {sample.regression_id for sample in verdict.samples
               if sample.status in (SampleStatus.FAIL, SampleStatus.MISSING_OUTPUT)}

    assert {sample.regression_id for sample in verdict.samples} == shown
    assert failing == in_error
    counters = verdict.counts.summary_fields()
    assert sum(counters.values()) - counters['total_samples'] == counters['total_samples'] == len(shown)
    if world.last_status is TestStatus.completed:
        assert (verdict.status is RunStatus.FAIL) == bool(in_error)
        assert verdict.status in (RunStatus.PASS, RunStatus.FAIL, RunStatus.INCOMPLETE)
    else:
        assert verdict.status is RunStatus.ERROR
