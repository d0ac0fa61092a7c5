"""Request parsing with marshmallow: query strings and JSON bodies, strictly, into ErrorResponses.

Unknown fields, wrong types, out-of-range numbers, pattern violations (full match: a trailing newline does
not pass), over-long strings and duplicate items are all answered 400 ``validation_error`` with
``details.fields`` naming each offending field.
"""
import json
from typing import Any, Mapping, Optional

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from mod_api.errors import ApiError, validation_error

MAX_DB_INTEGER = 2**31 - 1


class StrictSchema(Schema):
    """A schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE


class FullMatch(validate.Regexp):
    """``Regexp`` that must match the whole value (``re.fullmatch``), so ``'abc\\n'`` fails ``^abc$``."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class UniqueItems(validate.Validator):
    """Rejects a list holding the same item twice (the contract's ``uniqueItems``)."""

    error = 'Items must be unique.'

    def __call__(self, value: Any) -> Any:
        if len(set(value)) != len(value):
            raise ValidationError(self.error)
        return value


def integer_id(**kwargs: Any) -> fields.Integer:
    """An integer id field: 1 up to the database's integer range."""
    return fields.Integer(strict=False, validate=validate.Range(min=1, max=MAX_DB_INTEGER), **kwargs)


def flatten_messages(messages: Any, prefix: str = '') -> dict[str, str]:
    """marshmallow's nested error messages as ``{"field" or "field.0": "message; message"}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, str] = {}
        for key, value in messages.items():
            name = f'{prefix}.{key}' if prefix else str(key)
            flat.update(flatten_messages(value, name))
        return flat
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return {prefix or '_schema': '; '.join(messages)}
    return {prefix or '_schema': str(messages)}


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Run ``schema.load`` and turn a ValidationError into the API's 400."""
    try:
        return schema.load(data)
    except ValidationError as error:
        raise validation_error(flatten_messages(error.messages)) from None


def parse_query(schema: Optional[Schema]) -> dict[str, Any]:
    """Validate ``request.args`` against ``schema``; without a schema any parameter is unknown."""
    raw: dict[str, Any] = {}
    duplicated: dict[str, str] = {}
    known = schema.fields if schema is not None else {}
    for name in request.args:
        values = request.args.getlist(name)
        field = known.get(name)
        if isinstance(field, fields.List):
            raw[name] = values
        elif len(values) > 1:
            duplicated[name] = 'Specify this parameter once.'
        else:
            raw[name] = values[0]
    if duplicated:
        raise validation_error(duplicated)
    if schema is None:
        if raw:
            raise validation_error({name: 'Unknown field.' for name in raw})
        return {}
    return load(schema, raw)


def parse_body(schema: Schema, required: bool) -> dict[str, Any]:
    """Validate a JSON object body against ``schema``; an optional empty body loads as ``{}``."""
    payload = request.get_data(cache=True)
    if not payload:
        if required:
            raise ApiError(400, 'body_required', 'This operation needs a JSON object body.', {})
        return load(schema, {})
    if request.mimetype != 'application/json':
        raise ApiError(415, 'unsupported_media_type', 'Send the body as application/json.',
                       {'content_type': request.mimetype or None})
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise ApiError(400, 'malformed_json', 'The request body is not valid JSON.', {}) from None
    if not isinstance(data, dict):
        raise validation_error({'_body': 'Must be a JSON object.'})
    return load(schema, data)
