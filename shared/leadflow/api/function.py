"""A deployed API function: an app of the operations it serves, for both runtimes.

One deployed function per route (`functions/api/<route>/main.py`, DESIGN.md):
each builds a `RouteFunction` of its one operation at import. `http` is the
functions-framework target (Cloud Run, Cloud Functions, `functions-framework`
locally), `lambda_handler` the AWS Lambda entry (HTTP API route, Function URL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from leadflow.api.app import create_app, resolve
from leadflow.api.router import Operation
from leadflow.lambda_adapter import LambdaHandler, make_lambda_handler
from leadflow.settings import Settings

if TYPE_CHECKING:
    from flask import Request
    from werkzeug.wrappers import Response


class RouteFunction:
    """The app serving `operations` (a route function: one), built once per process."""

    def __init__(self, *operations: Operation, settings: Settings | None = None) -> None:
        if not operations:
            raise ValueError("a function serves at least one operation")
        self.operations = operations
        self.app = app = create_app(settings, operations=operations)

        def http(request: Request) -> Response:
            """Answer one HTTP request."""
            return resolve(app, request)

        #: The functions-framework target (it must be a plain function, not a method).
        self.http: Callable[[Request], Response] = http
        #: The AWS Lambda entry: the same app, through apig-wsgi.
        self.lambda_handler: LambdaHandler = make_lambda_handler(app)

    def __repr__(self) -> str:
        routes = ", ".join(f"{op.method} {op.rule}" for op in self.operations)
        return f"RouteFunction({routes})"
