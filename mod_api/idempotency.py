"""``Idempotency-Key``: a run-creating write sent twice with the same key creates one run and answers the same.

A client may send ``Idempotency-Key`` (1-255 visible ASCII characters, else 400) with ``POST /runs`` and
``POST /runs/{run_id}/retry``. For one token and one operation, a key names one request for 24 hours:

* The first request claims the key: it inserts an ``api_idempotency`` row as the first write of its transaction.
  The row's unique (token, operation, key) makes a concurrent request with that key wait for this transaction
  (MariaDB's lock on the new index entry, SQLite's write lock) and then fail to insert its own row.
* When the write is accepted (2xx), the row keeps the response: status, exact body and ``Location``, committed
  in the same transaction as the write (never a run without its answer, nor an answer without its run). When the
  write is refused or fails, the row goes away with the rolled-back transaction (or is deleted), so the key can be
  used again: only accepted requests are remembered (a refusal may not hold tomorrow, e.g. an environment back
  from maintenance).
* A later request with the key and the same request (method, path and validated body) gets that response again,
  with ``Idempotent-Replayed: true``, and creates nothing. With a different request it is refused 422
  ``idempotency_key_reused``. A request that finds the key claimed by one still in flight waits for its answer
  (at most :data:`WAIT_SECONDS`, then 409 ``idempotency_in_progress``).
* After :data:`TTL` the key is free again (its old row is replaced).

The row's ``body`` column holds a JSON envelope: the request's fingerprint, a nonce naming the claim, and once
answered the response body text and the replayed headers; ``status_code`` :data:`PENDING` marks a claim that has
no answer yet. Replays and refused reuses are written to the audit log under the operation's action.
"""
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Response, current_app, request
from marshmallow import Schema, fields, validate
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from mod_api import audit
from mod_api.access import Principal
from mod_api.db import MYSQL_DEADLOCK, db, mysql_error_code
from mod_api.errors import ApiError
from mod_api.models import IdempotencyRecord
from mod_api.timeutil import utcnow
from mod_api.validation import FullMatch

HEADER = 'Idempotency-Key'
REPLAYED_HEADER = 'Idempotent-Replayed'
REPLAYED_HEADERS = ('Location',)
TTL = timedelta(hours=24)
PENDING = 0
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
CLAIM_ATTEMPTS = 5
DESCRIPTION = ('Optional, 1-255 visible ASCII characters. The same key from the same token within 24 hours returns '
               'the first accepted response (same status, body and Location, plus Idempotent-Replayed: true) and '
               'creates nothing; with a different request it is refused 422 idempotency_key_reused, and 409 '
               'idempotency_in_progress while the first request is still being processed. Refused requests are '
               'not remembered.')


class IdempotencyHeaders(Schema):
    """The ``Idempotency-Key`` request header (only accepted responses are remembered)."""

    idempotency_key = fields.String(data_key=HEADER, validate=[validate.Length(min=1, max=255),
                                                                FullMatch(r'^[!-~]+$')],
                                    metadata={'description': DESCRIPTION})


@dataclass(frozen=True)
class Claim:
    """A key this request holds: its row and the nonce that tells the row apart from a later claim."""

    record_id: int
    token_id: int
    operation: str
    key: str
    envelope: str


def run_once(action: str, principal: Principal, key: str | None, payload: Any,
             perform: Callable[[], Response]) -> Response:
    """``perform()`` the write at most once per key (see the module docstring); without a key, just perform it.

    ``perform`` adds the write's rows and builds its response without committing: this function commits them, with
    the key's claim and stored answer, in one transaction (a database error at any point leaves none of it).

    ``action`` names the operation (and its audit action); ``key`` is the validated header (``IdempotencyHeaders``,
    declared on the operation); ``payload`` is the validated request body.
    """
    if key is None:
        response = perform()
        db.session.commit()
        return response
    fingerprint = _fingerprint(payload)
    claim = _claim_or_replay(action, principal, key, fingerprint)
    if isinstance(claim, Response):
        return claim
    try:
        response = perform()
        if 200 <= response.status_code < 300:
            _answer(claim, fingerprint, response)
        else:
            _release(claim)
    except BaseException:
        _release(claim)
        raise
    return response


def _fingerprint(payload: Any) -> str:
    """A digest of what makes two requests the same: method, path and validated body."""
    canonical = json.dumps({'method': request.method, 'path': request.path, 'body': payload}, sort_keys=True,
                           separators=(',', ':'), default=str)
    return hashlib.sha256(canonical.encode('utf-8')).hexdigest()


def _claim_or_replay(action: str, principal: Principal, key: str, fingerprint: str) -> Claim | Response:
    """Claim the key for this request, else the response stored for it (422 for another request, 409 in flight)."""
    for _ in range(CLAIM_ATTEMPTS):
        claim = _try_claim(principal.token_id, action, key, fingerprint)
        if claim is not None:
            return claim
        record = _wait_for_answer(principal.token_id, action, key, fingerprint)
        if record is None:
            continue  # released meanwhile: claim it
        if record.created_at <= utcnow() - TTL:
            _forget(record)
            continue
        if json.loads(record.body)['request'] != fingerprint:
            audit.record(action, 'rejected', principal, idempotency_key=key, code='idempotency_key_reused')
            db.session.commit()
            raise ApiError(422, 'idempotency_key_reused', f'{HEADER} was already used with a different request.',
                           {'header': HEADER})
        if record.status_code == PENDING:
            break
        return _replay(action, principal, key, record)
    raise ApiError(409, 'idempotency_in_progress', f'A request with this {HEADER} is still being processed; '
                                                   'retry later.', {'header': HEADER})


def _try_claim(token_id: int, operation: str, key: str, fingerprint: str) -> Claim | None:
    """Insert the key's row as the first write of a new transaction; None when another request holds the key."""
    db.session.commit()  # a new transaction: the claim is its first write
    envelope = json.dumps({'request': fingerprint, 'claim': secrets.token_hex(16)})
    record = IdempotencyRecord(token_id=token_id, operation=operation, key=key, created_at=utcnow(),
                               status_code=PENDING, body=envelope)
    db.session.add(record)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    except OperationalError as error:  # MariaDB may pick a waiter as deadlock victim when the holder rolled back
        db.session.rollback()
        if mysql_error_code(error) != MYSQL_DEADLOCK:
            raise
        return None
    return Claim(record.id, token_id, operation, key, envelope)


def _wait_for_answer(token_id: int, operation: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """The key's row once it has an answer, belongs to another request or expired; None when it is gone.

    Returns it still pending after :data:`WAIT_SECONDS`. Every look is a new transaction (a fresh snapshot).
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        db.session.rollback()
        record = db.session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.token_id == token_id, IdempotencyRecord.operation == operation,
            IdempotencyRecord.key == key)).first()
        if (record is None or record.status_code != PENDING or json.loads(record.body)['request'] != fingerprint
                or time.monotonic() >= deadline):
            return record
        time.sleep(POLL_SECONDS)


def _forget(record: IdempotencyRecord) -> None:
    """Delete an expired row (unless a new claim replaced it meanwhile)."""
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id,
                                                       IdempotencyRecord.created_at == record.created_at))
    db.session.commit()


def _answer(claim: Claim, fingerprint: str, response: Response) -> None:
    """Store the accepted response on the claimed row and commit it with the write."""
    envelope = json.dumps({'request': fingerprint, 'body': response.get_data(as_text=True),
                           'headers': {name: response.headers[name] for name in REPLAYED_HEADERS
                                       if name in response.headers}})
    db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == claim.record_id,
                                                       IdempotencyRecord.body == claim.envelope)
                       .values(status_code=response.status_code, body=envelope))
    db.session.commit()


def _release(claim: Claim) -> None:
    """Free the key after a refused or failed write (the row may already be gone with the rollback)."""
    db.session.rollback()
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim.record_id,
                                                       IdempotencyRecord.body == claim.envelope))
    db.session.commit()


def _replay(action: str, principal: Principal, key: str, record: IdempotencyRecord) -> Response:
    """The stored response again, marked as a replay; audited."""
    envelope = json.loads(record.body)
    target = json.loads(envelope['body']).get('run_id')
    audit.record(action, 'replayed', principal, target_type='run', target_id=target, idempotency_key=key)
    db.session.commit()
    response = current_app.response_class(envelope['body'], status=record.status_code, mimetype='application/json')
    response.headers.update(envelope['headers'])
    response.headers[REPLAYED_HEADER] = 'true'
    return response
