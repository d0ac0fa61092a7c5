"""Request parsing with marshmallow: query strings and JSON bodies, strictly, into ErrorResponses.

Unknown fields, wrong types, out-of-range numbers, pattern violations (full match: a trailing newline does
not pass), over-long strings and duplicate items are all answered 400 ``validation_error`` with
``details.fields`` naming each offending field. A body must be a UTF-8 JSON object sent as
``application/json`` (else 400 or 415) and fit ``API_MAX_BODY_BYTES`` (else 413).
"""
import json
import re
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import unquote_to_bytes

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from mod_api.errors import ApiError, validation_error

MAX_DB_INTEGER = 2**31 - 1
DIGITS = re.compile(r'-?[0-9]{1,20}')


class StrictSchema(Schema):
    """A schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE


class FullMatch(validate.Regexp):
    """``Regexp`` that must match the whole value (``re.fullmatch``): a trailing newline fails ``^abc$``."""

    def __call__(self, value: Any) -> Any:
        """The value, or a ValidationError when the pattern does not match all of it."""
        if not isinstance(value, str) or cast(re.Pattern[str], self.regex).fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class UniqueItems(validate.Validator):
    """Rejects a list holding the same item twice (the contract's ``uniqueItems``; items may be objects)."""

    error = 'Items must be unique.'

    def __call__(self, value: Any) -> Any:
        """The list, or a ValidationError when two items are equal."""
        items = [json.dumps(item, sort_keys=True, default=str) for item in value]
        if len(set(items)) != len(items):
            raise ValidationError(self.error)
        return value


class WholeNumber(fields.Integer):
    """An integer given as a JSON integer or, in a query string, as plain ASCII digits.

    marshmallow's non-strict Integer would also take ``5.5`` (as 5), ``'5_0'``, ``' 5'`` and non-ASCII digits.
    """

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) or (isinstance(value, str) and not DIGITS.fullmatch(value)):
            raise self.make_error('invalid', input=value)
        return super()._validated(value)


def integer_id(**kwargs: Any) -> fields.Integer:
    """An integer id field: 1 up to the database's integer range (``strict=True`` in bodies: no strings)."""
    return WholeNumber(validate=validate.Range(min=1, max=MAX_DB_INTEGER), **kwargs)


def flatten_messages(messages: Any, prefix: str = '') -> dict[str, str]:
    """Marshmallow's nested error messages as ``{"field" or "field.0": "message; message"}``."""
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


def parse_query(schema: Schema | None) -> dict[str, Any]:
    """Validate ``request.args`` against ``schema``; without a schema any parameter is unknown."""
    undecodable = _undecodable_parameters()
    if undecodable:
        raise validation_error(undecodable)
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


def _undecodable_parameters() -> dict[str, str]:
    """Query parameters whose name or value is not UTF-8 once percent-decoded.

    Werkzeug replaces such bytes with U+FFFD, so a filter would silently search for something nobody sent.
    """
    undecodable: dict[str, str] = {}
    for pair in request.query_string.split(b'&'):
        name, _, value = (unquote_to_bytes(part.replace(b'+', b' ')) for part in pair.partition(b'='))
        try:
            name.decode('utf-8')
            value.decode('utf-8')
        except UnicodeDecodeError:
            undecodable[name.decode('utf-8', 'replace')] = 'Not valid UTF-8.'
    return undecodable


def parse_headers(schema: Schema) -> dict[str, Any]:
    """Validate the request headers ``schema`` declares (named by their ``data_key``); other headers are ignored."""
    names = [field.data_key or name for name, field in schema.fields.items()]
    return load(schema, {name: request.headers[name] for name in names if name in request.headers})


def parse_body(schema: Schema, required: bool) -> dict[str, Any]:
    """Validate a JSON object body against ``schema``; an optional empty body loads as ``{}``."""
    payload = _read_body()
    if not payload:
        if required:
            raise ApiError(400, 'body_required', 'This operation needs a JSON object body.', {})
        return load(schema, {})
    if request.mimetype != 'application/json':
        raise ApiError(415, 'unsupported_media_type', 'Send the body as application/json.',
                       {'content_type': request.mimetype or None})
    data = _decode_json(payload)
    if not isinstance(data, dict):
        raise validation_error({'_body': 'Must be a JSON object.'})
    return load(schema, data)


def _decode_json(payload: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no key given twice, bounded nesting; else 400."""
    try:
        return json.loads(payload.decode('utf-8'), parse_constant=_reject_constant,
                          object_pairs_hook=_object_without_duplicates)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ApiError(400, 'malformed_json', 'The request body is not valid UTF-8 JSON.', {}) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f'{name} is not JSON')


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError('duplicate key')
    return data


def _read_body() -> bytes:
    """The request body; 413 past ``max_content_length`` also for a body streamed without Content-Length.

    Werkzeug stops reading such a stream at the cap without saying whether more followed, so a streamed body
    that fills the cap exactly is refused too.
    """
    payload = request.get_data(cache=True)
    cap = request.max_content_length
    if request.content_length is None and cap is not None and len(payload) >= cap:
        raise RequestEntityTooLarge()
    return payload


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` only (marshmallow's Boolean also takes 1, "yes", "on", ...)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error('invalid', input=value)
        return value
