"""Every route under the API prefix declares what it requires, and the declaration is enforced before its handler.

The route table is read from an app built with ``mod_api.init_app``, so routes added later join these tests on
their own. The scope/role matrix also covers the test-only access probe, so it is never empty.
"""
import tempfile
from dataclasses import dataclass

import pytest
from flask import Blueprint, Flask

import mod_api
from mod_api import access
from mod_api.legacy import Role
from mod_api.operations import Operation, declared_operation, operation
from mod_api_tests.factories import bearer, make_token, make_user, register_access_probe

CONTRACT_PUBLIC = {('POST', '/auth/tokens'), ('GET', '/system/health')}
SERVED_DOCUMENT = {('GET', '/openapi.json')}
# The API's own signed download URLs: the token in the path (an itsdangerous signature over the file's path and
# name, valid API_SIGNED_URL_MINUTES) is their authentication, as for a signed GCS URL; no bearer token is asked.
SIGNED_DOWNLOADS = {('GET', '/downloads/<token>')}
ANY_VALID_TOKEN = {('DELETE', '/auth/tokens/current')}  # the contract's ``bearerAuth: []`` without a scope
ROLES = [role.value for role in Role] + [None]  # None: a user row without a role


@dataclass(frozen=True)
class Route:
    """One method of one rule under the API prefix."""

    method: str
    path: str
    url: str
    operation: Operation | None

    def __str__(self) -> str:
        return f'{self.method} {self.path}'


def build_app(*blueprints: Blueprint, probe: bool = False) -> Flask:
    """An app with mod_api mounted (no database connection is made), plus ``blueprints`` under the prefix."""
    app = Flask('route_table')
    app.config.update(DATABASE_URI='sqlite://', SAMPLE_REPOSITORY=tempfile.gettempdir(),
                      API_SECRET_KEY='route-table-secret-0123456789')
    mod_api.init_app(app)
    for blueprint in blueprints:
        app.register_blueprint(blueprint, url_prefix=mod_api.API_PREFIX)
    if probe:
        register_access_probe(app)
    return app


def api_routes(app: Flask) -> list[Route]:
    """Every (method, rule) under the API prefix, with a URL whose path ids are 1."""
    prefix = app.extensions['mod_api'].prefix
    adapter = app.url_map.bind('localhost')
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule != prefix and not rule.rule.startswith(prefix + '/'):
            continue
        for method in sorted((rule.methods or set()) - {'HEAD', 'OPTIONS'}):
            url = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1), method=method)
            routes.append(Route(method, rule.rule[len(prefix):], url,
                                declared_operation(app.view_functions[rule.endpoint])))
    return routes


def declaration_problems(app: Flask) -> list[str]:
    """What is wrong with the declarations of ``app``'s API routes (empty when nothing is)."""
    problems = []
    for route in api_routes(app):
        spec = route.operation
        if spec is None:
            problems.append(f'{route}: no @operation declaration')
            continue
        if spec.public:
            if (route.method, route.path) not in CONTRACT_PUBLIC | SERVED_DOCUMENT | SIGNED_DOWNLOADS:
                problems.append(f'{route}: public, but the contract requires a token')
            continue
        if spec.scope is None:
            if (route.method, route.path) not in ANY_VALID_TOKEN:
                problems.append(f'{route}: no scope declared')
            continue
        holders = {role for role, scopes in access.SCOPES_BY_ROLE.items() if spec.scope in scopes}
        if spec.scope not in access.ALL_SCOPES:
            problems.append(f'{route}: unknown scope {spec.scope}')
        elif holders != set(access.SCOPES_BY_ROLE) and not spec.roles:
            problems.append(f'{route}: {spec.scope} is for {sorted(holders)} only, but no roles are declared')
        if set(spec.roles) - holders:
            problems.append(f'{route}: roles {sorted(set(spec.roles) - holders)} may not hold {spec.scope}')
    return problems


def test_every_api_route_declares_what_it_requires():
    assert declaration_problems(build_app()) == []


def test_the_contracts_public_operations_are_public_and_the_rest_are_not():
    declared = {(route.method, route.path): route.operation for route in api_routes(build_app())}
    for key in CONTRACT_PUBLIC | SERVED_DOCUMENT | SIGNED_DOWNLOADS:
        assert declared[key].public, key
    for key in ANY_VALID_TOKEN:
        assert not declared[key].public and declared[key].scope is None, key


def test_the_walk_catches_undeclared_public_and_unscoped_routes():
    broken = Blueprint('broken', __name__)
    broken.add_url_rule('/undeclared', 'undeclared', lambda: '')
    broken.add_url_rule('/open', 'open', operation('Open', ('X',), public=True)(lambda query: ''))
    broken.add_url_rule('/unscoped', 'unscoped', operation('Unscoped', ('X',))(lambda query: ''))
    broken.add_url_rule('/ungated', 'ungated', operation('Ungated', ('X',), scope='runs:write')(lambda query: ''),
                        methods=['POST'])
    broken.add_url_rule('/unreachable', 'unreachable', operation(
        'Unreachable', ('X',), scope='baselines:write', roles=('admin', 'tester'))(lambda query: ''))
    assert declaration_problems(build_app(broken)) == [
        'GET /undeclared: no @operation declaration',
        'GET /open: public, but the contract requires a token',
        'GET /unscoped: no scope declared',
        "POST /ungated: runs:write is for ['admin', 'contributor', 'tester'] only, but no roles are declared",
        "GET /unreachable: roles ['tester'] may not hold baselines:write",
    ]


GUARDED = [route for route in api_routes(build_app(probe=True)) if route.operation and not route.operation.public]
SCOPED = [route for route in GUARDED if route.operation.scope]
ROLE_GATED = [(route, role) for route in GUARDED if route.operation.roles
              for role in ROLES if (role or access.DEFAULT_ROLE) not in route.operation.roles]


@pytest.fixture()
def probed(app):
    """A client of the default app with the access probe mounted."""
    register_access_probe(app)
    return app.test_client()


@pytest.mark.parametrize('route', GUARDED, ids=str)
def test_a_request_without_a_valid_token_is_401_before_the_handler(probed, route):
    for headers in ({}, bearer('ccx_' + '0' * 16 + '_' + 'A' * 43)):
        response = probed.open(route.url, method=route.method, headers=headers)
        assert response.status_code == 401
        assert response.get_json()['code'] == 'unauthorized'


@pytest.mark.parametrize('route', SCOPED, ids=str)
def test_a_token_lacking_the_scope_is_403_before_the_handler(probed, route):
    scopes = [scope for scope in access.ALL_SCOPES if scope != route.operation.scope]
    response = probed.open(route.url, method=route.method, headers=bearer(make_token(make_user('admin'), scopes)))
    assert response.status_code == 403
    assert response.get_json()['details'] == {'required_scope': route.operation.scope, 'token_scopes': scopes}


@pytest.mark.parametrize('route, role', ROLE_GATED, ids=str)
def test_a_role_not_allowed_is_403_before_the_handler(probed, route, role):
    token = make_token(make_user(role), access.ALL_SCOPES)
    response = probed.open(route.url, method=route.method, headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json()['details'] == {'required_roles': list(route.operation.roles),
                                              'user_role': role or access.DEFAULT_ROLE}
