"""`leadflow demo`: the synthetic marketplace, the simulated market and the daily loop."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import EMPTY_TEMPLATE, PgCluster
from leadflow.db import Database
from leadflow.db.direct import DirectTransport
from leadflow.errors import LeadflowError
from leadflow.jobs.orchestrate import Mode
from leadflow.settings import Settings
from leadflow_tools.demo import (
    DemoOptions,
    DemoResult,
    demo_database,
    install,
    resolve_options,
    run_demo,
)
from leadflow_tools.market import LAG_WEIGHTS, MarketModel, demand_factor
from leadflow_tools.simclock import database_clock

END = date(2026, 11, 25)  # a Wednesday
SMALL = DemoOptions(seed=7, days=10, end=END, industries=2, provinces=3)


def _demo(url: str, options: DemoOptions = SMALL) -> DemoResult:
    install(url)
    db = Database(DirectTransport(url, max_size=2))
    try:
        return run_demo(db, options, clock=database_clock(url))
    finally:
        db.close()


@pytest.fixture
def empty_db(pg_cluster: PgCluster) -> Iterator[str]:
    name = pg_cluster.create(EMPTY_TEMPLATE)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop(name)


# --------------------------------------------------------------------------- the loop


def test_small_demo_runs_every_job_every_day_and_steers_after_the_warmup(empty_db: str) -> None:
    result = _demo(empty_db)

    days = SMALL.days + 1  # every day with leads, and today
    segments = SMALL.industries * SMALL.provinces
    assert result.summary["segments"] == segments
    # A Google Ads budget per segment, and a Microsoft Advertising one for most of them.
    microsoft = result.summary["microsoft_budgets"]
    assert segments / 2 < microsoft <= segments
    budgets = segments + microsoft
    assert len(result.decisions) == budgets
    assert {d["channel"] for d in result.decisions} == {"google_ads", "microsoft_ads"}
    with psycopg.connect(empty_db) as conn:
        runs = dict(
            conn.execute(
                "select job, count(*) from job_runs where status = 'success' group by job"
            ).fetchall()
        )
        # The warm-up is aggregated as one backfill, every later day on its own.
        assert runs == {
            "aggregate": days - SMALL.warmup_days + 1,
            "plan": days,
            "orchestrate": days,
        }
        assert conn.execute(
            "select count(*) from job_runs where status <> 'success'"
        ).fetchone() == (0,)
        assert conn.execute(
            "select count(*), count(distinct day) from lead_segment_plans"
        ).fetchone() == (
            segments * days,
            days,
        )
        # Stats for every day before today (the first loop day aggregates the day before it).
        assert conn.execute(
            "select count(distinct day) from lead_generation_stats where day >= %s",
            (SMALL.first_day,),
        ).fetchone() == (SMALL.days,)
        log = dict(
            conn.execute(
                "select mode, count(*) from channel_orchestration_log group by mode"
            ).fetchall()
        )
        assert log == {
            "dry_run": budgets * SMALL.warmup_days,
            "live": budgets * (days - SMALL.warmup_days),
        }
        applied = conn.execute(
            "select count(*) from channel_orchestration_log where mode = 'live' and status = 'success'"
        ).fetchone()
        assert applied is not None and applied[0] > 0
        channels = {
            row[0] for row in conn.execute("select distinct source_channel from leads").fetchall()
        }
        assert channels == {"google_ads", "microsoft_ads", "seo", "microsite"}
        # A Microsoft lead carries its click id (msclkid) and Bing's paid UTMs.
        assert (
            conn.execute(
                "select count(*) filter (where msclkid is null or gclid is not null"
                " or utm_source <> 'bing' or utm_medium <> 'cpc'), count(*)"
                " from leads where source_channel = 'microsoft_ads'"
            ).fetchone()[0]
            == 0
        )  # type: ignore[index]
        # Both channels' budgets were changed live.
        moved = dict(
            conn.execute(
                "select channel, count(*) from channel_orchestration_log"
                " where mode = 'live' and status = 'success' group by channel"
            ).fetchall()
        )
        assert set(moved) == {"google_ads", "microsoft_ads"}
        statuses = {row[0] for row in conn.execute("select distinct status from leads").fetchall()}
        assert statuses == {"accepted", "rejected", "pending"}
        assert conn.execute(
            "select max(created_at at time zone 'Europe/Amsterdam')::date from leads"
        ).fetchone() == (END - timedelta(days=1),)
        assert conn.execute("select status from demo_marketplace").fetchone() == ("complete",)
        # Some partners cover several provinces.
        multi = conn.execute(
            "select count(*) from subscriptions where cardinality(region_codes) > 1"
        ).fetchone()
        assert multi is not None and multi[0] > 0


def test_every_applied_change_keeps_the_safety_rules(empty_db: str) -> None:
    _demo(empty_db)
    with psycopg.connect(empty_db) as conn:
        broken = conn.execute(
            """
            select l.id from channel_orchestration_log l
            join lead_segments s on s.id = l.segment_id
            where l.action <> 'hold'
              and (abs(l.new_amount_micros - l.old_amount_micros) > 0.2 * l.old_amount_micros
                   or l.new_amount_micros < s.min_daily_budget * 1e6
                   or l.new_amount_micros > s.max_daily_budget * 1e6
                   or (l.expected_gap > 0) <> (l.action = 'increase'))
            """
        ).fetchall()
    assert broken == []


def test_the_table_shows_each_change_beside_a_gap_of_its_sign(empty_db: str) -> None:
    """The target and expected leads the table shows are the ones the decision compared (its
    logged signal): a segment on two channels steers each to its share of the target, so the
    even split would show a raise beside a negative gap."""
    from leadflow_tools.demo import day_numbers

    result = _demo(empty_db)
    assert any(d.get("channel") == "microsoft_ads" for d in result.decisions)
    changed = [d for d in result.decisions if d["action"] in ("increase", "decrease")]
    assert changed
    for d in changed:
        gap = day_numbers(d)[2]  # one decimal: a gap under 0.05 shows as 0.0
        assert gap is not None, d
        assert not (gap < 0 if d["action"] == "increase" else gap > 0), d


def test_same_seed_gives_the_same_table_and_another_seed_another(pg_cluster: PgCluster) -> None:
    names = [pg_cluster.create(EMPTY_TEMPLATE) for _ in range(3)]
    try:
        first, second = (_demo(pg_cluster.url(n)) for n in names[:2])
        other = _demo(pg_cluster.url(names[2]), DemoOptions(**{**SMALL.__dict__, "seed": 8}))
    finally:
        for name in names:
            pg_cluster.drop(name)
    assert first.decisions == second.decisions
    assert (first.total, first.before, first.after) == (second.total, second.before, second.after)
    assert other.decisions != first.decisions


def test_dry_run_demo_never_changes_a_budget(empty_db: str) -> None:
    _demo(empty_db, DemoOptions(**{**SMALL.__dict__, "mode": Mode.dry_run}))
    with psycopg.connect(empty_db) as conn:
        assert conn.execute(
            "select count(*) from channel_orchestration_log where mode <> 'dry_run' or status = 'success'"
        ).fetchone() == (0,)


def test_demo_refuses_a_database_that_holds_a_marketplace(db_url: str) -> None:
    with pytest.raises(LeadflowError, match=r"only builds on an empty database.*--fresh"):
        _demo(db_url)


def test_options_not_given_come_from_the_stored_demo() -> None:
    stored = DemoOptions(seed=3, days=30, end=date(2026, 10, 1), industries=4, provinces=5)
    assert resolve_options({"seed": None, "days": None}, stored) == stored
    assert resolve_options({"seed": 4}, stored).seed == 4
    assert resolve_options({}, None).seed == 42


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"days": 3}, "--days"),
        ({"industries": 16}, "--industries"),
        ({"provinces": 0}, "--provinces"),
        ({"mode": Mode.validate_only}, "live"),
    ],
)
def test_bad_options_are_refused_in_words(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(LeadflowError, match=message):
        DemoOptions(**{**SMALL.__dict__, **changes})


# --------------------------------------------------------------------------- the market


def _model(seed: int = 1) -> MarketModel:
    rows = [
        {
            "segment_id": "00000000-0000-0000-0000-000000000001",
            "code": "schilder_utrecht",
            "industry": "schilder",
            "region_code": "utrecht",
            "customer_id": "1234567890",
            "campaign_id": "1",
            "budget_resource_name": "customers/1234567890/campaignBudgets/1",
            "min_budget_micros": 5_000_000,
            "max_budget_micros": 500_000_000,
            "target_cpl_micros": 25_000_000,
            "accepted_per_day": 6.0,
        }
    ]
    return MarketModel.from_rows(seed, rows)


def test_paid_leads_grow_with_budget_with_diminishing_returns_up_to_full_reach() -> None:
    segment = _model().segments[0]
    day = date(2026, 11, 24)
    leads = [segment.expected_paid_leads(day, euro * 1_000_000) for euro in (10, 20, 40, 80)]
    assert leads == sorted(leads) and leads[0] > 0
    gains = [b - a for a, b in itertools.pairwise(leads)]
    per_euro = [g / step for g, step in zip(gains, (10, 20, 40), strict=True)]
    assert per_euro == sorted(per_euro, reverse=True)  # each euro buys less
    reach = math.ceil(segment.reach(day) * 1_000_000)
    assert segment.expected_paid_leads(day, 2 * reach) == segment.expected_paid_leads(day, reach)


def test_the_budget_for_a_number_of_leads_inverts_the_curve() -> None:
    segment = _model().segments[0]
    day = date(2026, 11, 24)
    wanted = segment.expected_paid_leads(day, 30_000_000)
    budget = segment.budget_for_paid_leads(day, wanted)
    assert budget is not None and abs(budget - 30_000_000) <= 10_000
    assert segment.budget_for_paid_leads(day, 10 * segment.saturation_leads) is None


def test_the_market_is_a_pure_function_of_seed_segment_day_and_budget() -> None:
    model = _model()
    budgets = {model.segments[0].budget_resource_name: 40_000_000}
    day = date(2026, 11, 24)
    assert model.simulate_day(day, budgets) == model.simulate_day(day, budgets)
    assert model.organic_leads(day, day) == _model().organic_leads(day, day)
    assert _model(2).segments != model.segments


def test_paid_leads_arrive_up_to_three_days_after_the_click() -> None:
    model = _model()
    budgets = {model.segments[0].budget_resource_name: 400_000_000}
    days = [date(2026, 11, 1) + timedelta(days=n) for n in range(20)]
    outcomes = [model.simulate_day(d, budgets)[0] for d in days]
    lags = {
        (arrival - d).days for d, o in zip(days, outcomes, strict=True) for arrival, _ in o.arrivals
    }
    assert lags == set(range(len(LAG_WEIGHTS)))
    assert all(o.conversions == o.metrics.conversions for o in outcomes)
    saturated = [o.metrics.search_budget_lost_impression_share for o in outcomes]
    assert all(share is not None and share < 0.02 for share in saturated)


def test_demand_follows_the_weekday_and_dutch_holidays() -> None:
    monday, saturday = date(2026, 11, 23), date(2026, 11, 28)
    assert demand_factor(monday, 0, 0.0) > demand_factor(saturday, 0, 0.0)
    christmas, thursday_before = date(2026, 12, 25), date(2026, 12, 24)  # Fri vs Thu
    assert demand_factor(christmas, 0, 0.0) < 0.7 * demand_factor(thursday_before, 0, 0.0)


# --------------------------------------------------------------------------- the command


def _cli(*args: str, db_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", *args],
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "LEADFLOW_HOME": str(tmp_path / "home"),
            "DATABASE_URL": db_url,
        },
        check=False,
        timeout=120,
    )


def test_cli_demo_builds_then_reuses_and_refuses_to_replace_it_on_database_url(
    empty_db: str, tmp_path: Path
) -> None:
    args = ("demo", "--days", "8", "--industries", "1", "--provinces", "2", "--end", "2026-11-25")
    out = tmp_path / "report.html"
    first = _cli(*args, "--json", "--out", str(out), db_url=empty_db, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    built = json.loads(first.stdout)
    assert built["reused"] is False
    assert built["options"]["mode"] == "live"
    assert built["report"]["path"] == str(out) and out.stat().st_size > 1_000_000
    # Both segments' Google Ads budgets, and a Microsoft one beside most.
    assert len({d["code"] for d in built["decisions"]}) == 2
    assert sum(d["channel"] == "google_ads" for d in built["decisions"]) == 2
    # The economics: each segment's value, margin and estimated curve, and the cap (none).
    economics = built["economics"]
    assert {r["code"] for r in economics["segments"]} == {d["code"] for d in built["decisions"]}
    for r in economics["segments"]:
        assert 0 < r["elasticity"] <= 1 and r["elasticity_sd"] > 0
        assert float(r["margin"]) == pytest.approx(float(r["revenue"]) - float(r["spend"]))
    assert economics["account_daily_cap"] is None

    again = _cli("demo", "--top", "2", "--out", str(out), db_url=empty_db, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Reusing the demo in the database at DATABASE_URL" in again.stdout
    assert all(d["code"] in again.stdout for d in built["decisions"])
    assert str(out) in again.stdout.replace("\n", "")  # a long path may wrap at 80 columns
    assert "margin per day" in again.stdout and "Account daily cap: none" in again.stdout

    other = _cli("demo", "--seed", "3", db_url=empty_db, tmp_path=tmp_path)
    assert other.returncode == 1
    assert other.stderr.startswith("error: ") and len(other.stderr.splitlines()) == 1
    assert "point DATABASE_URL at an empty database" in other.stderr


def test_fresh_never_drops_the_database_at_database_url(empty_db: str) -> None:
    settings = Settings(DATABASE_URL=empty_db)
    with (
        pytest.raises(LeadflowError, match="only resets the embedded database"),
        demo_database(settings, fresh=True),
    ):
        pass


def test_on_a_sunday_the_table_shows_the_capacity_the_target_is_built_from(
    empty_db: str,
) -> None:
    """A Sunday's own capacity is 0 (no partner works) while the steered target is not:
    the table shows the trailing week's mean capacity, the days the target averages."""
    import io

    from leadflow_tools.demo import day_capacity, day_numbers, decision_table
    from rich.console import Console

    sunday = date(2026, 11, 22)
    assert sunday.isoweekday() == 7
    result = _demo(empty_db, DemoOptions(seed=7, days=10, end=sunday, industries=2, provinces=3))
    with psycopg.connect(empty_db) as conn:
        own = conn.execute(
            "select max(capacity) from lead_segment_plans where day = %s", (sunday,)
        ).fetchone()
    assert own == (0,)  # the day's own capacity: what the table used to show
    steered = [d for d in result.decisions if (day_numbers(d)[0] or 0) > 0]
    assert steered
    for d in steered:
        capacity = day_capacity(d)
        assert capacity is not None and capacity > 0, {
            k: d.get(k) for k in ("capacity", "target_leads", "expected_leads", "expected_gap")
        }
    console = Console(file=io.StringIO(), width=200, color_system=None)
    table, legend = decision_table(console, sunday, result.decisions, len(result.decisions), {})
    console.print(table)
    rows = [line.strip("│").split("│") for line in console.file.getvalue().splitlines()]
    codes = {d["code"] for d in result.decisions}
    text = console.file.getvalue()
    header = next(line for line in text.splitlines() if "capacity" in line)
    heads = [c.strip() for c in re.split(r"[│┃]", header.strip("│┃"))]
    at = heads.index("capacity")
    capacities = [float(cells[at]) for cells in rows if cells[0].strip() in codes]
    assert capacities and all(c > 0 for c in capacities), rows
    assert "a Sunday or holiday has 0 of its own" in " ".join(legend.split())
