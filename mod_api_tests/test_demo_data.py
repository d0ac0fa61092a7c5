"""The demo data (install/demo_data.py) seeds every run state, stores its files by SHA-256, and seeds only once."""
import hashlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mod_api.db import db
from mod_api.legacy import (
    Base,
    Category,
    Fork,
    GcpInstance,
    GeneralData,
    RegressionTest,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    Role,
    Sample,
    User,
)
from mod_api.legacy import Test as Run
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import TestResult as Result
from mod_api.legacy import TestResultFile as ResultFile
from mod_api.models import ApiToken
from mod_api.tokens import hash_token

demo_data = pytest.importorskip('install.demo_data', reason='install/ is not part of a platform checkout')

NOW = datetime(2024, 5, 17, 12, 0, 0, tzinfo=UTC)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _last_status(run: Run):
    return run.progress[-1].status.value if run.progress else None


def _snapshot(repository: Path) -> dict:
    """Every row of every table, and every file with its content and modification time."""
    rows = {}
    with db.engine.connect() as connection:
        for table in list(Base.metadata.sorted_tables) + list(db.metadata.sorted_tables):
            rows[table.name] = sorted(map(repr, connection.execute(table.select()).all()))
    files = {str(path.relative_to(repository)): (path.read_bytes(), path.stat().st_mtime_ns)
             for path in sorted(repository.rglob('*')) if path.is_file()}
    return {'rows': rows, 'files': files}


@pytest.fixture
def seeded(app):
    repository = Path(app.config['SAMPLE_REPOSITORY'])
    result = demo_data.seed(db.session, str(repository), now=NOW)
    assert result is not None
    db.session.expire_all()
    return result, repository


def test_runs_cover_every_state_on_both_platforms(seeded):
    result, _ = seeded
    runs = db.session.scalars(select(Run).order_by(Run.id)).all()
    assert {run.platform.value for run in runs} == {'linux', 'windows'}
    assert Counter(_last_status(run) for run in runs) == {
        'completed': 4, 'canceled': 3, 'testing': 1, 'preparation': 1, None: 3}
    vm_runs = set(db.session.scalars(select(GcpInstance.test_id)))
    unstarted = [run for run in runs if not run.progress]
    assert [run.id in vm_runs for run in unstarted].count(False) == 2        # queued: no progress, no VM
    assert [run.id in vm_runs for run in unstarted].count(True) == 1         # starting: a VM row, no progress yet
    preparing = next(run for run in runs if _last_status(run) == 'preparation')
    assert preparing.id in vm_runs
    messages = {run.progress[-1].message for run in runs if _last_status(run) == 'canceled'}
    assert {'Canceled by user', 'Could not complete test, time limit exceeded'} <= messages
    assert {run.test_type.value for run in runs} == {'commit', 'pr'}
    assert {run.branch for run in runs} == {'master', 'pull_request'}
    assert all(row.timestamp.tzinfo is not None and row.timestamp <= NOW for run in runs for row in run.progress)
    assert set(result.run_ids.values()) == {run.id for run in runs}


def test_completed_run_with_failures_has_each_kind_of_failure(seeded):
    result, repository = seeded
    run = db.session.get(Run, result.run_ids['master-2-linux'])
    assert _last_status(run) == 'completed' and not run.failed
    results = {row.regression_test_id: row
               for row in db.session.scalars(select(Result).where(Result.test_id == run.id))}
    files = db.session.scalars(select(ResultFile).where(ResultFile.test_id == run.id)).all()
    variants = set(db.session.scalars(select(RegressionTestOutputFiles.file_hashes)))
    assert any(row.exit_code != row.expected_rc for row in results.values())               # exit-code mismatch
    variant_hits = [row for row in files if row.got in variants]
    assert len(variant_hits) == 1                                                           # accepted variant
    mismatches = [row for row in files if row.got is not None and row.got not in variants]
    assert len(mismatches) == 1                                                             # diff mismatch
    uploaded = repository / 'TestResults' / f'{mismatches[0].got}.srt'
    assert _sha256(uploaded) == mismatches[0].got
    with_files = {row.regression_test_id for row in files}
    missing = [test_id for test_id in results if test_id not in with_files]
    assert len(missing) == 1                                                                # missing output
    outputs = db.session.scalars(select(RegressionTestOutput).where(
        RegressionTestOutput.regression_id == missing[0])).all()
    assert any(output.ignore is False for output in outputs)


def test_passing_and_customized_runs(seeded):
    result, _ = seeded
    passing = db.session.get(Run, result.run_ids['master-1-linux'])
    files = db.session.scalars(select(ResultFile).where(ResultFile.test_id == passing.id)).all()
    assert files and all(row.got is None for row in files)
    assert all(row.exit_code == row.expected_rc for row in passing.results)
    customized = db.session.get(Run, result.run_ids['tester-linux'])
    scope = customized.get_customized_regressiontests()
    inactive = db.session.scalars(select(RegressionTest.id).where(RegressionTest.active.is_(False))).all()
    assert inactive and set(inactive) <= set(scope)
    assert customized.fork.github != 'https://github.com/CCExtractor/ccextractor.git'
    queued = db.session.get(Run, result.run_ids['pr-1402-linux'])
    assert not queued.customized_tests and not queued.progress


def test_reference_data(seeded):
    result, repository = seeded
    roles = {user.role.value for user in db.session.scalars(select(User))}
    assert roles == {'admin', 'contributor', 'tester', 'user'}
    admin = db.session.get(User, result.admin_id)
    assert admin.role is Role.admin and admin.is_password_valid(demo_data.DEMO_PASSWORD)
    forks = set(db.session.scalars(select(Fork.github)))
    assert 'https://github.com/CCExtractor/ccextractor.git' in forks and len(forks) == 3
    keys = dict(db.session.execute(select(GeneralData.key, GeneralData.value)).all())
    for platform in ('linux', 'windows'):
        baseline = db.session.scalars(select(Run).where(Run.commit == keys[f'fetch_commit_{platform}'])).all()
        assert any(run.platform.value == platform for run in baseline)
    assert keys['last_commit']
    assert set(db.session.scalars(select(Category.name))) == {'Broken', 'DVB', 'DVD', 'MP4', 'General'}
    linked = db.session.scalars(select(RegressionTest)).all()
    assert {test.active for test in linked} == {True, False}
    assert all(test.categories for test in linked)


def test_files_are_stored_under_their_sha256(seeded):
    result, repository = seeded
    samples = db.session.scalars(select(Sample)).all()
    assert {sample.original_name for sample in samples} == {'sample1', 'sample2'}
    for sample in samples:
        assert sample.extension == 'ts'
        assert _sha256(repository / 'TestFiles' / sample.filename) == sample.sha
    assert any(sample.tags for sample in samples)
    assert len(list((repository / 'TestFiles' / 'media').glob('*.xml'))) == 1
    for output in db.session.scalars(select(RegressionTestOutput)):
        assert output.correct_extension == '.srt'
        assert _sha256(repository / 'TestResults' / output.filename_correct) == output.correct
        for variant in output.multiple_files:
            assert _sha256(repository / 'TestResults' / f'{variant.file_hashes}.srt') == variant.file_hashes
    completed = [run for run in db.session.scalars(select(Run)) if _last_status(run) == 'completed']
    for run in completed:
        log = (repository / 'LogFiles' / f'{run.id}.txt').read_text()
        assert len(log.splitlines()) > 5 and '[INFO]' in log


def test_a_second_seed_changes_nothing(seeded):
    _, repository = seeded
    before = _snapshot(repository)
    assert demo_data.is_seeded(db.session)
    assert demo_data.seed(db.session, str(repository)) is None
    db.session.commit()
    assert _snapshot(repository) == before
    assert db.session.scalar(select(func.count()).select_from(Progress)) > 0


def test_demo_token_is_stored_hashed(seeded, client):
    token = demo_data.mint_demo_token(db.session)
    stored = db.session.scalars(select(ApiToken)).one()
    assert stored.secret_hash == hash_token(token) and token not in stored.secret_hash
    response = client.get('/api/v1/system/health', headers={'Authorization': f'Bearer {token}'})
    assert response.status_code == 200
    revoked = client.delete('/api/v1/auth/tokens/current', headers={'Authorization': f'Bearer {token}'})
    assert revoked.status_code == 204

