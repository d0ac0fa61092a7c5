"""Comparing the served OpenAPI document with the contract (``../shared/spec/openapi.yaml``).

For every contract operation the API serves, what the contract promises must hold in the served document:
security, ``x-required-scope`` / ``x-required-roles``, every parameter, the request body and every documented
response (status, media type, schema, headers). ``$ref`` and ``allOf`` are resolved on both sides first.

Direction matters. A request schema must accept what the contract accepts and refuse what it refuses: each
keyword the contract states (type, enum, nullable, bounds, pattern, format, default, required,
``additionalProperties``) must be stated alike; restrictions the contract does not mention (an upper bound on
ids) and extra optional fields are additions. A response schema may promise more than the contract (tighter
bounds, fewer enum values, fields that are always there, extra fields) but never less.
"""
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

HTTP_METHODS = ('get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace')
DEFAULT_CONTRACT = Path(__file__).resolve().parents[1].parent / 'shared' / 'spec' / 'openapi.yaml'
LOWER_BOUNDS = ('minimum', 'minLength', 'minItems', 'minProperties')
UPPER_BOUNDS = ('maximum', 'maxLength', 'maxItems', 'maxProperties')
EXACT_KEYWORDS = ('pattern', 'format', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf')

Key = tuple[str, str]  # ('POST', '/auth/tokens')


class Yaml12Loader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 booleans (true/false only).

    PyYAML's YAML 1.1 rules would read the contract's ``enum: [yes, no, unknown]`` as ``[True, False, 'unknown']``.
    """


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != 'tag:yaml.org,2002:bool']
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver('tag:yaml.org,2002:bool', re.compile(r'^(?:true|True|TRUE|false|False|FALSE)$'),
                                   list('tTfF'))


def contract_path() -> Path:
    """Where the contract is: ``API_CONTRACT_PATH``, else ``../shared/spec/openapi.yaml`` beside the repository."""
    return Path(os.environ.get('API_CONTRACT_PATH') or DEFAULT_CONTRACT)


def load_contract(path: Path) -> dict[str, Any]:
    """The contract document, read with YAML 1.2 booleans."""
    with path.open(encoding='utf-8') as stream:
        return yaml.load(stream, Loader=Yaml12Loader)  # a SafeLoader subclass: safe


def operations(document: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """Every operation of a document by (METHOD, path)."""
    return {(method.upper(), path): operation
            for path, item in document.get('paths', {}).items()
            for method, operation in item.items() if method in HTTP_METHODS}


class Document:
    """An OpenAPI document whose local ``$ref`` and ``allOf`` can be resolved."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def resolve(self, node: Any) -> Any:
        """Follow ``$ref`` (local JSON pointers such as ``#/components/schemas/Run``) to the node it names."""
        while isinstance(node, dict) and '$ref' in node:
            target: Any = self.raw
            for part in node['$ref'].lstrip('#/').split('/'):
                target = target[part.replace('~1', '/').replace('~0', '~')]
            node = target
        return node

    def schema(self, node: Any) -> dict[str, Any]:
        """The schema with references followed and ``allOf`` merged (its sub-schemas are resolved on demand)."""
        node = self.resolve(node)
        if not isinstance(node, dict):
            return {}
        own = dict(node)
        merged: dict[str, Any] = {}
        for branch in own.pop('allOf', []) + _nullable_reference(own):
            merged = _merge(merged, self.schema(branch))
        return _merge(merged, own)


def _nullable_reference(schema: dict[str, Any]) -> list[Any]:
    """Turn apispec's nullable nested schema into its reference plus ``nullable: true``.

    apispec writes it as ``anyOf: [{type: object, nullable: true}, {$ref: ...}]``.
    """
    branches = schema.get('anyOf') or []
    nulls = [branch for branch in branches if isinstance(branch, dict) and branch.get('nullable')
             and set(branch) <= {'type', 'nullable'}]
    others = [branch for branch in branches if branch not in nulls]
    if not nulls or len(others) != 1:
        return []
    del schema['anyOf']
    schema['nullable'] = True
    return others


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` of two schemas: required lists joined, properties and items combined, other keywords overridden."""
    merged = dict(base)
    for keyword, value in extra.items():
        if keyword == 'required':
            merged[keyword] = sorted(set(merged.get(keyword, [])) | set(value))
        elif keyword == 'properties':
            properties = dict(merged.get(keyword, {}))
            for name, schema in value.items():
                properties[name] = {'allOf': [properties[name], schema]} if name in properties else schema
            merged[keyword] = properties
        elif keyword == 'items' and keyword in merged:
            merged[keyword] = {'allOf': [merged[keyword], value]}
        else:
            merged[keyword] = value
    return merged


def _additional(schema: dict[str, Any]) -> Any:
    """``additionalProperties`` with its default: ``True`` (and ``{}`` means ``True``)."""
    value = schema.get('additionalProperties', True)
    return True if value == {} else value


def _security(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The operation's effective security requirements (its own, else the document's), normalized."""
    requirements = operation.get('security', document.get('security', []))
    return sorted(({name: sorted(scopes) for name, scopes in requirement.items()} for requirement in requirements),
                  key=repr)


def _by_name(headers: dict[str, Any]) -> dict[str, Any]:
    return {name.lower(): header for name, header in (headers or {}).items()}


class Comparison:
    """Compares the served document with the contract and collects every problem found (not just the first)."""

    def __init__(self, contract: dict[str, Any], served: dict[str, Any]) -> None:
        self.contract = Document(contract)
        self.served = Document(served)
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        """Record one divergence, prefixed with where it is."""
        self.problems.append(f'{where}: {message}')

    def base_path(self) -> None:
        """The served document's server path is the contract's (``/api/v1``)."""
        expected = {urlparse(server['url']).path for server in self.contract.raw.get('servers', [])}
        served = {urlparse(server['url']).path for server in self.served.raw.get('servers', [])}
        if expected and not expected & served:
            self.problem('servers', f'base path {sorted(served)} is not the contract\'s {sorted(expected)}')

    def operation(self, key: Key) -> None:
        """Compare one operation that both documents have."""
        method, path = key
        where = f'{method} {path}'
        contract = self.contract.raw['paths'][path]
        served = self.served.raw['paths'][path]
        expected, actual = contract[method.lower()], served[method.lower()]
        for extension, normalize in (('x-required-scope', lambda value: value),
                                     ('x-required-roles', lambda value: sorted(value or []))):
            wanted, got = normalize(expected.get(extension)), normalize(actual.get(extension))
            if wanted != got:
                self.problem(where, f'{extension} is {got!r}, the contract says {wanted!r}')
        wanted_security = _security(self.contract.raw, expected)
        got_security = _security(self.served.raw, actual)
        if wanted_security != got_security:
            self.problem(where, f'security is {got_security}, the contract says {wanted_security}')
        self.parameters(where, contract.get('parameters', []) + expected.get('parameters', []),
                        served.get('parameters', []) + actual.get('parameters', []))
        self.request_body(where, expected.get('requestBody'), actual.get('requestBody'))
        self.responses(where, expected.get('responses', {}), actual.get('responses', {}))

    def parameters(self, where: str, expected: list[Any], actual: list[Any]) -> None:
        """Every contract parameter exists alike; extra served parameters must be optional."""
        wanted = {(p['in'], p['name']): p for p in map(self.contract.resolve, expected)}
        got = {(p['in'], p['name']): p for p in map(self.served.resolve, actual)}
        for (location, name), parameter in wanted.items():
            label = f'{where} {location} parameter {name}'
            if (location, name) not in got:
                self.problem(label, 'missing')
                continue
            served = got[(location, name)]
            if bool(parameter.get('required')) != bool(served.get('required')):
                self.problem(label, f'required is {bool(served.get("required"))}, the contract says '
                                    f'{bool(parameter.get("required"))}')
            self.schema(label, parameter.get('schema'), served.get('schema'), request=True)
        for (location, name), served in got.items():
            if (location, name) not in wanted and served.get('required'):
                self.problem(f'{where} {location} parameter {name}', 'required, but the contract does not have it')

    def request_body(self, where: str, expected: Any, actual: Any) -> None:
        """The contract's request body exists alike (required flag, media types, schema)."""
        expected, actual = self.contract.resolve(expected), self.served.resolve(actual)
        label = f'{where} request body'
        if not expected:
            if actual and actual.get('required'):
                self.problem(label, 'required, but the contract has none')
            return
        if not actual:
            self.problem(label, 'missing')
            return
        if bool(expected.get('required')) != bool(actual.get('required')):
            self.problem(label, f'required is {bool(actual.get("required"))}, the contract says '
                                f'{bool(expected.get("required"))}')
        for media_type, content in expected.get('content', {}).items():
            served = actual.get('content', {}).get(media_type)
            if served is None:
                self.problem(label, f'media type {media_type} missing')
            else:
                self.schema(f'{label} ({media_type})', content.get('schema'), served.get('schema'), request=True)

    def responses(self, where: str, expected: dict[Any, Any], actual: dict[Any, Any]) -> None:
        """Every contract response exists with its media types, schemas and headers."""
        got = {str(status): response for status, response in actual.items()}
        for status, response in expected.items():
            label = f'{where} response {status}'
            if str(status) not in got:
                self.problem(label, 'missing')
                continue
            response, served = self.contract.resolve(response), self.served.resolve(got[str(status)])
            wanted_content, got_content = response.get('content') or {}, served.get('content') or {}
            if not wanted_content and got_content:
                self.problem(label, f'has a body ({", ".join(got_content)}), the contract has none')
            for media_type, content in wanted_content.items():
                if media_type not in got_content:
                    self.problem(label, f'media type {media_type} missing')
                else:
                    self.schema(f'{label} ({media_type})', content.get('schema'),
                                got_content[media_type].get('schema'), request=False)
            served_headers = _by_name(served.get('headers'))
            for name, header in (response.get('headers') or {}).items():
                if name.lower() not in served_headers:
                    self.problem(label, f'header {name} missing')
                else:
                    self.schema(f'{label} header {name}', self.contract.resolve(header).get('schema'),
                                self.served.resolve(served_headers[name.lower()]).get('schema'), request=False)

    def schema(self, where: str, expected: Any, actual: Any, request: bool) -> None:
        """Compare two schemas keyword by keyword, then their properties, additional properties and items."""
        wanted, got = self.contract.schema(expected), self.served.schema(actual)
        if not wanted:
            return
        if 'type' in wanted and got.get('type') != wanted['type']:
            self.problem(where, f'type is {got.get("type")!r}, the contract says {wanted["type"]!r}')
        self.nullable(where, wanted, got, request)
        self.enum(where, wanted, got, request)
        self.bounds(where, wanted, got, request)
        for keyword in EXACT_KEYWORDS + (('default',) if request else ()):
            if keyword in wanted and got.get(keyword) != wanted[keyword]:
                self.problem(where, f'{keyword} is {got.get(keyword)!r}, the contract says {wanted[keyword]!r}')
        if wanted.get('uniqueItems') and not got.get('uniqueItems'):
            self.problem(where, 'uniqueItems missing')
        self.required(where, wanted, got, request)
        properties = got.get('properties', {})
        for name, schema in wanted.get('properties', {}).items():
            if name not in properties:
                self.problem(where, f'property {name} missing')
            else:
                self.schema(f'{where}.{name}', schema, properties[name], request)
        if wanted.get('type') == 'object' or 'properties' in wanted:
            self.additional_properties(where, wanted, got, request)
        if 'items' in wanted:
            self.schema(f'{where}[]', wanted['items'], got.get('items'), request)

    def nullable(self, where: str, wanted: dict[str, Any], got: dict[str, Any], request: bool) -> None:
        """Requests: nullable exactly as in the contract. Responses: never null where the contract forbids it."""
        expected, actual = bool(wanted.get('nullable')), bool(got.get('nullable'))
        if actual != expected and (request or actual):
            self.problem(where, f'nullable is {actual}, the contract says {expected}')

    def enum(self, where: str, wanted: dict[str, Any], got: dict[str, Any], request: bool) -> None:
        """Requests: the same values. Responses: no value the contract does not list."""
        if 'enum' not in wanted:
            return
        expected = [value for value in wanted['enum'] if value is not None]
        if 'enum' not in got:
            self.problem(where, f'enum {expected} missing')
            return
        actual = [value for value in got['enum'] if value is not None]
        extra = [value for value in actual if value not in expected]
        missing = [value for value in expected if value not in actual]
        if extra or (request and missing):
            self.problem(where, f'enum is {actual}, the contract says {expected}')

    def bounds(self, where: str, wanted: dict[str, Any], got: dict[str, Any], request: bool) -> None:
        """Requests: the contract's bounds exactly. Responses: the contract's bounds or tighter ones."""
        for keyword in LOWER_BOUNDS + UPPER_BOUNDS:
            if keyword not in wanted:
                continue
            expected, actual = wanted[keyword], got.get(keyword)
            looser = actual is None or (actual < expected if keyword in LOWER_BOUNDS else actual > expected)
            if looser or (request and actual != expected):
                self.problem(where, f'{keyword} is {actual!r}, the contract says {expected!r}')

    def required(self, where: str, wanted: dict[str, Any], got: dict[str, Any], request: bool) -> None:
        """Requests: the same required fields. Responses: at least the contract's."""
        expected, actual = set(wanted.get('required', [])), set(got.get('required', []))
        if expected - actual:
            self.problem(where, f'not required: {sorted(expected - actual)} (the contract requires them)')
        if request and actual - expected:
            self.problem(where, f'required: {sorted(actual - expected)} (optional or unknown in the contract)')

    def additional_properties(self, where: str, wanted: dict[str, Any], got: dict[str, Any], request: bool) -> None:
        """``additionalProperties: false`` kept; requests accept the extras the contract allows; schemas compared."""
        expected, actual = _additional(wanted), _additional(got)
        if expected is False and actual is not False:
            self.problem(where, f'additionalProperties is {actual!r}, the contract says false')
        elif request and expected is not False and actual is False:
            self.problem(where, 'additionalProperties is false, the contract allows additional properties')
        elif isinstance(expected, dict):
            if isinstance(actual, dict):
                self.schema(f'{where}{{*}}', expected, actual, request)
            elif actual is True:
                self.problem(where, f'additionalProperties is unconstrained, the contract says {expected!r}')


def compare(contract: dict[str, Any], served: dict[str, Any], keys: list[Key]) -> list[str]:
    """Every problem of the served document against the contract, for the operations ``keys``."""
    comparison = Comparison(contract, served)
    comparison.base_path()
    for key in sorted(keys):
        comparison.operation(key)
    return comparison.problems
