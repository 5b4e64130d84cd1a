"""Supabase's role settings in the local bootstrap, and every job and API call within them.

On Supabase, PostgREST logs in as `authenticator` (statement timeout 8 s, lock
timeout 8 s, `safeupdate` preloaded) and switches to the JWT's role. Here the
functions connect as `authenticator` too, so that a call that would die on a
real project dies in these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from api_fixtures import Roles, serving_function
from flask.testing import FlaskClient
from leadflow.db import Caller, Database
from leadflow.db.direct import DirectTransport
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.orchestrate import Mode, orchestrate, rollback
from leadflow.jobs.plan import plan
from leadflow.settings import get_settings
from leadflow_tools import safeupdate
from leadflow_tools.google_ads_fake import InMemoryGoogleAds
from psycopg.conninfo import make_conninfo
from test_job_functions import SECRET, _client


def as_authenticator(url: str) -> str:
    """`url` logging in as PostgREST does on Supabase."""
    return make_conninfo(url, user="authenticator")


def test_roles_have_supabase_timeouts_and_inheritance(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select r.rolname, r.rolinherit, coalesce(s.setconfig, '{}')"
            " from pg_roles r left join pg_db_role_setting s"
            "   on s.setrole = r.oid and s.setdatabase = 0"
            " where r.rolname in ('anon', 'authenticated', 'authenticator', 'service_role')"
            " order by 1"
        ).fetchall()
    assert rows == [
        ("anon", True, ["statement_timeout=3s"]),
        ("authenticated", True, ["statement_timeout=8s"]),
        ("authenticator", False, ["statement_timeout=8s", "lock_timeout=8s"]),
        ("service_role", True, []),
    ]
    with psycopg.connect(as_authenticator(db_url)) as conn:
        assert conn.execute("select current_setting('statement_timeout')").fetchone() == ("8s",)
        assert conn.execute("select current_setting('lock_timeout')").fetchone() == ("8s",)


def test_a_call_waiting_on_a_lock_gives_up_after_supabases_lock_timeout(db_url: str) -> None:
    with psycopg.connect(db_url) as holder, psycopg.connect(as_authenticator(db_url)) as api:
        holder.execute("lock table public.orchestration_settings in access exclusive mode")
        api.execute("set local lock_timeout = '200ms'")  # the 8 s of Supabase, shortened
        api.execute("set local role service_role")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            api.execute("select * from public.orchestration_settings")


@pytest.fixture
def jobs_as_authenticator(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", as_authenticator(db_url))
    monkeypatch.setenv("LEADFLOW_SCHEDULER_SECRET", SECRET)
    monkeypatch.delenv("LEADFLOW_TRANSPORT", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("job", "body"),
    [
        ("aggregate", {"day": "2026-11-23"}),
        ("plan", {"day": "2026-11-24"}),
    ],
    ids=["aggregate", "plan"],
)
def test_every_job_runs_within_supabases_role_settings(
    jobs_as_authenticator: None, job: str, body: dict[str, Any]
) -> None:
    response = _client(job).post("/", json=body, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "success"


def test_an_aggregate_backfill_runs_in_chunks_within_supabases_role_settings(db_url: str) -> None:
    # 31-day chunks: at 10 M leads one chunk takes about 2.2 s (bench/RESULTS.md).
    database = Database(DirectTransport(as_authenticator(db_url), max_size=2))
    chunks: list[tuple[int, int]] = []
    try:
        counts = aggregate(
            database,
            Caller.service(),
            date(2026, 8, 1),
            date(2026, 11, 23),
            on_progress=lambda done, total: chunks.append((done, total)),
        )
    finally:
        database.close()
    assert len(chunks) >= 4
    assert counts["days"] == 115


@pytest.mark.parametrize("mode", [Mode.dry_run, Mode.live])
def test_orchestrate_and_rollback_run_within_supabases_role_settings(
    db_url: str, sql: psycopg.Connection[Any], mode: Mode
) -> None:
    day = date(2026, 11, 23)
    sql.execute("insert into private.clock (id, today) values (true, %s)", (day,))  # live: today
    ads = InMemoryGoogleAds()
    for (name,) in sql.execute("select budget_resource_name from segment_campaign_budgets"):
        ads.add_budget(name, 50_000_000)
    database = Database(DirectTransport(as_authenticator(db_url), max_size=2))
    try:
        aggregate(database, Caller.service(), date(2026, 11, 9), day - timedelta(days=1))
        for offset in range(6, -1, -1):
            plan(database, Caller.service(), day - timedelta(days=offset))
        counts = orchestrate(database, Caller.service(), day, ads, mode=mode)
        assert counts["budgets"] == 9
        if mode is Mode.live:
            assert counts["applied"] > 0
            rollback(database, Caller.service(), day, ads, mode=mode)
    finally:
        database.close()


@pytest.fixture
def api_as_authenticator(
    db_url: str, sample_days: psycopg.Connection[Any]
) -> Iterator[FlaskClient]:
    with serving_function(as_authenticator(db_url)) as app:
        yield app.test_client()


def test_every_api_call_works_within_supabases_role_settings(
    api_as_authenticator: FlaskClient, roles: Roles, sample_days: psycopg.Connection[Any]
) -> None:
    client = api_as_authenticator
    listing = client.get("/api/lead-segments", headers=roles.admin)
    assert listing.status_code == 200, listing.get_json()
    segment = listing.get_json()["items"][0]["id"]
    for path in (
        f"/api/lead-segments/{segment}",
        f"/api/lead-segments/{segment}/stats?from=2026-10-01&to=2026-11-20",
        f"/api/lead-segments/{segment}/plans?from=2026-10-01&to=2026-11-20",
        "/api/orchestration/status",
    ):
        response = client.get(path, headers=roles.admin)
        assert response.status_code == 200, (path, response.get_json())
    assert client.get("/api/lead-segments", headers=roles.partner).status_code == 200
    industry = sample_days.execute(
        "select id::text from public.industries where slug = 'schilder'"
    ).fetchone()
    assert industry is not None
    created = client.post(
        "/api/lead-segments",
        headers=roles.admin,
        json={"industry_id": industry[0], "region_code": "groningen", "max_daily_budget": 50},
    )
    assert created.status_code == 201, created.get_json()
    changed = client.patch(
        f"/api/lead-segments/{created.get_json()['id']}",
        headers=roles.admin,
        json={"max_daily_budget": 60},
    )
    assert changed.status_code == 200, changed.get_json()


def test_no_function_has_an_update_or_delete_that_safeupdate_would_refuse(
    sql: psycopg.Connection[Any],
) -> None:
    assert safeupdate.check(sql) == []


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ("update public.regions set name = name", True),
        ("delete from public.regions", True),
        ("with gone as (delete from public.regions returning 1) select count(*) from gone", True),
        ("update public.regions r set name = x.n from (select 'a' as n) x", True),
        ("update public.regions set name = name where code = 'utrecht'", False),
        ("delete from public.regions where code in (select code from public.regions)", False),
        (
            "insert into public.regions values ('x', 'X')"
            " on conflict (code) do update set name = excluded.name",
            False,
        ),
        ("select count(*) from (select 1 from public.regions for update skip locked) x", False),
        (
            "select count(*) from public.regions where name <> 'update t set a = 1' -- delete from t",
            False,
        ),
    ],
)
def test_safeupdate_emulation_refuses_what_the_extension_refuses(
    sql: psycopg.Connection[Any], body: str, refused: bool
) -> None:
    with sql.transaction(force_rollback=True):
        sql.execute(
            f"create function public.lint_dml() returns void language plpgsql"
            f" set search_path = '' as $f$ begin perform 1; {body};\n end $f$"
            if not body.startswith("select") and not body.startswith("with")
            else f"create function public.lint_dml() returns bigint language sql"
            f" set search_path = '' as $f$ {body}\n $f$"
        )
        findings = [f for f in safeupdate.check(sql) if f.function == "lint_dml()"]
    assert bool(findings) is refused, findings
