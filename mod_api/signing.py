"""Short-lived signed tokens: the API's own download URLs (and any other payload that must come back unchanged).

A download token binds a repository-relative path and the file name the download is offered under. It is an
itsdangerous ``URLSafeTimedSerializer`` token keyed with ``API_SECRET_KEY`` and a salt of its own, so a token
minted for another purpose (a cursor, say) never verifies as a download token and the other way round. The
token carries its signing time; ``verify(token, max_age)`` refuses it once ``max_age`` seconds have passed.

Tokens are bearer credentials for one file for a few minutes (``API_SIGNED_URL_MINUTES``): whoever holds the
URL may download that file, which is exactly what a signed GCS URL allows too. They are not encrypted: the
path is readable by the holder (it is the platform's public layout, nothing secret).
"""
from dataclasses import dataclass
from typing import Any, Mapping

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from mod_api.storage import UnsafePath, check_filename, safe_relative

DOWNLOAD_SALT = 'mod_api.download.v1'


class InvalidToken(ValueError):
    """A token that does not verify: tampered, made with another key or salt, malformed, or expired."""


class TamperedToken(InvalidToken):
    """The signature or the payload is wrong (modified, forged, truncated, another key or purpose)."""


class ExpiredToken(InvalidToken):
    """A genuine token older than the allowed age."""


class TokenSigner:
    """Signs JSON payloads with a secret and a purpose-specific salt; verifies them with a maximum age."""

    def __init__(self, secret: str, salt: str) -> None:
        if not secret:
            raise ValueError('a signing secret is required')
        self._serializer = URLSafeTimedSerializer(secret, salt=salt)
        self._signer = self._serializer.make_signer()

    def sign(self, payload: Any) -> str:
        """A URL-safe token of ``payload`` (anything JSON can carry).

        The serializer's own token format, never compressed: its ``dumps`` tries zlib on every payload, which
        for these few dozen bytes saves nothing and took half of each signing (a page of 50 download URLs).
        """
        encoded = base64_encode(self._serializer.serializer.dumps(payload))
        return self._signer.sign(encoded).decode('ascii')

    def verify(self, token: str, max_age: int) -> Any:
        """The payload of a genuine token at most ``max_age`` seconds old; else TamperedToken / ExpiredToken."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise TamperedToken('malformed token')
        try:
            return self._serializer.loads(token, max_age=max_age)
        except SignatureExpired:
            raise ExpiredToken('token expired') from None
        except BadData:
            raise TamperedToken('token does not verify') from None


@dataclass(frozen=True)
class DownloadGrant:
    """What a verified download token allows: one repository path, offered under one file name."""

    path: str
    filename: str


class DownloadSigner:
    """Mints and verifies the API's own short-lived download tokens."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._signer = TokenSigner(secret, DOWNLOAD_SALT)
        self.max_age_seconds = max_age_seconds

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> 'DownloadSigner':
        """The signer of an app's resolved settings (``API_SECRET_KEY``, ``API_SIGNED_URL_MINUTES``)."""
        return cls(config['API_SECRET_KEY'], config['API_SIGNED_URL_MINUTES'] * 60)

    def sign(self, path: str, filename: str) -> str:
        """A token for ``path`` (validated) downloaded as ``filename``; raises UnsafePath or ValueError."""
        safe_relative(path)
        return self._signer.sign({'p': path, 'f': check_filename(filename)})

    def verify(self, token: str, max_age: int | None = None) -> DownloadGrant:
        """The grant of a genuine, unexpired token (default age limit: ``max_age_seconds``)."""
        payload = self._signer.verify(token, self.max_age_seconds if max_age is None else max_age)
        if not isinstance(payload, dict) or set(payload) != {'p', 'f'}:
            raise TamperedToken('not a download token')
        try:
            safe_relative(payload['p'])
            check_filename(payload['f'])
        except (UnsafePath, ValueError, TypeError):
            raise TamperedToken('not a download token') from None
        return DownloadGrant(path=payload['p'], filename=payload['f'])
