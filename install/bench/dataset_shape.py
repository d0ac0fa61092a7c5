"""The rows of the benchmark dataset (issue #8): a production-shaped platform database, deterministic per seed.

``DatasetShape(seed, scale)`` builds the catalogue in memory (users, forks, categories, samples, regression tests,
outputs, accepted variants) and then yields the runs in blocks of rows, so the 3 million results are never held at
once. Every row follows the legacy semantics of SCHEMA.md (the API derives its verdicts from them,
mod_api/docs/verdicts.md):

* a run is one ``test`` row per platform; its state is its progress rows (none = queued, with a ``gcp_instance``
  row = starting; ``preparation``/``testing`` = running; last ``completed``/``canceled`` = finished, §5.1);
* its scope is its ``customized_test`` rows (``queue_test`` writes one per *active* test; customized runs name any
  test, inactive ones too); runs descheduled or canceled before scoping have none (§5.2);
* results: one ``test_result`` per reported test with the ``expected_rc`` snapshot, one ``test_result_file`` per
  compared (not ignored) output with ``expected`` = the output's ``correct`` and ``got`` NULL when it matched,
  else the SHA-256 of the uploaded file (§5.4);
* failures of every kind the platform knows: exit-code mismatch, crash (no output at all), diff mismatch, missing
  output; and passes that look odd: an accepted variant, a missing second output, files without a result row
  (a worker lost the ``finish`` report: the run is ``incomplete``);
* run endings: completed, canceled by a user or admin, PR closed, time limit exceeded (the sweep leaves the VM
  row), GitHub Actions failed, artifact not yet available, a worker's late ``canceled`` stored as "Duplicate
  Entries", and a run stopped by a user that the worker then completed anyway (trap 7).
"""
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional

from passlib.hash import sha512_crypt

from install.bench.dataset_files import (
    DIFFERING,
    REFERENCE,
    VARIANT,
    LogEntry,
    output_content,
    sample_content,
    sha256,
    worker_log,
)
from mod_api.legacy import Role, TestPlatform, TestStatus, TestType
from mod_regression.models import InputType, OutputType
from mod_upload.models import Platform

Row = dict[str, Any]
MAIN_OWNER, REPOSITORY = 'CCExtractor', 'ccextractor'
PREPARATION_MESSAGE = 'Loaded variables, created log file and checking for CCExtractor build artifact'
MESSAGES = {'preparation': PREPARATION_MESSAGE, 'testing': 'Running tests', 'completed': 'Ran all tests'}
CATEGORY_NAMES = ('Broken', 'DVB', 'DVD', 'MP4', 'General', 'Teletext', 'ATSC', 'CEA-708', 'ISDB', 'WTV', 'MKV',
                  'Hauppauge', 'XDS', 'SCC', 'DVR-MS', 'BDA', 'Raw', 'EIA-608', 'Spanish', 'Chinese')
COMMANDS = ('-autoprogram -out=srt -latin1', '-autoprogram -out=ttxt -latin1', '-autoprogram -out=srt -latin1 -ucla',
            '-out=webvtt', '-12 -out=srt', '-autoprogram -out=ttxt -latin1 -ucla -xds', '-in=ts -out=srt',
            '-stdout -out=srt', '-codec dvbsub -out=spupng', '-out=sami', '-out=smptett', '-out=txt -trim',
            '-autoprogram -out=srt -startat 00:00:02', '-debug -out=null', '-in=mp4 -out=srt')
EXTENSIONS = ('ts', 'ts', 'ts', 'mp4', 'mkv', 'mpg', 'wtv', 'm2ts', '')
OUTPUT_EXTENSIONS = ('.srt', '.srt', '.srt', '.txt', '.xml', '.vtt', '.smi')
# Share of finished runs per ending (the rest completed normally).
ENDINGS = (('canceled_by_user', 0.02), ('pr_closed', 0.01), ('time_limit', 0.02), ('actions_failed', 0.015),
           ('artifact_missing', 0.005), ('duplicate_entries', 0.005), ('revived', 0.003))
# How a failing regression test fails, with weights.
FAILURES = (('exit_code', 40), ('crash', 10), ('diff', 35), ('missing_output', 15))
ERROR_MESSAGES = {
    'time_limit': 'Could not complete test, time limit exceeded',
    'actions_failed': 'Cancelling tests as Github Action(s) failed',
    'artifact_missing': 'Build succeeded but artifact not yet available - please retry',
    'duplicate_entries': 'Duplicate Entries',
    'pr_closed': 'PR closed',
}


@dataclass(frozen=True)
class Scale:
    """How big the dataset is; the defaults are the production shape of issue #8."""

    runs: int = 10_000
    samples: int = 600
    regression_tests: int = 1_000
    categories: int = 20
    forks: int = 300
    logs: int = 30
    min_log_bytes: int = 1024
    max_log_bytes: int = 50 * 2 ** 20
    end: datetime = datetime(2026, 11, 24)
    days: int = 730


@dataclass
class RunPlan:
    """One run before its rows are made: identity, trigger, time, ending and scope."""

    id: int
    platform: Any
    kind: str
    fork_id: int
    commit: str
    pr_nr: int
    created: datetime
    user_id: Optional[int]
    ending: str
    scope: list[int] = field(default_factory=list)
    scoped: bool = True


@dataclass
class RunBlock:
    """The rows of a block of runs, per legacy table name (insert order: parents first)."""

    tables: dict[str, list[Row]] = field(default_factory=lambda: {name: [] for name in RUN_TABLES})


RUN_TABLES = ('test', 'test_fork', 'customized_test', 'test_progress', 'gcp_instance', 'test_result',
              'test_result_file')


class DatasetShape:
    """Deterministic rows of one dataset: ``catalogue()`` first, then ``run_blocks()``, then ``finishing()``."""

    def __init__(self, seed: int, scale: Scale = Scale()) -> None:
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(seed)
        self.tests: list[Row] = []
        self.outputs_of: dict[int, list[Row]] = {}
        self.variants_of: dict[int, list[str]] = {}
        self.category_tests: dict[int, list[int]] = {}
        self.categorised: list[int] = []
        self.required_of: dict[int, list[Row]] = {}
        self.differing_hashes: dict[tuple[int, int], str] = {}
        self.last_passed: dict[tuple[str, int], int] = {}
        self.fetch_commit: dict[str, str] = {}
        self.plans: list[RunPlan] = []
        self.log_runs: dict[int, int] = {}
        self.last_ids: dict[str, int] = {'test_fork': 0, 'customized_test': 0, 'test_progress': 0}
        self.log_details: dict[int, list[tuple[int, int, Optional[str]]]] = {}

    # --- catalogue -------------------------------------------------------------------------------------------

    def catalogue(self) -> dict[str, list[Row]]:
        """Users, forks, versions, categories, samples, regression tests, outputs, variants: rows per table."""
        scale, rng = self.scale, self.rng
        users = [dict(id=1, name='bench-admin', email='admin@bench.example.org', password=PASSWORD_HASH,
                      role=Role.admin, github_token=None)]
        roles = (Role.contributor, Role.tester, Role.user)
        for number in range(2, scale.forks + 1):
            users.append(dict(id=number, name=f'contributor{number}', email=f'contributor{number}@bench.example.org',
                              password=PASSWORD_HASH, role=roles[number % 3], github_token=None))
        forks = [dict(id=1, github=f'https://github.com/{MAIN_OWNER}/{REPOSITORY}.git')]
        forks += [dict(id=number, github=f'https://github.com/contributor{number}/{REPOSITORY}.git')
                  for number in range(2, scale.forks + 1)]
        categories = [dict(id=number, name=_category_name(number), description=f'{_category_name(number)} samples')
                      for number in range(1, scale.categories + 1)]
        samples, uploads = [], []
        for number in range(1, scale.samples + 1):
            extension = EXTENSIONS[rng.randrange(len(EXTENSIONS))]
            samples.append(dict(id=number, sha=sha256(sample_content(number)), extension=extension,
                                original_name=f'recording_{number:04d}'))
            uploads.append(dict(id=number, user_id=1 + rng.randrange(scale.forks), sample_id=number, version_id=2,
                                platform=(Platform.linux, Platform.windows)[number % 2], parameters=COMMANDS[0],
                                notes=f'Uploaded sample {number}'))
        links = self._regression_tests(rng)
        outputs, variants = self._outputs(rng)
        return {
            'user': users, 'fork': forks, 'category': categories, 'sample': samples, 'upload': uploads,
            'ccextractor_version': [
                dict(id=1, version='0.93', released=datetime(2021, 8, 16).date(), commit=_sha1('v0.93')),
                dict(id=2, version='0.94', released=datetime(2021, 12, 15).date(), commit=_sha1('v0.94'))],
            'regression_test': self.tests, 'regression_test_category': links,
            'regression_test_output': outputs, 'regression_test_output_files': variants,
            'maintenance_mode': [dict(id=1, platform=TestPlatform.linux, disabled=False),
                                 dict(id=2, platform=TestPlatform.windows, disabled=False)],
        }

    def _regression_tests(self, rng: random.Random) -> list[Row]:
        scale = self.scale
        weights = [1 + rng.random() * 3 for _ in range(scale.categories)]
        links: list[Row] = []
        for number in range(1, scale.regression_tests + 1):
            sample_id = number if number <= scale.samples else 1 + rng.randrange(scale.samples)
            roll = rng.random()
            expected_rc = 0 if roll < 0.85 else 10 if roll < 0.95 else rng.choice((1, 2, 5))
            self.tests.append(dict(
                id=number, sample_id=sample_id, command=COMMANDS[rng.randrange(len(COMMANDS))],
                input_type=InputType.file if rng.random() < 0.95 else InputType.stdin,
                output_type=OutputType.file if rng.random() < 0.9 else OutputType.stdout,
                expected_rc=expected_rc, active=rng.random() >= 0.05, last_passed_on_windows=None,
                last_passed_on_linux=None, description=f'Regression test {number}'))
            if rng.random() < 0.005:
                continue  # uncategorised: never sent to a worker, never judged (verdicts.md §1)
            chosen = {rng.choices(range(1, scale.categories + 1), weights)[0]}
            if rng.random() < 0.02:
                chosen.add(1 + rng.randrange(scale.categories))
            for category_id in sorted(chosen):
                links.append(dict(regression_id=number, category_id=category_id))
                self.category_tests.setdefault(category_id, []).append(number)
            self.categorised.append(number)
        return links

    def _outputs(self, rng: random.Random) -> tuple[list[Row], list[Row]]:
        outputs: list[Row] = []
        variants: list[Row] = []
        for test in self.tests:
            roll = rng.random()
            count = 1 if roll < 0.75 else 2 if roll < 0.93 else 3
            extension = OUTPUT_EXTENSIONS[rng.randrange(len(OUTPUT_EXTENSIONS))]
            self.outputs_of[test['id']] = []
            for index in range(count):
                output_id = len(outputs) + 1
                output = dict(id=output_id, regression_id=test['id'], correct=sha256(output_content(output_id)),
                              correct_extension=extension, expected_filename='' if index == 0 else f'_{index}',
                              ignore=rng.random() < 0.05)
                outputs.append(output)
                self.outputs_of[test['id']].append(output)
                if rng.random() < 0.08:
                    hashes = [sha256(output_content(output_id, VARIANT, version))
                              for version in range(1 + rng.randrange(2))]
                    self.variants_of[output_id] = hashes
                    for value in hashes:
                        variants.append(dict(id=len(variants) + 1, file_hashes=value,
                                             regression_test_output_id=output_id))
        for test_id, test_outputs in self.outputs_of.items():
            self.required_of[test_id] = [output for output in test_outputs if not output['ignore']]
        return outputs, variants

    # --- runs ------------------------------------------------------------------------------------------------

    def plan_runs(self) -> list[RunPlan]:
        """Every run in id order: pushes to master and PR pushes on both platforms, customized runs, endings."""
        scale, rng = self.scale, self.rng
        start = scale.end - timedelta(days=scale.days)
        step = timedelta(days=scale.days) / max(1, scale.runs // 2)
        moment, open_prs, next_pr = start, [], 1000
        active_tail = max(2, round(scale.runs * 0.03))
        while len(self.plans) < scale.runs:
            moment += step * rng.expovariate(1.0)
            roll = rng.random()
            user_id = None
            if roll < 0.25:
                kind, fork_id, pr_nr = 'master', 1, 0
            elif roll < 0.8:
                kind, fork_id = 'pr', 1
                if not open_prs or rng.random() < 0.35:
                    open_prs.append(next_pr)
                    next_pr += 1 + rng.randrange(3)
                pr_nr = open_prs[rng.randrange(len(open_prs))]
                if len(open_prs) > 40:
                    open_prs.pop(0)
            else:
                kind, pr_nr = 'custom', 0
                fork_id = 2 + min(int(rng.paretovariate(1.2)) - 1, scale.forks - 2) if scale.forks > 1 else 1
                user_id = fork_id if fork_id > 1 else 1
            commit = _sha1(f'{self.seed} commit {len(self.plans)}')
            platforms = (TestPlatform.linux, TestPlatform.windows)
            if kind == 'custom' and rng.random() < 0.4:
                platforms = (platforms[rng.randrange(2)],)
            scope = self._scope(rng, kind)
            for platform in platforms:
                if len(self.plans) == scale.runs:
                    break
                run_id = len(self.plans) + 1
                remaining = scale.runs - run_id
                ending = self._ending(rng, kind, remaining, active_tail)
                self.plans.append(RunPlan(run_id, platform, kind, fork_id, commit, pr_nr, moment, user_id, ending,
                                          scope))
        span = (self.plans[-1].created - start) if self.plans else timedelta(0)
        for plan in self.plans:  # stretch or shrink the random gaps so the last run was created at ``end``
            stretched = start + (plan.created - start) * (timedelta(days=scale.days) / span if span else 0)
            plan.created = stretched.replace(microsecond=0)
        self._choose_logs(rng)
        return self.plans

    def _scope(self, rng: random.Random, kind: str) -> list[int]:
        """The regression tests a run is scoped on: the tests of a few categories (about 30% of them)."""
        count = self.scale.categories
        chosen = rng.sample(range(1, count + 1), rng.randint(max(1, round(count * 0.1)), max(1, round(count * 0.5))))
        tests = sorted({test_id for category in chosen for test_id in self.category_tests.get(category, ())})
        if kind != 'custom':
            tests = [test_id for test_id in tests if self.tests[test_id - 1]['active']]
        return tests

    def _ending(self, rng: random.Random, kind: str, remaining: int, active_tail: int) -> str:
        if remaining < active_tail:
            position = remaining / active_tail
            return 'queued' if position < 0.45 else 'starting' if position < 0.55 else \
                'preparation' if position < 0.65 else 'testing'
        roll = rng.random()
        for ending, share in ENDINGS:
            if roll < share:
                if ending == 'pr_closed' and kind != 'pr':
                    return 'completed'
                return ending
            roll -= share
        return 'completed'

    def _choose_logs(self, rng: random.Random) -> None:
        """Runs that get a worker log, with their sizes (log-uniform); the newest completed one gets the maximum."""
        completed = [plan.id for plan in self.plans if plan.ending == 'completed']
        if not completed or not self.scale.logs:
            return
        self.log_runs[completed[-1]] = self.scale.max_log_bytes
        low, high = self.scale.min_log_bytes, self.scale.max_log_bytes
        for run_id in rng.sample(completed[:-1], min(self.scale.logs - 1, len(completed) - 1)):
            self.log_runs[run_id] = int(low * (high / low) ** rng.random())

    def run_blocks(self, size: int = 200) -> Iterator[RunBlock]:
        """The rows of every planned run, ``size`` runs per block, in id order."""
        for first in range(0, len(self.plans), size):
            block = RunBlock()
            for plan in self.plans[first:first + size]:
                self._run_rows(plan, block.tables)
            yield block

    def _run_rows(self, plan: RunPlan, tables: dict[str, list[Row]]) -> None:
        rng = random.Random(f'{self.seed}-{plan.id}')
        pull_request = plan.kind == 'pr'
        tables['test'].append(dict(
            id=plan.id, platform=plan.platform, test_type=TestType.pull_request if pull_request else TestType.commit,
            token=hashlib.sha256(f'{self.seed} token {plan.id}'.encode()).hexdigest(), fork_id=plan.fork_id,
            branch='pull_request' if pull_request else 'master', commit=plan.commit, pr_nr=plan.pr_nr))
        if plan.user_id is not None and plan.kind == 'custom':
            tables['test_fork'].append(dict(id=self._next_id('test_fork'), user_id=plan.user_id, test_id=plan.id))
        descheduled = plan.ending in ('actions_failed', 'artifact_missing', 'pr_closed')
        unscoped_queue = plan.ending == 'queued' and rng.random() < 0.5
        if not descheduled and not unscoped_queue:
            tables['customized_test'] += [dict(id=self._next_id('customized_test'), test_id=plan.id,
                                               regression_id=test_id) for test_id in plan.scope]
        else:
            plan.scoped = False
        moment = plan.created + timedelta(minutes=1 + rng.randrange(20))
        vm_name = f'{plan.platform.value}-{plan.id}'
        progress: list[tuple[str, str]] = []
        reported = plan.scope
        if plan.ending in ('starting', 'preparation', 'testing', 'time_limit', 'canceled_by_user'):
            prepared = moment + timedelta(minutes=5) if plan.ending not in ('starting', 'preparation') else None
            tables['gcp_instance'].append(dict(name=vm_name, test_id=plan.id, timestamp=moment,
                                               timestamp_prep_finished=prepared))
        if plan.ending in ('queued', 'starting'):
            reported = []
        elif plan.ending == 'preparation':
            progress, reported = [('preparation', MESSAGES['preparation'])], []
        elif plan.ending in ('testing', 'time_limit', 'canceled_by_user'):
            progress = [('preparation', MESSAGES['preparation']), ('testing', MESSAGES['testing'])]
            reported = plan.scope[:int(len(plan.scope) * rng.uniform(0.1, 0.9))]
            if plan.ending == 'time_limit':
                progress.append(('canceled', ERROR_MESSAGES['time_limit']))
            elif plan.ending == 'canceled_by_user':
                progress.append(('canceled', 'Canceled by user' if plan.kind == 'custom' else 'Canceled by admin'))
        elif plan.ending in ('actions_failed', 'artifact_missing', 'pr_closed'):
            progress, reported = [('canceled', ERROR_MESSAGES[plan.ending])], []
        elif plan.ending == 'duplicate_entries':
            progress, reported = [('preparation', MESSAGES['preparation']),
                                  ('canceled', ERROR_MESSAGES['duplicate_entries'])], []
        elif plan.ending == 'revived':
            progress = [('preparation', MESSAGES['preparation']), ('testing', MESSAGES['testing']),
                        ('canceled', 'Canceled by user'), ('completed', MESSAGES['completed'])]
        else:
            progress = [('preparation', MESSAGES['preparation']), ('testing', MESSAGES['testing']),
                        ('completed', MESSAGES['completed'])]
        self._results(plan, rng, reported, tables)
        duration = timedelta(seconds=5 * len(reported) + rng.randrange(600))
        for index, (status, message) in enumerate(progress):
            at = moment + (timedelta(minutes=2 * index) if status != 'completed' else duration + timedelta(minutes=4))
            if status == 'canceled' and index == len(progress) - 1 and plan.ending == 'time_limit':
                at = moment + timedelta(minutes=120)
            tables['test_progress'].append(dict(id=self._next_id('test_progress'), test_id=plan.id,
                                                status=TestStatus.from_string(status), timestamp=at, message=message))
        if progress and progress[-1][0] == 'completed' and plan.kind == 'master':
            self.fetch_commit[plan.platform.value] = plan.commit

    def _next_id(self, table: str) -> int:
        """The next id of an auto-increment table, given explicitly so ids never depend on the table's history."""
        self.last_ids[table] += 1
        return self.last_ids[table]

    def _results(self, plan: RunPlan, rng: random.Random, reported: list[int], tables: dict[str, list[Row]]) -> None:
        """Results and result files of the tests a run reported: 2-5% failing on average, in every way."""
        if not reported:
            return
        failure_rate = 0.0 if rng.random() < 0.35 else rng.uniform(0.02, 0.08)
        failing = set(rng.sample(reported, min(len(reported), round(len(reported) * failure_rate))))
        lost = set(rng.sample(reported, min(len(reported), 1 + rng.randrange(3)))) if rng.random() < 0.02 else set()
        results, files = tables['test_result'], tables['test_result_file']
        main_commit = plan.kind == 'master' and plan.ending in ('completed', 'revived')
        for test_id in reported:
            test = self.tests[test_id - 1]
            expected_rc = test['expected_rc']
            mode = rng.choices(FAILURES_NAMES, FAILURE_WEIGHTS)[0] if test_id in failing else None
            required = self.required_of[test_id]
            if mode in ('missing_output', 'diff') and not required:
                mode = 'exit_code'
            exit_code = expected_rc
            if mode == 'exit_code':
                exit_code = 0 if expected_rc else rng.choice((1, 2, 10))
            elif mode == 'crash':
                exit_code = -11 if plan.platform is TestPlatform.linux else -1073741819
            if plan.id in self.log_runs:
                self.log_details.setdefault(plan.id, []).append((test_id, exit_code, mode))
            if test_id not in lost:
                results.append(dict(test_id=plan.id, regression_test_id=test_id, exit_code=exit_code,
                                    runtime=min(600_000, int(rng.lognormvariate(7.5, 0.9))), expected_rc=expected_rc))
            if mode in ('crash', 'missing_output'):
                continue
            differing = rng.randrange(len(required)) if mode == 'diff' else -1
            skipped = rng.randrange(len(required)) if len(required) > 1 and rng.random() < 0.02 else -1
            for index, output in enumerate(required):
                if index == skipped and differing != index:
                    continue  # a second output not reported: missing_expected, the sample still passes
                got = None
                if index == differing:
                    got = self._differing_hash(output['id'], rng.randrange(3))
                elif output['id'] in self.variants_of and rng.random() < 0.3:
                    got = rng.choice(self.variants_of[output['id']])
                files.append(dict(test_id=plan.id, regression_test_id=test_id, regression_test_output_id=output['id'],
                                  expected=output['correct'], got=got))
            if main_commit and mode is None:
                self.last_passed[(plan.platform.value, test_id)] = plan.id

    def _differing_hash(self, output_id: int, version: int) -> str:
        """The ``got`` of differing upload ``version`` of an output (computed once; its file is written later)."""
        key = (output_id, version)
        if key not in self.differing_hashes:
            self.differing_hashes[key] = sha256(output_content(output_id, DIFFERING, version))
        return self.differing_hashes[key]

    # --- after the runs --------------------------------------------------------------------------------------

    def finishing(self) -> tuple[list[Row], list[Row]]:
        """``general_data`` rows and the regression tests' ``last_passed_on_*`` updates (known after the runs)."""
        last = self.fetch_commit
        general = [dict(id=1, key='last_commit', value=last.get('linux', _sha1('none'))),
                   dict(id=2, key='fetch_commit_linux', value=last.get('linux', _sha1('none'))),
                   dict(id=3, key='fetch_commit_windows', value=last.get('windows', _sha1('none'))),
                   dict(id=4, key='average_time_linux', value='1875'),
                   dict(id=5, key='average_time_windows', value='3020')]
        updates = []
        for test in self.tests:
            linux = self.last_passed.get(('linux', test['id']))
            windows = self.last_passed.get(('windows', test['id']))
            if linux or windows:
                updates.append(dict(b_id=test['id'], b_linux=linux, b_windows=windows))
        return general, updates

    def logs(self, samples: list[Row]) -> Iterator[tuple[int, Iterator[str]]]:
        """(run id, lines) of every run chosen for a worker log, sized as chosen (1 KB to ``max_log_bytes``)."""
        plans = {plan.id: plan for plan in self.plans}
        for run_id, size in sorted(self.log_runs.items()):
            plan = plans[run_id]
            entries = []
            for test_id, exit_code, mode in self.log_details.get(run_id, ()):
                test = self.tests[test_id - 1]
                sample = samples[test['sample_id'] - 1]
                name = sample['sha'] + (f".{sample['extension']}" if sample['extension'] else '')
                entries.append(LogEntry(test_id, test['command'], name, exit_code, test['expected_rc'], mode))
            yield run_id, worker_log(f'{plan.platform.value}-{run_id}', plan.commit, plan.created, entries, size)

    def repository_files(self, outputs: list[Row], samples: list[Row]) -> Iterator[tuple[str, bytes]]:
        """(relative path, content) of every sample, reference output, variant and differing upload named by rows."""
        for sample in samples:
            name = sample['sha'] + (f".{sample['extension']}" if sample['extension'] else '')
            yield f'TestFiles/{name}', sample_content(sample['id'])
        extension_of = {output['id']: output['correct_extension'] for output in outputs}
        for output_id, extension in extension_of.items():
            yield f'TestResults/{sha256(output_content(output_id))}{extension}', output_content(output_id, REFERENCE)
            for version in range(len(self.variants_of.get(output_id, ()))):
                content = output_content(output_id, VARIANT, version)
                yield f'TestResults/{sha256(content)}{extension}', content
        for output_id, version in sorted(self.differing_hashes):
            content = output_content(output_id, DIFFERING, version)
            yield f'TestResults/{sha256(content)}{extension_of[output_id]}', content


FAILURES_NAMES = [name for name, _ in FAILURES]
FAILURE_WEIGHTS = [weight for _, weight in FAILURES]
# Every user's password is 'bench-password': sha512_crypt with a fixed salt and few rounds (deterministic, verifies
# like the platform's hashes).
PASSWORD_HASH = sha512_crypt.using(rounds=5000, salt='benchdataset0001').hash('bench-password')


def _category_name(number: int) -> str:
    base = CATEGORY_NAMES[(number - 1) % len(CATEGORY_NAMES)]
    return base if number <= len(CATEGORY_NAMES) else f'{base} {number}'


def _sha1(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()
