"""One app, two runtimes: a functions-framework/Flask WSGI app served on AWS Lambda.

apig-wsgi turns API Gateway HTTP API (payload 2.0), REST API (1.0), Function URL
and ALB events into WSGI calls, so the app that `functions-framework` serves
locally and on Cloud Run answers on Lambda unchanged. An event that is not an
HTTP request at all (a test invoke with `{}`) gets a JSON 400, not a traceback.
The event is never logged: its headers carry the caller's JWT.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from wsgiref.types import WSGIApplication

from apig_wsgi import make_lambda_handler as _apig_handler

from leadflow import envelope

LambdaHandler = Callable[[Any, Any], dict[str, Any]]


def make_lambda_handler(app: WSGIApplication) -> LambdaHandler:
    """A Lambda handler answering HTTP events with the WSGI `app`."""
    handle = _apig_handler(app)

    def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
        if not is_http_event(event):
            return _not_http()
        return handle(event, context)

    return lambda_handler


def is_http_event(event: Any) -> bool:
    """Whether `event` has the shape of an HTTP request from API Gateway, a Function URL or ALB."""
    if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
        return False
    if event.get("version") == "2.0":
        http = event["requestContext"].get("http")
        return (
            isinstance(http, dict)
            and all(isinstance(http.get(key), str) for key in ("method", "sourceIp", "protocol"))
            and isinstance(event.get("rawPath"), str)
            and isinstance(event.get("rawQueryString"), str)
            and isinstance(event.get("headers"), dict)
        )
    return isinstance(event.get("httpMethod"), str) and isinstance(event.get("path"), str)


def _not_http() -> dict[str, Any]:
    error = envelope.body(
        "bad_event", "this function answers HTTP events (API Gateway, Function URL)"
    )
    return {
        "statusCode": 400,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(error),
        "isBase64Encoded": False,
    }
