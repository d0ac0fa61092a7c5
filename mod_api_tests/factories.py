"""Test data built through the platform's models (fast password hashes, tokens without the HTTP budget)."""
from datetime import timedelta
from typing import Optional, Sequence

from passlib.hash import sha512_crypt

from mod_api import tokens
from mod_api.access import ALL_SCOPES
from mod_api.db import db
from mod_api.legacy import Role, User
from mod_api.models import ApiToken
from mod_api.timeutil import utcnow

PASSWORD = 'correct horse battery'


def fast_hash(password: str = PASSWORD) -> str:
    """A real sha512_crypt hash with few rounds: verifies like the platform's, but quickly."""
    return sha512_crypt.using(rounds=5000).hash(password)


def make_user(role: Optional[str] = 'admin', email: Optional[str] = None, password: str = PASSWORD) -> User:
    """Add a platform user with the given role name (None: a NULL role) and a fast password hash."""
    email = email or f'{role or "norole"}-{tokens.mint_token().key_id}@example.org'
    user = User(email.split('@')[0], Role.from_string(role) if role else None, email, fast_hash(password))
    if role is None:
        user.role = None
    db.session.add(user)
    db.session.commit()
    return user


def make_token(user: User, scopes: Sequence[str] = ALL_SCOPES, name: Optional[str] = None,
               expires_in: timedelta = timedelta(days=30)) -> str:
    """Store an API token for ``user`` directly and return its value (no HTTP, no rate-limit budget)."""
    minted = tokens.mint_token()
    now = utcnow()
    db.session.add(ApiToken(key_id=minted.key_id, secret_hash=minted.secret_hash, user_id=user.id,
                            name=name or f'token-{minted.key_id}', scopes=' '.join(scopes), created_at=now,
                            expires_at=now + expires_in, created_ip='127.0.0.1'))
    db.session.commit()
    return minted.value


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {'Authorization': f'Bearer {token}'}
