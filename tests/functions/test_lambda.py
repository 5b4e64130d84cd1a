"""The deployed handlers answer real-shaped Lambda events.

API: API Gateway HTTP API (payload 2.0) and Function URL events reach the same
Flask app that functions-framework serves, on the real test database. Jobs: the
EventBridge Scheduler input of template.yaml reaches the job with its day and
mode (the job itself is replaced: it needs Google Ads and a database).
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pydantic
import pytest
from api_fixtures import ADMIN, INDUSTRY_LOODGIETER, JWT_SECRET, SEGMENT_OWN, mint
from leadflow import secrets
from leadflow.api import close
from leadflow.days import today_nl
from leadflow.jobs.entry import JobRequest, default_day
from leadflow.settings import Settings, get_settings
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()


def load_main(function: str) -> ModuleType:
    """functions/<function>/main.py under a module name of its own (they are all `main`)."""
    name = f"leadflow_test_function_{function}_{next(_names)}"
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / function / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Context:
    """The parts of a Lambda context object that code may touch."""

    function_name = "leadflow-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "5d9c2c3a-0000-4000-8000-000000000001"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:leadflow-test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_api_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    domain: str = "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0, `$default` route and stage."""
    all_headers = {
        "accept": "application/json",
        "host": domain,
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-6745d1a0-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "QmWfGhTrFiAEJ_A=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:20:00:00 +0000",
            "timeEpoch": 1795636800000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(
            part.split("=", 1) for part in query.split("&") if "=" in part
        )
    if body is not None:
        # API Gateway and Function URLs may hand over any body base64-encoded.
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
        all_headers["content-length"] = str(len(body))
    return event


def function_url_event(method: str, path: str, **options: Any) -> dict[str, Any]:
    """A Lambda Function URL event (auth type NONE): payload 2.0 on a `lambda-url` domain."""
    url_id = "x7k2mq4zv3f5t6u7w8y9a0b1c2d3e4f5"
    event = http_api_event(
        method, path, domain=f"{url_id}.lambda-url.eu-central-1.on.aws", **options
    )
    event["requestContext"]["authentication"] = None
    return event


def json_body(response: dict[str, Any]) -> Any:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


# -----------------------------------------------------------------------------
# The API function
# -----------------------------------------------------------------------------


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No secret ids from outside; settings and fetched secrets forgotten before and after."""
    saved = dict(os.environ)
    for source in secrets.SOURCES:
        monkeypatch.delenv(source.id_variable, raising=False)
    for name in ("SUPABASE_JWKS_URL", "SUPABASE_JWT_AUDIENCE", "LEADFLOW_SCHEDULER_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADFLOW_TRANSPORT", "direct")
    secrets.clear_cache()
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
    secrets.clear_cache()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def api_main(db_url: str, clean_settings: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """functions/api/main.py as Lambda imports it, on the seeded test database."""
    clean_settings.setenv("DATABASE_URL", db_url)
    clean_settings.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)
    module = load_main("api")
    try:
        yield module
    finally:
        close(module.app)


def admin_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {mint(ADMIN)}"}


def test_http_api_event_reaches_the_api_and_gets_json(api_main: ModuleType) -> None:
    event = http_api_event("GET", "/api/lead-segments", query="limit=2", headers=admin_headers())

    response = api_main.lambda_handler(event, Context())

    assert response["statusCode"] == 200, response
    headers = response["headers"]  # payload 2.0: lower-case names
    assert headers["content-type"].startswith("application/json")
    assert headers["cache-control"] == "no-store"
    assert headers["x-request-id"]
    page = json_body(response)
    assert len(page["items"]) == 2
    assert "max_daily_budget" in page["items"][0]  # an admin sees money


def test_health_answers_without_a_token(api_main: ModuleType) -> None:
    response = api_main.lambda_handler(http_api_event("GET", "/api/health"), Context())

    assert response["statusCode"] == 200
    assert json_body(response)["status"] == "ok"


def test_function_url_event_with_a_base64_body_creates_a_segment(api_main: ModuleType) -> None:
    body = {
        "industry_id": INDUSTRY_LOODGIETER,
        "region_code": "limburg",
        "min_daily_budget": 5,
        "max_daily_budget": 80.5,
    }
    event = function_url_event(
        "POST",
        "/api/lead-segments",
        headers={**admin_headers(), "content-type": "application/json"},
        body=json.dumps(body).encode(),
    )

    response = api_main.lambda_handler(event, Context())

    assert response["statusCode"] == 201, response
    assert json_body(response)["code"] == "loodgieter_limburg"


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (http_api_event("GET", "/api/lead-segments"), 401),  # no token
        (
            http_api_event(
                "GET", "/api/lead-segments", headers={"authorization": "Bearer not.a.jwt"}
            ),
            401,
        ),
        (function_url_event("GET", "/api/no-such-route"), 404),
        (
            function_url_event(
                "POST",
                "/api/lead-segments",
                headers={"content-type": "application/json"},
                body=b'{"industry_id": ',
            ),
            None,  # some 4xx: malformed JSON
        ),
    ],
    ids=["no-token", "bad-token", "unknown-route", "malformed-json"],
)
def test_bad_requests_get_a_json_4xx_never_a_500(
    api_main: ModuleType, event: dict[str, Any], status: int | None
) -> None:
    response = api_main.lambda_handler(event, Context())

    assert 400 <= response["statusCode"] < 500, response
    if status is not None:
        assert response["statusCode"] == status
    assert set(json_body(response)["error"]) >= {"code", "message"}


@pytest.mark.parametrize("query", ["from=2026-11-30&to=2026-11-01", "from=yesterday", "limit=0"])
def test_bad_query_through_api_gateway_is_a_4xx(api_main: ModuleType, query: str) -> None:
    path = f"/api/lead-segments/{SEGMENT_OWN}/stats" if "from" in query else "/api/lead-segments"
    event = http_api_event("GET", path, query=query, headers=admin_headers())

    response = api_main.lambda_handler(event, Context())

    assert 400 <= response["statusCode"] < 500, response


@pytest.mark.parametrize(
    "event",
    [{}, None, [], {"version": "2.0", "requestContext": {}}, {"detail-type": "Scheduled Event"}],
    ids=["empty", "none", "list", "v2-without-http", "eventbridge"],
)
def test_an_event_that_is_not_http_gets_a_json_400(api_main: ModuleType, event: Any) -> None:
    response = api_main.lambda_handler(event, Context())

    assert response["statusCode"] == 400
    assert json_body(response)["error"]["code"] == "bad_event"


def test_api_reads_the_jwt_secret_from_secrets_manager(
    db_url: str, clean_settings: pytest.MonkeyPatch
) -> None:
    clean_settings.setenv("AWS_ACCESS_KEY_ID", "testing")
    clean_settings.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clean_settings.setenv("DATABASE_URL", db_url)
    clean_settings.delenv("SUPABASE_JWT_SECRET", raising=False)
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="eu-central-1").create_secret(
            Name="leadflow/jwt", SecretString=json.dumps({"SUPABASE_JWT_SECRET": JWT_SECRET})
        )["ARN"]
        clean_settings.setenv("LEADFLOW_JWT_SECRET_ID", arn)
        module = load_main("api")
    try:
        event = http_api_event("GET", "/api/lead-segments", headers=admin_headers())
        response = module.lambda_handler(event, Context())
    finally:
        close(module.app)

    assert response["statusCode"] == 200, response


# -----------------------------------------------------------------------------
# The jobs: EventBridge Scheduler events
# -----------------------------------------------------------------------------


class Runner:
    """Stands in for `answer`: records what a trigger asked and answers a summary."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self, job: str, request: JobRequest, *, settings: Settings, triggered_by: str, **_: Any
    ) -> dict[str, Any]:
        self.calls.append(
            {"job": job, "request": request, "settings": settings, "triggered_by": triggered_by}
        )
        day = request.day or default_day(job)
        return {"job": job, "day": day.isoformat(), "status": "success", "counts": {"segments": 3}}


@pytest.fixture
def runner(clean_settings: pytest.MonkeyPatch) -> Runner:
    fake = Runner()
    clean_settings.setattr("leadflow.jobs.entry.answer", fake)
    return fake


def schedule_inputs() -> dict[str, str]:
    """Each job's schedule input, as template.yaml configures it."""
    from test_deploy import schedules

    return {job: schedule["input"] for job, schedule in schedules().items()}


@pytest.mark.parametrize("job", ["aggregate", "plan", "orchestrate"])
def test_the_templates_schedule_input_runs_the_job_for_its_usual_day(
    runner: Runner, job: str
) -> None:
    event = json.loads(schedule_inputs()[job])

    summary = load_main(job).lambda_handler(event, Context())

    (call,) = runner.calls
    assert call["job"] == job
    assert call["triggered_by"] == "schedule"
    # No day and no mode: the job's usual Dutch day, the configured (dry-run) mode.
    assert call["request"] == JobRequest()
    assert summary == {
        "job": job,
        "day": default_day(job).isoformat(),
        "status": "success",
        "counts": {"segments": 3},
    }


def test_scheduler_input_chooses_the_day_and_mode(runner: Runner) -> None:
    day = date(2026, 3, 29)  # a DST day in Amsterdam
    event = {"day": day.isoformat(), "mode": "validate_only"}

    summary = load_main("orchestrate").lambda_handler(event, Context())

    (call,) = runner.calls
    assert (call["request"].day, call["request"].mode) == (day, "validate_only")
    assert summary == {
        "job": "orchestrate",
        "day": "2026-03-29",
        "status": "success",
        "counts": {"segments": 3},
    }


def test_scheduler_context_attributes_in_the_input_are_ignored(runner: Runner) -> None:
    event = {
        "day": (today_nl() - timedelta(days=1)).isoformat(),
        "execution_id": str(uuid.uuid4()),
        "scheduled_time": "2026-11-25T00:00:00Z",
    }

    load_main("aggregate").lambda_handler(event, Context())

    assert runner.calls[0]["request"].day == today_nl() - timedelta(days=1)


@pytest.mark.parametrize(
    "event", [{"day": "yesterday"}, {"day": "2026-02-30"}, {"mode": "yolo"}], ids=str
)
def test_bad_scheduler_input_fails_the_run_without_running_the_job(
    runner: Runner, event: dict[str, Any]
) -> None:
    # A failed invocation is what makes Lambda retry and then dead-letter the event.
    with pytest.raises(pydantic.ValidationError):
        load_main("orchestrate").lambda_handler(event, Context())

    assert runner.calls == []


def test_a_scheduled_job_reads_its_secrets_from_secrets_manager(
    runner: Runner, clean_settings: pytest.MonkeyPatch
) -> None:
    clean_settings.setenv("AWS_ACCESS_KEY_ID", "testing")
    clean_settings.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clean_settings.delenv("SUPABASE_SERVICE_ROLE_KEY", raising=False)
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="eu-central-1").create_secret(
            Name="leadflow/service-role", SecretString="service-role-key-from-aws"
        )["ARN"]
        clean_settings.setenv("LEADFLOW_SERVICE_ROLE_SECRET_ID", arn)
        load_main("plan").lambda_handler({}, Context())

    key = runner.calls[0]["settings"].supabase_service_role_key
    assert key is not None and key.get_secret_value() == "service-role-key-from-aws"
