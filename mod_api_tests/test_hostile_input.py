"""Hostile values through the real app, on both backends: each is refused with an ErrorResponse, never a 5xx.

Huge integers, zero and negative ids, NUL bytes and invalid UTF-8 in the path, the query, the body and headers;
10 MB bodies (refused 413 without being read); JSON nested 10,000 levels deep; look-alike characters in tokens;
``X-Forwarded-For`` spoofing without trusted proxy hops; path traversal in every value that names a file (the URL,
download tokens, the file names the database holds, a symlink in the repository), watched by an audit hook on
``open``: a canary file outside the repository is never opened and never served.
"""
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mod_api.db import db
from mod_api.legacy import RegressionTestOutput, Sample
from mod_api.legacy import TestResultFile as RunResultFile
from mod_api.models import ApiToken, AuditLogEntry
from mod_api.signing import DOWNLOAD_SALT, TokenSigner
from mod_api_tests.conftest import SECRET
from mod_api_tests.factories import assert_error, bearer, make_token, make_user
from mod_api_tests.invariants import assert_error_response, error_response_validator
from mod_api_tests.results_data import World, build_world, repository, results_path, sha, store_files
from mod_api_tests.run_writes_data import GENEROUS_LIMIT, fresh

API = '/api/v1'
TEN_MB = 10 * 1024 * 1024
HUGE = (2**31, 2**63, 10**100)
COMMIT = 'a' * 40
RUN_BODY = {'commit_sha': COMMIT, 'platform': 'linux', 'repository': 'owner/repo'}
CANARY_TEXT = b'canary: this file lies outside the sample repository'
SYMLINKED = b'the content whose name a symlink to the canary takes'
OPENED: list[str] = []
WATCHED: set[str] = set()


def _watch_opens(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: remember every ``open`` of a watched file, also through a symlink.

    Installed once per process (audit hooks cannot be removed); it does nothing while nothing is watched.
    """
    if WATCHED and event == 'open' and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path in WATCHED:
            OPENED.append(path)


sys.addaudithook(_watch_opens)


@pytest.fixture()
def app(make_app: Any) -> Iterator[Flask]:
    """The app with generous limits (token creation too), in an application context."""
    application = make_app(API_READ_LIMIT=GENEROUS_LIMIT, API_WRITE_LIMIT=GENEROUS_LIMIT,
                           API_ANONYMOUS_LIMIT=GENEROUS_LIMIT, API_AUTH_LIMIT=GENEROUS_LIMIT)
    with application.app_context():
        yield application


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def auth(app: Flask) -> dict[str, str]:
    """An admin token holding every scope."""
    return bearer(make_token(make_user('admin')))


@pytest.fixture()
def check(client: FlaskClient) -> Any:
    """Assert a response is below 500 and, unless 2xx, an ErrorResponse valid against the served schema."""
    validator = error_response_validator(client.get(f'{API}/openapi.json').get_json())
    return lambda response, context='': assert_error_response(response, validator, context)


def fields_of(response: Any) -> set[str]:
    """The fields a 400 validation_error names."""
    return set(assert_error(response, 400, 'validation_error')['fields'])


# ----------------------------------------------------------------------------------------------- integers

@pytest.mark.parametrize('value', HUGE)
@pytest.mark.parametrize('template, field', [
    ('/runs/{}', 'run_id'), ('/samples/{}', 'sample_id'), ('/runs/1/samples/{}', 'sample_id'),
    ('/samples/{}/history', 'sample_id'), ('/runs/{}/logs', 'run_id'),
])
def test_huge_path_ids_are_400(client, auth, template, field, value):
    assert fields_of(client.get(API + template.format(value), headers=auth)) == {field}


@pytest.mark.parametrize('value', HUGE)
@pytest.mark.parametrize('url, field', [
    ('/runs?limit={}', 'limit'), ('/runs?offset={}', 'offset'), ('/regression-tests?sample_id={}', 'sample_id'),
    ('/runs/1/samples/1/diff?context_lines={}', 'context_lines'), ('/runs/1/errors?sample_id={}', 'sample_id'),
])
def test_huge_query_integers_are_400(client, auth, url, field, value):
    assert field in fields_of(client.get(API + url.format(value), headers=auth))


@pytest.mark.parametrize('value', HUGE + (-1, 0, 1.5, '7'))
def test_huge_and_wrong_body_integers_are_400(client, auth, value):
    body = json.dumps({**RUN_BODY, 'regression_test_ids': [value], 'pull_request': value}).encode()
    response = client.post(f'{API}/runs', data=body, content_type='application/json', headers=auth)
    assert fields_of(response) >= {'pull_request', 'regression_test_ids.0'}


def test_an_integer_of_ten_thousand_digits_is_malformed_json(client, auth):
    body = b'{"pull_request": ' + b'9' * 10_000 + b'}'
    response = client.post(f'{API}/runs', data=body, content_type='application/json', headers=auth)
    assert_error(response, 400, 'malformed_json')


@pytest.mark.parametrize('url', ['/runs/0', '/samples/0', '/runs/1/samples/0', '/runs/0/cancel'])
def test_zero_ids_are_400(client, auth, url):
    method = client.post if url.endswith('cancel') else client.get
    assert len(fields_of(method(API + url, headers=auth))) == 1


@pytest.mark.parametrize('url', ['/runs/-1', '/samples/-5', '/runs/1/samples/-1', '/runs/-1/cancel'])
def test_negative_ids_match_no_route(client, auth, url):
    method = client.post if url.endswith('cancel') else client.get
    assert_error(method(API + url, headers=auth), 404, 'not_found')


@pytest.mark.parametrize('url', ['/runs?offset=-1', '/regression-tests?sample_id=-1', '/regression-tests?sample_id=0',
                                 '/runs/1/samples/1/diff?regression_id=1&output_id=1&context_lines=-1'])
def test_negative_and_zero_query_integers_are_400(client, auth, url):
    assert len(fields_of(client.get(API + url, headers=auth))) == 1


# ------------------------------------------------------------------------------------ NUL and invalid UTF-8

@pytest.mark.parametrize('url', [
    '/runs?branch=a%00b', '/samples?name=%00', '/runs/1/logs?contains=%00', '/branches?name=x%00y',
    '/runs?commit_sha=' + 'a' * 39 + '%00', '/baseline-approvals/%00', '/downloads/%00', '/runs/1%00',
])
def test_nul_bytes_in_the_url_are_refused_or_harmless(client, auth, check, url):
    response = client.get(API + url, headers=auth)
    check(response, url)
    assert response.status_code in (200, 400, 403, 404)


def test_nul_bytes_in_body_and_headers_are_refused(client, auth, check):
    body = {**RUN_BODY, 'branch': 'main\x00evil'}
    assert fields_of(client.post(f'{API}/runs', json=body, headers=auth)) == {'branch'}
    response = client.post(f'{API}/runs', json=RUN_BODY, headers={**auth, 'Idempotency-Key': 'key\x00'})
    assert fields_of(response) == {'Idempotency-Key'}
    assert_error(client.get(f'{API}/runs', headers={'Authorization': 'Bearer ccx_\x00'}), 401, 'unauthorized')


@pytest.mark.parametrize('raw_path', ['/api/v1/runs/\xff', '/api/v1/samples/\xc3', '/api/v1/downloads/\xed\xa0\x80',
                                      '/api/v1/baseline-approvals/\xc0\xaf'])
def test_invalid_utf8_in_the_path_is_refused(client, auth, check, raw_path):
    response = client.get('/', headers=auth, environ_overrides={'PATH_INFO': raw_path})  # raw bytes, as latin-1
    check(response, raw_path)
    assert response.status_code in (400, 403, 404)


@pytest.mark.parametrize('query, field', [('branch=%FF', 'branch'), ('branch=a+%C3', 'branch'),
                                          ('status=%ED%A0%80', 'status'), ('%FF=1', '\ufffd'),
                                          ('limit=5&branch=%C0%AF&sort=run_id', 'branch')])
def test_invalid_utf8_in_the_query_is_400(client, auth, query, field):
    response = client.get(f'{API}/runs', headers=auth, environ_overrides={'QUERY_STRING': query})
    assert fields_of(response) == {field}


@pytest.mark.parametrize('payload', [b'{"reason": "\xff"}', b'\xfe\xff{}', b'{"reason": "\xed\xa0\x80"}'])
def test_invalid_utf8_in_the_body_is_malformed_json(client, auth, payload):
    response = client.post(f'{API}/runs/1/cancel', data=payload, content_type='application/json', headers=auth)
    assert_error(response, 400, 'malformed_json')


@pytest.mark.parametrize('header, value', [
    ('Authorization', 'Bearer ccx_\xff\xfe'), ('Authorization', '\xff'), ('Idempotency-Key', '\xc3\xa9\xff'),
    ('X-Request-Id', '\xff\x00'), ('If-None-Match', '"\xff"'), ('Content-Type', 'application/json; charset=\xff'),
])
def test_invalid_utf8_in_headers_is_refused(client, auth, check, header, value):
    headers = {**auth, header: value}  # a server hands header bytes over as latin-1 text: \xff arrives as 'ÿ'
    response = client.post(f'{API}/runs', data=json.dumps(RUN_BODY), headers=headers,
                           content_type=headers.pop('Content-Type', 'application/json'))
    check(response, f'{header}: {value!r}')
    assert response.status_code != 202


# -------------------------------------------------------------------------------------------- big bodies

class CountingStream(io.RawIOBase):
    """A body stream of ``size`` bytes of JSON-ish padding that counts how many bytes the server read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.read_bytes)
        buffer[:count] = b' ' * count
        self.read_bytes += count
        return count


@pytest.mark.parametrize('url', ['/runs', '/auth/tokens', '/runs/1/cancel', '/baseline-approvals/x/review'])
def test_a_10_mb_body_is_413_without_being_read(client, auth, url):
    stream = CountingStream(TEN_MB)
    response = client.post(API + url, content_type='application/json', headers=auth,
                           environ_overrides={'wsgi.input': stream, 'CONTENT_LENGTH': str(TEN_MB)})
    assert_error(response, 413, 'payload_too_large')
    assert stream.read_bytes == 0


def test_a_streamed_10_mb_body_is_413_after_at_most_the_cap(app, client, auth):
    stream = CountingStream(TEN_MB)
    response = client.post(f'{API}/runs', content_type='application/json',
                           headers={**auth, 'Transfer-Encoding': 'chunked'},
                           environ_overrides={'wsgi.input': stream, 'wsgi.input_terminated': True})
    assert_error(response, 413, 'payload_too_large')
    assert stream.read_bytes <= app.config['API_MAX_BODY_BYTES'] + 64 * 1024


@pytest.mark.parametrize('payload', [b'[' * 10_000 + b']' * 10_000, b'{"a":' * 10_000 + b'1' + b'}' * 10_000,
                                     b'{"reason": ' + b'[' * 10_000 + b']' * 10_000 + b'}'])
@pytest.mark.parametrize('url', ['/runs', '/auth/tokens', '/runs/1/retry'])
def test_json_nested_10000_levels_is_malformed_json(client, auth, url, payload):
    response = client.post(API + url, data=payload, content_type='application/json', headers=auth)
    assert_error(response, 400, 'malformed_json')


# ------------------------------------------------------------------------------------------------ tokens

LOOK_ALIKES = {
    'cyrillic es in the prefix': lambda token: 'c\u0441x_' + token[4:],
    'cyrillic a in the secret': lambda token: token[:-1] + '\u0430',
    'fullwidth digits in the key id': lambda token: 'ccx_' + ''.join(
        chr(ord(char) + 0xFEE0) if char.isdigit() else char for char in token[4:20]) + token[20:],
    'upper-case key id': lambda token: 'ccx_' + token[4:20].upper() + token[20:],
    'zero-width space': lambda token: token[:10] + '\u200b' + token[10:],
    'utf-8 read as latin-1': lambda token: ('c\u0441x_' + token[4:]).encode('utf-8').decode('latin-1'),
}


@pytest.mark.parametrize('look_alike', LOOK_ALIKES)
def test_look_alike_tokens_are_401(client, auth, look_alike):
    token = auth['Authorization'].removeprefix('Bearer ')
    assert client.get(f'{API}/runs', headers=auth).status_code == 200
    value = LOOK_ALIKES[look_alike](token)
    assert value != token
    assert_error(client.get(f'{API}/runs', headers={'Authorization': f'Bearer {value}'}), 401, 'unauthorized')


# ---------------------------------------------------------------------------------------- X-Forwarded-For

def test_forwarded_for_without_trusted_hops_neither_escapes_the_limit_nor_reaches_the_audit(make_app):
    app = make_app(API_AUTH_LIMIT='3/15 minutes')
    client = app.test_client()
    with app.app_context():
        user = make_user('admin')
        email = user.email
    peer = {'REMOTE_ADDR': '192.0.2.10'}
    body = {'email': email, 'password': 'correct horse battery', 'token_name': 'spoofed'}
    created = client.post(f'{API}/auth/tokens', json=body, environ_base=peer,
                          headers={'X-Forwarded-For': '203.0.113.1'})
    assert created.status_code == 201
    statuses = [client.post(f'{API}/auth/tokens', json={}, environ_base=peer,
                            headers={'X-Forwarded-For': f'203.0.113.{index}, 198.51.100.{index}'}).status_code
                for index in range(2, 5)]
    assert statuses == [400, 400, 429]
    assert client.post(f'{API}/auth/tokens', json={}, environ_base={'REMOTE_ADDR': '192.0.2.11'}).status_code == 400
    with app.app_context():
        assert db.session.scalars(select(ApiToken.created_ip)).all() == ['192.0.2.10']
        assert db.session.scalars(select(AuditLogEntry.ip)).all() == ['192.0.2.10']


# ------------------------------------------------------------------------------------------ path traversal

TRAVERSALS = ('../../../../canary', '..%2f..%2fcanary', '%2e%2e/%2e%2e/canary', '/abs/canary', '..\\..\\canary',
              'a/./../../canary', '....//....//canary')


@pytest.fixture()
def canary(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A file outside the sample repository whose opening the audit hook records."""
    outside = tmp_path_factory.mktemp('outside') / 'canary.srt'
    outside.write_bytes(CANARY_TEXT)
    WATCHED.add(os.path.realpath(outside))
    OPENED.clear()
    yield outside
    WATCHED.clear()


@pytest.fixture()
def hostile_world(app: Flask, canary: Path) -> World:
    """The results world, where the files its rows name are traversals, absolute paths or symlinks to the canary."""
    world = build_world()
    store_files(app, world.files)
    files = db.session.scalars(select(RunResultFile).where(RunResultFile.test_id == world.done)).all()
    for file, name in zip(files, (sha(SYMLINKED), str(canary.with_suffix(''))) + TRAVERSALS):
        file.got = name  # the symlink below, the canary's absolute path, traversals (the outputs get the others)
    outputs = db.session.scalars(select(RegressionTestOutput)).all()
    for output, name in zip(outputs, reversed(TRAVERSALS)):
        output.correct = name
    for sample, name in zip(db.session.scalars(select(Sample)).all(), TRAVERSALS):
        sample.sha, sample.extension = name, '/../../canary'
    db.session.commit()
    target = repository(app) / results_path(SYMLINKED)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(canary)
    (repository(app) / 'LogFiles').mkdir(exist_ok=True)
    (repository(app) / 'LogFiles' / f'{world.done}.txt').symlink_to(canary)
    return world


def _file_urls(world: World) -> list[str]:
    """Every URL of a run whose answer reads a file the database names."""
    urls = [f'/runs/{world.done}/artifacts?limit=100', f'/runs/{world.done}/logs',
            f'/samples/{world.first.id}', f'/samples/{world.second.id}', f'/runs/{world.done}/samples']
    for test in world.tests.values():
        for output in db.session.scalars(select(RegressionTestOutput.id).where(
                RegressionTestOutput.regression_id == test.id)):
            for sample in (world.first.id, world.second.id):
                for kind in ('expected', 'actual', 'diff'):
                    urls.append(f'/runs/{world.done}/samples/{sample}/{kind}?regression_id={test.id}'
                                f'&output_id={output}')
    return urls


def test_file_names_from_the_database_never_reach_the_canary(client, auth, check, hostile_world, canary):
    fresh()
    for url in _file_urls(hostile_world):
        response = client.get(API + url, headers=auth)
        check(response, url)
        assert CANARY_TEXT not in response.get_data(), url
        for link in _download_links(response):
            downloaded = client.get(link)
            check(downloaded, link)
            assert CANARY_TEXT not in downloaded.get_data(), link
    assert not OPENED


def _download_links(response: Any) -> list[str]:
    """The paths of the API's own download URLs in a JSON page (``data[].download_url``)."""
    body = response.get_json(silent=True) or {}
    urls = [item.get('download_url') for item in body.get('data', []) if isinstance(item, dict)]
    return [urlsplit(url).path for url in urls if url and '/downloads/' in url]


def test_the_watch_sees_an_open_through_a_symlink(app, canary):
    link = repository(app) / 'link.srt'
    link.symlink_to(canary)
    assert link.read_bytes() == CANARY_TEXT
    assert OPENED == [os.path.realpath(canary)]


@pytest.mark.parametrize('path', TRAVERSALS)
def test_forged_download_tokens_naming_traversals_are_refused(client, check, canary, path):
    forged = TokenSigner(SECRET, DOWNLOAD_SALT).sign({'p': path, 'f': 'canary.srt'})
    response = client.get(f'{API}/downloads/{forged}')
    check(response, path)
    assert response.status_code in (403, 404)  # 404: a file literally named '..%2f..%2fcanary' is not there
    assert not OPENED


@pytest.mark.parametrize('url', [
    '/downloads/..%2F..%2Fcanary.srt', '/downloads/%2e%2e%2f%2e%2e%2fcanary.srt', '/downloads/..%5C..%5Ccanary.srt',
    '/downloads/%2Fetc%2Fpasswd', '/runs/1/../../../canary.srt', '/%2e%2e/%2e%2e/canary.srt', '/runs/1/logs/..%2f..',
    '/downloads/....//....//canary.srt',
])
def test_traversal_in_the_url_is_refused(client, auth, check, canary, url):
    response = client.get(API + url, headers=auth)
    check(response, url)
    assert response.status_code in (403, 404)
    assert not OPENED


def test_a_symlinked_log_file_is_not_followed(client, auth, hostile_world, canary):
    fresh()
    assert_error(client.get(f'{API}/runs/{hostile_world.done}/logs', headers=auth), 404, 'log_not_found')
    assert not OPENED
