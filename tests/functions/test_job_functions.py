"""The job functions over HTTP (functions-framework) and as scheduled events."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import psycopg
import pytest
from functions_framework import create_app
from leadflow.db import RpcError
from leadflow.jobs import entry
from leadflow.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-scheduler-token"


@pytest.fixture
def job_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LEADFLOW_SCHEDULER_SECRET", SECRET)
    monkeypatch.delenv("LEADFLOW_TRANSPORT", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _client(job: str) -> Any:
    # Each function's main.py is a module named "main": load each one afresh.
    sys.modules.pop("main", None)
    app = create_app(target=job, source=str(ROOT / "functions" / job / "main.py"))
    return app.test_client()


def test_plan_runs_for_the_scheduler_and_answers_a_summary(
    job_env: None, sql: psycopg.Connection[Any]
) -> None:
    response = _client("plan").post(
        "/", json={"day": "2026-11-23"}, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["job"] == "plan" and body["day"] == "2026-11-23" and body["status"] == "success"
    assert body["counts"]["plans_written"] == 9
    assert sql.execute(
        "select count(*) from lead_segment_plans where day = '2026-11-23'"
    ).fetchone() == (9,)
    assert sql.execute("select triggered_by like 'scheduler:%%' from job_runs").fetchone() == (
        True,
    )


def test_aggregate_defaults_to_yesterday_in_amsterdam(
    job_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    monkeypatch.setattr("leadflow.jobs.day.today_nl", lambda: date(2026, 11, 23))
    response = _client("aggregate").post("/", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["day"] == "2026-11-22"


@pytest.mark.parametrize("job", ["aggregate", "plan", "orchestrate"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": SECRET},
        {"Authorization": f"Basic {SECRET}"},
    ],
)
def test_a_caller_without_the_scheduler_secret_is_refused(
    job_env: None, job: str, headers: dict[str, str]
) -> None:
    response = _client(job).post("/", json={}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_no_configured_secret_means_no_caller_gets_in(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("LEADFLOW_SCHEDULER_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        response = _client("plan").post("/", json={}, headers={"Authorization": "Bearer "})
    finally:
        get_settings.cache_clear()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_configured"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"day": "2026-13-01"}', "day"),
        ('{"day": 5}', "day"),
        ('{"days": "2026-11-01"}', "days"),
        ("not json", "body"),
        ('["2026-11-01"]', "body"),
    ],
)
def test_malformed_input_is_a_400_with_a_json_error(
    job_env: None, body: str, fragment: str
) -> None:
    response = _client("plan").post(
        "/",
        data=body,
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and fragment in error["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_mode_is_refused_for_jobs_without_one(job_env: None) -> None:
    response = _client("plan").post(
        "/",
        json={"day": "2026-11-23", "mode": "live"},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 422
    assert "takes no mode" in response.get_json()["error"]["message"]


def test_orchestrate_without_google_ads_credentials_refuses_clearly(
    job_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "DEVELOPER_TOKEN",
        "CLIENT_ID",
        "CLIENT_SECRET",
        "REFRESH_TOKEN",
        "JSON_KEY_FILE_PATH",
    ):
        monkeypatch.delenv(f"GOOGLE_ADS_{name}", raising=False)
    response = _client("orchestrate").post(
        "/",
        json={"day": "2026-11-23", "mode": "live"},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 422
    assert "credentials" in response.get_json()["error"]["message"]


def test_get_is_not_allowed(job_env: None) -> None:
    assert (
        _client("plan").get("/", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 405
    )


def test_a_second_concurrent_run_is_a_409(job_env: None, sql: psycopg.Connection[Any]) -> None:
    sql.execute(
        "insert into job_runs (job, day, triggered_by) values ('plan', '2026-11-23', 'other')"
    )
    response = _client("plan").post(
        "/", json={"day": "2026-11-23"}, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert response.status_code == 409
    assert "already running" in response.get_json()["error"]["message"]


def test_a_scheduled_event_reaches_the_job_without_http(
    job_env: None, sql: psycopg.Connection[Any]
) -> None:
    sys.modules.pop("main", None)
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "plan_main", ROOT / "functions" / "plan" / "main.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.lambda_handler({"day": "2026-11-24"}, None)
    assert result["status"] == "success" and result["day"] == "2026-11-24"
    assert sql.execute("select triggered_by from job_runs").fetchone() == ("schedule",)


def _google_token(jwks: Any, **overrides: Any) -> str:
    import time

    import jwt

    claims = {
        "iss": "https://accounts.google.com",
        "aud": "https://jobs.example/plan",
        "email": "scheduler@project.iam.gserviceaccount.com",
        "email_verified": True,
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
        **overrides,
    }
    return jwt.encode(claims, jwks.rsa_key, algorithm="RS256", headers={"kid": jwks.RSA_KID})


@pytest.fixture
def oidc_env(job_env: None, jwks: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LEADFLOW_SCHEDULER_OIDC_AUDIENCE", "https://jobs.example/plan")
    monkeypatch.setenv("LEADFLOW_SCHEDULER_OIDC_EMAIL", "scheduler@project.iam.gserviceaccount.com")
    monkeypatch.setenv("LEADFLOW_SCHEDULER_OIDC_JWKS_URL", jwks.url)
    get_settings.cache_clear()
    entry._google_keys.cache_clear()
    return jwks


def test_a_cloud_scheduler_identity_token_runs_the_job(oidc_env: Any) -> None:
    token = _google_token(oidc_env)
    response = _client("plan").post(
        "/", json={"day": "2026-11-23"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://jobs.example/other"},
        {"email": "intruder@project.iam.gserviceaccount.com"},
        {"email_verified": False},
        {"iss": "https://evil.example"},
        {"exp": 1_000_000_000, "iat": 999_999_000},
    ],
)
def test_an_identity_token_for_anyone_else_is_refused(
    oidc_env: Any, overrides: dict[str, Any]
) -> None:
    token = _google_token(oidc_env, **overrides)
    response = _client("plan").post("/", json={}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "bearer", ["anything", "a.b.c", SECRET, "eyJhbGciOiJub25lIn0.eyJlbWFpbCI6IngifQ."]
)
def test_with_only_oidc_configured_a_bearer_that_is_not_a_google_identity_is_refused(
    oidc_env: Any, monkeypatch: pytest.MonkeyPatch, bearer: str
) -> None:
    monkeypatch.delenv("LEADFLOW_SCHEDULER_SECRET")
    get_settings.cache_clear()
    assert get_settings().scheduler_secret is None and get_settings().scheduler_auth_configured
    client = _client("plan")
    response = client.post("/", json={}, headers={"Authorization": f"Bearer {bearer}"})
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"]["code"] == "unauthorized"
    token = _google_token(oidc_env)  # the configured identity still gets in
    response = client.post(
        "/", json={"day": "2026-11-23"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.get_json()


def test_an_identity_token_signed_by_another_key_is_refused(oidc_env: Any) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(_google_token(oidc_env), options={"verify_signature": False})
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": oidc_env.RSA_KID})
    response = _client("plan").post("/", json={}, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        (RpcError(403, "42501", "permission denied for table job_runs"), 403, "forbidden"),
        (
            RpcError(404, "PGRST202", "function public.plan_lead_segments missing"),
            500,
            "internal_error",
        ),
        (RpcError(503, "08006", "connection lost"), 503, "unavailable"),
        (RpcError(409, "23505", "duplicate key"), 409, "conflict"),
    ],
)
def test_a_database_refusal_keeps_its_class_in_the_one_envelope(
    job_env: None, refusal: RpcError, status: int, code: str
) -> None:
    def refused(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise refusal

    app = flask.Flask("job")
    app.add_url_rule(
        "/",
        view_func=lambda: entry.http_entry("plan", runner=refused)(flask.request),
        methods=["POST", "GET"],
    )
    response = app.test_client().post("/", json={}, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == status
    assert set(response.get_json()) == {"error"}
    assert response.get_json()["error"]["code"] == code
    assert refusal.message not in response.get_data(as_text=True)  # the database's words stay ours
