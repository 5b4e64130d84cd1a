"""One function per API route: each `functions/api/<route>/main.py`, served locally by
functions-framework with its own target, answers its route and nothing else.

On the seeded test database, as an admin: each route function answers a real
request of its operation, and every other operation's request with our 404.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from api_fixtures import (
    ADMIN,
    INDUSTRY_LOODGIETER,
    JWT_SECRET,
    SAMPLE_FROM,
    SAMPLE_TO,
    SEGMENT_OWN,
    bearer,
    error_of,
    mint,
)
from flask.testing import FlaskClient
from leadflow.api import close
from leadflow.api.openapi import document
from leadflow.api.routes import all_operations
from leadflow.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
RANGE = f"from={SAMPLE_FROM}&to={SAMPLE_TO}"


@dataclass(frozen=True)
class Call:
    """A request that the operation answers with `status` for an admin."""

    method: str
    path: str
    status: int = 200
    body: dict[str, Any] | None = None


#: One successful call per operation, by operation id.
CALLS = {
    "list_segments": Call("GET", "/api/lead-segments?limit=2"),
    "get_segment": Call("GET", f"/api/lead-segments/{SEGMENT_OWN}"),
    "segment_stats": Call("GET", f"/api/lead-segments/{SEGMENT_OWN}/stats?{RANGE}"),
    "segment_plans": Call("GET", f"/api/lead-segments/{SEGMENT_OWN}/plans?{RANGE}"),
    "create_segment": Call(
        "POST",
        "/api/lead-segments",
        201,
        {"industry_id": INDUSTRY_LOODGIETER, "region_code": "limburg", "max_daily_budget": 80},
    ),
    "update_segment": Call(
        "PATCH", f"/api/lead-segments/{SEGMENT_OWN}", body={"name": "Schilders"}
    ),
    "orchestration_status": Call("GET", "/api/orchestration/status"),
    "health": Call("GET", "/api/health"),
    "openapi": Call("GET", "/api/openapi.json"),
}
OPERATIONS = [op.operation_id for op in all_operations()]


def test_every_operation_has_a_call_here() -> None:
    assert sorted(CALLS) == sorted(OPERATIONS)


@pytest.fixture
def route_function(
    request: pytest.FixtureRequest, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FlaskClient]:
    """functions-framework serving functions/api/<route>/main.py with the target <route>."""
    route: str = request.param
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("LEADFLOW_TRANSPORT", "direct")
    monkeypatch.delenv("SUPABASE_JWKS_URL", raising=False)
    monkeypatch.setenv("FUNCTION_TARGET", route)  # functions-framework writes it; put back after
    get_settings.cache_clear()
    sys.modules.pop("main", None)  # every function's file is `main`: load this one afresh
    source = ROOT / "functions" / "api" / route / "main.py"
    outer = functions_framework.create_app(target=route, source=str(source))
    try:
        yield outer.test_client()
    finally:
        close(sys.modules["main"].function.app)
        sys.modules.pop("main", None)
        get_settings.cache_clear()


def _send(client: FlaskClient, call: Call) -> Any:
    return client.open(call.path, method=call.method, json=call.body, headers=bearer(mint(ADMIN)))


@pytest.mark.parametrize("route_function", OPERATIONS, indirect=True)
def test_a_route_function_answers_its_route_and_no_other(
    route_function: FlaskClient, request: pytest.FixtureRequest
) -> None:
    route = request.node.callspec.params["route_function"]
    own = CALLS[route]

    answer = _send(route_function, own)

    assert answer.status_code == own.status, answer.get_data(as_text=True)
    assert answer.is_json
    for other, call in CALLS.items():
        if other == route:
            continue
        if _path(call) == _path(own):  # the same path, another method: its own function's
            error_of(_send(route_function, call), 405, "method_not_allowed")
        else:
            error_of(_send(route_function, call), 404, "not_found")


def _path(call: Call) -> str:
    return call.path.partition("?")[0]


@pytest.mark.parametrize("route_function", ["openapi"], indirect=True)
def test_the_openapi_function_serves_the_document_of_every_route(
    route_function: FlaskClient,
) -> None:
    served = route_function.get("/api/openapi.json").get_json()

    assert served == document()
    operation_ids = {op["operationId"] for path in served["paths"].values() for op in path.values()}
    assert operation_ids == set(OPERATIONS)
