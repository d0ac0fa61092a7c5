"""The served OpenAPI 3.0.3 document, generated with apispec from the declared operations.

The marshmallow schemas that validate requests are the ones that describe them, so the document cannot drift
from what the code accepts. Error responses are added from each declaration (what it requires and accepts).
Where apispec's marshmallow conversion falls short of OpenAPI 3.0.3, :func:`complete_conversions` completes it.
"""
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import fields, validate
from werkzeug.routing import Rule

from mod_api.operations import Operation, declared_operation, operation
from mod_api.schemas import ErrorResponseSchema, ResponseSchema
from mod_api.validation import MAX_DB_INTEGER, UniqueItems

blueprint = Blueprint('openapi', __name__)

API_VERSION = '1.2.0'
CONVERTER_SCHEMAS = {
    'IntegerConverter': {'type': 'integer', 'minimum': 1, 'maximum': MAX_DB_INTEGER},
}
STANDARD_ERRORS = {
    'BadRequest': 'Request body or query parameters failed schema validation',
    'Unauthorized': 'Missing, expired, or invalid bearer token',
    'Forbidden': 'Token is valid but lacks the required scope or role',
    'NotFound': 'Resource not found',
    'UnprocessableEntity': 'Request is valid JSON but semantically invalid',
    'RateLimited': 'Too many requests. Retry after the indicated number of seconds.',
    'Error': 'Unexpected server error',
}
# Every API response carries these (flask-limiter charges every request to a budget): header → component, text.
RATE_LIMIT_HEADERS = {
    'X-RateLimit-Limit': ('RateLimitLimit', 'Maximum requests allowed in the current window'),
    'X-RateLimit-Remaining': ('RateLimitRemaining', 'Requests remaining in the current window'),
    'X-RateLimit-Reset': ('RateLimitReset', 'Unix timestamp when the rate limit window resets'),
}


class OpenApiDocumentSchema(ResponseSchema):
    """The top level of this document; the OpenAPI 3.0.3 specification describes the rest."""

    openapi = fields.String(required=True, validate=validate.OneOf(['3.0.3']))
    info = fields.Dict(required=True)
    servers = fields.List(fields.Dict(), required=True)
    paths = fields.Dict(required=True)
    components = fields.Dict(required=True)


def _unique_items(converter: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """``uniqueItems: true`` for a list validated by ``UniqueItems`` (a validator apispec does not know)."""
    return {'uniqueItems': True} if any(isinstance(check, UniqueItems) for check in field.validators) else {}


def complete_conversions(plugin: MarshmallowPlugin) -> None:
    """Teach apispec's marshmallow plugin (once its spec is made) what OpenAPI 3.0.3 needs beyond its defaults.

    ``fields.Url`` becomes ``format: uri`` (apispec writes ``url``, which is no OpenAPI format) and a list
    validated by ``UniqueItems`` gets ``uniqueItems: true``. apispec itself already writes ``allow_none`` as
    ``nullable: true``, an ``unknown = RAISE`` schema as ``additionalProperties: false``, a non-callable
    ``load_default`` (else ``metadata['default']``) as ``default``, and other metadata (``format``) as given.
    """
    plugin.map_to_openapi_type(fields.Url, 'string', 'uri')
    plugin.converter.add_attribute_function(_unique_items)  # type: ignore[union-attr]


def openapi_path(rule: Rule, prefix: str) -> str:
    """``/api/v1/runs/<int:run_id>`` → ``/runs/{run_id}``."""
    path = rule.rule[len(prefix):] or '/'
    return re.sub(r'<(?:[^:<>]+:)?([^<>]+)>', r'{\1}', path)


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    parameters = []
    for name, converter in rule._converters.items():
        schema = CONVERTER_SCHEMAS.get(type(converter).__name__, {'type': 'string'})
        parameters.append({'name': name, 'in': 'path', 'required': True, 'schema': dict(schema)})
    return parameters


def _error_ref(name: str) -> dict[str, str]:
    return {'$ref': f'#/components/responses/{name}'}


def _rate_limit_headers() -> dict[str, dict[str, str]]:
    return {header: {'$ref': f'#/components/headers/{component}'}
            for header, (component, _) in RATE_LIMIT_HEADERS.items()}


def _responses(spec: Operation, has_path_ids: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, declared in sorted(spec.responses.items()):
        description, schema = declared if isinstance(declared, tuple) else (declared, None)
        if schema is None and status >= 400:
            schema = ErrorResponseSchema
        body = {'content': {'application/json': {'schema': schema}}} if schema is not None else {}
        responses[str(status)] = {'description': description, 'headers': _rate_limit_headers(), **body}
    standard = {
        '400': 'BadRequest',  # every operation rejects unknown query parameters
        '401': None if spec.public else 'Unauthorized',
        '403': 'Forbidden' if spec.scope or spec.roles else None,
        '404': 'NotFound' if has_path_ids else None,
        '429': 'RateLimited',
        'default': 'Error',
    }
    for code, name in standard.items():
        if name is not None:
            responses.setdefault(code, _error_ref(name))
    return responses


def _operation_document(spec: Operation, rule: Rule) -> dict[str, Any]:
    path_parameters = _path_parameters(rule)
    document: dict[str, Any] = {
        'tags': list(spec.tags), 'summary': spec.summary,
        'responses': _responses(spec, bool(path_parameters)),
        'security': [] if spec.public else [{'bearerAuth': []}],
    }
    if spec.description:
        document['description'] = spec.description
    if spec.scope:
        document['x-required-scope'] = spec.scope
    if spec.roles:
        document['x-required-roles'] = list(spec.roles)
    parameters: list[Any] = list(path_parameters)
    if spec.query is not None:
        parameters.append({'in': 'query', 'schema': spec.query})
    if spec.headers is not None:
        parameters.append({'in': 'header', 'schema': spec.headers})
    if parameters:
        document['parameters'] = parameters
    if spec.body is not None:
        document['requestBody'] = {'required': spec.body_required,
                                   'content': {'application/json': {'schema': spec.body}}}
    return document


def _add_components(spec: APISpec) -> None:
    spec.components.security_scheme('bearerAuth', {
        'type': 'http', 'scheme': 'bearer', 'bearerFormat': 'opaque',
        'description': 'Opaque API token from POST /auth/tokens. The CI worker token is not valid here.'})
    spec.components.schema('ErrorResponse', schema=ErrorResponseSchema)
    for component, text in RATE_LIMIT_HEADERS.values():
        spec.components.header(component, {'description': text, 'schema': {'type': 'integer'}})
    for name, text in STANDARD_ERRORS.items():
        headers: dict[str, Any] = _rate_limit_headers()
        if name == 'RateLimited':
            headers = {'Retry-After': {'description': 'Seconds to wait before retrying',
                                       'schema': {'type': 'integer', 'minimum': 1}}, **headers}
        spec.components.response(name, {'description': text, 'headers': headers, 'content': {
            'application/json': {'schema': {'$ref': '#/components/schemas/ErrorResponse'}}}})


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every declared operation registered on ``app`` under the API prefix."""
    prefix = app.extensions['mod_api'].prefix
    plugin = MarshmallowPlugin()
    spec = APISpec(title='CCExtractor CI System API', version=API_VERSION, openapi_version='3.0.3',
                   plugins=[plugin], servers=[{'url': prefix}],
                   info={'description': 'JSON-only REST API of the CCExtractor sample platform, for CI '
                                        'automation and AI agents.'})
    complete_conversions(plugin)
    _add_components(spec)
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        spec_of_view = declared_operation(app.view_functions[rule.endpoint])
        if spec_of_view is None or not rule.rule.startswith(prefix):
            continue
        methods = sorted((rule.methods or set()) - {'HEAD', 'OPTIONS'})
        operations = paths.setdefault(openapi_path(rule, prefix), {})
        for method in methods:
            operations[method.lower()] = _operation_document(spec_of_view, rule)
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    return spec.to_dict()


@blueprint.route('/openapi.json', methods=['GET'])
@operation('The OpenAPI document of this API', ('System',), public=True,
           responses={200: ('OpenAPI 3.0.3 document', OpenApiDocumentSchema)})
def serve_document(query: dict[str, Any]) -> Any:
    """Serve the generated document (built once per app and cached)."""
    state = current_app.extensions['mod_api']
    if state.openapi_document is None:
        state.openapi_document = build_document(current_app)
    return jsonify(state.openapi_document)
