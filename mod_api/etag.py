"""Conditional reads: a strong ``ETag`` on JSON documents and ``If-None-Match`` answered 304 without a body.

The tag is a digest of the exact JSON bytes sent, so it changes whenever the document does (a run progressing,
a verdict arriving) and never otherwise. ``If-None-Match`` is compared weakly (RFC 9110 §13.1.2): ``*``, the tag
itself or ``W/`` + the tag, among a list, all match. A 304 is not charged to the read budget
(:mod:`mod_api.ratelimit` charges conditional reads only once their status is known).
"""
import hashlib
from typing import Any, cast

from flask import Response, current_app, request

TAG_LENGTH = 32  # hex digits of SHA-256 kept: 128 bits


def conditional(payload: Any, status: int = 200) -> Response:
    """``payload`` as a JSON response carrying a strong ETag, or 304 when ``If-None-Match`` names that tag."""
    response = cast(Response, current_app.json.response(payload))
    response.status_code = status
    return tagged(response)


def tagged(response: Response) -> Response:
    """``response`` with a strong ETag of its body, or the 304 standing for it when ``If-None-Match`` names it."""
    tag = hashlib.sha256(response.get_data()).hexdigest()[:TAG_LENGTH]
    response.set_etag(tag)
    if request.if_none_match.contains_weak(tag):
        return not_modified(response)
    return response


def not_modified(response: Response) -> Response:
    """The 304 standing for ``response``: no body, the same ETag (and Vary, if any)."""
    unchanged = Response(status=304)
    for name in ('ETag', 'Vary'):
        if name in response.headers:
            unchanged.headers[name] = response.headers[name]
    return unchanged
