"""The API function, route by route and role by role, against the real database.

Requests go through functions-framework's app for functions/api/main.py and
the direct transport; what each role sees is decided by the database.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
import pytest
from api_fixtures import (
    ADMIN,
    INDUSTRY_LOODGIETER,
    INDUSTRY_SCHILDER,
    MONEY_PLANS,
    MONEY_SEGMENT,
    MONEY_STATS,
    PARTNER,
    ROLE_NAMES,
    SAMPLE_FROM,
    SAMPLE_TO,
    SEGMENT_FOREIGN,
    SEGMENT_OWN,
    SEGMENT_UNKNOWN,
    Roles,
    bearer,
    error_of,
    mint,
)
from flask.testing import FlaskClient

RANGE = f"from={SAMPLE_FROM}&to={SAMPLE_TO}"


def new_segment_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST body for a segment that does not exist yet (loodgieter in Limburg)."""
    body: dict[str, Any] = {
        "industry_id": INDUSTRY_LOODGIETER,
        "region_code": "limburg",
        "min_daily_budget": 5,
        "max_daily_budget": 80.5,
        "target_cpl": 30,
    }
    body.update(overrides)
    return body


# -----------------------------------------------------------------------------
# Every route x every role
# -----------------------------------------------------------------------------

# (method, path, body, {role: expected status})
ALL = dict.fromkeys(ROLE_NAMES, 200)
SIGNED_IN = {"anon": 401, "partner_without_subscription": 200, "partner": 200, "admin": 200}
SUBSCRIBED = {"anon": 401, "partner_without_subscription": 404, "partner": 200, "admin": 200}
FOREIGN = {"anon": 401, "partner_without_subscription": 404, "partner": 404, "admin": 200}
UNKNOWN = {"anon": 401, "partner_without_subscription": 404, "partner": 404, "admin": 404}
ADMIN_ONLY = {"anon": 401, "partner_without_subscription": 403, "partner": 403, "admin": 200}
ADMIN_CREATES = {**ADMIN_ONLY, "admin": 201}
ADMIN_UNKNOWN = {**ADMIN_ONLY, "admin": 404}

MATRIX: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/api/health", None, ALL),
    ("GET", "/api/openapi.json", None, ALL),
    ("GET", "/api/lead-segments", None, SIGNED_IN),
    ("GET", f"/api/lead-segments/{SEGMENT_OWN}", None, SUBSCRIBED),
    ("GET", "/api/lead-segments/schilder_noord_brabant", None, SUBSCRIBED),
    ("GET", f"/api/lead-segments/{SEGMENT_FOREIGN}", None, FOREIGN),
    ("GET", "/api/lead-segments/schilder_utrecht", None, FOREIGN),
    ("GET", f"/api/lead-segments/{SEGMENT_UNKNOWN}", None, UNKNOWN),
    ("GET", "/api/lead-segments/schilder_atlantis", None, UNKNOWN),
    ("GET", f"/api/lead-segments/{SEGMENT_OWN}/stats?{RANGE}", None, SUBSCRIBED),
    ("GET", f"/api/lead-segments/schilder_noord_brabant/stats?{RANGE}", None, SUBSCRIBED),
    ("GET", f"/api/lead-segments/schilder_utrecht/plans?{RANGE}", None, FOREIGN),
    ("GET", f"/api/lead-segments/{SEGMENT_FOREIGN}/stats?{RANGE}", None, FOREIGN),
    ("GET", f"/api/lead-segments/{SEGMENT_UNKNOWN}/stats?{RANGE}", None, UNKNOWN),
    ("GET", f"/api/lead-segments/{SEGMENT_OWN}/plans?{RANGE}", None, SUBSCRIBED),
    ("GET", f"/api/lead-segments/{SEGMENT_FOREIGN}/plans?{RANGE}", None, FOREIGN),
    ("GET", f"/api/lead-segments/{SEGMENT_UNKNOWN}/plans?{RANGE}", None, UNKNOWN),
    ("POST", "/api/lead-segments", new_segment_body(), ADMIN_CREATES),
    ("PATCH", f"/api/lead-segments/{SEGMENT_OWN}", {"target_cpl": 20}, ADMIN_ONLY),
    ("PATCH", f"/api/lead-segments/{SEGMENT_UNKNOWN}", {"is_active": False}, ADMIN_UNKNOWN),
    ("PATCH", "/api/lead-segments/schilder_utrecht", {"target_cpl": 20}, ADMIN_ONLY),
    ("PATCH", "/api/lead-segments/schilder_atlantis", {"is_active": False}, ADMIN_UNKNOWN),
    ("GET", "/api/orchestration/status", None, ADMIN_ONLY),
]


def _matrix_id(entry: tuple[str, str, Any, Any]) -> str:
    method, path, _, _ = entry
    return f"{method} {path.split('?')[0].replace('00000000-0000-4000-8002-', '')}"


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[_matrix_id(e) for e in MATRIX]
)
def test_every_route_answers_every_role_as_designed(
    request: pytest.FixtureRequest,
    roles: Roles,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: dict[str, int],
) -> None:
    # Reads share one database per module; writes get a fresh one each.
    api_client: FlaskClient = request.getfixturevalue(
        "api_reader" if method == "GET" else "api_client"
    )
    response = api_client.open(path, method=method, json=body, headers=roles.of(role))
    status = expected[role]
    if status >= 400:
        error_of(response, status)
    else:
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Request-Id"]


# -----------------------------------------------------------------------------
# What each role sees
# -----------------------------------------------------------------------------


def test_admin_gets_money_columns_of_stats(api_reader: FlaskClient, roles: Roles) -> None:
    response = api_reader.get(
        f"/api/lead-segments/{SEGMENT_OWN}/stats?{RANGE}", headers=roles.admin
    )
    assert response.status_code == 200
    page = response.get_json()
    assert page["segment_id"] == SEGMENT_OWN
    assert (page["from"], page["to"]) == (str(SAMPLE_FROM), str(SAMPLE_TO))
    assert len(page["items"]) == 30
    first = page["items"][0]
    assert first["day"] == str(SAMPLE_FROM)
    assert set(first) >= MONEY_STATS
    assert first["revenue"] == 111.0 and first["ad_spend"] == 80.0 and first["cpl"] == 16.0
    assert first["leads_generated"] == 10


def test_partner_sees_counts_of_own_segment_but_never_money(
    api_reader: FlaskClient, roles: Roles
) -> None:
    stats = api_reader.get(f"/api/lead-segments/{SEGMENT_OWN}/stats?{RANGE}", headers=roles.partner)
    plans = api_reader.get(f"/api/lead-segments/{SEGMENT_OWN}/plans?{RANGE}", headers=roles.partner)
    assert stats.status_code == plans.status_code == 200
    stats_row = stats.get_json()["items"][0]
    plans_row = plans.get_json()["items"][0]
    assert stats_row["leads_accepted"] == 6 and stats_row["total_capacity"] == 12.5
    assert not MONEY_STATS & set(stats_row)
    assert plans_row["target_leads"] == 16.67 and plans_row["lead_gap"] == pytest.approx(6.67)
    assert not MONEY_PLANS & set(plans_row)
    assert "revenue" not in stats.get_data(as_text=True)


def test_admin_gets_budget_of_plans(api_reader: FlaskClient, roles: Roles) -> None:
    response = api_reader.get(
        f"/api/lead-segments/{SEGMENT_FOREIGN}/plans?{RANGE}", headers=roles.admin
    )
    row = response.get_json()["items"][-1]
    assert row["planned_budget"] == 150.0
    assert [(c["channel"], c["planned_budget"]) for c in row["channels"]] == [("google_ads", 150.0)]
    assert (row["budget_action"], row["budget_status"]) == ("increase", "success")


def test_partner_cannot_tell_a_foreign_segment_from_an_unknown_one(
    api_reader: FlaskClient, roles: Roles
) -> None:
    foreign = api_reader.get(
        f"/api/lead-segments/{SEGMENT_FOREIGN}/stats?{RANGE}", headers=roles.partner
    )
    unknown = api_reader.get(
        f"/api/lead-segments/{SEGMENT_UNKNOWN}/stats?{RANGE}", headers=roles.partner
    )
    assert error_of(foreign, 404, "not_found") == error_of(unknown, 404, "not_found")


def test_stats_range_only_returns_days_inside_it(api_reader: FlaskClient, roles: Roles) -> None:
    response = api_reader.get(
        f"/api/lead-segments/{SEGMENT_OWN}/stats?from=2026-11-20&to=2026-12-31",
        headers=roles.partner,
    )
    days = [row["day"] for row in response.get_json()["items"]]
    assert days == [f"2026-11-{d}" for d in range(20, 26)]


def test_segment_list_for_admin_has_budgets_and_inactive_segments(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    api_sql.execute(
        "update public.lead_segments set is_active = false where id = %s", (SEGMENT_FOREIGN,)
    )
    admin = api_client.get("/api/lead-segments", headers=roles.admin).get_json()
    partner = api_client.get("/api/lead-segments", headers=roles.partner).get_json()
    assert admin["total"] == 9 and len(admin["items"]) == 9
    assert all(set(item) >= MONEY_SEGMENT for item in admin["items"])
    assert all(item["can_view_stats"] for item in admin["items"])
    # A partner lists exactly the segments it may read: those it is subscribed to.
    assert partner["total"] == 1
    assert SEGMENT_FOREIGN not in {item["id"] for item in partner["items"]}
    assert not any(MONEY_SEGMENT & set(item) for item in partner["items"])
    assert [item["code"] for item in partner["items"]] == ["schilder_noord_brabant"]
    assert all(item["can_view_stats"] for item in partner["items"])


def test_segment_list_pages(api_reader: FlaskClient, roles: Roles) -> None:
    everything = api_reader.get("/api/lead-segments?limit=1000", headers=roles.admin).get_json()
    page = api_reader.get("/api/lead-segments?limit=3&offset=2", headers=roles.admin).get_json()
    assert (page["limit"], page["offset"], page["total"]) == (3, 2, 9)
    assert [s["code"] for s in page["items"]] == [s["code"] for s in everything["items"]][2:5]
    assert [s["code"] for s in everything["items"]] == sorted(
        s["code"] for s in everything["items"]
    )


def test_segment_detail_for_admin_includes_campaign_mapping(
    api_reader: FlaskClient, roles: Roles
) -> None:
    admin = api_reader.get(f"/api/lead-segments/{SEGMENT_OWN}", headers=roles.admin).get_json()
    partner = api_reader.get(f"/api/lead-segments/{SEGMENT_OWN}", headers=roles.partner).get_json()
    assert admin["code"] == "schilder_noord_brabant"
    assert admin["max_daily_budget"] == 150.0 and admin["target_cpl"] == 25.0
    assert len(admin["campaigns"]) == 1
    assert admin["campaigns"][0]["budget_resource_name"].startswith("customers/1234567890/")
    assert set(partner) == set(admin) - MONEY_SEGMENT - {"campaigns"}
    assert partner["can_view_stats"] is True


def test_partner_cannot_see_an_inactive_segment(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    api_sql.execute(
        "update public.lead_segments set is_active = false where id = %s", (SEGMENT_FOREIGN,)
    )
    error_of(api_client.get(f"/api/lead-segments/{SEGMENT_FOREIGN}", headers=roles.partner), 404)
    assert (
        api_client.get(f"/api/lead-segments/{SEGMENT_FOREIGN}", headers=roles.admin).status_code
        == 200
    )


def test_paused_subscription_gives_no_stats(api_reader: FlaskClient) -> None:
    paused = bearer(mint("00000000-0000-4000-8000-000000000015"))  # dakdekker utrecht, paused
    error_of(api_reader.get(f"/api/lead-segments/{SEGMENT_OWN}/stats?{RANGE}", headers=paused), 404)


def test_admin_can_use_a_service_role_token(api_reader: FlaskClient) -> None:
    service = bearer(mint(None, role="service_role"))
    response = api_reader.get(f"/api/lead-segments/{SEGMENT_OWN}", headers=service)
    assert response.status_code == 200
    assert "max_daily_budget" in response.get_json()


# -----------------------------------------------------------------------------
# Writes
# -----------------------------------------------------------------------------


def test_admin_creates_a_segment_with_derived_code_and_its_existing_leads(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    api_sql.execute(
        """
        insert into public.leads (industry_id, region_code, status, created_at)
        select %s, 'limburg', 'pending', timestamptz '2026-11-01 12:00+01' + n * interval '1 day'
        from generate_series(1, 5) as n
        """,
        (INDUSTRY_LOODGIETER,),
    )
    campaign = {
        "customer_id": "2222222222",
        "campaign_id": "77",
        "budget_resource_name": "customers/2222222222/campaignBudgets/701",
    }
    response = api_client.post(
        "/api/lead-segments", json=new_segment_body(campaigns=[campaign]), headers=roles.admin
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert created["code"] == "loodgieter_limburg"
    assert created["name"] == "Loodgieter Limburg"
    assert created["leads_assigned"] == 5
    assert (created["min_daily_budget"], created["max_daily_budget"]) == (5.0, 80.5)
    assert created["campaigns"][0]["budget_resource_name"] == campaign["budget_resource_name"]
    assert response.headers["Location"] == f"/api/lead-segments/{created['id']}"
    row = api_sql.execute(
        "select count(*) from public.leads where segment_id = %s", (created["id"],)
    ).fetchone()
    assert row == (5,)
    detail = api_client.get(response.headers["Location"], headers=roles.admin)
    assert detail.get_json()["code"] == "loodgieter_limburg"


def test_creating_an_existing_segment_is_a_conflict(api_client: FlaskClient, roles: Roles) -> None:
    body = new_segment_body(industry_id=INDUSTRY_SCHILDER, region_code="utrecht")
    error_of(api_client.post("/api/lead-segments", json=body, headers=roles.admin), 409, "conflict")


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"region_code": "atlantis"}, 422),
        ({"industry_id": "00000000-0000-4000-8001-0000000000ff"}, 422),
        (
            {
                "campaigns": [
                    {
                        "customer_id": "1234567890",
                        "campaign_id": "1001",
                        "budget_resource_name": "customers/1234567890/campaignBudgets/12345",
                    }
                ]
            },
            409,
        ),
        (
            {
                "campaigns": [
                    {
                        "customer_id": "1234567890",
                        "campaign_id": "99",
                        "budget_resource_name": "customers/1234567890/campaignBudgets/9001",
                    }
                ]
            },
            409,
        ),
    ],
    ids=["unknown-region", "unknown-industry", "campaign-of-other-segment", "budget-of-other"],
)
def test_create_refusals_decided_by_the_database(
    api_client: FlaskClient, roles: Roles, overrides: dict[str, Any], status: int
) -> None:
    response = api_client.post(
        "/api/lead-segments", json=new_segment_body(**overrides), headers=roles.admin
    )
    error = error_of(response, status)
    assert [item["type"] for item in error["details"]] == [f"PT{status}"]


def test_admin_changes_only_the_fields_given(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    response = api_client.patch(
        f"/api/lead-segments/{SEGMENT_OWN}",
        json={"max_daily_budget": 200, "target_cpl": None, "is_active": False},
        headers=roles.admin,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    segment = response.get_json()
    assert segment["max_daily_budget"] == 200.0
    assert segment["target_cpl"] is None
    assert segment["is_active"] is False
    assert segment["min_daily_budget"] == 10.0
    assert segment["name"] == "Schilder Noord-Brabant"


def test_admin_replaces_the_campaign_mapping(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    mapping = [
        {
            "customer_id": "3333333333",
            "campaign_id": "1",
            "budget_resource_name": "customers/3333333333/campaignBudgets/11",
        },
        {
            "customer_id": "3333333333",
            "campaign_id": "2",
            "budget_resource_name": "customers/3333333333/campaignBudgets/12",
            "is_active": False,
        },
    ]
    response = api_client.patch(
        f"/api/lead-segments/{SEGMENT_OWN}", json={"campaigns": mapping}, headers=roles.admin
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    got = response.get_json()["campaigns"]
    assert [(c["campaign_id"], c["is_active"]) for c in got] == [("1", True), ("2", False)]
    count = api_sql.execute(
        "select count(*) from public.segment_campaign_budgets where segment_id = %s", (SEGMENT_OWN,)
    ).fetchone()
    assert count == (2,)
    cleared = api_client.patch(
        f"/api/lead-segments/{SEGMENT_OWN}", json={"campaigns": []}, headers=roles.admin
    )
    assert cleared.get_json()["campaigns"] == []


def test_min_budget_above_the_stored_max_is_refused_by_the_database(
    api_client: FlaskClient, roles: Roles
) -> None:
    response = api_client.patch(
        f"/api/lead-segments/{SEGMENT_OWN}", json={"min_daily_budget": 500}, headers=roles.admin
    )
    error = error_of(response, 422, "validation_error")
    assert "min_daily_budget" in error["message"]


def test_partner_cannot_change_a_segment(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    response = api_client.patch(
        f"/api/lead-segments/{SEGMENT_OWN}", json={"max_daily_budget": 9999}, headers=roles.partner
    )
    error_of(response, 403, "forbidden")
    row = api_sql.execute(
        "select max_daily_budget from public.lead_segments where id = %s", (SEGMENT_OWN,)
    ).fetchone()
    assert row is not None and float(row[0]) == 150.0


# -----------------------------------------------------------------------------
# Orchestration status
# -----------------------------------------------------------------------------

STATUS_DAY = "2026-11-25"


def _at_max_budget(conn: psycopg.Connection[Any], day: str, euro: int) -> None:
    """The foreign segment's budget raised live to `euro` on `day`."""
    _log(
        conn,
        day=day,
        segment_id=SEGMENT_FOREIGN,
        campaign_id="1100",
        budget_resource_name="customers/1234567890/campaignBudgets/1100",
        old_amount_micros=euro * 900_000,
        new_amount_micros=euro * 1_000_000,
        completed_at=f"{day} 03:00+01",
    )


def _log(conn: psycopg.Connection[Any], **values: Any) -> None:
    row: dict[str, Any] = {
        "day": STATUS_DAY,
        "segment_id": SEGMENT_OWN,
        "customer_id": "1234567890",
        "campaign_id": "1007",
        "budget_resource_name": "customers/1234567890/campaignBudgets/9007",
        "action": "increase",
        "old_amount_micros": 100_000_000,
        "new_amount_micros": 110_000_000,
        "reason": "under target",
        "mode": "live",
        "status": "success",
        "triggered_by": "test",
        "completed_at": "2026-11-25 03:00+01",
        **values,
    }
    if row["status"] == "pending":
        row["completed_at"] = None
    if row["action"] == "hold":
        row["new_amount_micros"] = row["old_amount_micros"]
    if row["status"] in ("sent", "unknown", "success", "failed"):
        row.setdefault("sent_on", row["day"])
        row.setdefault("claimed_at", "2026-11-25 03:00+01")
    columns = ", ".join(row)
    # The end state of rows the job wrote through claims and completions: skip the write path.
    with conn.transaction():
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            f"insert into public.channel_orchestration_log ({columns})"
            f" values ({', '.join(['%s'] * len(row))})",
            tuple(row.values()),
        )


def test_orchestration_status_for_admin(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    api_sql.execute(
        """
        insert into public.job_runs (job, day, status, triggered_by, counts, error, started_at,
                                     heartbeat_at, finished_at) values
          ('aggregate', '2026-11-24', 'success', 'scheduler', '{"days": 1}', null,
           '2026-11-24 01:00+01', '2026-11-24 01:00:05+01', '2026-11-24 01:00:05+01'),
          ('aggregate', '2026-11-25', 'success', 'scheduler', '{"days": 1, "segments": 9}', null,
           '2026-11-25 01:00+01', '2026-11-25 01:00:02.5+01', '2026-11-25 01:00:02.5+01'),
          ('plan', '2026-11-25', 'failed', 'scheduler', '{}', 'no capacity data',
           '2026-11-25 02:00+01', '2026-11-25 02:00:01+01', '2026-11-25 02:00:01+01')
        """
    )
    # Rows shaped as the orchestrate job writes them.
    _log(api_sql)  # applied
    _log(api_sql, mode="validate_only")  # validated
    _log(api_sql, action="hold", status="skipped", error="hold: inside dead-band")  # held
    _log(api_sql, mode="dry_run", status="skipped", error="dry run: not sent")  # dry run
    _log(
        api_sql, status="pending", budget_resource_name="customers/1234567890/campaignBudgets/9001"
    )  # pending
    _log(api_sql, status="failed", error="quota exceeded")  # failed
    _log(api_sql, status="skipped", error="kill switch is on: not sent")  # skipped
    _log(api_sql, day="2026-11-24")  # another day: not counted
    # schilder_utrecht: at max budget (150) and under target on each of the 7 days before.
    api_sql.execute(
        """
        insert into public.lead_segment_plans (segment_id, day, capacity, target_leads,
                                               actual_leads)
        select %s, d::date, 10, 12, 8
        from generate_series(date '2026-11-18', date '2026-11-24', interval '1 day') as d
        """,
        (SEGMENT_FOREIGN,),
    )
    for n in range(18, 25):
        _at_max_budget(api_sql, f"2026-11-{n}", 150)
    # schilder_noord_brabant's budget failed on its last three attempts, after a success.
    failing = "customers/1234567890/campaignBudgets/9007"
    _log(api_sql, day="2026-11-20", completed_at="2026-11-20 03:00+01")
    for n, day in enumerate(("2026-11-21", "2026-11-22", "2026-11-23")):
        _log(
            api_sql,
            day=day,
            status="failed",
            error=f"budget locked {n}",
            completed_at=f"{day} 03:00+01",
            budget_resource_name=failing,
        )

    response = api_client.get(f"/api/orchestration/status?day={STATUS_DAY}", headers=roles.admin)
    assert response.status_code == 200, response.get_data(as_text=True)
    status = response.get_json()
    assert status["day"] == STATUS_DAY
    jobs = {run["job"]: run for run in status["jobs"]}
    assert set(jobs) == {"aggregate", "plan"}
    assert jobs["aggregate"]["day"] == "2026-11-25"
    assert jobs["aggregate"]["duration_seconds"] == 2.5
    assert jobs["aggregate"]["counts"] == {"days": 1, "segments": 9}
    assert jobs["plan"]["status"] == "failed" and jobs["plan"]["error"] == "no capacity data"
    assert status["decisions"] == {
        "applied": 1,
        "validated": 1,
        "hold": 1,
        "dry_run": 1,
        "pending": 1,
        "failed": 1,
        "skipped": 1,
        "total": 7,
    }
    [unreachable] = status["capacity_unreachable"]
    assert unreachable["code"] == "schilder_utrecht"
    assert unreachable["days"] == 7 and unreachable["total_gap"] == 28.0
    [failing_campaign] = status["failing_campaigns"]
    assert failing_campaign["budget_resource_name"] == failing
    assert failing_campaign["consecutive_failures"] == 3
    assert failing_campaign["last_error"] == "budget locked 2"
    assert failing_campaign["segment_code"] == "schilder_noord_brabant"


def test_orchestration_status_defaults_to_today(api_client: FlaskClient, roles: Roles) -> None:
    status = api_client.get("/api/orchestration/status", headers=roles.admin).get_json()
    assert status["jobs"] == [] and status["decisions"]["total"] == 0
    assert len(status["day"]) == 10


def test_six_days_at_max_budget_is_not_yet_unreachable(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any], roles: Roles
) -> None:
    api_sql.execute(
        """
        insert into public.lead_segment_plans (segment_id, day, capacity, target_leads,
                                               actual_leads)
        select %s, d::date, 10, 12, 8
        from generate_series(date '2026-11-18', date '2026-11-24', interval '1 day') as d
        """,
        (SEGMENT_FOREIGN,),
    )
    for n in range(18, 25):
        _at_max_budget(api_sql, f"2026-11-{n}", 140 if n == 21 else 150)
    status = api_client.get(f"/api/orchestration/status?day={STATUS_DAY}", headers=roles.admin)
    assert status.get_json()["capacity_unreachable"] == []


# -----------------------------------------------------------------------------
# Bad input: always a 4xx JSON error
# -----------------------------------------------------------------------------

STATS = f"/api/lead-segments/{SEGMENT_OWN}/stats"


@pytest.mark.parametrize(
    "url",
    [
        "/api/lead-segments/not%20a%20code",
        "/api/lead-segments/no%20such%20code/stats?from=2026-01-01&to=2026-01-02",
        f"{STATS}",
        f"{STATS}?from=2026-11-01",
        f"{STATS}?from=2026-11-02&to=2026-11-01",
        f"{STATS}?from=2025-01-01&to=2026-01-02",
        f"{STATS}?from=2026/11/01&to=2026-11-02",
        f"{STATS}?from=1700000000&to=2026-11-02",
        f"{STATS}?from=2026-02-30&to=2026-03-02",
        f"{STATS}?from=2026-11-01&to=2026-11-02&limit=3",
        f"{STATS}?from=2026-11-01&from=2026-11-02&to=2026-11-03",
        "/api/lead-segments?limit=0",
        "/api/lead-segments?limit=1001",
        "/api/lead-segments?limit=ten",
        "/api/lead-segments?offset=-1",
        "/api/lead-segments?offset=99999999999",
        "/api/orchestration/status?day=yesterday",
    ],
)
def test_bad_path_or_query_is_a_422(api_reader: FlaskClient, roles: Roles, url: str) -> None:
    error = error_of(api_reader.get(url, headers=roles.admin), 422, "validation_error")
    assert error["details"] and all(
        detail["loc"][0] in ("path", "query") for detail in error["details"]
    )


def test_the_longest_range_is_366_days(api_reader: FlaskClient, roles: Roles) -> None:
    ok = api_reader.get(f"{STATS}?from=2024-01-01&to=2024-12-31", headers=roles.admin)  # leap year
    assert ok.status_code == 200
    error_of(api_reader.get(f"{STATS}?from=2024-01-01&to=2025-01-01", headers=roles.admin), 422)


def test_limit_of_1000_is_accepted(api_reader: FlaskClient, roles: Roles) -> None:
    assert api_reader.get("/api/lead-segments?limit=1000", headers=roles.admin).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"industry_id": INDUSTRY_LOODGIETER, "region_code": "limburg"},
        new_segment_body(unexpected=1),
        new_segment_body(industry_id="nope"),
        new_segment_body(region_code="Limburg!"),
        new_segment_body(is_active="yes"),
        new_segment_body(max_daily_budget=-1),
        new_segment_body(max_daily_budget=0),
        new_segment_body(max_daily_budget=1.234),
        new_segment_body(max_daily_budget=10**12),
        new_segment_body(max_daily_budget="lots"),
        new_segment_body(min_daily_budget=100, max_daily_budget=50),
        new_segment_body(target_cpl=0),
        new_segment_body(name=""),
        new_segment_body(name="   "),
        new_segment_body(name="x" * 201),
        new_segment_body(campaigns={}),
        new_segment_body(campaigns=[{"customer_id": "123"}]),
        new_segment_body(
            campaigns=[
                {
                    "customer_id": "1111111111",
                    "campaign_id": "1",
                    "budget_resource_name": "customers/2222222222/campaignBudgets/1",
                }
            ]
        ),
        new_segment_body(
            campaigns=[
                {
                    "customer_id": "1111111111",
                    "campaign_id": "1",
                    "budget_resource_name": "customers/1111111111/campaignBudgets/1",
                }
            ]
            * 2
        ),
        [new_segment_body()],
        "a string",
    ],
)
def test_bad_create_body_is_a_422(api_reader: FlaskClient, roles: Roles, body: Any) -> None:
    response = api_reader.post("/api/lead-segments", json=body, headers=roles.admin)
    error = error_of(response, 422, "validation_error")
    assert all(detail["loc"][0] == "body" for detail in error["details"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": None},
        {"is_active": None},
        {"max_daily_budget": None},
        {"campaigns": None},
        {"min_daily_budget": 20, "max_daily_budget": 10},
        {"code": "renamed"},
        {"region_code": "utrecht"},
    ],
)
def test_bad_patch_body_is_a_422(api_reader: FlaskClient, roles: Roles, body: Any) -> None:
    response = api_reader.patch(f"/api/lead-segments/{SEGMENT_OWN}", json=body, headers=roles.admin)
    error_of(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "invalid_json"),
        ("", "application/json", 400, "invalid_json"),
        (b"\xff\xfe{}", "application/json", 400, "invalid_json"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "application/json", 400, "invalid_json"),
        ("industry_id=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("{}", "text/plain", 415, "unsupported_media_type"),
        ("{}", None, 415, "unsupported_media_type"),
    ],
    ids=["malformed", "empty", "not-utf8", "too-deep", "form", "text", "no-content-type"],
)
def test_body_that_is_not_json_is_refused(
    api_reader: FlaskClient,
    roles: Roles,
    data: str | bytes,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    headers = dict(roles.admin)
    if content_type:
        headers["Content-Type"] = content_type
    response = api_reader.post("/api/lead-segments", data=data, headers=headers)
    error_of(response, status, code)


def test_body_over_64_kib_is_a_413(api_reader: FlaskClient, roles: Roles) -> None:
    body = json.dumps(new_segment_body(name="x" * (70 * 1024)))
    response = api_reader.post(
        "/api/lead-segments",
        data=body,
        headers={**roles.admin, "Content-Type": "application/json"},
    )
    error_of(response, 413, "payload_too_large")


def test_json_with_charset_is_accepted(api_client: FlaskClient, roles: Roles) -> None:
    response = api_client.post(
        "/api/lead-segments",
        data=json.dumps(new_segment_body()),
        headers={**roles.admin, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_unknown_route_and_wrong_method_are_json(api_reader: FlaskClient, roles: Roles) -> None:
    error_of(api_reader.get("/api/nothing-here", headers=roles.admin), 404, "not_found")
    error_of(api_reader.get("/", headers=roles.admin), 404, "not_found")
    response = api_reader.delete(f"/api/lead-segments/{SEGMENT_OWN}", headers=roles.admin)
    error_of(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["Allow"]


# -----------------------------------------------------------------------------
# Health, headers, logs
# -----------------------------------------------------------------------------


def test_health_reaches_the_database_for_anyone(api_reader: FlaskClient) -> None:
    response = api_reader.get("/api/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_request_id_is_echoed_when_sane(api_reader: FlaskClient) -> None:
    assert (
        api_reader.get("/api/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"]
        == "abc-123"
    )
    generated = api_reader.get("/api/health", headers={"X-Request-Id": "<script>"})
    assert generated.headers["X-Request-Id"] != "<script>"


def test_tokens_never_reach_the_logs(
    api_reader: FlaskClient, roles: Roles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = roles.admin["Authorization"].removeprefix("Bearer ")
    api_reader.get("/api/lead-segments", headers=roles.admin)
    api_reader.get("/api/lead-segments", headers={"Authorization": f"Bearer {token}x"})
    api_reader.post("/api/lead-segments", json={"bad": 1}, headers=roles.admin)
    assert caplog.records, "requests are logged"
    assert token[:40] not in caplog.text
    requests = [r for r in caplog.records if r.name == "leadflow" and r.getMessage() == "request"]
    assert requests and all(r.request_id and r.path and r.status for r in requests)
    assert ADMIN not in caplog.text and PARTNER not in caplog.text
