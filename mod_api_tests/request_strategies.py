"""Hypothesis strategies of whole API requests, generated from the served OpenAPI document.

For one operation of the document, :meth:`RequestStrategies.request` draws a :class:`FuzzRequest`: every path
parameter, query parameter, declared request header and the JSON body is either drawn from its schema (valid-ish:
what the contract accepts, ids biased towards the small ones the test data holds) or mutated: a wrong JSON type,
out of range (``minimum - 1``, ``maximum + 1``, 2**31, 2**63, 10**100), too long, an enum value in another case or
with a trailing newline, arbitrary unicode, NUL bytes, look-alike digits, invalid UTF-8 (query string), path
traversal. Query parameters may also be repeated, and unknown ones added. A body may be a valid object, one with
mutated or unknown fields, another JSON value, raw bytes, empty, or sent with another media type.

The schemas are read through :class:`mod_api_tests.contract.Document` (``$ref`` and ``allOf`` resolved).
"""
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from mod_api_tests.contract import Document

DEFAULT_MINIMUM, DEFAULT_MAXIMUM = -2**31, 2**31 - 1
HOSTILE_INTEGERS = (0, -1, 2**31, 2**63, -2**63 - 1, 10**100)
HOSTILE_TEXT = (
    '', ' ', '\x00', 'a\x00b', '\t', '..', '../../etc/passwd', '..%2f..%2f', '/etc/passwd', '..\\..\\boot.ini',
    'null', 'true', 'NaN', '1e400', '0x10', '1_0', ' 7', '7 ', '+7', '７', '٥', '𝟕', 'Ⅶ', '\u202e', '\ufeff1', 'İ',
    'ccx_' + '0' * 16 + '_' + 'A' * 43, 'x' * 10_000,
)
INVALID_UTF8 = (b'\xff', b'\xc3', b'\xed\xa0\x80', b'\xc0\xaf', b'a\xfe\xffb', b'\xf4\x90\x80\x80')
OTHER_MEDIA_TYPES = ('text/plain', 'application/x-www-form-urlencoded', 'application/xml',
                     'application/json-patch+json')
JSON_MEDIA_TYPE = 'application/json'
SCALAR_MUTATIONS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HOSTILE_INTEGERS), st.floats(), st.text(),
    st.sampled_from(HOSTILE_TEXT))
JSON_MUTATIONS = st.one_of(
    SCALAR_MUTATIONS, st.lists(SCALAR_MUTATIONS, max_size=3),
    st.dictionaries(st.text(max_size=8), SCALAR_MUTATIONS, max_size=3))


@dataclass(frozen=True)
class FuzzRequest:
    """One request to send: method, percent-encoded path and query, headers, body bytes and media type."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    content_type: str | None

    def describe(self) -> str:
        """A one-line description for failure messages (the body cut short)."""
        body = None if self.body is None else self.body[:300]
        return f'{self.method} {self.url[:500]} headers={self.headers} content_type={self.content_type} body={body!r}'


def _encode(value: str | bytes) -> str:
    """Percent-encode a path segment or query component (bytes as given: invalid UTF-8 stays invalid)."""
    return quote(value, safe='')


def _as_query_text(value: Any) -> str:
    """How a JSON value reads in a query string (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return value if isinstance(value, str) else json.dumps(value)


def _header_text(value: Any) -> str:
    """A header value as a server hands it over: UTF-8 bytes read as latin-1, without line breaks."""
    text = _as_query_text(value).encode('utf-8').decode('latin-1')
    return text.replace('\r', '').replace('\n', '')


class RequestStrategies:
    """Strategies of valid-ish and mutated values, and of whole requests, for the operations of one document."""

    def __init__(self, document: dict[str, Any], authorization: Callable[[str, str], dict[str, str]]) -> None:
        """``authorization(method, path)`` gives the headers authenticating a request to that operation."""
        self.document = Document(document)
        self.authorization = authorization

    # ------------------------------------------------------------------------------------------ values

    def valid(self, node: Any) -> st.SearchStrategy[Any]:
        """Values the schema accepts (as far as JSON Schema says: semantic checks may still refuse them)."""
        schema = self.document.schema(node)
        strategy = self._valid_of_type(schema)
        return st.one_of(st.none(), strategy) if schema.get('nullable') else strategy

    def _valid_of_type(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        if 'enum' in schema:
            return st.sampled_from(schema['enum'])
        kind = schema.get('type')
        if kind == 'integer':
            low = schema.get('minimum', DEFAULT_MINIMUM) + int(bool(schema.get('exclusiveMinimum')))
            high = schema.get('maximum', DEFAULT_MAXIMUM) - int(bool(schema.get('exclusiveMaximum')))
            return st.one_of(st.integers(low, min(high, low + 20)), st.integers(low, high))
        if kind == 'number':
            return st.floats(schema.get('minimum'), schema.get('maximum'), allow_nan=False, allow_infinity=False)
        if kind == 'boolean':
            return st.booleans()
        if kind == 'string':
            return self._valid_string(schema)
        if kind == 'array':
            items = self.valid(schema.get('items', {}))
            size = min(schema.get('maxItems', 4), 4)
            unique = (lambda item: json.dumps(item, sort_keys=True)) if schema.get('uniqueItems') else None
            return st.lists(items, min_size=min(schema.get('minItems', 0), size), max_size=size, unique_by=unique)
        if kind == 'object' or 'properties' in schema:
            properties = schema.get('properties', {})
            required = set(schema.get('required', []))
            return st.fixed_dictionaries(
                {name: self.valid(sub) for name, sub in properties.items() if name in required},
                optional={name: self.valid(sub) for name, sub in properties.items() if name not in required})
        return JSON_MUTATIONS

    @staticmethod
    def _valid_string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
        low, high = schema.get('minLength', 0), schema.get('maxLength', 64)
        if 'pattern' in schema:
            return st.from_regex(schema['pattern'], fullmatch=True).filter(lambda text: low <= len(text) <= high)
        if schema.get('format') == 'date-time':
            return st.datetimes().map(lambda moment: moment.isoformat() + 'Z')
        if schema.get('format') == 'email':
            return st.emails().filter(lambda text: len(text) <= high)
        return st.text(min_size=low, max_size=min(high, 64))

    def mutated(self, node: Any) -> st.SearchStrategy[Any]:
        """Values the schema (most likely) refuses: wrong types, out of range, too long, near-miss enum values."""
        schema = self.document.schema(node)
        near: list[Any] = []
        for bound, step in (('minimum', -1), ('maximum', 1)):
            if bound in schema:
                near.append(schema[bound] + step)
        if 'maxLength' in schema:
            near.append('x' * (schema['maxLength'] + 1))
        if 'minLength' in schema and schema['minLength'] > 0:
            near.append('')
        for value in schema.get('enum', []):
            if isinstance(value, str):
                near += [value.upper(), value + '\n', ' ' + value]
        if 'maxItems' in schema:
            near.append(['x'] * (schema['maxItems'] + 1))
        return st.one_of(st.sampled_from(near), JSON_MUTATIONS) if near else JSON_MUTATIONS

    def value(self, node: Any) -> st.SearchStrategy[Any]:
        """Valid-ish or mutated, about half and half."""
        return st.one_of(self.valid(node), self.mutated(node))

    def query_text(self, node: Any) -> st.SearchStrategy[str | bytes]:
        """What one query-string value carries: valid-ish or mutated text, or bytes that are not UTF-8."""
        return st.one_of(self.value(node).map(_as_query_text), st.sampled_from(INVALID_UTF8))

    # ---------------------------------------------------------------------------------------- requests

    def request(self, method: str, path: str) -> st.SearchStrategy[FuzzRequest]:
        """Requests to one operation (``method``, document ``path`` such as ``/runs/{run_id}``)."""
        operation = self.document.raw['paths'][path][method.lower()]
        parameters = [self.document.resolve(parameter) for parameter in operation.get('parameters', [])]
        body = self.document.resolve(operation.get('requestBody'))
        body_schema = body['content'][JSON_MEDIA_TYPE]['schema'] if body else None
        prefix = self.document.raw['servers'][0]['url']
        return st.builds(
            lambda segments, query, headers, payload: FuzzRequest(
                method, prefix + self._fill_path(path, segments) + ('?' + query if query else ''),
                {**self.authorization(method, path), **headers}, *payload),
            self._path_values([p for p in parameters if p['in'] == 'path']),
            self._query([p for p in parameters if p['in'] == 'query']),
            self._headers([p for p in parameters if p['in'] == 'header']),
            self._body(body_schema))

    @staticmethod
    def _fill_path(path: str, segments: dict[str, str]) -> str:
        for name, segment in segments.items():
            path = path.replace('{' + name + '}', segment)
        return path

    def _path_values(self, parameters: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, str]]:
        """Path parameters: valid-ish three times out of four, so that most requests reach their parsers."""
        return st.fixed_dictionaries({
            parameter['name']: st.one_of(*[self.valid(parameter['schema'])] * 3,
                                         self.mutated(parameter['schema'])).map(_as_query_text).map(_encode)
            for parameter in parameters})

    def _query(self, parameters: list[dict[str, Any]]) -> st.SearchStrategy[str]:
        pairs = [st.one_of(  # absent 2/6, valid-ish 2/6, mutated 1/6, repeated 1/6
            st.just([]), st.just([]),
            *[self.valid(parameter['schema']).map(
                lambda value, name=parameter['name']: [(name, _as_query_text(value))])] * 2,
            self.query_text(parameter['schema']).map(lambda value, name=parameter['name']: [(name, value)]),
            st.lists(self.query_text(parameter['schema']), min_size=2, max_size=3).map(
                lambda values, name=parameter['name']: [(name, value) for value in values]))
            for parameter in parameters]
        unknown_pair = st.tuples(st.one_of(st.text(min_size=1, max_size=12),
                                           st.sampled_from(['', 'admin', 'limit[]', '__proto__', '\x00'])),
                                 st.text(max_size=12)).map(lambda pair: [pair])
        unknown = st.one_of(*[st.just([])] * 5, unknown_pair)  # an unknown parameter in about one request of six
        return st.tuples(*pairs, unknown).map(
            lambda drawn: '&'.join(f'{_encode(name)}={_encode(value)}' for pair in drawn for name, value in pair))

    def _headers(self, parameters: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, str]]:
        return st.fixed_dictionaries({}, optional={
            parameter['name']: self.value(parameter['schema']).map(_header_text) for parameter in parameters})

    def _body(self, schema: Any) -> st.SearchStrategy[tuple[bytes | None, str | None]]:
        json_body = st.one_of(self.valid(schema), self._mutated_object(schema), JSON_MUTATIONS) \
            if schema is not None else JSON_MUTATIONS
        encoded = json_body.map(lambda value: json.dumps(value).encode('utf-8'))
        raw = st.one_of(st.binary(max_size=64), st.sampled_from(INVALID_UTF8), st.just(b''))
        media_type = st.one_of(*[st.just(JSON_MEDIA_TYPE)] * 6, st.sampled_from(OTHER_MEDIA_TYPES))
        with_body = st.tuples(st.one_of(encoded, encoded, encoded, raw), media_type)
        if schema is None:  # an operation without a body: usually none, sometimes one anyway
            return st.one_of(*[st.just((None, None))] * 4, with_body)
        return st.one_of(with_body, st.just((None, None)))

    def _mutated_object(self, node: Any) -> st.SearchStrategy[dict[str, Any]]:
        """A valid object with some fields mutated, some dropped and maybe unknown ones added."""
        schema = self.document.schema(node)
        properties = schema.get('properties', {})
        mutations = st.fixed_dictionaries({}, optional={name: self.mutated(sub) for name, sub in properties.items()})
        unknown = st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(['admin', 'id', 'user_id', 'role'])),
                                  SCALAR_MUTATIONS, max_size=2)
        dropped = st.sets(st.sampled_from(sorted(properties))) if properties else st.just(set())
        return st.tuples(self.valid(node), mutations, unknown, dropped).map(
            lambda drawn: {**{key: value for key, value in drawn[0].items() if key not in drawn[3]},
                           **drawn[1], **drawn[2]} if isinstance(drawn[0], dict) else drawn[0])

