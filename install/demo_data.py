"""Demo data for the embedded default, built through the legacy models: ``seed(session, repository_path)``.

What it makes (once: a second call finds the demo admin and changes nothing):

* users of every role (admin, contributor, tester, user), passwords hashed with passlib sha512_crypt;
* the main repository fork plus two contributors' forks, two CCExtractor versions, the ``general_data`` keys the
  platform dereferences (``last_commit``, ``fetch_commit_linux``, ``fetch_commit_windows``, average run times);
* the five legacy categories, the two shipped media files as samples (stored as ``TestFiles/<sha256>.ts``, with
  uploads, tags, an issue and one media-info XML), regression tests (active and inactive, linked to categories),
  their expected outputs (``TestResults/<sha256>.srt``) and one accepted variant;
* twelve runs on both platforms covering every state the platform can hold: queued (no progress rows), starting
  (a VM row, no progress yet), preparation, testing, completed with all tests passing, completed with failures (a
  diff mismatch, an exit-code mismatch, an output accepted through a variant, a missing output), canceled by a
  user, and aborted (time limit exceeded; GitHub Actions build failed); customized runs with their
  ``customized_test``/``test_fork`` rows; worker logs under ``LogFiles/<run id>.txt``.

As on the real platform, the timeout sweep and a user's stop leave their ``gcp_instance`` row behind, and runs not
yet scoped have no ``customized_test`` rows. Times are UTC, relative to the moment of seeding, in whole seconds.

``python -m install.demo_data`` (from the checkout root, as install/demo.sh does) reads ``config.py`` like run.py,
creates the legacy and mod_api tables, seeds, mints a fresh demo token (only its hash is stored) and prints how to
call the API.
"""
import hashlib
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Optional

from passlib.hash import sha512_crypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from mod_api import tokens
from mod_api.access import SCOPES_BY_ROLE
from mod_api.legacy import (
    Category,
    CCExtractorVersion,
    CustomizedTest,
    Fork,
    GcpInstance,
    GeneralData,
    MaintenanceMode,
    RegressionTest,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    Role,
    Sample,
    Tag,
    Test,
    TestFork,
    TestPlatform,
    TestProgress,
    TestResult,
    TestResultFile,
    TestStatus,
    TestType,
    Upload,
    User,
)
from mod_api.models import ApiToken
from mod_api.timeutil import utcnow
from mod_ci.models import BlockedUsers
from mod_regression.models import InputType, OutputType
from mod_sample.models import ForbiddenExtension, ForbiddenMimeType, Issue
from mod_upload.models import Platform

SAMPLE_FILES = Path(__file__).resolve().parent / 'sample_files'
DEMO_PASSWORD = 'ccextractor-demo'
ADMIN_EMAIL = 'admin@example.org'
# name, role, email: one user of every role; all share DEMO_PASSWORD.
USERS = (
    ('demo-admin', Role.admin, ADMIN_EMAIL),
    ('demo-contributor', Role.contributor, 'contributor@example.org'),
    ('demo-tester', Role.tester, 'tester@example.org'),
    ('demo-user', Role.user, 'user@example.org'),
)
MAIN_FORK = 'https://github.com/CCExtractor/ccextractor.git'
REPOSITORY_FOLDERS = ('TempFiles', 'LogFiles', 'TestResults', 'TestFiles', 'TestFiles/media', 'TestFiles/extra',
                      'QueuedFiles', 'TestData/ci-linux', 'TestData/ci-windows')
CATEGORIES = (
    ('Broken', 'Samples that are broken'),
    ('DVB', 'Samples that contain DVB subtitles'),
    ('DVD', 'Samples that contain DVD subtitles'),
    ('MP4', 'Samples that are stored in the MP4 format'),
    ('General', 'General regression samples'),
)
PREPARATION_MESSAGE = 'Loaded variables, created log file and checking for CCExtractor build artifact'


def _commit(label: str) -> str:
    """A stable, realistic-looking 40-hex commit SHA for a demo commit."""
    return hashlib.sha1(f'ccextractor demo {label}'.encode()).hexdigest()


COMMITS = {name: _commit(name) for name in ('v0.93', 'v0.94', 'master-1', 'master-2', 'pr-1401', 'pr-1402',
                                             'tester-fix', 'contributor-fix')}


def sha256(content: bytes) -> str:
    """SHA-256 hex of ``content``: how the platform names samples and output files."""
    return hashlib.sha256(content).hexdigest()


def _srt(cues: list[tuple[str, str, str]], newline: str = '\n') -> bytes:
    """An SRT subtitle file from (start, end, text) cues."""
    blocks = [f'{number}{newline}{start} --> {end}{newline}{text.replace(chr(10), newline)}{newline}'
              for number, (start, end, text) in enumerate(cues, 1)]
    return newline.join(blocks).encode('utf-8')


NEWS = [
    ('00:00:01,201', '00:00:03,703', 'Good evening, and welcome\nto the late news.'),
    ('00:00:04,004', '00:00:06,840', 'Heavy rain is expected across\nthe north of the country tonight.'),
    ('00:00:07,107', '00:00:09,943', 'Drivers are advised to take care\non exposed roads.'),
    ('00:00:10,277', '00:00:13,280', 'In sport, the home side won\nby two goals to one.'),
]
WEATHER = [
    ('00:00:00,834', '00:00:02,502', '[MUSIC]'),
    ('00:00:02,836', '00:00:05,672', 'A bright start in the east,\nbut cloud will build from the west.'),
    ('00:00:06,006', '00:00:08,842', 'Highs of fourteen degrees,\nfeeling colder in the wind.'),
]
# Reference outputs (expected files), keyed by a short name; all stored as TestResults/<sha256>.srt.
REFERENCE = {
    'news': _srt(NEWS),
    'news-upper': _srt([(start, end, text.upper()) for start, end, text in NEWS]),
    'weather': _srt(WEATHER),
    'weather-late': _srt(WEATHER[1:]),
    'weather-field1': _srt(WEATHER[:2]),
    'weather-field2': _srt([('00:00:02,836', '00:00:05,672', 'CC3: [INAUDIBLE]')]),
}
# The accepted variant of 'weather': timings one frame off, as some builds round them.
VARIANT_WEATHER = _srt([(start[:-1] + '1', end[:-1] + '1', text) for start, end, text in WEATHER])
# What a run uploaded when its 'news' output differed: a cue lost and a timing shifted.
DIFFERING_NEWS = _srt([NEWS[0], ('00:00:04,171', '00:00:06,840', NEWS[1][2]), NEWS[3]])


@dataclass
class Seeded:
    """Ids of what :func:`seed` made that callers (and tests) look for."""

    admin_id: int
    run_ids: dict[str, int]


def is_seeded(session: Session) -> bool:
    """True when the demo data is already there (the demo admin exists)."""
    return session.execute(select(User.id).where(User.email == ADMIN_EMAIL)).first() is not None


def seed(session: Session, repository_path: str, now: Optional[datetime] = None) -> Optional[Seeded]:
    """Seed the demo data into ``session``'s database and the sample repository at ``repository_path``.

    Idempotent: returns None without touching anything when the demo admin already exists; otherwise writes the
    files, adds every row in one transaction, commits, and returns what it made.
    """
    if is_seeded(session):
        return None
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    return _Seeder(session, Path(repository_path), now).run()


class _Seeder:
    """Builds the demo data step by step; every row goes through the legacy models."""

    def __init__(self, session: Session, repository: Path, now: datetime) -> None:
        self.session = session
        self.repository = repository
        self.now = now
        self.users: dict[str, User] = {}
        self.forks: dict[str, Fork] = {}
        self.categories: dict[str, Category] = {}
        self.samples: dict[str, Sample] = {}
        self.tests: dict[str, RegressionTest] = {}
        self.outputs: dict[str, RegressionTestOutput] = {}
        self.runs: dict[str, Test] = {}
        self.history: dict[str, _History] = {}
        self.outputs_of: dict[str, list[str]] = {}
        self.sample_of: dict[str, Sample] = {}

    def run(self) -> Seeded:
        for folder in REPOSITORY_FOLDERS:
            (self.repository / folder).mkdir(parents=True, exist_ok=True)
        self._platform_data()
        self._samples()
        self._regression_tests()
        self._runs()
        self.session.commit()
        return Seeded(self.users['admin'].id, {key: run.id for key, run in self.runs.items()})

    # --- files -----------------------------------------------------------------------------------------------

    def _write(self, relative: str, content: bytes) -> None:
        """Write a repository file unless it already holds exactly ``content`` (content-addressed names)."""
        path = self.repository / relative
        if path.is_file() and path.read_bytes() == content:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    def _store_result_file(self, content: bytes, extension: str = '.srt') -> str:
        digest = sha256(content)
        self._write(f'TestResults/{digest}{extension}', content)
        return digest

    def _add(self, *rows: Any) -> None:
        self.session.add_all(rows)
        self.session.flush()

    # --- users, forks, versions, platform keys ---------------------------------------------------------------

    def _platform_data(self) -> None:
        password = sha512_crypt.using(rounds=5000).hash(DEMO_PASSWORD)
        for name, role, email in USERS:
            self.users[role.value] = User(name, role, email, password)
        self._add(*self.users.values())
        for owner in ('CCExtractor', 'demo-tester', 'demo-contributor'):
            self.forks[owner] = Fork(f'https://github.com/{owner}/ccextractor.git')
        self._add(*self.forks.values())
        self.versions = {
            '0.93': CCExtractorVersion('0.93', '2021-08-16T09:12:40Z', COMMITS['v0.93']),
            '0.94': CCExtractorVersion('0.94', '2021-12-15T17:41:05Z', COMMITS['v0.94']),
        }
        self._add(*self.versions.values())
        self._add(
            GeneralData('last_commit', COMMITS['master-2']),
            GeneralData('fetch_commit_linux', COMMITS['master-2']),
            GeneralData('fetch_commit_windows', COMMITS['master-1']),
            GeneralData('average_time_linux', '1875'),
            GeneralData('average_time_windows', '3020'),
            MaintenanceMode(TestPlatform.linux, False),
            MaintenanceMode(TestPlatform.windows, False),
            BlockedUsers(9051723, 'Opened spam pull requests'),
            ForbiddenExtension('js'),
            ForbiddenExtension('com'),
            ForbiddenMimeType('application/javascript'),
        )
        for name, description in CATEGORIES:
            self.categories[name] = Category(name, description)
        self._add(*self.categories.values())

    # --- samples ---------------------------------------------------------------------------------------------

    def _samples(self) -> None:
        tags = {name: Tag(name, description) for name, description in (
            ('dvb', 'Broadcast recordings with DVB subtitles'),
            ('teletext', 'Teletext subtitle pages'),
            ('short', 'Clips shorter than a minute'))}
        self._add(*tags.values())
        for name in ('sample1', 'sample2'):
            content = (SAMPLE_FILES / f'{name}.ts').read_bytes()
            sample = Sample(sha256(content), 'ts', name)
            self._write(f'TestFiles/{sample.filename}', content)
            self.samples[name] = sample
        self.samples['sample1'].tags.extend([tags['dvb'], tags['teletext'], tags['short']])
        self.samples['sample2'].tags.append(tags['short'])
        self._add(*self.samples.values())
        sample1, sample2 = self.samples['sample1'], self.samples['sample2']
        self._write(f'TestFiles/media/{sample1.sha}.xml', _media_info(sample1, (SAMPLE_FILES / 'sample1.ts')))
        self._add(
            Upload(self.users['user'].id, sample1.id, self.versions['0.94'].id, Platform.linux,
                   '-autoprogram -out=srt -latin1', 'Recorded from a DVB-T news broadcast; teletext page 888.'),
            Upload(self.users['contributor'].id, sample2.id, self.versions['0.93'].id, Platform.windows,
                   '-autoprogram -out=srt', 'Weather bulletin; the first caption is missing in the output.'),
            Issue(sample2.id, 1389, '2021-09-02T10:15:00Z', 'First caption of a weather bulletin is dropped',
                  'demo-contributor', 'open'),
        )

    # --- regression tests, outputs, variant ------------------------------------------------------------------

    def _regression_tests(self) -> None:
        sample1, sample2 = self.samples['sample1'], self.samples['sample2']
        # key: sample, command, expected exit code, active, categories, description
        specs = (
            ('news', sample1, '-autoprogram -out=srt -latin1', 0, True, ('DVB', 'General'),
             'Teletext subtitles of a news bulletin'),
            ('news-upper', sample1, '-autoprogram -out=srt -latin1 -ucla', 0, True, ('General',),
             'Same bulletin, all captions upper case'),
            ('weather', sample2, '-autoprogram -out=srt -latin1', 0, True, ('DVD',),
             'Weather bulletin'),
            ('weather-late', sample2, '-autoprogram -out=srt -startat 00:00:02', 0, False, ('Broken',),
             'Start time option; disabled until the seek fix lands'),
            ('weather-fields', sample2, '-autoprogram -out=srt -12', 0, True, ('DVB',),
             'Both caption fields; the second field output is not compared'),
        )
        for key, sample, command, expected_rc, active, categories, description in specs:
            regression_test = RegressionTest(sample.id, command, InputType.file, OutputType.file, None, expected_rc,
                                             active, description)
            for category in categories:
                self.categories[category].regression_tests.append(regression_test)
            self.tests[key] = regression_test
            self.sample_of[key] = sample
            self.outputs_of[key] = []
        self._add(*self.tests.values())
        # output key (= its reference file in REFERENCE): regression test, expected_filename, ignore
        for key, test_key, expected_filename, ignore in (
                ('news', 'news', '', False),
                ('news-upper', 'news-upper', '', False),
                ('weather', 'weather', '', False),
                ('weather-late', 'weather-late', '', False),
                ('weather-field1', 'weather-fields', '_1', False),
                ('weather-field2', 'weather-fields', '_2', True)):
            correct = self._store_result_file(REFERENCE[key])
            self.outputs[key] = RegressionTestOutput(self.tests[test_key].id, correct, '.srt', expected_filename,
                                                     ignore)
            self.outputs_of[test_key].append(key)
        self._add(*self.outputs.values())
        self.variant_hash = self._store_result_file(VARIANT_WEATHER)
        self._add(RegressionTestOutputFiles(self.variant_hash, self.outputs['weather'].id))

    # --- runs ------------------------------------------------------------------------------------------------

    def _runs(self) -> None:
        now, day, hour, minute = self.now, timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
        active = ('news', 'news-upper', 'weather', 'weather-fields')
        main, tester, contributor = self.forks['CCExtractor'], self.forks['demo-tester'], self.forks['demo-contributor']
        linux, windows = TestPlatform.linux, TestPlatform.windows
        differing = self._store_result_file(DIFFERING_NEWS)

        # Master commit 1, three days ago: both platforms completed, every test passing (the old baselines).
        created = now - 3 * day
        run = self._run('master-1-linux', linux, TestType.commit, main, COMMITS['master-1'], active, created)
        self._progress(run, created, [(2, 'preparation'), (6, 'testing'), (31, 'completed')])
        self._results(run, {'news': (1840, 0, None), 'news-upper': (2210, 0, None), 'weather': (960, 0, None),
                            'weather-fields': (1530, 0, None)})
        run = self._run('master-1-windows', windows, TestType.commit, main, COMMITS['master-1'], active, created)
        self._progress(run, created, [(3, 'preparation'), (9, 'testing'), (52, 'completed')])
        self._results(run, {'news': (2405, 0, None), 'news-upper': (2630, 0, None), 'weather': (1322, 0, None),
                            'weather-fields': (1904, 0, None)})

        # Master commit 2, yesterday: Linux completed with failures; Windows aborted by the timeout sweep.
        created = now - day
        run = self._run('master-2-linux', linux, TestType.commit, main, COMMITS['master-2'], active, created)
        self._progress(run, created, [(2, 'preparation'), (5, 'testing'), (33, 'completed')])
        self._results(run, {
            'news': (1902, 0, {'news': differing}),                 # diff mismatch (uploaded output differs)
            'news-upper': (2187, 2, None),                          # exit code 2, expected 0
            'weather': (1011, 0, {'weather': self.variant_hash}),   # differs, but is the accepted variant
            'weather-fields': (1498, 0, {}),                        # produced no output file at all
        })
        run = self._run('master-2-windows', windows, TestType.commit, main, COMMITS['master-2'], active, created)
        self._vm(run, created + minute)
        self._progress(run, created, [(4, 'preparation'),
                                      (124, 'canceled', 'Could not complete test, time limit exceeded')])

        # A tester's customized run six hours ago (an inactive test included on purpose), Windows stopped by them.
        created = now - 6 * hour
        scope = ('news', 'weather-late')
        run = self._run('tester-linux', linux, TestType.commit, tester, COMMITS['tester-fix'], scope, created,
                        self.users['tester'])
        self._progress(run, created, [(2, 'preparation'), (5, 'testing'), (11, 'completed')])
        self._results(run, {'news': (1795, 0, None), 'weather-late': (1204, 0, None)})
        run = self._run('tester-windows', windows, TestType.commit, tester, COMMITS['tester-fix'], scope, created,
                        self.users['tester'])
        self._vm(run, created + 2 * minute)
        self._progress(run, created, [(3, 'preparation'), (7, 'canceled', 'Canceled by user')])

        # Pull request 1401, fifty minutes ago: Linux testing (two results in), Windows still preparing.
        created = now - 50 * minute
        run = self._run('pr-1401-linux', linux, TestType.pull_request, main, COMMITS['pr-1401'], active, created,
                        pr_nr=1401)
        self._vm(run, created + minute, prepared=created + 7 * minute)
        self._progress(run, created, [(3, 'preparation'), (7, 'testing')])
        self._results(run, {'news': (1877, 0, None), 'news-upper': (2241, 0, None)})
        run = self._run('pr-1401-windows', windows, TestType.pull_request, main, COMMITS['pr-1401'], active,
                        created, pr_nr=1401)
        self._vm(run, created + 44 * minute)
        self._progress(run, created, [(46, 'preparation')])

        # A contributor's customized run twenty minutes ago: Linux VM starting, Windows build failed.
        created = now - 20 * minute
        scope = ('weather', 'weather-fields')
        run = self._run('contributor-linux', linux, TestType.commit, contributor, COMMITS['contributor-fix'], scope,
                        created, self.users['contributor'])
        self._vm(run, now - minute)
        run = self._run('contributor-windows', windows, TestType.commit, contributor, COMMITS['contributor-fix'],
                        scope, created, self.users['contributor'])
        self._progress(run, created, [(5, 'canceled', 'Cancelling tests as Github Action(s) failed')])

        # Pull request 1402, five minutes ago: queued on both platforms (not scoped yet, no VM, no progress).
        created = now - 5 * minute
        self._run('pr-1402-linux', linux, TestType.pull_request, main, COMMITS['pr-1402'], (), created, pr_nr=1402)
        self._run('pr-1402-windows', windows, TestType.pull_request, main, COMMITS['pr-1402'], (), created,
                  pr_nr=1402)

        # Badges: the last main-repository commit run in which each regression test passed.
        for key in active:
            self.tests[key].last_passed_on_linux = self.runs['master-1-linux'].id
            self.tests[key].last_passed_on_windows = self.runs['master-1-windows'].id
        self.tests['weather'].last_passed_on_linux = self.runs['master-2-linux'].id
        self._write_logs()
        self.session.flush()

    def _run(self, key: str, platform: Any, test_type: Any, fork: Fork, commit: str, scope: tuple[str, ...],
             created: datetime, starter: Optional[User] = None, pr_nr: int = 0) -> Test:
        branch = 'pull_request' if test_type is TestType.pull_request else 'master'
        run = Test(platform, test_type, fork.id, branch, commit, pr_nr)
        self._add(run)
        self._add(*(CustomizedTest(run.id, self.tests[test_key].id) for test_key in scope))
        if starter is not None:
            self._add(TestFork(starter.id, run.id))
        self.runs[key] = run
        self.history[key] = _History(fork.github_name)
        return run

    def _vm(self, run: Test, started: datetime, prepared: Optional[datetime] = None) -> None:
        """The ``gcp_instance`` row of a run's VM (naive times: the platform's servers keep UTC)."""
        instance = GcpInstance(f'{run.platform.value}-{run.id}', run.id, started.replace(tzinfo=None))
        instance.timestamp_prep_finished = prepared.replace(tzinfo=None) if prepared else None
        self._add(instance)

    def _progress(self, run: Test, created: datetime, steps: list[tuple]) -> None:
        """Progress rows at ``created`` + minutes, with the messages the worker and the platform write."""
        messages = {'preparation': PREPARATION_MESSAGE, 'testing': 'Running tests', 'completed': 'Ran all tests'}
        history = self._history_of(run)
        for minutes, status, *message in steps:
            moment = created + timedelta(minutes=minutes)
            self._add(TestProgress(run.id, TestStatus.from_string(status), message[0] if message else messages[status],
                                   moment))
            history.progress.append((status, moment))

    def _results(self, run: Test, results: dict[str, tuple[int, int, Optional[dict[str, str]]]]) -> None:
        """Add results per regression test: (runtime ms, exit code, files).

        ``files`` None: every compared output matched; else output key → got hash, and a compared output left out
        of it produced no file (a missing output: no test_result_file row).
        """
        for test_key, (runtime, exit_code, files) in results.items():
            regression_test = self.tests[test_key]
            self._add(TestResult(run.id, regression_test.id, runtime, exit_code, regression_test.expected_rc))
            for output_key in self.outputs_of[test_key]:
                output = self.outputs[output_key]
                if output.ignore or (files is not None and output_key not in files):
                    continue
                got = None if files is None else files[output_key]
                self._add(TestResultFile(run.id, regression_test.id, output.id, output.correct, got))
        self._history_of(run).results = results

    def _history_of(self, run: Test) -> '_History':
        return next(self.history[key] for key, value in self.runs.items() if value is run)

    def _write_logs(self) -> None:
        """The worker log of every run whose worker finished and uploaded it."""
        for key, run in self.runs.items():
            history = self.history[key]
            if history.progress and history.progress[-1][0] == 'completed':
                self._write(f'LogFiles/{run.id}.txt', self._worker_log(run, history))

    def _worker_log(self, run: Test, history: '_History') -> bytes:
        """A worker log like the CI VM uploads: timestamped lines with levels, following the run's progress."""
        progress = dict(history.progress)
        lines: list[str] = []
        moment = progress['preparation']

        def log(level: str, text: str, seconds: int = 1) -> None:
            nonlocal moment
            moment += timedelta(seconds=seconds)
            lines.append(f'{moment:%Y-%m-%d %H:%M:%S} UTC [{level}] {text}')

        log('INFO', f'runCI: loaded variables for {run.platform.value}-{run.id} '
                    f'(fork {history.fork_name}, commit {run.commit})', 0)
        log('INFO', 'runCI: created log file')
        log('INFO', 'runCI: downloading the CCExtractor build artifact from GitHub Actions', 3)
        log('INFO', 'runCI: artifact unpacked; ccextractor --version reports 0.94', 41)
        moment = progress['testing'] - timedelta(seconds=1)
        log('INFO', 'runCI: reporting status testing')
        log('INFO', f'tester: {len(history.results)} regression tests to run')
        for number, (test_key, (runtime, exit_code, files)) in enumerate(history.results.items(), 1):
            regression_test = self.tests[test_key]
            sample = self.sample_of[test_key]
            log('INFO', f'tester: [{number}/{len(history.results)}] regression test {regression_test.id}: '
                        f'ccextractor {regression_test.command} {sample.filename}', 2)
            log('INFO', f'tester: regression test {regression_test.id} exited with {exit_code} after {runtime} ms',
                runtime // 1000 + 1)
            if exit_code != regression_test.expected_rc:
                log('ERROR', f'tester: regression test {regression_test.id}: exit code {exit_code}, '
                             f'expected {regression_test.expected_rc}', 0)
            for output_key in self.outputs_of[test_key]:
                output = self.outputs[output_key]
                produced = output.filename_expected(sample.sha)
                if output.ignore:
                    log('INFO', f'tester: {produced}: not compared (output ignored)', 0)
                elif files is not None and output_key not in files:
                    log('ERROR', f'tester: {produced}: expected output file was not produced', 0)
                elif files is not None and files[output_key]:
                    log('WARNING', f'tester: {produced} differs from {output.filename_correct}; '
                                   f'uploaded as {files[output_key]}{output.correct_extension}', 0)
                else:
                    log('INFO', f'tester: {produced} matches {output.filename_correct}', 0)
        log('INFO', 'tester: all regression tests done', 3)
        moment = progress['completed'] - timedelta(seconds=3)
        log('INFO', 'runCI: reporting status completed')
        log('INFO', 'runCI: uploading this log; the VM will be deleted', 1)
        return ('\n'.join(lines) + '\n').encode('utf-8')


@dataclass
class _History:
    """What the seeder remembers of a run to write its worker log."""

    fork_name: str
    progress: list[tuple[str, datetime]] = field(default_factory=list)
    results: dict[str, tuple[int, int, Optional[dict[str, str]]]] = field(default_factory=dict)


def _media_info(sample: Sample, path: Path) -> bytes:
    """Media-info XML as ``mediainfo --Output=XML`` writes it (the platform stores it beside the sample)."""
    size = path.stat().st_size
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Mediainfo version="0.7.91">
<File>
<track type="General">
<Complete_name>/repository/TestFiles/{sample.filename}</Complete_name>
<Format>OGG</Format>
<File_size>{size / 1024:.0f} KiB</File_size>
<Duration>14s 14ms</Duration>
<Overall_bit_rate>{size * 8 / 14014:.0f} kb/s</Overall_bit_rate>
<Writing_application>Xiph.Org libtheora 1.1 20090822 (Thusnelda)</Writing_application>
</track>
<track type="Video">
<ID>1</ID>
<Format>Theora</Format>
<Duration>14s 14ms</Duration>
<Width>720 pixels</Width>
<Height>480 pixels</Height>
<Display_aspect_ratio>3:2</Display_aspect_ratio>
<Frame_rate>29.970 (30000/1001) fps</Frame_rate>
<Compression_mode>Lossy</Compression_mode>
</track>
<track type="Text">
<ID>888</ID>
<Format>Teletext Subtitle</Format>
<Language>English</Language>
</track>
</File>
</Mediainfo>
""".encode('utf-8')


def mint_demo_token(session: Session, days: int = 30) -> str:
    """Store a new API token for the demo admin with every scope its role allows; return the value (shown once)."""
    admin = session.execute(select(User).where(User.email == ADMIN_EMAIL)).scalar_one()
    minted = tokens.mint_token()
    now = utcnow()
    session.add(ApiToken(key_id=minted.key_id, secret_hash=minted.secret_hash, user_id=admin.id,
                         name=f'demo-{minted.key_id[:8]}', scopes=' '.join(SCOPES_BY_ROLE['admin']),
                         created_at=now, expires_at=now + timedelta(days=days), created_ip=None))
    session.commit()
    return minted.value


def _example_path(app: Any) -> str:
    """A GET operation without path parameters that needs a token, for the curl example."""
    from mod_api.operations import declared_operation
    prefix = app.extensions['mod_api'].prefix
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        spec = declared_operation(app.view_functions[rule.endpoint])
        if (spec is not None and not spec.public and 'GET' in (rule.methods or ()) and not rule.arguments
                and rule.rule.startswith(prefix + '/')):
            return rule.rule
    return prefix + '/system/health'


def main() -> None:
    """Create the tables, seed once, mint a demo token and print how to call the API (config as run.py reads it)."""
    from flask import Flask
    from sqlalchemy.engine import make_url

    import mod_api
    import run
    from mod_api.db import create_api_tables, db
    from mod_api.legacy import Base
    from mod_api.settings import ConfigError, apply_settings

    try:
        config = run.read_config()
        apply_settings(config)
    except ModuleNotFoundError as error:
        sys.exit(f'config.py is missing ({error}): copy config_sample.py to config.py')
    except ConfigError as error:
        sys.exit(f'configuration error: {error}')
    url = make_url(config['DATABASE_URI'])
    if url.get_backend_name() == 'sqlite' and url.database not in (None, '', ':memory:'):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    Path(config['SAMPLE_REPOSITORY']).mkdir(parents=True, exist_ok=True)

    app = Flask('demo_data')
    app.config.update(config)
    mod_api.init_app(app)
    with app.app_context():
        Base.metadata.create_all(db.engine)
        create_api_tables(app)
        seeded = seed(db.session, config['SAMPLE_REPOSITORY'])
        print('Demo data seeded.' if seeded else 'Demo data already seeded; left as it is.')
        token = mint_demo_token(db.session, config['API_TOKEN_DEFAULT_DAYS'])
        example = _example_path(app)
    host, port = os.environ.get('API_HOST', '127.0.0.1'), os.environ.get('API_PORT', '5000')
    origin = f'http://{host}:{port}'
    prefix = app.extensions['mod_api'].prefix
    print(f"""
  Base URL    {origin}{prefix}
  Demo token  {token}
              (admin, every scope, valid {config['API_TOKEN_DEFAULT_DAYS']} days; a new one is minted each start)
  Demo users  {ADMIN_EMAIL} (admin), contributor@example.org, tester@example.org, user@example.org
              password for all: {DEMO_PASSWORD}

  Try:
    curl -s {origin}{prefix}/system/health
    curl -s -H 'Authorization: Bearer {token}' {origin}{example}
    curl -s {origin}{prefix}/openapi.json
""", flush=True)


if __name__ == '__main__':
    main()
