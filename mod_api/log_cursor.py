"""The opaque cursor of the log endpoints: where the next page starts, signed so that it comes back unchanged.

A cursor is a :class:`mod_api.signing.TokenSigner` token (itsdangerous, keyed with ``API_SECRET_KEY``, salt
:data:`CURSOR_SALT` of its own, so no download token or other token verifies as a cursor). It carries:

* the **binding**: a digest of what the listing is (run log or sample log, run id, sample id, ``level``,
  ``source``, ``contains``), so a cursor only continues the listing it came from (else ``foreign``);
* the **position**: the byte offset where the next page starts (always a line start), the log's size when the
  cursor was made (a log replaced since, e.g. by a re-run, makes the cursor ``stale``), the timestamp the next
  lines inherit (None while no line had one: they inherit the file's modification time), and, for sample logs,
  whether the sample's block is open at that point.

It expires after :data:`MAX_AGE_SECONDS`. Filters are bound by digest rather than carried, which keeps every cursor
within the contract's 255 characters whatever ``contains`` holds. The payload is signed, not encrypted: a holder can
decode the offsets, which are no secret.
"""
import hashlib
import json
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from mod_api.signing import ExpiredToken, InvalidToken, TokenSigner

CURSOR_SALT = 'mod_api.log_cursor.v1'
MAX_AGE_SECONDS = 3600
MAX_LENGTH = 255
_BINDING_BYTES = 12
_MAX_INTEGER = 2**53  # what every JSON reader keeps exactly
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class InvalidCursor(ValueError):
    """A cursor that does not continue this listing; ``reason`` is tampered, expired, foreign or stale."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Position:
    """Where a page of a log starts, and the line state there (see the module docstring)."""

    offset: int
    size: int
    last_timestamp: datetime | None = None
    inside: bool = False


def binding(run_id: int, sample_id: int | None, level: str | None, source: str | None,
            contains: str | None) -> str:
    """The digest naming one listing: the log, the sample (None: the whole run log) and the filters."""
    listing = json.dumps(['log', run_id, sample_id, level, source, contains], ensure_ascii=False)
    digest = hashlib.sha256(listing.encode('utf-8')).digest()[:_BINDING_BYTES]
    return urlsafe_b64encode(digest).decode('ascii')


class CursorCodec:
    """Makes and reads cursors with the app's secret."""

    def __init__(self, secret: str) -> None:
        self._signer = TokenSigner(secret, CURSOR_SALT)

    def encode(self, bound: str, position: Position) -> str:
        """The cursor continuing the listing ``bound`` at ``position``."""
        moment = position.last_timestamp
        micros = None if moment is None else (moment - _EPOCH) // _MICROSECOND
        return self._signer.sign([bound, position.offset, position.size, micros, int(position.inside)])

    def decode(self, cursor: str, bound: str) -> Position:
        """The position of a genuine, unexpired cursor of the listing ``bound``; else InvalidCursor."""
        try:
            payload = self._signer.verify(cursor, MAX_AGE_SECONDS)
        except ExpiredToken:
            raise InvalidCursor('expired') from None
        except InvalidToken:
            raise InvalidCursor('tampered') from None
        if not _well_formed(payload):
            raise InvalidCursor('tampered')
        if payload[0] != bound:
            raise InvalidCursor('foreign')
        _, offset, size, micros, inside = payload
        try:
            moment = None if micros is None else _EPOCH + micros * _MICROSECOND
        except OverflowError:
            raise InvalidCursor('tampered') from None
        return Position(offset, size, moment, bool(inside))


def _well_formed(payload: Any) -> bool:
    """True for the payload :meth:`CursorCodec.encode` makes (the signature already says it was ours)."""
    def whole(value: Any) -> bool:
        return type(value) is int and 0 <= value < _MAX_INTEGER

    return (isinstance(payload, list) and len(payload) == 5 and isinstance(payload[0], str)
            and whole(payload[1]) and whole(payload[2]) and payload[1] <= payload[2]
            and (payload[3] is None or type(payload[3]) is int) and payload[4] in (0, 1))
