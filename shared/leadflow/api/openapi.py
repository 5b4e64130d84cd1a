"""The OpenAPI 3.1 document, generated from the routes' declarations and pydantic models."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from leadflow import __version__
from leadflow.api.models import ErrorBody
from leadflow.api.router import Operation

_REF = "#/components/schemas/{model}"
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "required": [{"bearerAuth": []}],
    "optional": [{}, {"bearerAuth": []}],
    "none": [],
}
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Malformed request (e.g. a body that is not JSON)",
    401: "No valid token, or the token may not do this anonymously",
    403: "The caller may not do this",
    404: "No such segment, or one the caller may not see",
    409: "Conflicts with existing data",
    413: "Body too large",
    415: "Body is not application/json",
    422: "Invalid path, query or body",
    500: "Internal error",
    503: "Database or key server unavailable",
}


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: _strip_titles(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    # An optional query parameter is left out, never sent as null.
    variants = schema.get("anyOf")
    if variants:
        rest = [v for v in variants if v.get("type") != "null"]
        if len(rest) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            merged.update(rest[0])
            if merged.get("default", ...) is None:
                del merged["default"]
            return merged
    return schema


def _parameters(model: type[BaseModel], where: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = _strip_titles(_without_null(prop))
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


@cache
def document() -> dict[str, Any]:
    """The document of every operation of the API, whichever function serves it (built once)."""
    from leadflow.api.routes import all_operations

    return build(all_operations())


def build(operations: Iterable[Operation], *, title: str = "Leadflow API") -> dict[str, Any]:
    """The document describing `operations`."""
    operations = list(operations)
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    refs, definitions = models_json_schema(models, ref_template=_REF, by_alias=True)

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    error_content = {"application/json": {"schema": ref(ErrorBody, "serialization")}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = []
        if op.path is not None:
            parameters += _parameters(op.path, "path")
        if op.query is not None:
            parameters += _parameters(op.query, "query")
        success_schema = (
            ref(op.response, "serialization") if op.response is not None else {"type": "object"}
        )
        responses: dict[str, Any] = {
            str(op.status): {
                "description": _STATUS_TEXT.get(op.status, "OK"),
                "content": {"application/json": {"schema": success_schema}},
            }
        }
        for status in sorted(set(op.errors)):
            responses[str(status)] = {
                "description": _STATUS_TEXT.get(status, "Error"),
                "content": error_content,
            }
        doc = (op.endpoint.__doc__ or "").strip()
        operation: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "description": doc,
            "tags": [op.tag],
            "responses": responses,
            "security": _SECURITY[op.auth],
        }
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.body, "validation")}},
            }
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": (
                "Lead segments, their daily stats and plans, and the orchestration status. "
                "Authenticate with a Supabase user JWT; what each caller sees is decided by the "
                "database (partners: counts and targets of their own segments; admins: all, "
                "with money; a segment a partner may not read is a 404 on every route, the "
                "same as an unknown one). A segment is addressed by its id or its code. Money is "
                "a JSON number of euros with cents. Every error is "
                '{"error": {"code", "message", "details"}}, details always a list of '
                '{"loc", "message", "type"} (ErrorItem), empty when there is nothing more to say.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _strip_titles(definitions.get("$defs", {})),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
