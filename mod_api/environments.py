"""CI environments: one per platform the platform's CI runs on (its VMs), the ids ``POST /runs`` accepts.

``active`` is false while the platform is in maintenance mode (the newest ``maintenance_mode`` row of that
platform has ``disabled`` set); ``runner_label`` is the VM image family from the configuration;
``average_duration_ms`` comes from the platform's own ``average_time_<platform>`` general_data key (seconds) or,
when that key is absent or unreadable, from the finished runs: the mean, over the platform's runs whose last
progress row is ``completed``, of the time from their first to their last progress row (rows by id; runs with a
single row carry no duration and are left out), computed in SQL. Null when neither exists.
"""
import math
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Float, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from mod_api.db import db
from mod_api.legacy import GeneralData, MaintenanceMode, Test, TestPlatform, TestProgress, TestStatus

RUNNER_LABEL_KEYS = {'linux': 'LINUX_INSTANCE_FAMILY_NAME', 'windows': 'WINDOWS_INSTANCE_FAMILY_NAME'}


@dataclass(frozen=True)
class Environment:
    """The contract's Environment."""

    environment_id: str
    platform: str
    active: bool
    runner_label: str | None
    average_duration_ms: int | None


def list_environments() -> list[Environment]:
    """Every environment, in platform order (two queries, three when a stored average is missing)."""
    in_maintenance = maintenance_by_platform()
    averages = _average_seconds_by_platform()
    if any(platform.value not in averages for platform in TestPlatform):
        averages = {**_measured_seconds_by_platform(), **averages}
    return [Environment(environment_id=platform.value, platform=platform.value,
                        active=not in_maintenance.get(platform.value, False),
                        runner_label=current_app.config[RUNNER_LABEL_KEYS[platform.value]],
                        average_duration_ms=_milliseconds(averages.get(platform.value)))
            for platform in TestPlatform]


def find_environment(environment_id: str) -> Environment | None:
    """The environment with this id, or None."""
    return next((environment for environment in list_environments()
                 if environment.environment_id == environment_id), None)


def maintenance_by_platform() -> dict[str, bool]:
    """Platform value → True while it is in maintenance (its cron starts no run); a platform without row: absent."""
    flags: dict[str, bool] = {}
    for platform, disabled in db.session.execute(
            select(MaintenanceMode.platform, MaintenanceMode.disabled).order_by(MaintenanceMode.id)):
        flags[platform.value] = bool(disabled)  # the newest row of a platform wins
    return flags


def _milliseconds(seconds: float | None) -> int | None:
    return None if seconds is None else max(0, round(seconds * 1000))


def _average_seconds_by_platform() -> dict[str, float]:
    """The platform's stored averages (seconds, stored as text); an unreadable or infinite value counts as absent."""
    keys = {f'average_time_{platform.value}': platform.value for platform in TestPlatform}
    averages = {}
    for key, value in db.session.execute(select(GeneralData.key, GeneralData.value)
                                         .where(GeneralData.key.in_(list(keys)))):
        try:
            averages[keys[key]] = float(value)
        except (TypeError, ValueError):
            continue
    return {platform: seconds for platform, seconds in averages.items() if math.isfinite(seconds)}


class SecondsBetween(FunctionElement[float]):
    """``SecondsBetween(start, end)``: seconds from one DATETIME to another (fractional), on SQLite and MariaDB."""

    type = Float()
    name = 'seconds_between'
    inherit_cache = True


@compiles(SecondsBetween, 'sqlite')
def _seconds_between_sqlite(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f'((julianday({end}) - julianday({start})) * 86400.0)'


@compiles(SecondsBetween)
def _seconds_between_mysql(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f'(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)'


def _measured_seconds_by_platform() -> dict[str, float]:
    """Mean first-to-last progress time of completed runs, per platform (one query)."""
    bounds = (select(TestProgress.test_id.label('run_id'), func.min(TestProgress.id).label('first_id'),
                     func.max(TestProgress.id).label('last_id'))
              .group_by(TestProgress.test_id).subquery('bounds'))
    first, last = aliased(TestProgress), aliased(TestProgress)
    statement = (select(Test.platform, func.avg(SecondsBetween(first.timestamp, last.timestamp)))
                 .join(bounds, bounds.c.run_id == Test.id)
                 .join(first, first.id == bounds.c.first_id)
                 .join(last, last.id == bounds.c.last_id)
                 .where(last.status == TestStatus.completed, bounds.c.first_id < bounds.c.last_id)
                 .group_by(Test.platform))
    return {platform.value: float(seconds) for platform, seconds in db.session.execute(statement)
            if seconds is not None}
