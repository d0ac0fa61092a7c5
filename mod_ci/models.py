"""CI VM bookkeeping, per-platform maintenance mode, blocked GitHub users and status strings (SCHEMA §2.7)."""
from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from database import Base, EnumSymbol
from mod_test.models import TestPlatform


class Status:
    """GitHub commit-status states posted for runs."""

    PENDING = 'pending'
    SUCCESS = 'success'
    ERROR = 'error'
    FAILURE = 'failure'


class GcpInstance(Base):
    """A live CI VM named ``<platform>-<test id>``; its row keeps the run out of the queue."""

    __tablename__ = 'gcp_instance'

    name = Column(String(64), primary_key=True)
    test_id = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='RESTRICT'))
    test = relationship('Test')
    timestamp = Column(DateTime(), nullable=False)
    timestamp_prep_finished = Column(DateTime())

    def __init__(self, name: str, test_id: int, timestamp: datetime | None = None) -> None:
        """Record a VM; the creation time defaults to now as naive local time, like the legacy."""
        self.name = name
        self.test_id = test_id
        self.timestamp = datetime.now() if timestamp is None else timestamp


class PendingDeletion(Base):
    """A requested GCP VM deletion, tracked until it is verified or retried :attr:`MAX_RETRIES` times."""

    __tablename__ = 'pending_deletion'

    MAX_RETRIES = 5

    vm_name = Column(String(64), primary_key=True)
    operation_name = Column(String(128), nullable=False)
    created_at = Column(DateTime(), nullable=False)
    retry_count = Column(Integer, nullable=False, default=0)

    def __init__(self, vm_name: str, operation_name: str, created_at: datetime | None = None) -> None:
        """Track a deletion; ``created_at`` defaults to now as naive local time and no retry has happened yet."""
        self.vm_name = vm_name
        self.operation_name = operation_name
        self.created_at = datetime.now() if created_at is None else created_at
        self.retry_count = 0


class MaintenanceMode(Base):
    """Maintenance flag of one platform: while ``disabled`` is true no VM is started for it."""

    __tablename__ = 'maintenance_mode'

    id = Column(Integer, primary_key=True)
    platform = Column(TestPlatform.db_type(), nullable=False)
    disabled = Column(Boolean(), nullable=False, default=False)

    def __init__(self, platform: EnumSymbol, mode: bool) -> None:
        """Create the flag of ``platform``; ``mode`` true puts it in maintenance."""
        self.platform = platform
        self.disabled = mode


class BlockedUsers(Base):
    """A GitHub user (by numeric GitHub id) whose pull requests are not tested."""

    __tablename__ = 'blocked_users'

    user_id = Column(Integer, primary_key=True)
    comment = Column(Text())

    def __init__(self, user_id: int, comment: str) -> None:
        """Block GitHub user ``user_id`` with a reason."""
        self.user_id = user_id
        self.comment = comment
