"""GET /runs/{run_id}/artifacts and the API's signed download route (GET /downloads/<token>), on both backends.

Artifacts of one run over every type, their order, pages and type filter; storage statuses with the local folder
only and with GCS (the emulator: present, absent, stopped); verified download URLs and what they serve; the diff
artifact's URL; the download route's own authentication (tampered, expired) and a file that vanished; query counts.
"""
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner
from werkzeug.exceptions import NotFound
from werkzeug.routing import MapAdapter

from mod_api.artifact_list import QUERY_COUNT, load_run_artifacts
from mod_api.db import db
from mod_api.legacy import RegressionTest, RegressionTestOutput, Sample, TestPlatform
from mod_api.legacy import Test as Run
from mod_api.log_cursor import CursorCodec, Position
from mod_api.resources.artifacts import ArtifactPageSchema
from mod_api_tests import factories
from mod_api_tests.factories import assert_error
from mod_api_tests.logs_data import put_local
from mod_api_tests.runs_data import (
    DONE,
    VARIANT,
    add_category,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
    add_variant,
)
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/runs/{}/artifacts'
REF1, REF2, REF3, GOT = '1' * 64, '2' * 64, '3' * 64, 'e' * 64
CATEGORY_NUMBERS = itertools.count()
ARTIFACT_ID = re.compile(r'(build_log|sample_output|expected_output|diff|media_info|binary)-[0-9a-f]{24}')


def results_reader() -> dict[str, str]:
    """Headers of a plain user's token holding results:read (commits the session)."""
    db.session.commit()
    return factories.bearer(factories.make_token(factories.make_user('user'), ['results:read']))


def repository(app: Flask) -> Path:
    return Path(app.config['SAMPLE_REPOSITORY'])


@dataclass
class ArtifactRun:
    """A completed linux run: sample A (tests ta, ta2), sample B (test tb); one output of ta differs (a diff).

    References: REF1 (ta and ta2, both A), REF2 (ignored outputs of ta and tb: two samples), REF3 (tb). Uploaded
    outputs: GOT (ta, differs) and VARIANT (tb, an accepted variant).
    """

    run: Run
    a: Sample
    b: Sample
    ta: RegressionTest
    ta2: RegressionTest
    tb: RegressionTest
    differing: RegressionTestOutput

    def paths(self) -> dict[str, str]:
        return {
            'log': f'LogFiles/{self.run.id}.txt', 'got': f'TestResults/{GOT}.srt',
            'variant': f'TestResults/{VARIANT}.srt', 'ref1': f'TestResults/{REF1}.srt',
            'ref2': f'TestResults/{REF2}.srt', 'ref3': f'TestResults/{REF3}.srt',
            'media_a': f'TestFiles/media/{self.a.sha}.xml', 'media_b': f'TestFiles/media/{self.b.sha}.xml',
            'binary': f'vm_data/linux-{self.run.id}/unsafe-ccextractor/ccextractor.zip',
        }

    def listing(self, binary: bool = False) -> list[tuple[str, str, int | None, str]]:
        """(type, filename, sample_id, content_type) of every artifact, in the API's order."""
        rows = [
            ('build_log', f'{self.run.id}.txt', None, 'text/plain'),
            ('sample_output', f'{VARIANT}.srt', self.b.id, 'application/x-subrip'),
            ('sample_output', f'{GOT}.srt', self.a.id, 'application/x-subrip'),
            ('expected_output', f'{REF1}.srt', self.a.id, 'application/x-subrip'),
            ('expected_output', f'{REF2}.srt', None, 'application/x-subrip'),
            ('expected_output', f'{REF3}.srt', self.b.id, 'application/x-subrip'),
            ('diff', f'diff_regression{self.ta.id}_output{self.differing.id}.json', self.a.id, 'application/json'),
            ('media_info', f'{self.a.sha}.xml', self.a.id, 'application/xml'),
            ('media_info', f'{self.b.sha}.xml', self.b.id, 'application/xml'),
        ]
        return rows + ([('binary', 'ccextractor.zip', None, 'application/zip')] if binary else [])


def artifact_run(extra_tests: int = 0) -> ArtifactRun:
    """The ArtifactRun (committed); ``extra_tests`` more passing regression tests of sample A widen its scope."""
    general = add_category(f'Artifacts {next(CATEGORY_NUMBERS)}')
    a, b = add_sample(), add_sample()
    ta, (differing, ignored) = add_regression_test(general, outputs=[(REF1, False), (REF2, True)], sample=a)
    ta2, (same_reference,) = add_regression_test(general, outputs=[(REF1, False)], sample=a)
    tb, (third, shared) = add_regression_test(general, outputs=[(REF3, False), (REF2, True)], sample=b)
    add_variant(third, VARIANT)
    extra = [add_regression_test(general, outputs=[(REF1, False)], sample=a) for _ in range(extra_tests)]
    run = add_run(TestPlatform.linux, progress=DONE, customized=[ta.id, ta2.id, tb.id] + [t.id for t, _ in extra])
    for test, files in ((ta, [(differing, GOT), (ignored, None)]), (ta2, [(same_reference, None)]),
                        (tb, [(third, VARIANT)]), *((test, [(outputs[0], None)]) for test, outputs in extra)):
        add_result(run, test)
        for output, got in files:
            add_result_file(run, test, output, got=got)
    db.session.commit()
    return ArtifactRun(run, a, b, ta, ta2, tb, differing)


def listing(client: FlaskClient, headers: dict[str, str], run_id: int, **params: Any) -> dict[str, Any]:
    """A 200 page, checked against the response schema."""
    response = client.get(URL.format(run_id), headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert ArtifactPageSchema().validate(body) == {}
    return body


def rows(body: dict[str, Any]) -> list[tuple[str, str, int | None, str]]:
    return [(item['type'], item['filename'], item['sample_id'], item['content_type']) for item in body['data']]


def statuses(body: dict[str, Any]) -> dict[str, tuple[str, int | None, bool]]:
    """File name → (storage_status, size_bytes, has a download_url)."""
    return {item['filename']: (item['storage_status'], item['size_bytes'], item['download_url'] is not None)
            for item in body['data']}


def download(client: FlaskClient, url: str) -> Any:
    """Follow a download URL of the API, without any credentials."""
    assert url.startswith('http://localhost/api/v1/downloads/'), url
    return client.get(url[len('http://localhost'):])


# --- the list ------------------------------------------------------------------------------------------------------

def test_every_artifact_of_the_run_in_order_with_local_storage(app, client):
    scenario = artifact_run()
    paths = scenario.paths()
    for key in ('log', 'got', 'ref1', 'media_a', 'binary'):
        put_local(repository(app), paths[key], f'{key} bytes'.encode())
    headers = results_reader()
    body = listing(client, headers, scenario.run.id)
    assert rows(body) == scenario.listing(binary=True)
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 10, 'next_offset': None}
    assert {item['run_id'] for item in body['data']} == {scenario.run.id}
    ids = [item['artifact_id'] for item in body['data']]
    assert all(ARTIFACT_ID.fullmatch(artifact_id) for artifact_id in ids) and len(set(ids)) == len(ids)
    assert [item['artifact_id'] for item in listing(client, headers, scenario.run.id)['data']] == ids
    found = statuses(body)
    run_id, diff_name = scenario.run.id, scenario.listing()[6][1]
    assert {name: found[name] for name in (f'{run_id}.txt', f'{GOT}.srt', f'{REF1}.srt', f'{scenario.a.sha}.xml',
                                           'ccextractor.zip')} == {
        f'{run_id}.txt': ('ok', 9, True), f'{GOT}.srt': ('ok', 9, True), f'{REF1}.srt': ('ok', 10, True),
        f'{scenario.a.sha}.xml': ('ok', 13, True), 'ccextractor.zip': ('ok', 12, True)}
    for name in (f'{VARIANT}.srt', f'{REF2}.srt', f'{REF3}.srt', f'{scenario.b.sha}.xml'):
        assert found[name] == ('missing', None, False)
    assert found[diff_name][:2] == ('ok', None)
    for item in body['data']:
        if item['download_url'] and item['type'] != 'diff':
            response = download(client, item['download_url'])
            assert response.status_code == 200
            assert response.data == (repository(app) / paths[_key_of(scenario, item)]).read_bytes()


def _key_of(scenario: ArtifactRun, item: dict[str, Any]) -> str:
    return next(key for key, path in scenario.paths().items() if path.endswith('/' + item['filename']))


def test_the_binary_is_listed_only_when_stored(app, client):
    scenario = artifact_run()
    headers = results_reader()
    body = listing(client, headers, scenario.run.id)
    assert rows(body) == scenario.listing() and body['pagination']['total'] == 9
    assert listing(client, headers, scenario.run.id, type='binary')['data'] == []


def test_pages_and_the_type_filter(app, client):
    scenario = artifact_run()
    put_local(repository(app), scenario.paths()['binary'])
    headers = results_reader()
    collected = []
    for offset in range(0, 10, 3):
        body = listing(client, headers, scenario.run.id, limit=3, offset=offset)
        following = offset + 3 if offset + 3 < 10 else None
        assert body['pagination'] == {'limit': 3, 'offset': offset, 'total': 10, 'next_offset': following}
        collected += rows(body)
    assert collected == scenario.listing(binary=True)
    assert listing(client, headers, scenario.run.id, offset=10)['data'] == []
    for kind in ('build_log', 'sample_output', 'expected_output', 'diff', 'media_info', 'binary'):
        body = listing(client, headers, scenario.run.id, type=kind)
        wanted = [row for row in scenario.listing(binary=True) if row[0] == kind]
        assert rows(body) == wanted and body['pagination']['total'] == len(wanted)
    body = listing(client, headers, scenario.run.id, type='expected_output', limit=1, offset=2)
    assert rows(body) == scenario.listing()[5:6] and body['pagination']['next_offset'] is None


def test_only_the_page_is_looked_up(app, client, monkeypatch):
    scenario = artifact_run()
    headers = results_reader()
    storage = app.extensions['mod_api'].storage
    asked: list[list[str]] = []
    original = storage.status_many
    monkeypatch.setattr(storage, 'status_many', lambda paths, *args, **kwargs: asked.append(list(paths))
                        or original(paths, *args, **kwargs))
    listing(client, headers, scenario.run.id, type='expected_output', limit=1, offset=1)
    assert asked == [[f'TestResults/{REF2}.srt']]
    asked.clear()
    listing(client, headers, scenario.run.id, limit=1, offset=6)
    paths = scenario.paths()
    assert asked == [[paths['ref1'], paths['got'], paths['binary']]]


def test_unknown_run_and_parameters(client):
    headers = results_reader()
    assert assert_error(client.get(URL.format(999999), headers=headers), 404, 'not_found') == {
        'resource': 'run', 'id': 999999}
    for params, field in (({'type': 'log'}, 'type'), ({'limit': 0}, 'limit'), ({'offset': -1}, 'offset'),
                          ({'cursor': 'x'}, 'cursor')):
        response = client.get(URL.format(1), headers=headers, query_string=params)
        assert field in assert_error(response, 400, 'validation_error')['fields']


def test_a_reference_name_that_is_no_safe_path_is_missing_without_a_lookup(app, client, monkeypatch):
    general = add_category('General')
    sample = add_sample()
    test, _ = add_regression_test(general, outputs=[('../../etc/passwd', False)], sample=sample)
    run = add_run(progress=DONE, customized=[test.id])
    headers = results_reader()
    storage = app.extensions['mod_api'].storage
    asked: list[str] = []
    original = storage.status_many
    monkeypatch.setattr(storage, 'status_many', lambda paths, *args, **kwargs: asked.extend(paths)
                        or original(paths, *args, **kwargs))
    body = listing(client, headers, run.id, type='expected_output')
    assert statuses(body) == {'passwd.srt': ('missing', None, False)}
    assert asked == []


# --- diffs ---------------------------------------------------------------------------------------------------------

def diff_stub() -> Blueprint:
    """A stand-in for the results resource's diff route (its URL is all the artifact list needs)."""
    stub = Blueprint('diff_stub', __name__)
    stub.add_url_rule('/runs/<int:run_id>/samples/<int:sample_id>/diff', 'diff',
                      lambda run_id, sample_id: jsonify({}))
    return stub


def test_a_diff_points_at_the_api_diff_endpoint_when_both_files_exist(make_app):
    app = make_app()
    app.register_blueprint(diff_stub(), url_prefix='/api/v1')
    with app.app_context():
        scenario = artifact_run()
        headers = results_reader()
        client = app.test_client()
        paths = scenario.paths()
        put_local(repository(app), paths['ref1'])
        body = listing(client, headers, scenario.run.id, type='diff')
        assert [(item['storage_status'], item['download_url']) for item in body['data']] == [('missing', None)]
        put_local(repository(app), paths['got'])
        item = listing(client, headers, scenario.run.id, type='diff')['data'][0]
        assert item['storage_status'] == 'ok' and item['size_bytes'] is None
        assert item['download_url'] == (
            f'http://localhost/api/v1/runs/{scenario.run.id}/samples/{scenario.a.id}/diff'
            f'?regression_id={scenario.ta.id}&output_id={scenario.differing.id}')


def test_a_diff_has_no_url_when_the_api_serves_no_diff_route(app, client, monkeypatch):
    scenario = artifact_run()
    headers = results_reader()
    for key in ('ref1', 'got'):
        put_local(repository(app), scenario.paths()[key])
    original = MapAdapter.match

    def without_diff(self: MapAdapter, path_info: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(path_info, str) and path_info.endswith('/diff'):
            raise NotFound()
        return original(self, path_info, *args, **kwargs)
    monkeypatch.setattr(MapAdapter, 'match', without_diff)
    item = listing(client, headers, scenario.run.id, type='diff')['data'][0]
    assert (item['storage_status'], item['download_url']) == ('ok', None)


# --- GCS -----------------------------------------------------------------------------------------------------------

def test_statuses_and_urls_with_gcs(make_app, gcs_config, gcs_emulator):
    app = make_app(**gcs_config)
    with app.app_context():
        scenario = artifact_run()
        headers = results_reader()
        paths = scenario.paths()
        for key in ('log', 'got', 'media_a'):
            put_local(repository(app), paths[key], b'local')
        for key in ('log', 'ref1', 'variant', 'binary'):
            gcs_emulator.put(paths[key], b'from gcs')
        client = app.test_client()
        body = listing(client, headers, scenario.run.id)
        found = statuses(body)
        assert rows(body) == scenario.listing(binary=True)
        assert {name: found[name][:2] for name in found} == {
            f'{scenario.run.id}.txt': ('ok', 5), f'{VARIANT}.srt': ('degraded', 8), f'{GOT}.srt': ('degraded', 5),
            f'{REF1}.srt': ('degraded', 8), f'{REF2}.srt': ('missing', None), f'{REF3}.srt': ('missing', None),
            scenario.listing()[6][1]: ('degraded', None), f'{scenario.a.sha}.xml': ('degraded', 5),
            f'{scenario.b.sha}.xml': ('missing', None), 'ccextractor.zip': ('degraded', 8)}
        served = {item['filename']: download(client, item['download_url']).data
                  for item in body['data'] if item['download_url'] and item['type'] != 'diff'}
    assert served == {f'{scenario.run.id}.txt': b'local', f'{VARIANT}.srt': b'from gcs', f'{GOT}.srt': b'local',
                      f'{REF1}.srt': b'from gcs', f'{scenario.a.sha}.xml': b'local', 'ccextractor.zip': b'from gcs'}


def test_with_gcs_stopped_only_local_files_are_found_and_fast(make_app, gcs_config, gcs_emulator):
    app = make_app(**gcs_config)
    with app.app_context():
        scenario = artifact_run()
        headers = results_reader()
        paths = scenario.paths()
        put_local(repository(app), paths['log'])
        gcs_emulator.put(paths['ref1'], b'gcs')
        gcs_emulator.stop()
        started = time.monotonic()
        body = listing(app.test_client(), headers, scenario.run.id)
        assert time.monotonic() - started < app.config['API_GCS_TIMEOUT_SECONDS'] + 2
        found = statuses(body)
        assert found[f'{scenario.run.id}.txt'] == ('degraded', 7, True)
        assert found[f'{REF1}.srt'] == ('missing', None, False)
        assert body['pagination']['total'] == 9  # the binary cannot be confirmed, so it is not listed


# --- the download route --------------------------------------------------------------------------------------------

def log_url(client: FlaskClient, run_id: int) -> str:
    body = listing(client, results_reader(), run_id, type='build_log')
    return body['data'][0]['download_url']


def test_a_download_streams_the_file_as_an_attachment_without_a_bearer_token(app, client):
    scenario = artifact_run()
    data = b'line one\nline two\n' * 50_000
    put_local(repository(app), scenario.paths()['log'], data)
    response = download(client, log_url(client, scenario.run.id))
    assert response.status_code == 200 and response.data == data
    assert response.headers['Content-Disposition'] == f'attachment; filename="{scenario.run.id}.txt"'
    assert response.headers['Content-Type'] == 'text/plain'
    assert response.headers['X-Content-Type-Options'] == 'nosniff'
    assert response.headers['Content-Length'] == str(len(data))
    assert response.headers['Cache-Control'] == 'no-store'
    assert 'Set-Cookie' not in response.headers


def test_a_modified_or_foreign_download_token_is_refused(app, client):
    scenario = artifact_run()
    put_local(repository(app), scenario.paths()['log'])
    url = log_url(client, scenario.run.id)
    cursor = CursorCodec(app.config['API_SECRET_KEY']).encode('x', Position(0, 1))
    for forged in (url[:-2] + ('AA' if url[-2:] != 'AA' else 'BB'), url.rsplit('/', 1)[0] + '/' + cursor,
                   url.rsplit('/', 1)[0] + '/garbage'):
        response = download(client, forged)
        assert assert_error(response, 403, 'invalid_download_token') == {'reason': 'tampered'}


def test_an_expired_download_url_is_refused(app, client, monkeypatch):
    scenario = artifact_run()
    put_local(repository(app), scenario.paths()['log'])
    now = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, 'get_timestamp',
                        lambda self: now(self) - app.config['API_SIGNED_URL_MINUTES'] * 60 - 1)
    url = log_url(client, scenario.run.id)
    monkeypatch.undo()
    assert assert_error(download(client, url), 403, 'invalid_download_token') == {'reason': 'expired'}


def test_a_file_gone_since_the_url_was_made_is_a_json_404(app, client):
    scenario = artifact_run()
    path = put_local(repository(app), scenario.paths()['log'])
    url = log_url(client, scenario.run.id)
    path.unlink()
    details = assert_error(download(client, url), 404, 'not_found')
    assert details == {'resource': 'file', 'filename': f'{scenario.run.id}.txt', 'checked': ['local']}


def test_a_download_with_gcs_stopped_midway_is_unavailable(make_app, gcs_config, gcs_emulator):
    app = make_app(**gcs_config)
    with app.app_context():
        scenario = artifact_run()
        gcs_emulator.put(scenario.paths()['log'], b'gcs')
        client = app.test_client()
        url = log_url(client, scenario.run.id)
        assert download(client, url).data == b'gcs'
        gcs_emulator.stop()
        details = assert_error(download(client, url), 503, 'storage_unavailable')
        assert details['filename'] == f'{scenario.run.id}.txt' and set(details['problems']) == {'gcs'}


# --- query counts --------------------------------------------------------------------------------------------------

def test_query_counts_do_not_depend_on_the_number_of_artifacts(app, client):
    small, large = artifact_run(), artifact_run(extra_tests=8)
    headers = results_reader()
    client.get(URL.format(small.run.id), headers=headers)  # the token's last use is recorded on the first request
    counts = []
    for scenario in (small, large):
        with counted_queries() as statements:
            assert listing(client, headers, scenario.run.id, limit=100)['data']
        counts.append(len(statements))
        with counted_queries() as statements:
            load_run_artifacts(scenario.run.id)
        assert len(statements) == QUERY_COUNT
    assert counts[0] == counts[1]
