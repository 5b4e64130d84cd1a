"""The API answers alike everywhere: one shape of error details, one rule of what a
partner sees, money in euros with cents (GET and PATCH alike), segments by id or code,
and the day's alerts in the orchestration status.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from api_fixtures import (
    SAMPLE_FROM,
    SAMPLE_TO,
    SEGMENT_FOREIGN,
    SEGMENT_OWN,
    Roles,
    bearer,
    error_of,
)
from flask.testing import FlaskClient
from leadflow.alerts import severity

RANGE = f"from={SAMPLE_FROM}&to={SAMPLE_TO}"
pytestmark = pytest.mark.usefixtures("sample_days")  # 30 days of stats and plans
SEGMENTS = "/api/lead-segments"

# -----------------------------------------------------------------------------
# details: one shape for every error
# -----------------------------------------------------------------------------

# (method, path, headers role, body, raw body, content type, status, expected detail types)
ERRORS: list[tuple[str, str, str, Any, str | None, int, list[str] | None]] = [
    ("GET", "/api/no-such-route", "admin", None, None, 404, []),
    ("DELETE", SEGMENTS, "admin", None, None, 405, []),
    ("GET", SEGMENTS, "anon", None, None, 401, ["42501"]),
    ("GET", f"{SEGMENTS}?limit=0", "admin", None, None, 422, ["greater_than_equal"]),
    ("GET", f"{SEGMENTS}?limit=1&limit=2", "admin", None, None, 422, ["repeated"]),
    ("GET", f"{SEGMENTS}/bad%20code", "admin", None, None, 422, ["string_pattern_mismatch"]),
    ("GET", f"{SEGMENTS}/schilder_atlantis", "admin", None, None, 404, ["PT404"]),
    ("GET", f"{SEGMENTS}/{SEGMENT_FOREIGN}/stats?{RANGE}", "partner", None, None, 404, ["PT404"]),
    ("GET", "/api/orchestration/status", "partner", None, None, 403, ["PT403"]),
    ("POST", SEGMENTS, "admin", None, "{not json", 400, []),
    ("POST", SEGMENTS, "admin", {"region_code": "utrecht"}, None, 422, None),
    (
        "PATCH",
        f"{SEGMENTS}/{SEGMENT_OWN}",
        "admin",
        {"min_daily_budget": 500},
        None,
        422,
        ["PT422"],
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "role", "json_body", "raw", "status", "types"),
    ERRORS,
    ids=[f"{e[0]} {e[1][:40]} {e[5]}" for e in ERRORS],
)
def test_every_error_has_details_as_a_list_of_loc_message_type(
    api_client: FlaskClient,
    roles: Roles,
    method: str,
    path: str,
    role: str,
    json_body: Any,
    raw: str | None,
    status: int,
    types: list[str] | None,
) -> None:
    if raw is not None:
        response = api_client.open(
            path, method=method, data=raw, content_type="application/json", headers=roles.of(role)
        )
    else:
        response = api_client.open(path, method=method, json=json_body, headers=roles.of(role))
    error = error_of(response, status)  # checks the shape of every item
    assert isinstance(error["details"], list)
    if types is None:  # a body with several problems: each one a located item
        assert error["details"] and all(item["loc"][0] == "body" for item in error["details"])
    else:
        assert [item["type"] for item in error["details"]] == types


def test_a_bad_token_has_empty_details(api_client: FlaskClient) -> None:
    error = error_of(api_client.get(SEGMENTS, headers=bearer("not-a-jwt")), 401, "invalid_token")
    assert error["details"] == []


def test_openapi_documents_one_details_shape(api_client: FlaskClient) -> None:
    schemas = api_client.get("/api/openapi.json").get_json()["components"]["schemas"]
    details = schemas["ErrorDetail"]["properties"]["details"]
    assert details["type"] == "array"
    assert details["items"]["$ref"].endswith("/ErrorItem")
    assert set(schemas["ErrorItem"]["required"]) == {"loc", "message", "type"}


# -----------------------------------------------------------------------------
# A partner sees a segment, its stats and its plans alike: all 200 or all 404
# -----------------------------------------------------------------------------


def _statuses(client: FlaskClient, headers: dict[str, str], segment: str) -> tuple[int, ...]:
    return (
        client.get(f"{SEGMENTS}/{segment}", headers=headers).status_code,
        client.get(f"{SEGMENTS}/{segment}/stats?{RANGE}", headers=headers).status_code,
        client.get(f"{SEGMENTS}/{segment}/plans?{RANGE}", headers=headers).status_code,
    )


@pytest.mark.parametrize("role", ["partner", "partner_without_subscription"])
def test_partner_gets_the_same_answer_for_a_segment_its_stats_and_its_plans(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles, role: str
) -> None:
    headers = roles.of(role)
    listed = {item["code"] for item in api_client.get(SEGMENTS, headers=headers).json["items"]}
    seen = set()
    for segment_id, code in api_sql.execute("select id::text, code from public.lead_segments"):
        by_id = _statuses(api_client, headers, segment_id)
        by_code = _statuses(api_client, headers, code)
        assert by_id == by_code and len(set(by_id)) == 1, (code, by_id, by_code)
        if by_id[0] == 200:
            seen.add(code)
    assert seen == listed
    assert seen == ({"schilder_noord_brabant"} if role == "partner" else set())


def test_partner_subscribed_to_an_inactive_segment_gets_404_everywhere(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    api_sql.execute(
        "update public.lead_segments set is_active = false where id = %s", (SEGMENT_OWN,)
    )
    assert _statuses(api_client, roles.partner, SEGMENT_OWN) == (404, 404, 404)
    assert _statuses(api_client, roles.admin, SEGMENT_OWN) == (200, 200, 200)


# -----------------------------------------------------------------------------
# Segments by code
# -----------------------------------------------------------------------------


def test_a_segment_by_code_is_the_segment_by_id(api_client: FlaskClient, roles: Roles) -> None:
    for headers in (roles.admin, roles.partner):
        by_id = api_client.get(f"{SEGMENTS}/{SEGMENT_OWN}", headers=headers)
        by_code = api_client.get(f"{SEGMENTS}/schilder_noord_brabant", headers=headers)
        assert by_id.status_code == by_code.status_code == 200
        assert by_id.get_data() == by_code.get_data()
        stats_id = api_client.get(f"{SEGMENTS}/{SEGMENT_OWN}/stats?{RANGE}", headers=headers)
        stats_code = api_client.get(
            f"{SEGMENTS}/schilder_noord_brabant/stats?{RANGE}", headers=headers
        )
        assert stats_id.get_json() == stats_code.get_json()
        assert stats_code.get_json()["segment_id"] == SEGMENT_OWN


def test_an_unknown_code_is_a_404(api_client: FlaskClient, roles: Roles) -> None:
    for path in ("schilder_atlantis", "schilder_atlantis/plans?" + RANGE):
        error = error_of(api_client.get(f"{SEGMENTS}/{path}", headers=roles.admin), 404)
        assert error["message"] == "lead segment not found"


def test_admin_patches_a_segment_by_code(api_client: FlaskClient, roles: Roles) -> None:
    response = api_client.patch(
        f"{SEGMENTS}/schilder_utrecht", json={"target_cpl": 21.5}, headers=roles.admin
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["id"] == SEGMENT_FOREIGN
    assert response.get_json()["target_cpl"] == 21.5


# -----------------------------------------------------------------------------
# Money: JSON numbers in euros with cents, the same after PATCH as on GET
# -----------------------------------------------------------------------------

_NUMBER = r"-?\d+(?:\.\d+)?"


def _money_texts(text: str, keys: tuple[str, ...]) -> dict[str, list[str]]:
    """The literal JSON numbers of `keys` in a response text."""
    return {key: re.findall(rf'"{key}"\s*:\s*({_NUMBER})', text) for key in keys}


def test_planned_budget_is_euros_with_cents(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    with api_sql.transaction():  # the log's end state, past the write path's checks
        api_sql.execute("set local session_replication_role = replica")
        api_sql.execute(
            "update public.channel_orchestration_log set new_amount_micros = 68650000 "
            "where segment_id = %s and day = %s",
            (SEGMENT_OWN, SAMPLE_TO),
        )
    text = api_client.get(f"{SEGMENTS}/{SEGMENT_OWN}/plans?{RANGE}", headers=roles.admin).get_data(
        as_text=True
    )
    budgets = _money_texts(text, ("planned_budget",))["planned_budget"]
    assert budgets and "68.65" in budgets  # the day's total and its channel's row
    assert all(re.fullmatch(r"\d+\.\d{2}", budget) for budget in budgets), budgets


MONEY_KEYS = ("min_daily_budget", "max_daily_budget", "target_cpl")


def test_patch_answers_numbers_as_get_does(api_client: FlaskClient, roles: Roles) -> None:
    patched = api_client.patch(
        f"{SEGMENTS}/{SEGMENT_OWN}", json={"max_daily_budget": 200}, headers=roles.admin
    ).get_data(as_text=True)
    got = api_client.get(f"{SEGMENTS}/{SEGMENT_OWN}", headers=roles.admin).get_data(as_text=True)
    assert _money_texts(patched, MONEY_KEYS) == _money_texts(got, MONEY_KEYS)
    assert _money_texts(patched, MONEY_KEYS)["max_daily_budget"] == ["200.00"]


def test_create_answers_numbers_as_get_does(api_client: FlaskClient, roles: Roles) -> None:
    created = api_client.post(
        SEGMENTS,
        json={
            "industry_id": "00000000-0000-4000-8001-000000000002",
            "region_code": "limburg",
            "max_daily_budget": 80.5,
        },
        headers=roles.admin,
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    got = api_client.get(created.headers["Location"], headers=roles.admin)
    assert got.status_code == 200
    numbers = _money_texts(created.get_data(as_text=True), ("max_daily_budget",))
    assert numbers == _money_texts(got.get_data(as_text=True), ("max_daily_budget",))
    assert numbers["max_daily_budget"] == ["80.50"]


# -----------------------------------------------------------------------------
# The documented alerts field of the status
# -----------------------------------------------------------------------------


def test_status_lists_the_days_alerts_sent_and_pending_with_severity(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    today = api_sql.execute("select private.today_nl()").fetchone()[0]  # type: ignore[index]
    api_sql.execute(
        "insert into private.alerts_sent (day, kind, subject, message, targets) values "
        "(%s, 'job_failed', 'plan x', 'plan failed: boom', 2), "
        "(%s - 1, 'unprofitable', 'old', 'yesterday''s', 1)",
        (today, today),
    )
    api_sql.execute("update public.orchestration_settings set changes_enabled = false")
    status = api_client.get("/api/orchestration/status", headers=roles.admin).get_json()
    alerts = status["alerts"]
    sent = [a for a in alerts if a["status"] == "sent"]
    assert [(a["kind"], a["subject"], a["severity"], a["targets"]) for a in sent] == [
        ("job_failed", "plan x", "error", 2)
    ]
    pending = {(a["kind"], a["subject"]): a for a in alerts if a["status"] == "pending"}
    switch = pending[("kill_switch", "on")]
    assert switch["severity"] == "warning" and switch["sent_at"] is None
    assert alerts[0]["severity"] == "error"  # worst first
    for alert in alerts:
        assert alert["severity"] == severity(alert["kind"], alert["subject"])


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("job_failed", "a"),
        ("job_recovered", "a"),
        ("capacity_unreachable", "a"),
        ("unprofitable", "a"),
        ("external_change", "a"),
        ("rollback_skipped", "a"),
        ("kill_switch", "on"),
        ("kill_switch", "off"),
    ],
)
def test_status_severity_is_the_alert_senders(
    api_client: FlaskClient,
    api_sql: psycopg.Connection[Any],
    roles: Roles,
    kind: str,
    subject: str,
) -> None:
    api_sql.execute(
        "insert into private.alerts_sent (day, kind, subject, message, targets) "
        "values (private.today_nl(), %s, %s, 'm', 1)",
        (kind, subject),
    )
    alerts = api_client.get("/api/orchestration/status", headers=roles.admin).get_json()["alerts"]
    (alert,) = [a for a in alerts if a["status"] == "sent"]
    assert alert["severity"] == severity(kind, subject)


def test_status_has_a_row_per_paid_channel_with_its_money_rules(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    api_sql.execute(
        "update public.ad_channels set kill_switch = true, daily_cap = 120 where key = 'microsoft_ads'"
    )
    status = api_client.get("/api/orchestration/status", headers=roles.admin).get_json()
    channels = {c["channel"]: c for c in status["channels"]}
    assert list(channels) == ["google_ads", "microsoft_ads"]  # paid only, in their order
    (mapped,) = api_sql.execute(
        "select count(*) from segment_campaign_budgets where channel = 'google_ads' and is_active"
    ).fetchone()
    assert channels["google_ads"]["budgets"] == mapped > 0
    assert channels["google_ads"]["kill_switch"] is False
    assert channels["microsoft_ads"] == {
        "channel": "microsoft_ads",
        "kill_switch": True,
        "daily_cap": 120.0,
        "budgets": 0,
        "increase": 0,
        "decrease": 0,
        "hold": 0,
        "applied": 0,
        "planned_budget": None,
    }
    # Partners never see it: the status is admin-only.
    assert api_client.get("/api/orchestration/status", headers=roles.partner).status_code == 403
