"""What the benchmark measures: the endpoints, with ids chosen from the dataset by SQL, and the token it uses.

Everything here runs in the benchmark's own process through mod_api's code (a bare Flask app with
``mod_api.init_app`` on the benchmark's database), before the server starts: token creation and id lookups are
never part of the measured set.
"""
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import func, select, update

import mod_api
from mod_api import tokens
from mod_api.access import SCOPES_BY_ROLE
from mod_api.db import create_api_tables, db, engine_options
from mod_api.legacy import (
    RegressionTest,
    Role,
    Test,
    TestProgress,
    TestResult,
    TestResultFile,
    TestStatus,
    User,
)
from mod_api.log_cursor import CursorCodec, Position, binding
from mod_api.models import ApiToken
from mod_api.resources.system import DEFAULT_LIMIT
from mod_api.timeutil import utcnow

CEILING = 'ceiling'
CEILING_PATH = '/bench/ceiling'  # served by install/bench/wsgi.py only
# Latest runs with a differing output looked at for the big failing run (the finished one with most results wins).
FAILING_CANDIDATES = 200
LOOKUP_READ_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Endpoint:
    """One measured request: a short name, the path (with query string) under the API prefix, its target group."""

    name: str
    path: str
    group: str  # 'list' (>= 50% of the ceiling), 'heavy' (log/diff: no p50 target), 'read', or CEILING


@dataclass(frozen=True)
class Dataset:
    """The ids the endpoints are called with, and what they are."""

    failing_run: int
    failing_run_results: int
    diff_sample: int
    diff_regression: int
    diff_output: int
    branch: str
    log_run: int | None
    log_bytes: int
    runs: int

    def describe(self) -> dict[str, Any]:
        """The dataset facts the report prints."""
        return dict(self.__dict__)


def benchmark_app(database_uri: str, repository: str, secret: str) -> Flask:
    """A bare Flask app with mod_api on the benchmark database (for lookups and the token, not served)."""
    app = Flask('benchmark')
    options = engine_options(database_uri, LOOKUP_READ_TIMEOUT_SECONDS)  # counting millions of rows, busy machine
    app.config.update(DATABASE_URI=database_uri, SAMPLE_REPOSITORY=repository, API_SECRET_KEY=secret,
                      SQLALCHEMY_ENGINE_OPTIONS=options)
    mod_api.init_app(app)
    create_api_tables(app)
    return app


def choose_dataset(repository: str) -> Dataset:
    """The ids to call, chosen by SQL: the largest finished run with a differing output, the busiest branch..."""
    candidates = db.session.execute(
        select(TestResultFile.test_id).where(TestResultFile.got.is_not(None)).distinct()
        .order_by(TestResultFile.test_id.desc()).limit(FAILING_CANDIDATES)).scalars().all()
    last_rows = select(func.max(TestProgress.id)).where(TestProgress.test_id.in_(candidates)).group_by(
        TestProgress.test_id)
    finished = db.session.execute(select(TestProgress.test_id).where(
        TestProgress.id.in_(last_rows), TestProgress.status == TestStatus.completed)).scalars().all()
    if not finished:
        raise SystemExit('the dataset has no finished run with a differing output file: nothing to benchmark')
    run_id, results = db.session.execute(
        select(TestResult.test_id, func.count()).where(TestResult.test_id.in_(finished))
        .group_by(TestResult.test_id).order_by(func.count().desc(), TestResult.test_id.desc()).limit(1)).one()
    sample_id, regression_id, output_id = db.session.execute(
        select(RegressionTest.sample_id, TestResultFile.regression_test_id, TestResultFile.regression_test_output_id)
        .join(RegressionTest, RegressionTest.id == TestResultFile.regression_test_id)
        .where(TestResultFile.test_id == run_id, TestResultFile.got.is_not(None)).limit(1)).one()
    branch = db.session.execute(
        select(Test.branch).group_by(Test.branch).order_by(func.count().desc()).limit(1)).scalar_one()
    log_run, log_bytes = _largest_log(Path(repository) / 'LogFiles')
    return Dataset(run_id, results, sample_id, regression_id, output_id, branch=branch, log_run=log_run,
                   log_bytes=log_bytes, runs=db.session.scalar(select(func.count()).select_from(Test)) or 0)


def _largest_log(folder: Path) -> tuple[int | None, int]:
    """The run whose log (``LogFiles/<run id>.txt``) is the largest, and its size; (None, 0) without logs."""
    sizes = [(entry.stat().st_size, int(entry.name[:-4])) for entry in folder.glob('*.txt') if entry.stem.isdigit()]
    if not sizes:
        return None, 0
    size, run_id = max(sizes)
    if db.session.get(Test, run_id) is None:
        return None, 0
    return run_id, size


def deep_log_cursor(repository: str, run_id: int, secret: str) -> str:
    """A genuine cursor of the run log at the first line start past its middle (as a client paging there holds)."""
    path = Path(repository) / 'LogFiles' / f'{run_id}.txt'
    size = path.stat().st_size
    with path.open('rb') as handle:
        handle.seek(size // 2)
        handle.readline()
        offset = handle.tell()
    return CursorCodec(secret).encode(binding(run_id, None, None, None, None), Position(offset, size))


def endpoints(dataset: Dataset, secret: str, repository: str) -> list[Endpoint]:
    """The measured set, the ceiling first; every path answers 200 on a sound dataset."""
    run = f'/runs/{dataset.failing_run}'
    deep_offset = max(0, dataset.failing_run_results - DEFAULT_LIMIT)
    diff_query = urlencode({'regression_id': dataset.diff_regression, 'output_id': dataset.diff_output})
    found = [
        Endpoint(CEILING, CEILING_PATH, CEILING),
        Endpoint('runs (default page)', '/runs', 'list'),
        Endpoint('runs status=fail', '/runs?status=fail', 'list'),
        Endpoint('runs by branch', '/runs?' + urlencode({'branch': dataset.branch}), 'list'),
        Endpoint('runs sort=started_at', '/runs?sort=started_at', 'list'),
        Endpoint('run detail', run, 'read'),
        Endpoint('run summary', f'{run}/summary', 'read'),
        Endpoint('run progress', f'{run}/progress', 'read'),
        Endpoint('run samples page 1', f'{run}/samples', 'list'),
        Endpoint('run samples deep page', f'{run}/samples?offset={deep_offset}', 'list'),
        Endpoint('sample history', f'/samples/{dataset.diff_sample}/history', 'list'),
        Endpoint('run errors', f'{run}/errors', 'list'),
        Endpoint('run error summary', f'{run}/error-summary', 'list'),
        Endpoint('diff', f'{run}/samples/{dataset.diff_sample}/diff?{diff_query}', 'heavy'),
        Endpoint('artifacts', f'{run}/artifacts', 'read'),
        Endpoint('queue', '/system/queue', 'read'),
        Endpoint('health', '/system/health', 'read'),
    ]
    if dataset.log_run is not None:
        cursor = deep_log_cursor(repository, dataset.log_run, secret)
        found.insert(-3, Endpoint('log page (middle of largest log)',
                                  f'/runs/{dataset.log_run}/logs?' + urlencode({'cursor': cursor}), 'heavy'))
    return found


def mint_token(days: int = 1) -> tuple[str, int]:
    """A token of an admin (or contributor) of the dataset with every scope; returns its value and row id."""
    user_id = db.session.execute(
        select(User.id).where(User.role.in_([Role.admin, Role.contributor])).order_by(User.id).limit(1)).scalar()
    if user_id is None:
        raise SystemExit('the dataset has no admin or contributor user to mint the benchmark token for')
    minted = tokens.mint_token()
    now = utcnow().replace(microsecond=0)
    token = ApiToken(key_id=minted.key_id, secret_hash=minted.secret_hash, user_id=user_id,
                     name=f'benchmark-{minted.key_id[:8]}', scopes=' '.join(SCOPES_BY_ROLE['admin']),
                     created_at=now, expires_at=now + timedelta(days=days), created_ip=None)
    db.session.add(token)
    db.session.commit()
    return minted.value, token.id


def revoke_token(token_id: int) -> None:
    """Revoke the benchmark's token once the run is over."""
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=utcnow(), live_name=None))
    db.session.commit()
