"""The served OpenAPI document is valid OpenAPI 3.0.3 and keeps the contract's promises (issue #3).

The contract is ``../shared/spec/openapi.yaml`` beside the repository (``API_CONTRACT_PATH`` overrides it); the
comparison rules are in :mod:`mod_api_tests.contract`. Contract operations not implemented yet are listed in
``PENDING_OPERATIONS``: remove an operation from it when it lands (the test fails while an implemented operation
is still listed, and when a contract operation is neither served nor pending).
"""
import copy
from typing import Any

import pytest
from flask import Flask

import mod_api
from mod_api_tests.contract import compare, contract_path, load_contract, operations

# Contract operations not implemented yet. Shrinks as operations land; never add an implemented one.
PENDING_OPERATIONS = frozenset({
})


@pytest.fixture(scope='module')
def served_response(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``GET /api/v1/openapi.json`` without credentials, on a bare app (the document needs no database)."""
    folder = tmp_path_factory.mktemp('openapi')
    app = Flask('openapi_contract')
    app.config.update(TESTING=True, DATABASE_URI=f'sqlite:///{folder / "unused.db"}', SAMPLE_REPOSITORY=str(folder),
                      API_SECRET_KEY='openapi-contract-secret-0123456789')
    mod_api.init_app(app)
    return app.test_client().get('/api/v1/openapi.json')


@pytest.fixture(scope='module')
def served(served_response: Any) -> dict[str, Any]:
    """The served OpenAPI document."""
    return served_response.get_json()


@pytest.fixture(scope='module')
def contract() -> dict[str, Any]:
    """The contract, or a skip naming where it was looked for."""
    path = contract_path()
    if not path.is_file():
        pytest.skip(f'API contract not found at {path}: check out ../shared/spec next to the repository or set '
                    f'API_CONTRACT_PATH')
    return load_contract(path)


def _report(title: str, problems: list[str]) -> str:
    return f'{title} ({len(problems)}):\n' + '\n'.join(f'  - {problem}' for problem in problems)


def test_document_is_served_without_authentication(served_response: Any) -> None:
    assert served_response.status_code == 200
    assert served_response.mimetype == 'application/json'
    assert served_response.get_json()['openapi'] == '3.0.3'


def test_document_is_valid_openapi_3_0_3(served: dict[str, Any]) -> None:
    validator = pytest.importorskip(
        'openapi_spec_validator', reason='openapi-spec-validator is missing: pip install -r requirements-test.txt')
    errors = [f'{"/".join(map(str, error.absolute_path)) or "(root)"}: {error.message}'
              for error in validator.OpenAPIV30SpecValidator(served).iter_errors()]
    assert not errors, _report('The served document is not valid OpenAPI 3.0.3', errors)


def test_pending_operations_are_exactly_the_unimplemented_ones(contract: dict[str, Any],
                                                                served: dict[str, Any]) -> None:
    expected, implemented = set(operations(contract)), set(operations(served))
    problems = [f'{method} {path}: implemented, remove it from PENDING_OPERATIONS'
                for method, path in sorted(PENDING_OPERATIONS & implemented)]
    problems += [f'{method} {path}: listed in PENDING_OPERATIONS but not a contract operation'
                 for method, path in sorted(PENDING_OPERATIONS - expected)]
    problems += [f'{method} {path}: a contract operation neither served nor in PENDING_OPERATIONS'
                 for method, path in sorted(expected - implemented - PENDING_OPERATIONS)]
    assert not problems, _report('PENDING_OPERATIONS is out of date', problems)


def test_implemented_operations_keep_the_contract(contract: dict[str, Any], served: dict[str, Any]) -> None:
    implemented = sorted(set(operations(contract)) & set(operations(served)))
    assert implemented, 'the served document implements no contract operation'
    problems = compare(contract, served, implemented)
    assert not problems, _report('The served document breaks the contract', problems)


def test_the_contract_keeps_its_own_promises(contract: dict[str, Any]) -> None:
    problems = compare(contract, contract, list(operations(contract)))
    assert not problems, _report('The comparison finds false divergences', problems)


MUTATIONS = [
    (('components', 'schemas', 'TokenCreateRequest'), lambda schema: schema.pop('additionalProperties'),
     'POST /auth/tokens request body (application/json): additionalProperties is True, the contract says false'),
    (('components', 'schemas', 'TokenCreateRequest', 'properties', 'token_name'),
     lambda schema: schema.update(pattern='^.*$'), "token_name: pattern is '^.*$'"),
    (('components', 'schemas', 'TokenCreateRequest', 'properties', 'email'),
     lambda schema: schema.update(maxLength=300), 'email: maxLength is 300, the contract says 255'),
    (('components', 'schemas', 'TokenCreateRequest', 'properties', 'scopes', 'items'),
     lambda schema: schema['enum'].append('admin'), 'scopes[]: enum is'),
    (('components', 'schemas', 'AuthToken', 'properties', 'expires_at'), lambda schema: schema.update(nullable=True),
     'POST /auth/tokens response 201 (application/json).expires_at: nullable is True, the contract says False'),
    (('components', 'schemas', 'AuthToken'), lambda schema: schema['required'].remove('token'),
     "response 201 (application/json): not required: ['token']"),
    (('components', 'schemas', 'SystemHealth', 'properties'), lambda properties: properties.pop('checked_at'),
     'GET /system/health response 200 (application/json): property checked_at missing'),
    (('paths', '/auth/tokens/current', 'delete', 'responses'), lambda responses: responses.pop('401'),
     'DELETE /auth/tokens/current response 401: missing'),
    (('paths', '/system/health', 'get'), lambda operation: operation.update(security=[{'bearerAuth': []}]),
     'GET /system/health: security is'),
    (('paths', '/auth/tokens', 'post'), lambda operation: operation.update({'x-required-scope': 'runs:read'}),
     "POST /auth/tokens: x-required-scope is 'runs:read', the contract says None"),
    (('components', 'responses', 'RateLimited', 'headers'), lambda headers: headers.pop('Retry-After'),
     'response 429: header Retry-After missing'),
]


def test_the_comparison_reports_every_divergence(contract: dict[str, Any], served: dict[str, Any]) -> None:
    broken = copy.deepcopy(served)
    for path, mutate, _ in MUTATIONS:
        node = broken
        for part in path:
            node = node[part]
        mutate(node)
    problems = compare(contract, broken, sorted(set(operations(contract)) & set(operations(broken))))
    unreported = [expected for _, _, expected in MUTATIONS if not any(expected in problem for problem in problems)]
    assert not unreported, _report('Divergences the comparison missed', unreported) + '\n' + _report('Reported',
                                                                                                     problems)
