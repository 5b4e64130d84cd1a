"""Reading a request's path, query and body into the route's pydantic models.

A value that does not fit becomes a 422 (400 for a body that is not JSON,
415 for a body that is not JSON at all, 413 for one that is too big) through
`leadflow.envelope`; nothing unvalidated reaches a route.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from leadflow.envelope import ApiError, detail, invalid_input

M = TypeVar("M", bound=BaseModel)

JSON_MEDIA_TYPES = frozenset({"application/json"})


def path(model: type[M], values: dict[str, Any]) -> M:
    """The route's path parameters."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_input(exc, "path") from None


def query(model: type[M]) -> M:
    """The query string; a parameter given twice is an error, so is an unknown one."""
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise ApiError(
            422,
            "validation_error",
            "invalid query",
            [
                detail(["query", name[:100]], "given more than once", "repeated")
                for name in repeated
            ],
        )
    try:
        return model.model_validate(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise invalid_input(exc, "query") from None


def body(model: type[M]) -> M:
    """The JSON body (its size is capped by the app's MAX_CONTENT_LENGTH: 413 beyond)."""
    if request.mimetype not in JSON_MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"the request body may be at most {limit} bytes")
    raw = request.get_data(cache=False)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise invalid_input(exc, "body") from None
