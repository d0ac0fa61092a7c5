"""API10:2023 Unsafe Consumption of APIs: what storage and stored rows hand back is treated as untrusted.

The sample repository and the GCS bucket are the API's upstreams. Symlinks leading out of the repository are never
followed; hostile file names and extensions in rows (traversal, control characters, quotes, CRLF) never reach the
filesystem or a header; invalid UTF-8, NUL bytes and terminal escapes in result and log files come back escaped
and bounded; media-info XML bombs (external entities, billion laughs, deep nesting) are refused, quickly, without
expanding; a GCS object's own content type is ignored and its declared size is never trusted beyond the read cap.
Every answer is JSON (or the API's own download), none is a 5xx, none shows a file from outside the repository.
"""
import base64
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from mod_api import storage as storage_module
from mod_api.db import db
from mod_api.legacy import RegressionTestOutput, Sample
from mod_api_tests.factories import assert_error, bearer, make_token, make_user
from mod_api_tests.runs_data import add_sample
from mod_api_tests.samples_data import BILLION_LAUGHS, write_media_info
from mod_api_tests.security.served import DOWNLOAD, crawl_gets

OUTSIDE = 'OUTSIDE-THE-REPOSITORY-0451'
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Mediainfo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Mediainfo><File><track type="General"><Format>&xxe;</Format></track></File></Mediainfo>
"""
DEEP = b'<?xml version="1.0"?>' + b'<a>' * 5000 + b'</a>' * 5000
HOSTILE_TEXT = (b'1\n00:00:01,000 --> 00:00:02,000\n\x1b[31mred\x1b[0m \x00 nul \xff\xfe invalid \xc3\x28 utf-8\r\n'
                b'\x07bell \x1b]0;title\x07 \x9b1m\n')


def _problems(asked: str, response: Any) -> list[str]:
    """What is wrong with one answer: a 5xx, or a file from outside the repository."""
    problems = []
    text = response.data.decode('utf-8', errors='replace')
    if response.status_code >= 500:
        problems.append(f'{asked}: {response.status_code}')
    if OUTSIDE in text or 'root:x:0:0' in text:
        problems.append(f'{asked}: shows a file from outside the repository')
    return problems


def _crawl(client, dataset, document) -> list[str]:
    problems = []
    for asked, response in crawl_gets(client, dataset, document):
        problems += _problems(asked, response)
    return problems


def _repository(app) -> Path:
    return Path(app.config['SAMPLE_REPOSITORY'])


def _replace_with(path: Path, target: Path) -> None:
    path.unlink()
    os.symlink(target, path)


def test_symlinks_leading_out_of_the_repository_are_never_followed(app, client, dataset, document, tmp_path):
    secret = tmp_path / 'outside.txt'
    secret.write_text(f'{OUTSIDE}\n' * 10)
    repository = _repository(app)
    links = [path for folder in ('LogFiles', 'TestResults', 'TestFiles/media') for path in
             (repository / folder).iterdir() if path.is_file()]
    assert len(links) >= 5
    for path in links:
        _replace_with(path, secret)
    (repository / 'TestFiles' / 'loop').symlink_to(repository / 'TestFiles' / 'loop')
    assert _crawl(client, dataset, document) == []
    artifacts = client.get(f'/api/v1/runs/{dataset.path_values["run_id"]}/artifacts?limit=100',
                           headers=dataset.admin).get_json()['data']
    assert {item['storage_status'] for item in artifacts if item['type'] != 'diff'} == {'missing'}


def test_hostile_names_and_extensions_in_rows_never_reach_the_filesystem_or_a_header(app, client, dataset, document):
    hostile = ['/../../../../etc/passwd', '.srt\r\nSet-Cookie: x=1', '.srt"; filename="evil.html', '.\x00srt',
               '/' + 'a' * 2000, '.srt/../../../../etc/passwd']
    output_ids = list(db.session.scalars(select(RegressionTestOutput.id)))
    for index, output_id in enumerate(output_ids):
        db.session.execute(update(RegressionTestOutput).where(RegressionTestOutput.id == output_id)
                           .values(correct_extension=hostile[index % len(hostile)][:64]))
    db.session.execute(update(Sample).values(extension='../../etc/passwd'[:64]))
    db.session.commit()
    problems = []
    for asked, response in crawl_gets(client, dataset, document):
        problems += _problems(asked, response)
        problems += [f'{asked}: header {name}' for name, value in response.headers
                     if name == 'Set-Cookie' or '\r' in value or '\n' in value]
        disposition = response.headers.get('Content-Disposition', '')
        if '"' in disposition.split('filename=', 1)[-1].strip('"'):
            problems.append(f'{asked}: quote in the download name {disposition!r}')
    assert problems == []


def test_invalid_utf8_nul_and_terminal_escapes_in_files_come_back_escaped(app, client, dataset, document):
    repository = _repository(app)
    run_id = dataset.path_values['run_id']
    for path in (repository / 'TestResults').iterdir():
        path.write_bytes(HOSTILE_TEXT)
    (repository / 'LogFiles' / f'{run_id}.txt').write_bytes(HOSTILE_TEXT * 50)
    assert _crawl(client, dataset, document) == []
    lines = client.get(f'/api/v1/runs/{run_id}/logs?limit=100', headers=dataset.admin).get_json()['data']
    assert [line['message'] for line in lines[2:4]] == ['red  nul \ufffd\ufffd invalid \ufffd( utf-8',
                                                        'bell  \ufffd1m']
    picks = '&'.join(f'{name}={value}' for name, value in dataset.query_values.items())
    base = f'/api/v1/runs/{run_id}/samples/{dataset.path_values["sample_id"]}'
    as_text = client.get(f'{base}/expected?{picks}&format=text', headers=dataset.admin)
    assert assert_error(as_text, 400, 'not_utf8')['offset'] == HOSTILE_TEXT.index(b'\xff')
    as_base64 = client.get(f'{base}/expected?{picks}&format=base64', headers=dataset.admin)
    assert base64.b64decode(as_base64.get_json()['content']) == HOSTILE_TEXT


MEDIA_INFO_BOMBS = {'xxe': XXE, 'billion laughs': BILLION_LAUGHS, 'deep': DEEP, 'not utf-8': b'\xff\xfe<x/>',
                    'unclosed': b'<a>' * 10, 'empty': b''}


def test_media_info_bombs_are_refused_quickly_and_the_sample_still_answers(app, client):
    reader = bearer(make_token(make_user('user')))
    for label, content in MEDIA_INFO_BOMBS.items():
        sample = add_sample()
        db.session.commit()
        write_media_info(sample, content, app)
        started = time.monotonic()
        response = client.get(f'/api/v1/samples/{sample.id}', headers=reader)
        assert time.monotonic() - started < 2, label
        assert response.status_code == 200, label
        assert 'media_info' not in response.get_json(), label
        assert b'root:' not in response.data and b'lol' not in response.data, label


def test_a_gcs_objects_content_type_is_ignored(make_app, gcs_emulator, dataset):
    gcs_app = make_app(**gcs_emulator.config())
    client = gcs_app.test_client()
    run_id = dataset.path_values['run_id']
    repository = Path(gcs_app.config['SAMPLE_REPOSITORY'])
    (repository / 'LogFiles' / f'{run_id}.txt').unlink()
    gcs_emulator.put(f'LogFiles/{run_id}.txt', b'<html><script>alert(1)</script></html>\n', content_type='text/html')
    body = client.get(f'/api/v1/runs/{run_id}/artifacts?limit=100', headers=dataset.admin).get_data(as_text=True)
    answers = [client.get(path) for path in DOWNLOAD.findall(body)]
    logs = [answer for answer in answers if f'{run_id}.txt' in answer.headers.get('Content-Disposition', '')]
    assert logs
    for response in logs:
        assert response.data.startswith(b'<html>')  # served from GCS
        assert response.mimetype == 'text/plain'
        assert response.headers['Content-Disposition'].startswith('attachment')
        assert response.headers['X-Content-Type-Options'] == 'nosniff'


class _LyingBlob:
    """A GCS blob whose metadata says ``size`` but whose content is ``data`` (ranges honoured, as GCS does)."""

    def __init__(self, size: int, data: bytes) -> None:
        self.size, self.data, self.asked = size, data, []
        self.updated = None

    def download_as_bytes(self, start: int = 0, end: int | None = None, **kwargs: Any) -> bytes:
        self.asked.append((start, end))
        return self.data[start:None if end is None else end + 1]


def test_a_gcs_objects_declared_size_is_never_trusted_beyond_the_cap():
    small_claim = _LyingBlob(size=10, data=b'x' * 10_000_000)
    opened = storage_module._GcsFile('LogFiles/1.txt', small_claim, timeout=2)
    with pytest.raises(storage_module.FileTooLarge):
        opened.read_all(1000)
    assert small_claim.asked == [(0, 1000)]  # never more than the cap and one byte
    huge_claim = _LyingBlob(size=10**12, data=b'tiny')
    with pytest.raises(storage_module.FileTooLarge):
        storage_module._GcsFile('LogFiles/1.txt', huge_claim, timeout=2).read_all(1000)
    assert huge_claim.asked == []  # refused from the metadata, nothing downloaded
    ranged = _LyingBlob(size=100, data=b'y' * 10_000)
    assert storage_module._GcsFile('x', ranged, timeout=2).read_range(50, 10_000) == b'y' * 50
