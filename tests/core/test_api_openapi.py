"""The OpenAPI document, and the one place that turns failures into JSON errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from api_fixtures import ADMIN, SEGMENT_OWN, bearer, error_of, mint, serving_function
from flask import Flask
from flask.testing import FlaskClient
from leadflow.api import close, create_app, openapi
from leadflow.api.models import DailyStats, SegmentCreate
from leadflow.api.routes import all_operations
from leadflow.db import Caller, Database, RpcError
from leadflow.envelope import from_rpc_error
from leadflow.settings import Settings

ROUTES = {
    ("get", "/api/lead-segments"),
    ("post", "/api/lead-segments"),
    ("get", "/api/lead-segments/{segment_id}"),
    ("patch", "/api/lead-segments/{segment_id}"),
    ("get", "/api/lead-segments/{segment_id}/stats"),
    ("get", "/api/lead-segments/{segment_id}/plans"),
    ("get", "/api/orchestration/status"),
    ("get", "/api/openapi.json"),
    ("get", "/api/health"),
}


@pytest.fixture
def document(api_reader: FlaskClient) -> dict[str, Any]:
    response = api_reader.get("/api/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def test_document_is_openapi_3_1_with_every_route(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    served = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == ROUTES
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_document_is_generated_from_the_route_declarations(document: dict[str, Any]) -> None:
    built = openapi.build(all_operations())
    assert json.loads(json.dumps(built)) == document


def test_schemas_come_from_the_pydantic_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    create = schemas["SegmentCreate"]
    assert create["additionalProperties"] is False
    assert set(create["required"]) == {"industry_id", "max_daily_budget", "region_code"}
    assert schemas["DailyStats"]["properties"].keys() == DailyStats.model_fields.keys()
    money = {"revenue", "ad_spend", "ad_clicks", "ad_impressions", "ad_conversions", "cpl"}
    assert not money & set(schemas["DailyStats"]["required"])
    stats = document["paths"]["/api/lead-segments/{segment_id}/stats"]["get"]
    params = {p["name"]: p for p in stats["parameters"]}
    assert params["segment_id"]["in"] == "path" and params["segment_id"]["schema"]["pattern"]
    assert params["from"]["required"] and params["from"]["schema"]["format"] == "date"
    listing = document["paths"]["/api/lead-segments"]["get"]
    limit = {p["name"]: p for p in listing["parameters"]}["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 1000)


def test_every_schema_in_the_document_is_valid_json_schema(document: dict[str, Any]) -> None:
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/SegmentCreate", **document}
    )
    assert validator.is_valid(
        {"industry_id": SEGMENT_OWN, "region_code": "utrecht", "max_daily_budget": 10}
    )
    assert not validator.is_valid({"industry_id": SEGMENT_OWN, "region_code": "utrecht"})


def test_every_error_status_is_documented_with_the_error_shape(document: dict[str, Any]) -> None:
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                schema = response["content"]["application/json"]["schema"]
                if int(status) >= 400:
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_body_models_reject_unknown_fields() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        SegmentCreate.model_validate(
            {"industry_id": SEGMENT_OWN, "region_code": "x", "max_daily_budget": 1, "code": "x"}
        )


# -----------------------------------------------------------------------------
# Errors: one mapper, nothing leaks
# -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code", "shown"),
    [
        (RpcError(404, "PT404", "lead segment not found"), 404, "not_found", True),
        (RpcError(409, "PT409", "a segment already exists"), 409, "conflict", True),
        (RpcError(422, "PT422", "unknown region_code"), 422, "validation_error", True),
        (RpcError(403, "PT403", "only admins can do this"), 403, "forbidden", True),
        (
            RpcError(401, "42501", "permission denied for function api_x"),
            401,
            "unauthorized",
            False,
        ),
        (RpcError(403, "42501", "permission denied for table leads"), 403, "forbidden", False),
        (RpcError(404, "PGRST202", "Could not find the function public.api_x"), 500, None, False),
        (RpcError(404, "42883", "function public.api_x(uuid) does not exist"), 500, None, False),
        (RpcError(409, "23505", 'duplicate key "lead_segments_code_key"'), 409, "conflict", False),
        (RpcError(400, "23514", 'violates check constraint "x_check"'), 422, None, False),
        (RpcError(400, "22P02", 'invalid input syntax for type uuid: "x"'), 422, None, False),
        (RpcError(400, "P0001", "something raised in plpgsql"), 400, "bad_request", False),
        (
            RpcError(503, "08006", "connection to server at 10.0.0.1 failed"),
            503,
            "unavailable",
            False,
        ),
        (RpcError(504, "57014", "canceling statement due to statement timeout"), 504, None, False),
        (RpcError(500, "XX000", "internal error at heapam.c:123"), 500, "internal_error", False),
        (RpcError(500, "PT500", "a PT5xx is not for callers"), 500, "internal_error", False),
    ],
)
def test_database_errors_become_safe_api_errors(
    error: RpcError, status: int, code: str | None, shown: bool
) -> None:
    mapped = from_rpc_error(error)
    assert mapped.status == status
    if code is not None:
        assert mapped.code == code
    assert (mapped.message == error.message) is shown
    assert isinstance(mapped.details, list)
    if mapped.details:
        assert mapped.details == [{"loc": [], "message": mapped.message, "type": error.code}]


class _FailingTransport:
    """Stands in for a database that fails in ways no caller should see."""

    def __init__(self, failure: Exception | None = None, result: Any = None) -> None:
        self.failure = failure
        self.result = result

    def call(self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool) -> Any:
        if self.failure is not None:
            raise self.failure
        return self.result

    def close(self) -> None:
        pass


@pytest.fixture
def broken_app() -> Iterator[Any]:
    apps: list[Flask] = []

    def build(transport: _FailingTransport) -> FlaskClient:
        settings = Settings.model_validate({"SUPABASE_JWT_SECRET": "x" * 64})
        app = create_app(settings, database_factory=lambda: Database(transport))
        apps.append(app)
        return app.test_client()

    yield build
    for app in apps:
        close(app)


@pytest.mark.parametrize(
    "transport",
    [
        _FailingTransport(RuntimeError("select secret from private.keys at line 3")),
        _FailingTransport(RpcError(500, "XX000", "could not read block 7 of relation 1663/5/1")),
        _FailingTransport(result={"unexpected": "shape"}),
        _FailingTransport(result=None),
    ],
    ids=["python-exception", "internal-sqlstate", "wrong-shape", "no-result"],
)
def test_a_server_failure_is_a_bare_500(broken_app: Any, transport: _FailingTransport) -> None:
    client = broken_app(transport)
    token = mint(ADMIN, key="x" * 64)
    response = client.get(f"/api/lead-segments/{SEGMENT_OWN}", headers=bearer(token))
    error = error_of(response, 500, "internal_error")
    assert error["details"] == []
    for leak in ("secret", "block 7", "unexpected", "relation"):
        assert leak not in response.get_data(as_text=True)


def test_missing_database_configuration_is_a_503(shared_db_url: str) -> None:
    with serving_function(shared_db_url, LEADFLOW_TRANSPORT="direct", DATABASE_URL="") as app:
        response = app.test_client().get("/api/health")
    error_of(response, 503, "unavailable")
