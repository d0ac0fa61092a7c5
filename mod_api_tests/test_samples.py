"""GET /samples and GET /samples/{sample_id} on both backends: fields, filters, pagination, errors, media info.

Also the pure pieces: media-info XML to JSON (:mod:`mod_api.media_info`) and the SQL SHA-256 test
(:class:`mod_api.sample_query.IsSha256`) against Python's ``re.fullmatch``.
"""
import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import literal, select

from mod_api.db import db
from mod_api.legacy import Sample
from mod_api.media_info import MAX_BYTES, MAX_DEPTH, MalformedMediaInfo, parse
from mod_api.resources.samples import SamplePageSchema, SampleSchema
from mod_api.sample_query import LIST_QUERY_COUNT, SAMPLE_QUERY_COUNT, IsSha256
from mod_api_tests.factories import assert_error
from mod_api_tests.runs_data import add_regression_test, add_sample, store
from mod_api_tests.samples_data import (
    BILLION_LAUGHS,
    MEDIA_INFO,
    MEDIA_INFO_JSON,
    add_tag,
    add_upload,
    page_ids,
    reader,
    repository,
    tag_sample,
    write_media_info,
)
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/samples'
SHA_A, SHA_B, SHA_C = 'a' * 64, 'B' * 64, '0123456789abcdef' * 4


def listing(client: FlaskClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(URL, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert SamplePageSchema().validate(body) == {}
    return body


def detail(client: FlaskClient, headers: dict[str, str], sample_id: int) -> Any:
    return client.get(f'{URL}/{sample_id}', headers=headers)


# --- documents -------------------------------------------------------------------------------------------------

def test_a_sample_has_every_field(app: Flask, client: FlaskClient) -> None:
    sample = add_sample(SHA_A, 'ts', 'broadcast')
    tag_sample(sample, add_tag('DVB'), add_tag('Teletext'))
    add_upload(sample, 'Uploaded from a DVB-T recorder')
    write_media_info(sample)
    headers = reader()
    response = detail(client, headers, sample.id)
    assert response.status_code == 200
    body = response.get_json()
    assert SampleSchema().validate(body) == {}
    assert body == {'sample_id': sample.id, 'sha256': SHA_A, 'name': 'broadcast', 'extension': 'ts',
                    'tags': ['DVB', 'Teletext'], 'media_info': MEDIA_INFO_JSON,
                    'notes': 'Uploaded from a DVB-T recorder'}
    assert listing(client, headers)['data'] == [body]


def test_defaults_without_upload_tags_or_media_info(app: Flask, client: FlaskClient) -> None:
    sample = add_sample(SHA_A, '', 'bare')
    body = detail(client, reader(), sample.id).get_json()
    assert body == {'sample_id': sample.id, 'sha256': SHA_A, 'name': 'bare', 'extension': '', 'tags': [],
                    'notes': None}


def test_contract_bounds_cut_or_leave_out(app: Flask, client: FlaskClient) -> None:
    sample = add_sample(SHA_A, 'x' * 11, 'n' * 300)
    tag_sample(sample, add_tag('t' * 51), *[add_tag(f'tag{index:02d}') for index in range(55)])
    add_upload(sample, 'first ' * 300)
    add_upload(sample, 'second upload')
    body = detail(client, reader(), sample.id).get_json()
    assert SampleSchema().validate(body) == {}
    assert 'extension' not in body  # a cut extension would name another type
    assert body['name'] == 'n' * 255
    assert body['tags'] == [f'tag{index:02d}' for index in range(50)]
    assert body['notes'] == ('first ' * 300)[:1000]  # the first upload by id


def test_samples_without_a_sha256_digest_are_not_api_samples(app: Flask, client: FlaskClient) -> None:
    legacy = add_sample('sample1', 'ts', 'sample1')  # the legacy installer's data
    short = add_sample('a' * 63)
    newline = add_sample('a' * 63 + '\n')
    good = add_sample(SHA_B)
    headers = reader()
    body = listing(client, headers)
    assert page_ids(body, 'sample_id') == [good.id]
    assert body['pagination']['total'] == 1
    for sample in (legacy, short, newline):
        details = assert_error(detail(client, headers, sample.id), 404, 'not_found')
        assert details == {'resource': 'sample', 'id': sample.id, 'reason': 'sha_not_sha256'}


def test_unknown_sample_is_404(app: Flask, client: FlaskClient) -> None:
    details = assert_error(detail(client, reader(), 424242), 404, 'not_found')
    assert details == {'resource': 'sample', 'id': 424242}


@pytest.mark.parametrize('value, expected', [
    (SHA_A, True), (SHA_B, True), (SHA_C, True), ('a' * 63, False), ('a' * 65, False), ('a' * 63 + '\n', False),
    ('a' * 63 + ' ', False), ('a' * 63 + 'g', False), ('a' * 63 + 'é', False), ('é' * 64, False), ('sample1', False),
    ('', False), (None, False)])
def test_sql_sha256_check_agrees_with_the_contract_pattern(app: Flask, value: str | None, expected: bool) -> None:
    assert bool(re.fullmatch(r'[a-fA-F0-9]{64}', value or '')) is expected
    assert bool(db.session.scalar(select(IsSha256(literal(value))))) is expected


# --- media info ------------------------------------------------------------------------------------------------

def test_media_info_to_json_rules() -> None:
    document = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!-- a comment --><root xmlns="https://mediaarea.net/mediainfo" xmlns:x="urn:x" x:version="2">
  <empty/>
  <text>  spaced  </text>
  <mixed a="1">before<child>c</child>after</mixed>
  <repeated>1</repeated><repeated>2</repeated><repeated><deep>3</deep></repeated>
  <entities>&lt;&amp;&#233;</entities>
</root>"""
    assert parse(document) == {'root': {
        '@attributes': {'version': '2'}, 'empty': '', 'text': 'spaced',
        'mixed': {'@attributes': {'a': '1'}, '#text': 'beforeafter', 'child': 'c'},
        'repeated': ['1', '2', {'deep': '3'}], 'entities': '<&é'}}
    assert parse('\ufeff<a>é</a>'.encode('utf-8')) == {'a': 'é'}


@pytest.mark.parametrize('document, reason', [
    (BILLION_LAUGHS, 'DTD or entity'),
    (b'<!doctype a SYSTEM "file:///etc/passwd"><a/>', 'DTD or entity'),
    (b'<a><!ENTITY x "y"></a>', 'DTD or entity'),
    ('<!DOCTYPE a><a/>'.encode('utf-16'), 'not UTF-8'),
    (b'<a>\xe9</a>', 'not UTF-8'),
    (b'<a>&undefined;</a>', 'invalid XML'),
    (b'<a><b></a>', 'invalid XML'),
    (b'', 'invalid XML'),
    (b'<a>' * (MAX_DEPTH + 1) + b'</a>' * (MAX_DEPTH + 1), 'nested deeper'),
])
def test_media_info_refuses_unsafe_or_malformed_documents(document: bytes, reason: str) -> None:
    with pytest.raises(MalformedMediaInfo, match=reason):
        parse(document)


def test_media_info_at_the_depth_limit_is_accepted() -> None:
    assert parse(b'<a>' * MAX_DEPTH + b'</a>' * MAX_DEPTH) is not None


@pytest.mark.parametrize('content', [BILLION_LAUGHS, b'<Mediainfo><File>', b'\xff\xfe<', b' ' * (MAX_BYTES + 1)])
def test_unacceptable_media_info_is_left_out_and_logged(app: Flask, client: FlaskClient, content: bytes,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    sample = add_sample(SHA_A)
    write_media_info(sample, content)
    with caplog.at_level(logging.WARNING, logger='mod_api'):
        body = detail(client, reader(), sample.id).get_json()
    assert body['sample_id'] == sample.id and 'media_info' not in body
    assert any(f'Media info of sample {sample.id} left out' in record.getMessage() for record in caplog.records)


def test_unreadable_media_info_is_left_out_and_logged(app: Flask, client: FlaskClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    sample = add_sample(SHA_A)
    write_media_info(sample).unlink()
    (repository() / f'TestFiles/media/{SHA_A}.xml').mkdir()  # there, but not a regular file
    with caplog.at_level(logging.WARNING, logger='mod_api'):
        body = detail(client, reader(), sample.id).get_json()
    assert body['sample_id'] == sample.id and 'media_info' not in body
    assert any('not a regular file' in record.getMessage() for record in caplog.records)


def test_absent_media_info_is_left_out_silently(app: Flask, client: FlaskClient,
                                                caplog: pytest.LogCaptureFixture) -> None:
    sample = add_sample(SHA_A)
    with caplog.at_level(logging.WARNING, logger='mod_api'):
        body = detail(client, reader(), sample.id).get_json()
    assert 'media_info' not in body
    assert not [record for record in caplog.records if 'Media info' in record.getMessage()]


def test_media_info_only_in_gcs_is_read_from_there(make_app: Any, gcs_emulator: Any, gcs_config: dict) -> None:
    app = make_app(**gcs_config)
    with app.app_context():
        sample = add_sample(SHA_A)
        gcs_emulator.put(f'TestFiles/media/{SHA_A}.xml', MEDIA_INFO)
        body = detail(app.test_client(), reader(), sample.id).get_json()
    assert body['media_info'] == MEDIA_INFO_JSON


# --- filters and pages -----------------------------------------------------------------------------------------

@pytest.fixture()
def catalogue(app: Flask) -> dict[str, Sample]:
    """Five samples: active (an active test), inactive (only an inactive test), orphan (no test), ..."""
    samples = {
        'active': add_sample(SHA_A, 'ts', 'Broadcast_DVB'),
        'inactive': add_sample(SHA_B, 'MP4', 'dvd-rip'),
        'orphan': add_sample(SHA_C, 'mkv', 'other'),
        'null_flag': add_sample('c' * 64, 'ts', '50%_off'),
        'mixed': add_sample('d' * 64, 'ts', 'mixed'),
    }
    add_regression_test(sample=samples['active'])
    add_regression_test(sample=samples['inactive'], active=False)
    test, _ = add_regression_test(sample=samples['null_flag'])
    test.active = None
    add_regression_test(sample=samples['mixed'], active=False)
    add_regression_test(sample=samples['mixed'], active=True)
    store(test)
    tag_sample(samples['active'], add_tag('DVB'))
    tag_sample(samples['inactive'], add_tag('dvd'), add_tag('DVB-extra'))
    return samples


@pytest.mark.parametrize('params, expected', [
    ({}, ['active', 'inactive', 'orphan', 'null_flag', 'mixed']),
    ({'status': 'active'}, ['active', 'mixed']),
    ({'status': 'inactive'}, ['inactive', 'orphan', 'null_flag']),
    ({'name': 'dvd'}, ['inactive']),
    ({'name': 'DVB'}, ['active']),
    ({'name': '%'}, ['null_flag']),  # LIKE wildcards are literal
    ({'name': '_'}, ['active', 'null_flag']),
    ({'tag': 'dvb'}, ['active']),
    ({'tag': 'DVD'}, ['inactive']),
    ({'tag': 'DVB-'}, []),
    ({'sha256': SHA_A.upper()}, ['active']),
    ({'sha256': SHA_B.lower()}, ['inactive']),
    ({'extension': 'mp4'}, ['inactive']),
    ({'extension': 'TS'}, ['active', 'null_flag', 'mixed']),
    ({'extension': 'ts', 'status': 'inactive'}, ['null_flag']),
    ({'extension': 'ts', 'name': 'mix', 'tag': 'dvb'}, []),
])
def test_filters(client: FlaskClient, catalogue: dict[str, Sample], params: dict[str, str],
                 expected: list[str]) -> None:
    body = listing(client, reader(), **params)
    assert page_ids(body, 'sample_id') == [catalogue[name].id for name in expected]
    assert body['pagination']['total'] == len(expected)


def test_pagination_by_id(client: FlaskClient, catalogue: dict[str, Sample]) -> None:
    headers = reader()
    ordered = sorted(sample.id for sample in catalogue.values())
    first = listing(client, headers, limit=2)
    assert page_ids(first, 'sample_id') == ordered[:2]
    assert first['pagination'] == {'limit': 2, 'offset': 0, 'total': 5, 'next_offset': 2}
    last = listing(client, headers, limit=2, offset=4)
    assert page_ids(last, 'sample_id') == ordered[4:]
    assert last['pagination'] == {'limit': 2, 'offset': 4, 'total': 5, 'next_offset': None}
    beyond = listing(client, headers, offset=10)
    assert beyond['data'] == [] and beyond['pagination']['total'] == 5


@pytest.mark.parametrize('params, field', [
    ({'sha256': SHA_A + '\n'}, 'sha256'),
    ({'sha256': SHA_A[:-1]}, 'sha256'),
    ({'sha256': 'g' * 64}, 'sha256'),
    ({'extension': '.ts'}, 'extension'),
    ({'extension': 'ts\n'}, 'extension'),
    ({'extension': ''}, 'extension'),
    ({'extension': 'a' * 11}, 'extension'),
    ({'status': 'quarantined'}, 'status'),
    ({'name': 'n' * 101}, 'name'),
    ({'tag': 't' * 51}, 'tag'),
    ({'limit': '0'}, 'limit'),
    ({'limit': '101'}, 'limit'),
    ({'offset': '-1'}, 'offset'),
    ({'unknown': '1'}, 'unknown'),
])
def test_invalid_queries_are_400(app: Flask, client: FlaskClient, params: dict[str, str], field: str) -> None:
    details = assert_error(client.get(URL, headers=reader(), query_string=params), 400, 'validation_error')
    assert field in details['fields']


def test_needs_a_token_with_runs_read(app: Flask, client: FlaskClient) -> None:
    assert_error(client.get(URL), 401, 'unauthorized')
    assert_error(client.get(f'{URL}/1'), 401, 'unauthorized')


def test_query_count_is_constant_in_page_size(app: Flask, client: FlaskClient) -> None:
    for index in range(30):
        sample = add_sample(f'{index + 1:064x}')
        tag_sample(sample, add_tag(f'tag-{index}'))
        add_upload(sample, f'notes {index}')
        add_regression_test(sample=sample)
    last_id = sample.id
    headers = reader()
    listing(client, headers)  # the token's first use is recorded once
    with counted_queries() as one:
        assert len(listing(client, headers, limit=1, status='active')['data']) == 1
    with counted_queries() as many:
        assert len(listing(client, headers, limit=30, status='active')['data']) == 30
    with counted_queries() as single:
        assert detail(client, headers, last_id).status_code == 200
    assert len(one) == len(many)
    assert len(many) - len(single) == LIST_QUERY_COUNT - SAMPLE_QUERY_COUNT
