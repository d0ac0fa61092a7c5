"""The sample repository failing under every operation that reads a file from it: a clear answer, never a 500.

Three faults, over the operations that read the run log, an actual output, an expected output, their diff, a
download and media info: a file that is there but cannot be read (a folder in its place: root, which runs CI,
bypasses ``chmod 000``, and both surface as the same OS error), a file vanishing between the check and the read,
and the whole repository unreadable. Expected behaviour: ``mod_api/docs/faults.md``.
"""
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.storage import Storage
from mod_api_tests.logs_data import put_local
from mod_api_tests.run_writes_data import caller
from mod_api_tests.test_artifacts import ArtifactRun, artifact_run, repository

FILES = ('log', 'got', 'ref1', 'media_a')


def reads(scenario: ArtifactRun, download_url: str) -> dict[str, str]:
    """Every operation reading one of the scenario's files: name → URL."""
    run, sample = scenario.run.id, scenario.a.id
    output = f'regression_id={scenario.ta.id}&output_id={scenario.differing.id}'
    return {
        'run log': f'/api/v1/runs/{run}/logs',
        'actual output': f'/api/v1/runs/{run}/samples/{sample}/actual?{output}',
        'expected output': f'/api/v1/runs/{run}/samples/{sample}/expected?{output}',
        'diff': f'/api/v1/runs/{run}/samples/{sample}/diff?{output}',
        'download': download_url[len('http://localhost'):],
        'sample media info': f'/api/v1/samples/{sample}',
    }


def unreadable(app: Flask, scenario: ArtifactRun, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in FILES:
        target = repository(app) / scenario.paths()[key]
        target.unlink()
        target.mkdir()


def vanishing(app: Flask, scenario: ArtifactRun, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = Storage._open_local

    def vanish_then_open(self: Storage, path: str) -> Any:
        (repository(app) / path).unlink(missing_ok=True)  # checked a moment ago, gone now
        return opened(self, path)

    monkeypatch.setattr(Storage, '_open_local', vanish_then_open)


def repository_unreadable(app: Flask, scenario: ArtifactRun, monkeypatch: pytest.MonkeyPatch) -> None:
    root = repository(app)
    root.rename(root.with_name('moved-away'))
    root.write_text('not a folder')


FAULTS: dict[str, Callable[[Flask, ArtifactRun, pytest.MonkeyPatch], None]] = {
    'file unreadable': unreadable, 'file vanishing between check and read': vanishing,
    'repository unreadable': repository_unreadable,
}


@pytest.mark.parametrize('fault', list(FAULTS))
def test_a_failing_repository_gets_a_clear_answer_from_every_reading_operation(app: Flask, fault: str,
                                                                                monkeypatch: pytest.MonkeyPatch,
                                                                                record) -> None:
    scenario = artifact_run()
    _, headers = caller('user')
    for key in FILES:
        put_local(repository(app), scenario.paths()[key], b'line one\nline two\n')
    client: FlaskClient = app.test_client()
    listing = client.get(f'/api/v1/runs/{scenario.run.id}/artifacts', headers=headers).get_json()
    log_url = next(item['download_url'] for item in listing['data'] if item['type'] == 'build_log')
    operations = reads(scenario, log_url)
    assert {name: client.get(url, headers=headers).status_code for name, url in operations.items()} == dict.fromkeys(
        operations, 200)

    FAULTS[fault](app, scenario, monkeypatch)
    answers = {name: client.get(url, headers=headers) for name, url in operations.items()}

    for name, answer in answers.items():
        assert answer.status_code < 500 or answer.status_code == 503, (name, answer.status_code)
        assert answer.mimetype == 'application/json', name
        if answer.status_code >= 400:
            body = answer.get_json()
            assert set(body) == {'code', 'message', 'details'} and body['message'], (name, body)
    outcome = ', '.join(f'{name} {answer.status_code}' for name, answer in answers.items())
    record(f'sample repository: {fault}', f'{outcome}; no 500')
