"""API token values: minting, parsing and hashing.

A token reads ``ccx_<key id>_<secret>``: the fixed ``ccx_`` prefix lets secret scanners recognise it, the
16-hex-digit key id is a non-secret lookup key (one indexed query), and the secret carries 256 bits from
``secrets``. Only the SHA-256 of the whole value is stored, and it is compared in constant time.
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = 'ccx_'
TOKEN_PATTERN = re.compile(r'ccx_([0-9a-f]{16})_([A-Za-z0-9_-]{43})')


@dataclass(frozen=True)
class MintedToken:
    """A freshly minted token: the value shown once, and what is stored of it."""

    value: str
    key_id: str
    secret_hash: str


def hash_token(value: str) -> str:
    """The stored form of a token value: SHA-256 hex."""
    return hashlib.sha256(value.encode('ascii')).hexdigest()


def mint_token() -> MintedToken:
    """Make a new random token value with its lookup key and hash."""
    key_id = secrets.token_hex(8)
    value = f'{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}'
    return MintedToken(value, key_id, hash_token(value))


def parse_key_id(value: str) -> str | None:
    """The lookup key of a well-formed token value, or None when the value is not one of ours."""
    match = TOKEN_PATTERN.fullmatch(value)
    return match.group(1) if match else None


def matches(value: str, secret_hash: str) -> bool:
    """Constant-time check of a presented token value against a stored hash."""
    return hmac.compare_digest(hash_token(value), secret_hash)
