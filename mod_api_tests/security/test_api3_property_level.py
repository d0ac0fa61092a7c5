"""API3:2023 Broken Object Property Level Authorization: no mass assignment, no secret or internal field out.

Requests: every request body of the served document is closed (``additionalProperties: false`` at every level),
and every write operation refuses, before writing anything, a body carrying the fields its responses show (ids,
statuses, times: read-only) or that would grant privileges. Responses: every GET operation of the served document
is called on the demo dataset (and every download URL handed out is followed); no body holds a secret (a token
value or hash, a password hash, a CI worker token, the signing key), the sample repository's absolute path or a
stack trace, and no JSON body has a key naming one.
"""
from typing import Any, Iterator

from sqlalchemy import func, select

from mod_api.db import db
from mod_api.legacy import Test as Run
from mod_api.legacy import User
from mod_api.models import ApiToken, AuditLogEntry, BaselineApproval
from mod_api_tests.contract import Document
from mod_api_tests.factories import PASSWORD, assert_error, make_user
from mod_api_tests.security.served import crawl_gets, served_operations

PRIVILEGED_FIELDS = ('user_id', 'role', 'is_admin', 'owner_id', 'scopes_granted', 'approved_by', 'token_hash')
FORBIDDEN_KEYS = {'password', 'secret_hash', 'token_hash', 'secret', 'api_secret_key', 'worker_token', 'traceback',
                  'stack_trace', 'exception', 'repository_path', 'local_path'}
CHUNK = 10  # extra fields per request, leaving room for the required ones missing
WRITES_COUNTED = (Run, ApiToken, BaselineApproval)


def _objects(document: Document, schema: Any) -> Iterator[dict[str, Any]]:
    """Every object schema within ``schema`` (itself, its properties' and its items', recursively)."""
    schema = document.schema(schema)
    if schema.get('type') == 'object' or 'properties' in schema:
        yield schema
    for child in list(schema.get('properties', {}).values()) + ([schema['items']] if 'items' in schema else []):
        yield from _objects(document, child)


def _response_fields(document: Document, spec: dict[str, Any]) -> set[str]:
    """Names of every property of every JSON response of an operation (what the API shows, hence read-only)."""
    names = set()
    for response in spec.get('responses', {}).values():
        content = document.resolve(response).get('content', {}).get('application/json')
        if content:
            names |= {name for schema in _objects(document, content['schema']) for name in schema.get('properties', {})}
    return names


def test_every_request_body_is_closed_at_every_level(document):
    resolver = Document(document)
    bodies = [operation for operation in served_operations(document) if operation.body]
    assert len(bodies) >= 5
    open_objects = [f'{operation}: {sorted(schema.get("properties", {}))}' for operation in bodies
                    for schema in _objects(resolver, operation.body) if schema.get('additionalProperties') is not False]
    assert open_objects == []


def _row_counts() -> dict[str, int]:
    db.session.rollback()
    return {entity.__name__: db.session.scalar(select(func.count()).select_from(entity)) for entity in WRITES_COUNTED}


def test_every_write_refuses_read_only_and_privileged_fields_and_writes_nothing(client, dataset, document):
    resolver = Document(document)
    writes = [operation for operation in served_operations(document) if operation.body]
    before = _row_counts()
    audited = db.session.scalar(select(func.count()).select_from(AuditLogEntry))
    for operation in writes:
        spec = document['paths'][operation.path][operation.method.lower()]
        accepted = set(resolver.schema(operation.body).get('properties', {}))
        extras = sorted((_response_fields(resolver, spec) | set(PRIVILEGED_FIELDS)) - accepted)
        assert extras, operation
        for start in range(0, len(extras), CHUNK):  # a validation error names at most MAX_ERROR_FIELDS fields
            chunk = extras[start:start + CHUNK]
            response = client.open(operation.url(dataset.path_values), method=operation.method,
                                   json=dict.fromkeys(chunk, 1), headers=dataset.admin)
            fields = assert_error(response, 400, 'validation_error')['fields']
            assert {name: fields.get(name) for name in chunk} == dict.fromkeys(chunk, 'Unknown field.'), operation
    assert _row_counts() == before
    db.session.rollback()
    refusals = db.session.scalar(select(func.count()).select_from(AuditLogEntry)) - audited
    assert refusals <= len(writes)  # a refusal may be audited, never acted on


def _secrets(app, dataset) -> dict[str, str]:
    """Every value that must never appear in a response, by what it is."""
    db.session.rollback()
    found = {'signing key': app.config['API_SECRET_KEY'], 'admin token': dataset.admin['Authorization'][7:],
             'repository path': app.config['SAMPLE_REPOSITORY']}
    found.update({f'token hash {key}': value for key, value in
                  db.session.execute(select(ApiToken.key_id, ApiToken.secret_hash)).tuples()})
    found.update({f'password hash of {email}': value for email, value in
                  db.session.execute(select(User.email, User.password)).tuples()})
    found.update({f'worker token of run {run_id}': value for run_id, value in
                  db.session.execute(select(Run.id, Run.token)).tuples()})
    return found


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


def test_no_response_of_any_get_operation_holds_a_secret_or_internal_field(app, client, dataset, document):
    secrets = _secrets(app, dataset)
    assert len([name for name in secrets if name.startswith('worker token')]) == len(dataset.seeded.run_ids)
    leaks, statuses = [], {}
    for asked, response in crawl_gets(client, dataset, document):
        statuses[asked] = response.status_code
        text = response.get_data(as_text=True)
        leaks += [f'{asked}: {name}' for name, value in secrets.items() if value and value in text]
        leaks += [f'{asked}: Traceback' for marker in ('Traceback (most recent call last)',) if marker in text]
        if response.is_json and not asked.startswith('GET /openapi.json'):
            leaks += [f'{asked}: key {key}' for key in _keys(response.get_json()) if key.lower() in FORBIDDEN_KEYS]
    assert leaks == []
    assert {asked: status for asked, status in statuses.items() if status != 200} == {}
    assert len(statuses) > len([op for op in served_operations(document) if op.method == 'GET'])  # downloads too


def test_the_token_value_is_shown_once_and_only_its_hash_is_stored(client, dataset):
    user = make_user('tester')
    created = client.post('/api/v1/auth/tokens', json={'email': user.email, 'password': PASSWORD,
                                                       'token_name': 'api3', 'scopes': ['runs:read']})
    assert created.status_code == 201, created.get_data(as_text=True)
    value = created.get_json()['token']
    db.session.rollback()
    stored = db.session.execute(select(ApiToken).where(ApiToken.name == 'api3')).scalar_one()
    assert value not in repr([getattr(stored, column.key) for column in ApiToken.__table__.columns])
    assert stored.secret_hash not in created.get_data(as_text=True)
    assert user.password not in created.get_data(as_text=True)
