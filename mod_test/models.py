"""CI runs (``test``), their progress log, results and result files, forks and the run enums (SCHEMA §2.3, §5)."""
import difflib
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import object_session, reconstructor, relationship
from sqlalchemy.orm.attributes import set_committed_value

from database import Base, DeclEnum, EnumSymbol, random_string
from mod_regression.models import RegressionTest

DIFF_VIEW_LIMIT = 50
GITHUB_URL_PREFIX = 'https://github.com/'


class TestPlatform(DeclEnum):
    """Operating system a run is built and tested on."""

    linux = 'linux', 'Linux'
    windows = 'windows', 'Windows'


class TestType(DeclEnum):
    """What triggered a run: a commit (push or customized run) or a pull request (stored ``pr``)."""

    commit = 'commit', 'Commit'
    pull_request = 'pr', 'Pull Request'


class TestStatus(DeclEnum):
    """Status of one progress row; ``canceled`` also covers errors and is not a stage."""

    preparation = 'preparation', 'Preparation'
    testing = 'testing', 'Testing'
    completed = 'completed', 'Completed'
    canceled = 'canceled', 'Canceled/Error'

    @staticmethod
    def stages() -> list[EnumSymbol]:
        """The stages a run goes through, in order."""
        return [TestStatus.preparation, TestStatus.testing, TestStatus.completed]

    @staticmethod
    def progress_step(status: EnumSymbol) -> int:
        """Index of ``status`` in :meth:`stages` (0, 1 or 2), -1 for ``canceled`` or anything else."""
        stages = TestStatus.stages()
        return stages.index(status) if status in stages else -1


class Fork(Base):
    """A GitHub repository runs are built from, stored as its clone URL ``https://github.com/<owner>/<repo>.git``."""

    __tablename__ = 'fork'

    id = Column(Integer, primary_key=True)
    github = Column(String(256), unique=True)
    tests = relationship('Test', back_populates='fork')

    def __init__(self, github: str) -> None:
        """Create a fork from its clone URL."""
        self.github = github

    @property
    def github_url(self) -> str:
        """The clone URL with every ``.git`` removed (the repository's web URL)."""
        return self.github.replace('.git', '')

    @property
    def github_name(self) -> str:
        """``owner/repo``."""
        return self.github_url.replace(GITHUB_URL_PREFIX, '')


class Test(Base):
    """One CI run of one commit on one platform; its state is the last row of :attr:`progress`."""

    __tablename__ = 'test'

    id = Column(Integer, primary_key=True)
    platform = Column(TestPlatform.db_type(), nullable=False)
    test_type = Column(TestType.db_type(), nullable=False)
    token = Column(String(64), unique=True)
    fork_id = Column(Integer, ForeignKey('fork.id', onupdate='CASCADE', ondelete='RESTRICT'))
    fork = relationship('Fork', back_populates='tests')
    branch = Column(Text(), nullable=False)
    commit = Column(String(64), nullable=False)
    pr_nr = Column(Integer, nullable=False, default=0)
    customized_tests = relationship('CustomizedTest', back_populates='test')
    progress = relationship('TestProgress', back_populates='test', order_by='TestProgress.id')
    results = relationship('TestResult', back_populates='test')

    def __init__(self, platform: EnumSymbol, test_type: EnumSymbol, fork_id: int | None, branch: str, commit: str,
                 pr_nr: int = 0, token: str | None = None) -> None:
        """Create a run; without ``token`` a random 64-character worker secret is generated."""
        self.platform = platform
        self.test_type = test_type
        self.fork_id = fork_id
        self.branch = branch
        self.commit = commit
        self.pr_nr = pr_nr
        self.token = self.create_token() if token is None else token

    @property
    def finished(self) -> bool:
        """True when the last progress row is ``completed`` or ``canceled``."""
        return bool(self.progress) and self.progress[-1].status in (TestStatus.completed, TestStatus.canceled)

    @property
    def failed(self) -> bool:
        """True when the last progress row is ``canceled``: the run aborted, not "some regression test failed"."""
        return bool(self.progress) and self.progress[-1].status is TestStatus.canceled

    def progress_data(self) -> dict[str, Any]:
        """Progress summary: ``progress`` (state ok/error and step), ``stages``, ``start`` and ``end``.

        A queued run (no rows) reports state ``error``, step -1 and ``-`` times. A canceled run keeps state
        ``error`` and the step of the stage it died in (the second-to-last row's), or -1.
        """
        data = {'progress': {'state': 'error', 'step': -1}, 'stages': TestStatus.stages(), 'start': '-', 'end': '-'}
        if not self.progress:
            return data
        last = self.progress[-1]
        data['start'] = self.progress[0].timestamp
        if self.finished:
            data['end'] = last.timestamp
        if last.status is TestStatus.canceled:
            if len(self.progress) > 1:
                data['progress']['step'] = TestStatus.progress_step(self.progress[-2].status)
        else:
            data['progress'] = {'state': 'ok', 'step': TestStatus.progress_step(last.status)}
        return data

    def get_customized_regressiontests(self) -> list[int]:
        """Ids of the regression tests in scope of this run (duplicates kept).

        Without ``customized_test`` rows that is every regression test, inactive ones included (the legacy
        fallback). The run must be attached to a session for that fallback query.
        """
        customized = [customized_test.regression_id for customized_test in self.customized_tests]
        if customized:
            return customized
        return list(object_session(self).scalars(select(RegressionTest.id).order_by(RegressionTest.id)))

    @property
    def github_link(self) -> str:
        """GitHub page of what was tested: the commit, or the pull request for PR runs."""
        if self.test_type is TestType.commit:
            return f'{self.fork.github_url}/commit/{self.commit}'
        return f'{self.fork.github_url}/pull/{self.pr_nr}'

    @staticmethod
    def create_token(length: int = 64) -> str:
        """Random string of ASCII letters and digits (the per-run secret of the CI worker)."""
        return random_string(length)


def _as_utc(moment: datetime) -> datetime:
    """Label a naive datetime as UTC without converting it; aware values are returned unchanged."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class TestProgress(Base):
    """One entry of a run's append-only status log; timestamps mean UTC (stored naive)."""

    __tablename__ = 'test_progress'

    id = Column(Integer, primary_key=True)
    test_id = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='CASCADE'))
    test = relationship('Test', back_populates='progress')
    status = Column(TestStatus.db_type(), nullable=False)
    timestamp = Column(DateTime(timezone=True), nullable=False)
    message = Column(Text(), nullable=False)

    def __init__(self, test_id: int, status: EnumSymbol, message: str, timestamp: datetime | None = None) -> None:
        """Create a row; the timestamp defaults to now (aware UTC) and a naive one is labelled UTC as it is."""
        self.test_id = test_id
        self.status = status
        self.message = message
        self.timestamp = _as_utc(datetime.now(UTC) if timestamp is None else timestamp)

    @reconstructor
    def label_loaded_timestamp_as_utc(self) -> None:
        """On load, label the stored naive timestamp as UTC (without marking the row as changed)."""
        set_committed_value(self, 'timestamp', _as_utc(self.timestamp))


class TestResult(Base):
    """Exit code and runtime (ms) of one regression test in one run, with the expected code at that time."""

    __tablename__ = 'test_result'

    test_id = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='CASCADE'), primary_key=True)
    test = relationship('Test', back_populates='results')
    regression_test_id = Column(Integer, ForeignKey('regression_test.id', onupdate='CASCADE', ondelete='CASCADE'),
                                primary_key=True)
    regression_test = relationship('RegressionTest')
    runtime = Column(Integer)
    exit_code = Column(Integer)
    expected_rc = Column(Integer)

    def __init__(self, test_id: int, regression_test_id: int, runtime: int, exit_code: int, expected_rc: int) -> None:
        """Record a finished regression test; ``expected_rc`` is a snapshot of the regression test's value."""
        self.test_id = test_id
        self.regression_test_id = regression_test_id
        self.runtime = runtime
        self.exit_code = exit_code
        self.expected_rc = expected_rc


class TestResultFile(Base):
    """Comparison of one expected output file in one run; ``got`` NULL means it matched the baseline."""

    __tablename__ = 'test_result_file'

    test_id = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='CASCADE'), primary_key=True)
    test = relationship('Test')
    regression_test_id = Column(Integer, ForeignKey('regression_test.id', onupdate='CASCADE', ondelete='CASCADE'),
                                primary_key=True)
    regression_test = relationship('RegressionTest')
    regression_test_output_id = Column(Integer, ForeignKey('regression_test_output.id', onupdate='CASCADE',
                                                           ondelete='CASCADE'), primary_key=True)
    regression_test_output = relationship('RegressionTestOutput')
    expected = Column(Text(), nullable=False)
    got = Column(Text())

    def __init__(self, test_id: int, regression_test_id: int, regression_test_output_id: int, expected: str,
                 got: str | None = None) -> None:
        """Record a comparison; ``got`` is the SHA-256 of the differing output, None when it matched."""
        self.test_id = test_id
        self.regression_test_id = regression_test_id
        self.regression_test_output_id = regression_test_output_id
        self.expected = expected
        self.got = got

    def generate_html_diff(self, base_path: str, to_view: bool = True) -> str:
        """HTML table diffing ``<expected><ext>`` against ``<got><ext>`` in ``base_path``.

        ``ext`` is the output's ``correct_extension``. When ``to_view`` only the first 50 differing lines are
        shown (without context); otherwise the whole files.
        """
        extension = self.regression_test_output.correct_extension
        expected = self.read_lines(os.path.join(base_path, self.expected + extension))
        got = self.read_lines(os.path.join(base_path, self.got + extension))
        if to_view:
            expected, got = _cut_after_differences(expected, got, DIFF_VIEW_LIMIT)
        return difflib.HtmlDiff().make_table(expected, got, 'Expected', 'Got', context=to_view, numlines=0)

    @staticmethod
    def read_lines(file_name: str) -> list[str]:
        """Lines of a text file read as UTF-8, or as cp1252 when it is not valid UTF-8."""
        try:
            with open(file_name, encoding='utf-8') as text:
                return text.readlines()
        except UnicodeDecodeError:
            with open(file_name, encoding='cp1252') as text:
                return text.readlines()


def _cut_after_differences(expected: list[str], got: list[str], limit: int) -> tuple[list[str], list[str]]:
    """Truncate both line lists right after the ``limit``-th differing line (counted as rows of a side-by-side diff)."""
    shown = 0
    matcher = difflib.SequenceMatcher(None, expected, got, autojunk=False)
    for tag, expected_start, expected_end, got_start, got_end in matcher.get_opcodes():
        if tag == 'equal':
            continue
        rows = max(expected_end - expected_start, got_end - got_start)
        if shown + rows >= limit:
            keep = limit - shown
            return expected[:min(expected_end, expected_start + keep)], got[:min(got_end, got_start + keep)]
        shown += rows
    return expected, got
