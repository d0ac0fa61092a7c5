"""Legacy rows for the System tests (queue, branches, environments), built through the platform's models.

The platform's ``Test*`` classes are imported under other names so that pytest does not try to collect them.
"""
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Optional

from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.legacy import Fork, GcpInstance, GeneralData, MaintenanceMode, TestPlatform, TestStatus, TestType
from mod_api.legacy import Test as Run
from mod_api.legacy import TestProgress as Progress
from mod_api.models import RunRecord
from mod_api_tests import factories

MAIN_REPOSITORY = 'https://github.com/CCExtractor/ccextractor.git'
NOON = datetime(2024, 5, 17, 12, 0, 0)
SHA = 'a' * 40


def store(*objects: Any) -> None:
    """Add and flush (ids assigned, nothing committed)."""
    db.session.add_all(objects)
    db.session.flush()


def add_fork(url: str = MAIN_REPOSITORY) -> Fork:
    """A fork row with this clone URL."""
    fork = Fork(url)
    store(fork)
    return fork


def add_run(fork: Optional[Fork] = None, platform: str = 'linux', branch: str = 'master', commit: str = SHA,
            progress: Sequence[tuple[Any, datetime]] = (), vm_at: Optional[datetime] = None,
            recorded_at: Optional[datetime] = None) -> int:
    """A run with progress rows (status, naive UTC time), optionally a VM row and an API record; its id.

    ``platform`` is the stored value (``linux`` / ``windows``); the run is a PR run when ``branch`` is
    ``pull_request``.
    """
    kind = TestType.pull_request if branch == 'pull_request' else TestType.commit
    run = Run(TestPlatform.from_string(platform), kind, fork.id if fork else None, branch, commit,
              pr_nr=7 if kind is TestType.pull_request else 0)
    store(run)
    store(*[Progress(run.id, status, f'{status.value} row', moment) for status, moment in progress])
    if vm_at is not None:
        store(GcpInstance(f'{platform}-{run.id}', run.id, vm_at))
    if recorded_at is not None:
        store(RunRecord(run_id=run.id, created_at=recorded_at, created_by_api=True))
    return run.id


def finished(moment: datetime = NOON) -> tuple[tuple[Any, datetime], ...]:
    """The progress rows of a run that completed: preparation, testing, completed (one minute apart)."""
    minute = timedelta(minutes=1)
    return ((TestStatus.preparation, moment), (TestStatus.testing, moment + minute),
            (TestStatus.completed, moment + 2 * minute))


def set_maintenance(platform: str, disabled: bool) -> None:
    """Append a maintenance_mode row (the newest row of a platform decides)."""
    store(MaintenanceMode(TestPlatform.from_string(platform), disabled))


def set_general_data(key: str, value: str) -> None:
    """Store a general_data key."""
    store(GeneralData(key, value))


def reader(client: FlaskClient, scopes: Sequence[str]) -> dict[str, str]:
    """Authorization headers of a fresh user-role token holding ``scopes`` (commits the session)."""
    db.session.commit()
    return factories.bearer(factories.make_token(factories.make_user('user'), scopes))
