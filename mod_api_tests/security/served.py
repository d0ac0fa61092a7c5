"""What the security modules share: the served document's operations, URLs built from them, and a real dataset.

Operations come from ``GET /api/v1/openapi.json`` of the app under test, never from a list written here, so an
operation added to the API joins every crawl on its own. The dataset is the demo data (``install/demo_data.py``:
every run state, real files in the sample repository) plus one pending baseline approval, so every path
parameter of the document has a value that exists.
"""
import re
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.access import allowed_scopes
from mod_api.db import db
from mod_api_tests.approvals_data import REASON
from mod_api_tests.contract import Document, operations
from mod_api_tests.factories import REVOKES_ITS_TOKEN, bearer, make_token, make_user

PREFIX = '/api/v1'
DOWNLOAD = re.compile(r'https?://[^/]+(/api/v1/downloads/[^"?#\s]+)')
PATH_PARAMETER = re.compile(r'{(\w+)}')


@dataclass(frozen=True)
class ServedOperation:
    """One operation of the served document, its parameters and request body schema resolved."""

    method: str
    path: str  # the document's template, e.g. /runs/{run_id}
    parameters: tuple[dict[str, Any], ...]
    body: dict[str, Any]  # the JSON request body schema ({} when there is none)
    public: bool

    def __str__(self) -> str:
        return f'{self.method} {self.path}'

    def url(self, values: dict[str, Any]) -> str:
        """The operation's URL under the prefix with its path parameters taken from ``values``."""
        return PREFIX + PATH_PARAMETER.sub(lambda match: str(values[match.group(1)]), self.path)

    def in_location(self, location: str) -> list[dict[str, Any]]:
        """The parameters in ``location`` ('path', 'query', 'header')."""
        return [parameter for parameter in self.parameters if parameter['in'] == location]


def served_operations(document: dict[str, Any]) -> list[ServedOperation]:
    """Every operation of a served OpenAPI document, in document order."""
    resolver = Document(document)
    found = []
    for (method, path), spec in operations(document).items():
        parameters = [resolver.resolve(parameter) for parameter in
                      document['paths'][path].get('parameters', []) + spec.get('parameters', [])]
        content = (resolver.resolve(spec.get('requestBody')) or {}).get('content', {})
        body = resolver.schema(content['application/json']['schema']) if 'application/json' in content else {}
        found.append(ServedOperation(method, path, tuple(parameters), body, spec.get('security') == []))
    return found


def document_of(app: Flask) -> dict[str, Any]:
    """The document ``app`` serves (fetched without credentials, as any client would)."""
    response = app.test_client().get(f'{PREFIX}/openapi.json')
    assert response.status_code == 200
    return response.get_json()


@dataclass
class Dataset:
    """The demo data seeded into the app's database and repository, and how to address it."""

    seeded: Any  # install.demo_data.Seeded
    admin: dict[str, str]  # Authorization header of an admin token holding every scope
    path_values: dict[str, Any]  # a value that exists for every path parameter of the document
    query_values: dict[str, Any]  # values of the query parameters that pick one result of a run's sample

    def headers_for(self, operation: ServedOperation) -> dict[str, str]:
        """The admin's Authorization header, or a fresh admin token's for the operation revoking its own token."""
        if (operation.method, operation.path) == REVOKES_ITS_TOKEN:
            return bearer(make_token(make_user('admin'), allowed_scopes('admin')))
        return self.admin

    def run_id(self, key: str) -> int:
        """The id of the demo run ``key`` (e.g. 'master-2-linux')."""
        return self.seeded.run_ids[key]


def seed_dataset(app: Flask, client: FlaskClient) -> Dataset:
    """Seed the demo data, request one baseline approval, and find a value for every path parameter.

    ``sample_id`` is a failing sample of the run that failed ('master-2-linux'); ``token`` is a signed download
    token the run's artifact list hands out.
    """
    demo_data = pytest.importorskip('install.demo_data', reason='install/ is not part of a platform checkout')
    seeded = demo_data.seed(db.session, app.config['SAMPLE_REPOSITORY'])
    admin = bearer(make_token(make_user('admin'), allowed_scopes('admin')))
    run_id = seeded.run_ids['master-2-linux']
    failing = client.get(f'{PREFIX}/runs/{run_id}/samples?status=fail', headers=admin).get_json()['data']
    sample, output = next((item, output) for item in failing for output in item['outputs']
                          if output['actual_hash'] and output['actual_hash'] != output['expected_hash'])
    sample_id = sample['sample_id']
    contributor = bearer(make_token(make_user('contributor'), allowed_scopes('contributor')))
    approval = client.post(f'{PREFIX}/runs/{run_id}/samples/{sample_id}/baseline-approval', headers=contributor,
                           json={'regression_id': sample['regression_id'], 'output_id': output['output_id'],
                                 'reason': REASON})
    assert approval.status_code == 202, approval.get_data(as_text=True)
    artifacts = client.get(f'{PREFIX}/runs/{run_id}/artifacts', headers=admin).get_data(as_text=True)
    token = DOWNLOAD.search(artifacts).group(1).rsplit('/', 1)[1]
    values = {'run_id': run_id, 'sample_id': sample_id, 'approval_id': approval.get_json()['approval_id'],
              'token': token}
    return Dataset(seeded, admin, values, {'regression_id': sample['regression_id'], 'output_id': output['output_id']})


def crawl_gets(client: FlaskClient, dataset: Dataset, document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """GET every GET operation of ``document`` on the dataset, then every download URL the answers handed out.

    Yields (what was asked, response).
    """
    bodies = []
    for operation in served_operations(document):
        if operation.method != 'GET':
            continue
        picks = {parameter['name'] for parameter in operation.in_location('query')} & set(dataset.query_values)
        url = operation.url(dataset.path_values) + ''.join(
            f'{"&" if index else "?"}{name}={dataset.query_values[name]}' for index, name in enumerate(sorted(picks)))
        response = client.get(url, headers=dataset.admin)
        bodies.append(response.data.decode('utf-8', errors='replace'))
        yield f'{operation} ({url})', response
    for download in sorted({path for body in bodies for path in DOWNLOAD.findall(body)}):
        yield f'GET {download}', client.get(download)
