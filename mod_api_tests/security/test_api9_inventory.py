"""API9:2023 Improper Inventory Management: what is served is exactly what is documented.

Every (method, rule) under the API prefix in the app's url_map is an operation of the served document and every
operation of the served document is routed; the served operations are the contract's plus the additions listed
here (each with why it exists), and each addition is described in the served document. Paths and versions the
API does not serve answer a JSON 404, never a host page or a stale route.
"""
from typing import Any

import pytest
from flask import Blueprint, Flask

import mod_api
from mod_api.openapi import openapi_path
from mod_api.operations import operation
from mod_api_tests.contract import contract_path, load_contract, operations
from mod_api_tests.factories import assert_error
from mod_api_tests.test_route_declarations import build_app

# Served, not in the contract: the document itself, the API's signed download URLs (artifact_list, logs.md), and
# the review half of baseline approvals (resources/approvals.py: requests stay pending until an admin decides).
DOCUMENTED_ADDITIONS = {
    ('GET', '/openapi.json'): 'the served document',
    ('GET', '/downloads/{token}'): 'signed download URLs handed out by artifacts and logs',
    ('GET', '/baseline-approvals'): 'list baseline approvals',
    ('GET', '/baseline-approvals/{approval_id}'): 'read one baseline approval',
    ('POST', '/baseline-approvals/{approval_id}/review'): 'an admin approves or rejects a pending approval',
    ('GET', '/runs/{run_id}/comparison'): 'a run against the reference run (issue #7, docs/comparison.md)',
}


def routed(app: Flask) -> set[tuple[str, str]]:
    """Every (METHOD, document path) the app routes under the API prefix (HEAD and OPTIONS are Flask's own)."""
    prefix = app.extensions['mod_api'].prefix
    return {(method, openapi_path(rule, prefix)) for rule in app.url_map.iter_rules()
            if rule.rule.startswith(prefix + '/') for method in (rule.methods or set()) - {'HEAD', 'OPTIONS'}}


def inventory_problems(app: Flask) -> list[str]:
    """Routes missing from the served document, and documented operations nothing routes."""
    document = app.test_client().get(f'{mod_api.API_PREFIX}/openapi.json').get_json()
    served, documented = routed(app), set(operations(document))
    return ([f'{method} {path}: routed, not in the served document' for method, path in sorted(served - documented)]
            + [f'{method} {path}: in the served document, not routed' for method, path in sorted(documented - served)])


@pytest.fixture(scope='module')
def served_document() -> dict[str, Any]:
    """The document of an app built with mod_api only."""
    return build_app().test_client().get('/api/v1/openapi.json').get_json()


def test_every_route_is_documented_and_every_documented_operation_is_routed():
    app = build_app()
    assert len(routed(app)) >= 30
    assert inventory_problems(app) == []


def test_a_route_added_beside_the_declarations_is_caught():
    shadow = Blueprint('shadow', __name__)
    shadow.add_url_rule('/internal/debug', 'debug', lambda: '{}')
    declared = Blueprint('declared_post', __name__)
    declared.add_url_rule('/runs/<int:run_id>/purge', 'purge',
                          operation('Purge', ('Runs',), scope='runs:write', roles=('admin',))(lambda **kw: ''),
                          methods=['POST'])
    problems = inventory_problems(build_app(shadow, declared))
    assert problems == ['GET /internal/debug: routed, not in the served document']


def test_served_operations_are_the_contracts_plus_the_documented_additions(served_document):
    path = contract_path()
    if not path.is_file():
        pytest.skip(f'API contract not found at {path}')
    contract, served = set(operations(load_contract(path))), set(operations(served_document))
    assert sorted(contract - served) == []
    assert sorted(served - contract) == sorted(DOCUMENTED_ADDITIONS)


@pytest.mark.parametrize('key', DOCUMENTED_ADDITIONS, ids=' '.join)
def test_each_addition_is_described_in_the_served_document(served_document, key):
    method, path = key
    spec = served_document['paths'][path][method.lower()]
    assert spec['summary'].strip()
    assert spec['responses']


UNSERVED = ['/api/v1/', '/api/v1/admin', '/api/v1/debug', '/api/v1/console', '/api/v1/swagger.json',
            '/api/v1/openapi.yaml', '/api/v1/docs', '/api/v1/runs/1/restart', '/api/v1/tokens', '/api/v2/runs',
            '/api/v0/runs', '/api/v1/runs/1/../../../etc/passwd', '/api/v1/%2e%2e/%2e%2e/etc/passwd',
            '/api/v1/ci/progress-reporter/1/token', '/api/v1/.git/config', '/api/v1/static/config.py']


def test_unserved_paths_are_a_json_404():
    client = build_app().test_client()  # routing answers before any database access
    for path in UNSERVED:
        response = client.get(path)
        if path.startswith('/api/v1'):
            assert_error(response, 404, 'not_found')
        else:
            assert response.status_code == 404, path
            assert b'runs' not in response.data
