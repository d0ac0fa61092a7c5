"""The audit log: who did what through the API, from which address, in which request, with what outcome.

Rows never hold credentials: callers pass names, ids and outcomes, never a password or a token value.
"""
import json
from typing import Any

from flask import g

from mod_api.access import Principal
from mod_api.db import db
from mod_api.http import client_ip
from mod_api.models import AuditLogEntry
from mod_api.timeutil import utcnow


def record(action: str, outcome: str, principal: Principal | None = None, target_type: str | None = None,
           target_id: Any = None, user_id: int | None = None, token_name: str | None = None,
           **details: Any) -> AuditLogEntry:
    """Add an audit row to the current transaction (the caller commits it with the write it describes).

    The caller is ``principal`` when the request is authenticated, else ``user_id`` / ``token_name`` (e.g. a
    token creation, which is authenticated by password).
    """
    entry = AuditLogEntry(
        created_at=utcnow(), action=action, outcome=outcome,
        user_id=principal.user_id if principal else user_id,
        token_id=principal.token_id if principal else None,
        token_name=principal.token_name if principal else token_name,
        ip=client_ip(), request_id=g.get('request_id'),
        target_type=target_type, target_id=None if target_id is None else str(target_id),
        details=json.dumps(details, sort_keys=True, default=str) if details else None,
    )
    db.session.add(entry)
    return entry
