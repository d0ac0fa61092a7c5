"""Response schemas shared by every resource: the contract's ErrorResponse and page envelopes."""
from marshmallow import Schema, fields, validate


class ErrorResponseSchema(Schema):
    """The contract's ErrorResponse: ``details`` is always an object."""

    code = fields.String(required=True, validate=validate.Length(max=100))
    message = fields.String(required=True, validate=validate.Length(max=500))
    details = fields.Dict(required=True)


class PaginationSchema(Schema):
    """Offset pagination of a Page."""

    limit = fields.Integer(required=True, validate=validate.Range(min=1))
    offset = fields.Integer(required=True, validate=validate.Range(min=0))
    total = fields.Integer(required=True, validate=validate.Range(min=0))
    next_offset = fields.Integer(allow_none=True, validate=validate.Range(min=0))
