"""API5:2023 Broken Function Level Authorization: the scope and role matrix of every operation, as documented.

The matrix is generated from the served document (each operation's ``x-required-scope`` and ``x-required-roles``)
and played against the app: for every operation and every platform role (and a user row without a role), a
token holding exactly the scopes the role may hold is refused with 403 naming the missing scope or role when the
document says so, and passes the gate otherwise (it reaches request validation, which refuses the probe's unknown
query parameter with 400, so nothing is read or written); a token of an admin lacking just the
required scope is refused; a role outside ``x-required-roles`` is refused even with every scope. Token creation
never grants a scope outside the role. The route-table walk (``test_route_declarations``) proves the same from the
declarations; this module proves that what clients are told is what is enforced.
"""
from collections import defaultdict

from mod_api import access
from mod_api.legacy import Role
from mod_api_tests.factories import PASSWORD, assert_error, bearer, make_token, make_user
from mod_api_tests.security.served import served_operations

ROLES = [role.value for role in Role] + [None]  # None: a user row without a role
PATH_VALUES = defaultdict(lambda: 1)  # any id: the gate is passed or not before any id is looked up
GATE_PASSED = 'validation_error'


def _refusal(response):
    """'scope' or 'role' for the declaration's 403, None for the validation 400 behind the gate, else 'other'."""
    body = response.get_json()
    if response.status_code == 400 and body['code'] == GATE_PASSED and 'gate_probe' in body['details']['fields']:
        return None
    details = body['details'] if response.status_code == 403 else {}
    return 'scope' if 'required_scope' in details else 'role' if 'required_roles' in details else 'other'


def _expected(spec, role):
    scope, roles = spec.get('x-required-scope'), spec.get('x-required-roles') or []
    effective = role or access.DEFAULT_ROLE
    if scope and scope not in access.allowed_scopes(effective):
        return 'scope'
    if roles and effective not in roles:
        return 'role'
    return None


def _guarded(document):
    return [(operation, document['paths'][operation.path][operation.method.lower()])
            for operation in served_operations(document) if not operation.public]


def test_every_role_gets_what_the_document_says_on_every_operation(client, document):
    problems, outcomes = [], set()
    tokens = {role: bearer(make_token(make_user(role), access.allowed_scopes(role or access.DEFAULT_ROLE)))
              for role in ROLES}
    for operation, spec in _guarded(document):
        for role in ROLES:
            headers = tokens[role]
            if (operation.method, operation.path) == ('DELETE', '/auth/tokens/current'):
                headers = bearer(make_token(make_user(role), access.allowed_scopes(role or access.DEFAULT_ROLE)))
            response = client.open(operation.url(PATH_VALUES) + '?gate_probe=1', method=operation.method,
                                   json={}, headers=headers)
            assert response.status_code != 401, f'{operation} {role}'
            expected, got = _expected(spec, role), _refusal(response)
            outcomes.add(expected)
            if expected != got:
                problems.append(f'{operation} as {role}: expected {expected or "the gate passed"}, '
                                f'got {got or "the gate passed"} ({response.status_code})')
    assert problems == []
    assert outcomes == {None, 'scope', 'role'}


def test_an_admin_token_lacking_only_the_required_scope_is_403(client, document):
    scoped = [(operation, spec) for operation, spec in _guarded(document) if spec.get('x-required-scope')]
    assert len(scoped) >= 25
    admin = make_user('admin')
    for operation, spec in scoped:
        scopes = [scope for scope in access.ALL_SCOPES if scope != spec['x-required-scope']]
        response = client.open(operation.url(PATH_VALUES), method=operation.method, json={},
                               headers=bearer(make_token(admin, scopes)))
        assert assert_error(response, 403, 'forbidden') == {'required_scope': spec['x-required-scope'],
                                                            'token_scopes': scopes}, operation


def test_a_role_outside_the_required_roles_is_403_even_with_every_scope(client, document):
    gated = [(operation, spec) for operation, spec in _guarded(document) if spec.get('x-required-roles')]
    assert len(gated) >= 4
    for role in ROLES:
        token = bearer(make_token(make_user(role), access.ALL_SCOPES))
        for operation, spec in gated:
            if (role or access.DEFAULT_ROLE) in spec['x-required-roles']:
                continue
            response = client.open(operation.url(PATH_VALUES), method=operation.method, json={},
                                   headers=token)
            details = assert_error(response, 403, 'forbidden')
            assert details['user_role'] == role or access.DEFAULT_ROLE
            assert sorted(details['required_roles']) == sorted(spec['x-required-roles']), operation


def test_token_creation_never_grants_a_scope_outside_the_role(client):
    for role in ROLES:
        user = make_user(role)
        for scope in sorted(set(access.ALL_SCOPES) - set(access.allowed_scopes(role or access.DEFAULT_ROLE))):
            response = client.post('/api/v1/auth/tokens', json={'email': user.email, 'password': PASSWORD,
                                                                 'token_name': 'escalate', 'scopes': [scope]})
            assert response.status_code == 403, (role, scope, response.get_data(as_text=True))
            assert 'token' not in response.get_json()
