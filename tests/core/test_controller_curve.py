"""The budget response curve: its one Python home (`controller.curve`), and the database's
`orchestration_inputs` scaling paid leads along the same curve."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

import psycopg
from leadflow.controller import ControllerConfig, SegmentSignal
from leadflow.controller.curve import (
    elasticity,
    growth,
    marginal_cpl,
    paid_leads_at,
    spend_ratio_for,
)
from leadflow.db import Caller, Database
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.plan import plan

SERVICE = Caller.service()
DAY = date(2026, 11, 23)  # the seed has leads 9..22 November
CONFIG = ControllerConfig(
    max_daily_change=D("0.20"),
    dead_band=D("0.10"),
    min_gap_leads=D("0.5"),
    billable_unit_micros=10_000,
    stale_after_days=2,
    lead_elasticity=D("0.5"),
    fallback_step=D("0.5"),
    saturation_lost_share=D("0.02"),
)


def test_paid_leads_grow_like_spend_to_the_elasticity() -> None:
    assert growth(D(4), D("0.5")) == D(2)
    assert paid_leads_at(D(10), D(100), D(400), D("0.5")) == D(20)
    assert paid_leads_at(D(10), D(100), D(100), D("0.3")) == D(10)
    assert paid_leads_at(D(10), D(100), D(200), D(1)) == D(20)  # e = 1: linear


def test_the_marginal_cpl_is_the_average_over_the_elasticity() -> None:
    assert marginal_cpl(100, D(10), D("0.5")) == D(20)
    assert marginal_cpl(100, D(10), D(1)) == D(10)


def test_the_spend_at_a_marginal_cpl_inverts_the_curves_slope() -> None:
    # e = 0.5: the marginal CPL grows like spend^0.5, so twice the marginal CPL is at 4x spend.
    e, spend, paid = D("0.5"), D(100), D(10)
    k = spend_ratio_for(D(2), e)
    assert k == D(4)
    at_k = paid_leads_at(paid, spend, spend * k, e)
    assert marginal_cpl(spend * k, at_k, e) == 2 * marginal_cpl(spend, paid, e)


def test_a_segments_own_elasticity_wins_over_the_prior_when_valid() -> None:
    s = SegmentSignal(None, 0, 0, None, None, None, None)
    assert elasticity(s, CONFIG) == D("0.5")
    assert elasticity(dataclasses.replace(s, lead_elasticity=D("0.7")), CONFIG) == D("0.7")
    # Above 1: convex where the segment spends (below the bend of an S-shaped curve).
    assert elasticity(dataclasses.replace(s, lead_elasticity=D("1.2")), CONFIG) == D("1.2")
    assert elasticity(dataclasses.replace(s, lead_elasticity=D("2.5")), CONFIG) == D("0.5")


def _rows(sql: psycopg.Connection[Any], query: str, *args: Any) -> list[dict[str, Any]]:
    cur = sql.execute(query, args)
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_the_database_scales_paid_leads_along_the_python_curve(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
    aggregate(database, SERVICE, date(2026, 11, 9), DAY - timedelta(days=1))
    plan(database, SERVICE, DAY)
    sql.execute("update orchestration_settings set prior_elasticity = 0.42")
    # Google Ads leads and a spend that changes every day, so that the curve matters.
    sql.execute(
        "update lead_generation_stats set"
        " leads_paid = least(leads_generated, 1 + extract(day from day)::int % 3),"
        " ad_spend = 20 + 7 * (extract(day from day)::int % 5)"
    )
    # The inputs read each channel's day: Google Ads carries those paid leads and that spend.
    sql.execute("delete from lead_channel_stats where channel = 'google_ads'")
    sql.execute(
        "insert into lead_channel_stats (segment_id, day, channel, leads_generated, spend)"
        " select segment_id, day, 'google_ads', leads_paid, ad_spend from lead_generation_stats"
    )
    settings = _rows(sql, "select * from orchestration_settings")[0]
    window, scale = settings["steering_window_days"], settings["scale_window_days"]
    e = D(str(settings["prior_elasticity"]))
    inputs = database.rpc("orchestration_inputs", {"p_day": DAY.isoformat()}, caller=SERVICE)
    checked = 0
    for row in inputs:
        if row["budgets_in_segment"] != 1 or row["expected_leads"] is None:
            continue
        stats = _rows(
            sql,
            "select day, leads_generated, leads_paid, ad_spend from lead_generation_stats"
            " where segment_id = %s and day < %s order by day",
            row["segment_id"],
            DAY,
        )
        by_day = {s["day"]: s for s in stats}
        yesterday = by_day[DAY - timedelta(days=1)]["ad_spend"]
        week = [s for s in stats if s["day"] >= DAY - timedelta(days=window)]
        expected = sum(
            s["leads_generated"]
            - s["leads_paid"]
            + paid_leads_at(D(s["leads_paid"]), D(s["ad_spend"]), D(yesterday), e)
            for s in week
        ) / len(week)
        week_spend = sum(D(s["ad_spend"]) for s in week) / len(week)
        recent = [s for s in stats if s["day"] >= DAY - timedelta(days=scale)]
        paid = sum(
            paid_leads_at(D(s["leads_paid"]), D(s["ad_spend"]), week_spend, e) for s in recent
        ) / len(recent)
        assert abs(D(str(row["expected_leads"])) - expected) < D("0.0001"), row["code"]
        assert abs(D(str(row["paid_leads"])) - paid) < D("0.0001"), row["code"]
        # The data's age: days since the segment's newest measured day.
        assert row["data_age_days"] == (DAY - stats[-1]["day"]).days, row["code"]
        checked += 1
    assert checked > 0
    # A segment measured last three days ago is three days old; one without a measured day in
    # the last 60 has no age.
    segment = next(r["segment_id"] for r in inputs if r["budgets_in_segment"] == 1)
    sql.execute(
        "delete from lead_generation_stats where segment_id = %s and day >= %s",
        (segment, DAY - timedelta(days=2)),
    )
    ages = {
        r["segment_id"]: r["data_age_days"]
        for r in database.rpc("orchestration_inputs", {"p_day": DAY.isoformat()}, caller=SERVICE)
    }
    assert ages[segment] == 3
    sql.execute("delete from lead_generation_stats where segment_id = %s", (segment,))
    ages = {
        r["segment_id"]: r["data_age_days"]
        for r in database.rpc("orchestration_inputs", {"p_day": DAY.isoformat()}, caller=SERVICE)
    }
    assert ages[segment] is None


def test_with_clicks_the_paid_level_is_the_clicks_times_the_leads_per_click(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # The same days with clicks: the channel's paid leads at the week's spend are its last
    # scale_window_days' clicks, each scaled to that spend along the curve, times the paid
    # leads per click over the response window.
    sql.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
    aggregate(database, SERVICE, date(2026, 11, 9), DAY - timedelta(days=1))
    plan(database, SERVICE, DAY)
    sql.execute("update orchestration_settings set prior_elasticity = 0.42")
    sql.execute("delete from lead_channel_stats where channel = 'google_ads'")
    sql.execute(
        "insert into lead_channel_stats (segment_id, day, channel, leads_generated, spend, clicks)"
        " select segment_id, day, 'google_ads', least(leads_generated, 1 + extract(day from day)::int % 3),"
        " 20 + 7 * (extract(day from day)::int % 5), 30 + 11 * (extract(day from day)::int % 4)"
        " from lead_generation_stats"
    )
    settings = _rows(sql, "select * from orchestration_settings")[0]
    window, scale = settings["steering_window_days"], settings["scale_window_days"]
    response = settings["response_window_days"]
    e = D(str(settings["prior_elasticity"]))
    inputs = database.rpc("orchestration_inputs", {"p_day": DAY.isoformat()}, caller=SERVICE)
    checked = 0
    for row in inputs:
        if row["budgets_in_segment"] != 1 or row["paid_leads"] is None:
            continue
        days = _rows(
            sql,
            "select c.day, c.leads_generated, c.spend, c.clicks from lead_channel_stats c"
            " join lead_generation_stats s on s.segment_id = c.segment_id and s.day = c.day"
            " where c.segment_id = %s and c.channel = 'google_ads' and c.day < %s order by c.day",
            row["segment_id"],
            DAY,
        )
        rated = [d for d in days if d["day"] >= DAY - timedelta(days=response)]
        rate = D(sum(d["leads_generated"] for d in rated)) / D(sum(d["clicks"] for d in rated))
        week = [d for d in days if d["day"] >= DAY - timedelta(days=window)]
        week_spend = sum(D(d["spend"]) for d in week) / len(week)
        recent = [d for d in days if d["day"] >= DAY - timedelta(days=scale)]
        clicks = sum(
            paid_leads_at(D(d["clicks"]), D(d["spend"]), week_spend, e) for d in recent
        ) / len(recent)
        assert abs(D(str(row["paid_leads"])) - rate * clicks) < D("0.0001"), row["code"]
        # Not the leads' own average: the test tells the two apart.
        leads = sum(
            paid_leads_at(D(d["leads_generated"]), D(d["spend"]), week_spend, e) for d in recent
        ) / len(recent)
        assert abs(rate * clicks - leads) > D("0.01"), row["code"]
        checked += 1
    assert checked > 0
