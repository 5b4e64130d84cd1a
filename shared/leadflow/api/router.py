"""Routes declared once, with their models: served by Flask and described in OpenAPI.

A route module makes a `Router`, decorates plain functions that take the
validated `path`, `query` and `body` models and return a response model, and
`leadflow.api.app` registers the operations an app serves (a deployed route
function: one; the local app: all). `leadflow.api.openapi` reads the
same declarations, so the document cannot drift from what is served.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from flask import Flask, Response
from pydantic import BaseModel

from leadflow.api import context, inputs

_RULE_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

#: Errors any route may answer with.
COMMON_ERRORS = (400, 401, 403, 404, 422, 500, 503)


@dataclass(frozen=True)
class Operation:
    """One method on one path: its models, its answer, and what it is for."""

    method: str
    rule: str
    endpoint: Callable[..., Any]
    summary: str
    response: type[BaseModel] | None
    status: int = 200
    path: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = COMMON_ERRORS
    #: required: a token is expected (the database refuses anon); optional: verified when
    #: sent; none: the token is not even looked at (no database call).
    auth: Literal["required", "optional", "none"] = "required"
    location: Callable[[Any], str] | None = None
    tag: str = "api"

    @property
    def openapi_path(self) -> str:
        """The path in OpenAPI's `{name}` form."""
        return _RULE_PARAM.sub(r"{\1}", self.rule)

    @property
    def operation_id(self) -> str:
        """Stable id of the operation: the endpoint's name."""
        return self.endpoint.__name__

    def view(self, **path_values: str) -> Response:
        """Validate the request, run the endpoint, serialise its answer."""
        if self.auth != "none":
            context.caller()  # a bad token is a 401 before anything else is looked at
        kwargs: dict[str, Any] = {}
        if self.path is not None:
            kwargs["path"] = inputs.path(self.path, path_values)
        if self.query is not None:
            kwargs["query"] = inputs.query(self.query)
        if self.body is not None:
            kwargs["body"] = inputs.body(self.body)
        result = self.endpoint(**kwargs)
        if isinstance(result, context.RawJson):
            # The database's own JSON text, in the shape of `response` (see
            # `context.rpc_passthrough`): nothing to parse or encode.
            payload: str | bytes = str(result)
        elif isinstance(result, BaseModel):
            # Unset fields are those the database left out (money for partners).
            payload = result.model_dump_json(exclude_unset=True, by_alias=True)
        else:
            payload = orjson.dumps(result)
        response = Response(payload, status=self.status, mimetype="application/json")
        if self.location is not None:
            response.headers["Location"] = self.location(result)
        return response

    def register(self, app: Flask) -> None:
        """Add this operation to `app`'s URL map."""
        app.add_url_rule(
            self.rule,
            endpoint=f"{self.tag}.{self.operation_id}",
            view_func=self.view,
            methods=[self.method],
        )


class Router:
    """A group of operations on one resource, declared in one route module."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.operations: list[Operation] = []

    def route(
        self, method: str, rule: str, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare `endpoint` as the handler of `method rule` (see `Operation` for options)."""

        def decorator(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            summary = (endpoint.__doc__ or endpoint.__name__).strip().splitlines()[0]
            self.operations.append(
                Operation(
                    method=method,
                    rule=rule,
                    endpoint=endpoint,
                    summary=summary,
                    tag=self.tag,
                    **options,
                )
            )
            return endpoint

        return decorator

    def get(self, rule: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a GET operation."""
        return self.route("GET", rule, **options)

    def post(self, rule: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a POST operation."""
        return self.route("POST", rule, **options)

    def patch(
        self, rule: str, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a PATCH operation."""
        return self.route("PATCH", rule, **options)

    def operation(self, operation_id: str) -> Operation:
        """The operation whose id (its endpoint's name) is `operation_id`."""
        for operation in self.operations:
            if operation.operation_id == operation_id:
                return operation
        raise LookupError(f"{self.tag} has no operation {operation_id!r}")
