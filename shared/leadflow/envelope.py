"""The one error envelope: how every HTTP answer of ours says what went wrong.

The API, the job functions, the Lambda adapter and the CLI's `--json` all answer
errors as `{"error": {"code", "message", "details"}}` with a fitting status, built
here. `details` has one shape whatever the error: a list (empty when there is
nothing more to say) of `{"loc", "message", "type"}` objects — `loc` where the
problem is (`["body", "max_daily_budget"]`; `[]` when it is the request as a
whole), `message` fit to show, `type` what kind of problem: pydantic's error type
for a value (`missing`, `int_parsing`, …), or the database's SQLSTATE for a
refusal (`PT404`, `42501`, `23505`).
Routes just raise. A database refusal keeps its class (a 4xx stays a 4xx);
nothing the database or Python says about its internals (SQL text, constraint
names, stack traces) reaches the caller.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, g
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from leadflow.db import RpcError
from leadflow.errors import LeadflowError
from leadflow.log import logger

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}
_MESSAGES = {
    400: "the request could not be processed",
    401: "authentication required: send a valid token as Authorization: Bearer <jwt>",
    403: "you are not allowed to do this",
    404: "not found",
    409: "the request conflicts with existing data",
    422: "a value was refused",
    500: "something went wrong on our side",
    503: "the database is unavailable; try again later",
    504: "the database took too long to answer",
}
_MAX_LOC_PART = 100


def detail(loc: list[str], message: str, kind: str) -> dict[str, Any]:
    """One item of an error's `details`: where, what, and what kind of problem."""
    return {"loc": loc, "message": message, "type": kind}


class ApiError(LeadflowError):
    """An error to answer with: status, stable code, a message fit to show, details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: list[dict[str, Any]] = details or []
        self.headers = headers or {}


def invalid_input(exc: ValidationError, where: str) -> ApiError:
    """A pydantic error about the request's path, query or body: 422 (400 for bad JSON)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return ApiError(400, "invalid_json", "the request body is not valid JSON")
    details = [
        detail(
            [where, *(str(part)[:_MAX_LOC_PART] for part in error["loc"])],
            error["msg"],
            error["type"],
        )
        for error in errors[:50]
    ]
    return ApiError(422, "validation_error", f"invalid {where}", details)


def from_rpc_error(exc: RpcError) -> ApiError:
    """A database refusal as the caller may see it.

    Messages of PTnnn errors are written for callers in the API migration and
    shown as they are; any other database message is replaced by a generic one.
    """
    code = exc.code
    status = exc.status
    if code.startswith("PT") and code[2:].isdigit() and 400 <= status < 500:
        return ApiError(
            status, _CODES.get(status, "error"), exc.message, [_refusal(exc.message, code)]
        )
    if code in ("PGRST202", "42883", "42P01"):
        # The API function itself is missing: a deployment problem, not the caller's.
        return ApiError(500, "internal_error", _MESSAGES[500])
    if status in (401, 403):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return ApiError(
            status, _CODES[status], _MESSAGES[status], [_refusal(_MESSAGES[status], code)], headers
        )
    if status in (503, 504):
        return ApiError(status, _CODES[status], _MESSAGES[status])
    if status >= 500 or status < 400:
        return ApiError(500, "internal_error", _MESSAGES[500])
    if status == 409:
        return ApiError(409, "conflict", _MESSAGES[409], [_refusal(_MESSAGES[409], code)])
    if code.startswith(("22", "23")):
        return ApiError(422, "validation_error", _MESSAGES[422], [_refusal(_MESSAGES[422], code)])
    return ApiError(
        status, _CODES.get(status, "bad_request"), _MESSAGES.get(status, _MESSAGES[400])
    )


def _refusal(message: str, sqlstate: str) -> dict[str, Any]:
    """The detail of a database refusal: the request as a whole, with its SQLSTATE."""
    return detail([], message, sqlstate)


def body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The envelope itself (`details` always a list)."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(error: ApiError) -> Response:
    """The JSON response for an error."""
    response = Response(
        json.dumps(body(error.code, error.message, error.details)),
        status=error.status,
        mimetype="application/json",
    )
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc)


def rpc_error_response(exc: RpcError) -> Response:
    """The answer to a database refusal (logged when it is ours, a 5xx)."""
    error = from_rpc_error(exc)
    if error.status >= 500:
        # The database's own words stay in our logs; the token never does.
        _log_failure("rpc_failed", sqlstate=exc.code, status=exc.status, db_message=exc.message)
    return error_response(error)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {}
    if status == 405:
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            headers["Allow"] = allow
    messages = {
        404: "no such route",
        405: "method not allowed on this route",
        413: "the request body is too large",
        415: "send the body as application/json",
    }
    message = messages.get(status, _MESSAGES.get(status, _MESSAGES[400]))
    code = _CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return error_response(ApiError(status, code, message, headers=headers))


def _handle_unexpected(exc: Exception) -> Response:
    _log_failure("unhandled_exception", error_type=type(exc).__name__, exc_info=exc)
    return error_response(ApiError(500, "internal_error", _MESSAGES[500]))


def _log_failure(event: str, exc_info: BaseException | None = None, **fields: Any) -> None:
    logger.error(event, extra={"request_id": g.get("request_id"), **fields}, exc_info=exc_info)


def register(app: Flask) -> None:
    """Install the handlers: every exception a route raises ends here."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(RpcError, rpc_error_response)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
