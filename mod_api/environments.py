"""CI environments: one per platform the platform's CI runs on (its VMs), the ids ``POST /runs`` accepts.

``active`` is false while the platform is in maintenance mode (the newest ``maintenance_mode`` row of that
platform has ``disabled`` set); ``runner_label`` is the VM image family from the configuration;
``average_duration_ms`` comes from the platform's own ``average_time_<platform>`` general_data key (seconds).
"""
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from mod_api.db import db
from mod_api.legacy import GeneralData, MaintenanceMode, TestPlatform

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
    """Every environment, in platform order (two queries whatever the number of platforms)."""
    in_maintenance = _maintenance_by_platform()
    averages = _average_seconds_by_platform()
    return [Environment(environment_id=platform.value, platform=platform.value,
                        active=not in_maintenance.get(platform.value, False),
                        runner_label=current_app.config[RUNNER_LABEL_KEYS[platform.value]],
                        average_duration_ms=averages.get(platform.value))
            for platform in TestPlatform]


def find_environment(environment_id: str) -> Environment | None:
    """The environment with this id, or None."""
    return next((environment for environment in list_environments()
                 if environment.environment_id == environment_id), None)


def _maintenance_by_platform() -> dict[str, bool]:
    flags: dict[str, bool] = {}
    for platform, disabled in db.session.execute(
            select(MaintenanceMode.platform, MaintenanceMode.disabled).order_by(MaintenanceMode.id)):
        flags[platform.value] = bool(disabled)  # the newest row of a platform wins
    return flags


def _average_seconds_by_platform() -> dict[str, int]:
    keys = {f'average_time_{platform.value}': platform.value for platform in TestPlatform}
    averages = {}
    for key, value in db.session.execute(select(GeneralData.key, GeneralData.value)
                                         .where(GeneralData.key.in_(list(keys)))):
        try:
            averages[keys[key]] = max(0, int(float(value) * 1000))
        except (TypeError, ValueError):
            continue  # the platform stores numbers as text; an unreadable one is simply unknown
    return averages
