"""Response schemas shared by every resource: the base of response schemas, ErrorResponse and page envelopes."""
from marshmallow import EXCLUDE, Schema, fields, validate


class ResponseSchema(Schema):
    """Base of every schema that describes a response body (request schemas derive from ``StrictSchema``).

    ``unknown = EXCLUDE`` keeps ``additionalProperties: false`` out of the OpenAPI document: the contract lets a
    response gain fields, so clients must not be told that it never will. Response schemas never load input.
    """

    class Meta:
        unknown = EXCLUDE


class ErrorResponseSchema(ResponseSchema):
    """The contract's ErrorResponse: ``details`` is always an object."""

    code = fields.String(required=True, validate=validate.Length(max=100))
    message = fields.String(required=True, validate=validate.Length(max=500))
    details = fields.Dict(required=True)


class PaginationSchema(ResponseSchema):
    """Offset pagination of a Page."""

    limit = fields.Integer(required=True, validate=validate.Range(min=1))
    offset = fields.Integer(required=True, validate=validate.Range(min=0))
    total = fields.Integer(required=True, validate=validate.Range(min=0))
    next_offset = fields.Integer(allow_none=True, validate=validate.Range(min=0))
