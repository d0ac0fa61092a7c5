"""UTC helpers: the API stores naive UTC datetimes and always answers ISO 8601 with a ``Z``."""
from datetime import datetime, timezone
from typing import Optional


def utcnow() -> datetime:
    """Now as a naive UTC datetime, the form mod_api stores (DATETIME columns carry no zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive value is taken to be UTC already (the platform's convention)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def isoformat_z(moment: Optional[datetime]) -> Optional[str]:
    """ISO 8601 in UTC with a trailing ``Z`` (None stays None)."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace('+00:00', 'Z')
