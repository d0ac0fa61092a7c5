"""mod_api's own tables: API tokens and the audit log (on mod_api's metadata, never on legacy tables)."""
from sqlalchemy import Column, DateTime, Index, Integer, String, Text

from mod_api.db import db


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A personal API token. Only a SHA-256 of the secret is stored; ``key_id`` is its non-secret lookup key."""

    __tablename__ = 'api_token'
    __table_args__ = (Index('ix_api_token_user_id_name', 'user_id', 'name'), {'mysql_engine': 'InnoDB'})

    id = Column(Integer, primary_key=True)
    key_id = Column(String(32), nullable=False, unique=True)
    secret_hash = Column(String(64), nullable=False)
    user_id = Column(Integer, nullable=False)
    name = Column(String(50), nullable=False)
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
