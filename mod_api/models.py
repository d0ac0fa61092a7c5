"""mod_api's own tables: API tokens and the audit log (on mod_api's metadata, never on legacy tables)."""
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql

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

    id = Column(Integer, primary_key=True)
    key_id = Column(String(32), nullable=False, unique=True)
    secret_hash = Column(String(64), nullable=False)
    user_id = Column(Integer, nullable=False)
    name = Column(TOKEN_NAME, nullable=False)
    live_name = Column(TOKEN_NAME, nullable=True, default=_same_as_name)
    scopes = Column(String(255), nullable=False)
    created_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    last_used_at = Column(DateTime, nullable=True)
    revoked_at = Column(DateTime, nullable=True)
    created_ip = Column(String(45), nullable=True)

    @property
    def scope_list(self) -> list[str]:
        """The granted scopes, in the order they were stored."""
        return self.scopes.split()


class AuditLogEntry(db.Model):  # type: ignore[name-defined,misc]
    """Who did what through the API: one row per security-relevant write, whatever its outcome."""

    __tablename__ = 'api_audit_log'
    __table_args__ = (Index('ix_api_audit_log_target', 'target_type', 'target_id'), {'mysql_engine': 'InnoDB'})

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime, nullable=False)
    action = Column(String(64), nullable=False)
    outcome = Column(String(32), nullable=False)
    user_id = Column(Integer, nullable=True)
    token_id = Column(Integer, nullable=True)
    token_name = Column(String(50), nullable=True)
    ip = Column(String(45), nullable=True)
    request_id = Column(String(64), nullable=True)
    target_type = Column(String(32), nullable=True)
    target_id = Column(String(64), nullable=True)
    details = Column(Text, nullable=True)
