"""Signed download tokens: round trip, tampering, foreign keys and purposes, expiry, unsafe payloads."""
import re
import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner

from mod_api.signing import (
    DOWNLOAD_SALT,
    DownloadGrant,
    DownloadSigner,
    ExpiredToken,
    InvalidToken,
    TamperedToken,
    TokenSigner,
)
from mod_api.storage import UnsafePath

SECRET = 'signing-test-secret-0123456789'


@pytest.fixture()
def signer() -> DownloadSigner:
    return DownloadSigner(SECRET, max_age_seconds=300)


def at(monkeypatch, moment: float) -> None:
    """Sign or verify as if the clock showed ``moment``."""
    monkeypatch.setattr(TimestampSigner, 'get_timestamp', lambda self: int(moment))


@pytest.mark.parametrize('path, filename', [
    ('TestResults/0a1b2c.srt', 'expected.srt'), ('LogFiles/12.txt', '12.txt'),
    ('TestFiles/media/abc.xml', 'media info (sample 3).xml'), ('TestResults/x', 'résumé ✓.srt'),
])
def test_round_trip(signer, path, filename):
    token = signer.sign(path, filename)
    assert re.fullmatch(r'[A-Za-z0-9_\-.]+', token)  # usable in a URL path or query as is
    assert signer.verify(token) == DownloadGrant(path=path, filename=filename)
    assert signer.verify(token, max_age=1) == DownloadGrant(path=path, filename=filename)


def test_from_config_uses_the_api_secret_and_lifetime():
    signer = DownloadSigner.from_config({'API_SECRET_KEY': SECRET, 'API_SIGNED_URL_MINUTES': 5})
    assert signer.max_age_seconds == 300
    assert DownloadSigner(SECRET, 1).verify(signer.sign('LogFiles/1.txt', '1.txt')).path == 'LogFiles/1.txt'


ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'


def _flip(token: str, index: int) -> str:
    # Change the top bit of the character's 6-bit value: a decoder may ignore the last character's low bits.
    char = token[index]
    replacement = ALPHABET[ALPHABET.index(char) ^ 32] if char in ALPHABET else 'A'
    return token[:index] + replacement + token[index + 1:]


def test_any_modified_character_is_refused(signer):
    token = signer.sign('LogFiles/12.txt', '12.txt')
    for index in range(len(token)):
        tampered = _flip(token, index)
        with pytest.raises(TamperedToken):
            signer.verify(tampered)


def test_a_payload_swapped_onto_another_signature_is_refused(signer):
    first = signer.sign('LogFiles/1.txt', '1.txt').split('.')
    second = signer.sign('LogFiles/2.txt', '2.txt').split('.')
    with pytest.raises(TamperedToken):
        signer.verify('.'.join([second[0], *first[1:]]))


@pytest.mark.parametrize('token', ['', 'x', '...', 'a.b.c', 'not a token', '\x00', 'A' * 5000])
def test_malformed_tokens_are_refused(signer, token):
    with pytest.raises(TamperedToken):
        signer.verify(token)


@pytest.mark.parametrize('token', [None, 12, b'bytes'])
def test_non_string_tokens_are_refused(signer, token):
    with pytest.raises(TamperedToken):
        signer.verify(token)


def test_another_key_or_purpose_does_not_verify(signer):
    foreign = DownloadSigner('another-secret-0123456789abc', 300).sign('LogFiles/1.txt', '1.txt')
    with pytest.raises(TamperedToken):
        signer.verify(foreign)
    cursor = TokenSigner(SECRET, 'mod_api.cursor').sign({'p': 'LogFiles/1.txt', 'f': '1.txt'})
    with pytest.raises(TamperedToken):
        signer.verify(cursor)
    download = signer.sign('LogFiles/1.txt', '1.txt')
    with pytest.raises(TamperedToken):
        TokenSigner(SECRET, 'mod_api.cursor').verify(download, 300)


def test_tokens_expire(signer, monkeypatch):
    now = time.time()
    at(monkeypatch, now)
    token = signer.sign('LogFiles/12.txt', '12.txt')
    at(monkeypatch, now + 300)
    assert signer.verify(token).path == 'LogFiles/12.txt'  # exactly max_age old: still valid
    at(monkeypatch, now + 301)
    with pytest.raises(ExpiredToken):
        signer.verify(token)
    assert signer.verify(token, max_age=3600).path == 'LogFiles/12.txt'
    with pytest.raises(ExpiredToken):
        signer.verify(token, max_age=60)


def test_an_expired_tampered_token_is_tampered(signer, monkeypatch):
    now = time.time()
    at(monkeypatch, now)
    token = signer.sign('LogFiles/12.txt', '12.txt')
    at(monkeypatch, now + 10_000)
    with pytest.raises(TamperedToken):
        signer.verify(_flip(token, 3))


def test_error_hierarchy():
    assert issubclass(TamperedToken, InvalidToken) and issubclass(ExpiredToken, InvalidToken)
    assert issubclass(InvalidToken, ValueError)


@pytest.mark.parametrize('path', ['../etc/passwd', '/etc/passwd', 'LogFiles/../../x', 'a\x00b', 'a\\b', ''])
def test_unsafe_paths_are_never_signed(signer, path):
    with pytest.raises(UnsafePath):
        signer.sign(path, 'x.txt')


@pytest.mark.parametrize('filename', ['', 'a/b', 'a"b', 'a\r\nX-Injected: 1', 'x' * 256, '..'])
def test_unfit_file_names_are_never_signed(signer, filename):
    with pytest.raises(ValueError):
        signer.sign('LogFiles/1.txt', filename)


@pytest.mark.parametrize('payload', [
    {'p': '../etc/passwd', 'f': 'x'}, {'p': 'LogFiles/1.txt', 'f': 'a\r\nb'}, {'p': 'LogFiles/1.txt'},
    {'p': 'LogFiles/1.txt', 'f': 'x', 'extra': 1}, ['LogFiles/1.txt', 'x'], 'LogFiles/1.txt', {'p': 1, 'f': 'x'},
])
def test_genuine_tokens_with_unexpected_payloads_are_refused(signer, payload):
    """Defence in depth: even a correctly signed payload must be a safe path and file name."""
    token = URLSafeTimedSerializer(SECRET, salt=DOWNLOAD_SALT).dumps(payload)
    with pytest.raises(TamperedToken):
        signer.verify(token)


def test_a_secret_is_required():
    with pytest.raises(ValueError):
        TokenSigner('', DOWNLOAD_SALT)


def test_tokens_are_the_serializers_own_uncompressed():
    """Signing skips the serializer's zlib attempt; the serializer reads the token, and its own tokens verify."""
    path, filename = 'TestResults/' + 'a' * 64 + '.srt', 'a' * 64 + '.srt'  # zlib would shrink this payload
    signer = DownloadSigner(SECRET, max_age_seconds=300)
    token = signer.sign(path, filename)
    assert not token.startswith('.')  # the serializer's mark of a compressed payload
    serializer = URLSafeTimedSerializer(SECRET, salt=DOWNLOAD_SALT)
    assert serializer.loads(token) == {'p': path, 'f': filename}
    compressed = serializer.dumps({'p': path, 'f': filename})
    assert compressed.startswith('.')
    assert signer.verify(compressed) == DownloadGrant(path=path, filename=filename)
