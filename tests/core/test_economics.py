"""Economics in the database: response estimates, lead values, the cap and its audit."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from conftest import ADMIN_ID, PARTNER_BRABANT_ID, as_user
from leadflow.db import Caller, Database
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.orchestrate import Mode, orchestrate
from leadflow.jobs.plan import plan
from leadflow_tools.google_ads_fake import InMemoryGoogleAds
from psycopg.errors import InsufficientPrivilege

SERVICE = Caller.service()
DAY = date(2026, 11, 23)  # the seed has leads 9..22 November
START_MICROS = 50_000_000


@pytest.fixture
def ready(database: Database, sql: psycopg.Connection[Any]) -> Database:
    sql.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
    aggregate(database, SERVICE, date(2026, 11, 9), DAY - timedelta(days=1))
    for offset in range(6, -1, -1):
        plan(database, SERVICE, DAY - timedelta(days=offset))
    return database


@pytest.fixture
def ads(sql: psycopg.Connection[Any]) -> InMemoryGoogleAds:
    fake = InMemoryGoogleAds()
    for (name,) in sql.execute(
        "select budget_resource_name from segment_campaign_budgets order by 1"
    ):
        fake.add_budget(name, START_MICROS)
    return fake


def _rows(sql: psycopg.Connection[Any], query: str, *args: Any) -> list[dict[str, Any]]:
    cur = sql.execute(query, args)
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_orchestrate_stores_each_segments_value_and_curve_with_its_day(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    counts = orchestrate(ready, SERVICE, DAY, ads, mode=Mode.dry_run)
    estimates = _rows(sql, "select * from segment_response_estimates where day = %s", DAY)
    active = sql.execute("select count(*) from lead_segments where is_active").fetchone()
    assert active is not None and counts["estimated"] == len(estimates) == active[0] > 0
    prior = sql.execute("select prior_elasticity from orchestration_settings").fetchone()
    for e in estimates:
        assert 0 < e["elasticity"] <= 1 and e["elasticity_sd"] > 0
        # The seed has no Google Ads metrics: no own data, so the pooled prior.
        assert e["days_used"] == 0 and e["own_elasticity"] is None
        assert prior is not None and e["elasticity"] == prior[0]
    # Values come from accepted leads' prices: the segment's where it has 3, else pooled.
    sources = {e["lead_value_source"] for e in estimates}
    assert sources <= {"segment", "industry", "all", "none"}
    valued = [e for e in estimates if e["lead_value_source"] == "segment"]
    for e in valued:
        row = sql.execute(
            "select sum(revenue) / sum(leads_accepted) from lead_generation_stats "
            "where segment_id = %s and day >= %s and day < %s",
            (e["segment_id"], DAY - timedelta(days=56), DAY),
        ).fetchone()
        assert row is not None and e["lead_value"] == round(row[0], 2)
    # Rerunning the day replaces, never duplicates.
    orchestrate(ready, SERVICE, DAY, ads, mode=Mode.dry_run)
    again = sql.execute("select count(*) from segment_response_estimates").fetchone()
    assert again is not None and again[0] == len(estimates)


def test_inputs_carry_the_economics_and_the_cap(
    ready: Database, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("update orchestration_settings set account_daily_cap = 123.45, min_margin = 0.2")
    industry = sql.execute("select industry_id from lead_segments order by code limit 1").fetchone()
    assert industry is not None
    sql.execute(
        "insert into industry_economics (industry_id, min_margin) values (%s, 0.35)", industry
    )
    ready.rpc("estimate_segment_responses", {"p_day": DAY.isoformat()}, caller=SERVICE)
    rows = ready.rpc("orchestration_inputs", {"p_day": DAY.isoformat()}, caller=SERVICE)
    assert rows
    for row in rows:
        assert row["account_daily_cap_micros"] == 123_450_000
        assert 0 < Decimal(str(row["lead_elasticity"])) <= 1
        own = sql.execute(
            "select industry_id = %s from lead_segments where id = %s",
            (industry[0], row["segment_id"]),
        ).fetchone()
        assert own is not None
        assert Decimal(str(row["min_margin"])) == (Decimal("0.35") if own[0] else Decimal("0.2"))


def _day_factors(sql: psycopg.Connection[Any], prior: Decimal) -> dict[Any, Decimal]:
    """docs/FORMULAS.md, the forecast, in Python: per industry, DAY's kind of day (ISO weekday,
    0 a public holiday) over the trailing week's mean, each kind's leads against the industry's
    mean day, shrunk toward 1 with `prior` leads."""
    holidays = {d for (d,) in sql.execute("select day from public_holidays")}

    def kind(d: date) -> int:
        return 0 if d in holidays else d.isoweekday()

    leads: dict[tuple[Any, int], int] = {}
    days: dict[tuple[Any, int], set[date]] = {}
    for industry, day, n in sql.execute(
        "select s.industry_id, st.day, st.leads_generated from lead_generation_stats st "
        "join lead_segments s on s.id = st.segment_id where st.day >= %s and st.day < %s",
        (DAY - timedelta(days=56), DAY),
    ):
        leads[(industry, kind(day))] = leads.get((industry, kind(day)), 0) + n
        days.setdefault((industry, kind(day)), set()).add(day)
    out = {}
    for industry in {i for i, _ in leads}:
        total = sum(n for (i, _), n in leads.items() if i == industry)
        count = sum(len(d) for (i, _), d in days.items() if i == industry)

        def factor(
            k: int, industry: Any = industry, total: int = total, count: int = count
        ) -> Decimal:
            if (industry, k) not in leads:
                return Decimal(1)
            mean = Decimal(len(days[(industry, k)])) * total / count
            return (leads[(industry, k)] + prior) / (mean + prior)

        week = [factor(kind(DAY - timedelta(days=n))) for n in range(1, 8)]
        out[industry] = factor(kind(DAY)) / (sum(week) / 7)
    return out


def test_the_forecast_takes_the_weekday_pattern_and_the_organic_leads_of_the_day(
    ready: Database, sql: psycopg.Connection[Any]
) -> None:
    # The seed's weekdays differ: make Mondays (DAY's weekday) busy for the test to bite.
    sql.execute(
        "update lead_generation_stats set leads_generated = leads_generated + 6, "
        "leads_pending = leads_pending + 6 "
        "where extract(isodow from day) = 1"
    )
    industry_of = {
        str(segment): industry
        for segment, industry in sql.execute("select id, industry_id from lead_segments")
    }
    for prior in (Decimal(30), Decimal(3)):
        sql.execute("update orchestration_settings set forecast_prior_leads = %s", (prior,))
        expected = _day_factors(sql, prior)
        rows = ready.rpc("orchestration_inputs", {"p_day": DAY.isoformat()}, caller=SERVICE)
        assert rows
        for row in rows:
            factor = expected[industry_of[row["segment_id"]]]
            assert Decimal(str(row["day_factor"])) == round(factor, 4)
            assert factor > 1  # busy Mondays
            organic = sql.execute(
                "select avg(leads_generated - leads_paid) from lead_generation_stats "
                "where segment_id = %s and day >= %s and day < %s",
                (row["segment_id"], DAY - timedelta(days=7), DAY),
            ).fetchone()
            assert organic is not None
            wanted = organic[0] * factor / row["budgets_in_segment"]
            assert abs(Decimal(str(row["organic_leads"])) - wanted) <= Decimal("0.00005")


def test_the_cap_is_changed_in_the_sql_editor_and_every_change_is_audited(
    sql: psycopg.Connection[Any],
) -> None:
    # Like the kill switch (docs/DEPLOY.md): the admin changes it as the database owner.
    # (A migration that moves a default of the row is audited too: count from here.)
    before = _rows(sql, "select coalesce(max(id), 0) as id from orchestration_settings_history")
    sql.execute("update public.orchestration_settings set account_daily_cap = 900")
    history = _rows(
        sql,
        "select * from orchestration_settings_history where id > %s order by id",
        before[0]["id"],
    )
    assert len(history) == 1
    assert history[0]["old_settings"]["account_daily_cap"] is None
    assert history[0]["new_settings"]["account_daily_cap"] == 900
    # No API role, admin or partner, may change the cap or write or read the history or the
    # estimates: the tables are granted to none of them (hidden from pg_graphql too).
    for user in (ADMIN_ID, PARTNER_BRABANT_ID):
        for statement in (
            "update public.orchestration_settings set account_daily_cap = 1",
            "insert into public.orchestration_settings_history (old_settings, new_settings) "
            "values ('{}', '{}')",
            "select count(*) from orchestration_settings_history",
            "select count(*) from segment_response_estimates",
        ):
            with pytest.raises(InsufficientPrivilege), sql.transaction():
                as_user(sql, user)
                sql.execute(statement)
    cap = sql.execute("select account_daily_cap from orchestration_settings").fetchone()
    assert cap == (Decimal("900.00"),)
