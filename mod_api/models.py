"""mod_api's own tables (on mod_api's metadata, never columns on legacy tables): tokens, audit log, runs."""
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from mod_api.db import db

# Token names are ASCII (the contract's pattern) and compared case-sensitively on every backend.
TOKEN_NAME = String(50).with_variant(mysql.VARCHAR(50, charset='ascii', collation='ascii_bin'), 'mysql', 'mariadb')


def _same_as_name(context: Any) -> str:
    """Column default: a new token's ``live_name`` is its ``name``."""
    return context.get_current_parameters()['name']


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A personal API token. Only a SHA-256 of the value is stored; ``key_id`` is its non-secret lookup key.

    ``live_name`` repeats ``name`` while the token may still be live and is cleared once it is revoked or found
    expired, so the database itself keeps token names unique per user among live tokens.
    """

    __tablename__ = 'api_token'
    __table_args__ = (UniqueConstraint('user_id', 'live_name'), {'mysql_engine': 'InnoDB'})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(TOKEN_NAME, nullable=False)
    live_name: Mapped[str | None] = mapped_column(TOKEN_NAME, nullable=True, default=_same_as_name)
    scopes: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)


class AuditLogEntry(db.Model):  # type: ignore[name-defined,misc]
    """Who did what through the API: one row per security-relevant write, whatever its outcome."""

    __tablename__ = 'api_audit_log'
    __table_args__ = (Index('ix_api_audit_log_target', 'target_type', 'target_id'), {'mysql_engine': 'InnoDB'})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_name: Mapped[str | None] = mapped_column(String(50), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunRecord(db.Model):  # type: ignore[name-defined,misc]
    """What the API knows of a platform run (``test`` row) that the legacy schema does not store.

    For runs the API creates: when, by whom, for which environment, and the run it retries. For any other run
    with no progress row and no VM row yet, only ``created_at``: the moment the API first saw it, recorded once so
    that the run's creation time never changes between requests.
    """

    __tablename__ = 'api_run'
    __table_args__ = {'mysql_engine': 'InnoDB'}

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    created_by_api: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    triggered_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    environment_id: Mapped[str | None] = mapped_column(String(50), nullable=True)
    retry_of: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class RunCancellation(db.Model):  # type: ignore[name-defined,misc]
    """A cancellation made through the API: the ``canceled`` progress row it appended, who asked and why."""

    __tablename__ = 'api_run_cancellation'
    __table_args__ = {'mysql_engine': 'InnoDB'}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    progress_id: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    requested_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)


class IdempotencyRecord(db.Model):  # type: ignore[name-defined,misc]
    """The first response to a write sent with an ``Idempotency-Key``, replayed for 24 h to the same token."""

    __tablename__ = 'api_idempotency'
    __table_args__ = (UniqueConstraint('token_id', 'operation', 'key'), {'mysql_engine': 'InnoDB'})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(Integer, nullable=False)
    operation: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)


# A SHA-256 hex digest compared exactly (case-sensitively) on every backend, like the platform's variant matching.
HASH_HEX = String(64).with_variant(mysql.VARCHAR(64, charset='ascii', collation='ascii_bin'), 'mysql', 'mariadb')


class BaselineApproval(db.Model):  # type: ignore[name-defined,misc]
    """A request to accept a run's actual output (``got``) as a baseline variant of an output, and its review.

    ``pending_output_id`` repeats ``output_id`` while the approval is ``pending_review`` and is cleared by the review,
    so the database itself keeps one pending approval per (output, actual hash), also under concurrent requests.
    """

    __tablename__ = 'api_baseline_approval'
    __table_args__ = (UniqueConstraint('pending_output_id', 'actual_hash'),
                      Index('ix_api_baseline_approval_status_created', 'status', 'created_at', 'id'),
                      {'mysql_engine': 'InnoDB'})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    run_id: Mapped[int] = mapped_column(Integer, nullable=False)
    sample_id: Mapped[int] = mapped_column(Integer, nullable=False)
    regression_id: Mapped[int] = mapped_column(Integer, nullable=False)
    output_id: Mapped[int] = mapped_column(Integer, nullable=False)
    actual_hash: Mapped[str] = mapped_column(HASH_HEX, nullable=False)
    apply_to_variants: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    requested_by_user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    pending_output_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reviewed_by_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    review_comment: Mapped[str | None] = mapped_column(String(500), nullable=True)


class StoredRunStatus(db.Model):  # type: ignore[name-defined,misc]
    """A run's derived status and times as last computed, for listing runs (``mod_api.status_store``).

    Database triggers add one to ``version`` whenever a row the run's status derives from changes; the stored
    ``status`` holds only while ``computed_version`` equals ``version`` and ``computed_epoch`` equals the
    ``StoredStatusState`` epoch (which triggers on the shared catalogue advance).
    """

    __tablename__ = 'api_run_status'
    __table_args__ = {'mysql_engine': 'InnoDB'}

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    computed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    computed_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The run's earliest progress and VM times as the legacy rows hold them (naive, VM in the host's local time),
    # computed with the status: the run list sorts and filters by times derived from them.
    first_progress_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    first_vm_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class StoredStatusState(db.Model):  # type: ignore[name-defined,misc]
    """One row: the catalogue epoch of stored statuses and the version of the rules and triggers that keep them."""

    __tablename__ = 'api_status_state'
    __table_args__ = {'mysql_engine': 'InnoDB'}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rules_version: Mapped[int] = mapped_column(Integer, nullable=False)


class CatalogueState(db.Model):  # type: ignore[name-defined,misc]
    """One row: a version that database triggers advance on every change to the shared catalogue.

    The catalogue (samples, tags, regression tests, outputs, categories) is shown in every run's documents; the
    version tells a worker when a run document it built may show an old catalogue (``status_store.run_mark``).
    """

    __tablename__ = 'api_catalogue_state'
    __table_args__ = {'mysql_engine': 'InnoDB'}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ChangeLogEntry(db.Model):  # type: ignore[name-defined,misc]
    """Changes the status triggers saw: each trigger adds a row of one; compacting sums old rows into one.

    The sum of ``changes`` grows with every committed change and compacting keeps it, so it tells a worker whether
    any run list may have changed (``status_store.change_mark``) by reading a few rows instead of every run's.
    Platform writers only append (no row is shared between them); only mod_api compacts.
    """

    __tablename__ = 'api_change_log'
    __table_args__ = {'mysql_engine': 'InnoDB'}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    changes: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
