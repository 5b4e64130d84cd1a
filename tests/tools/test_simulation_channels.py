"""`leadflow simulate --scenario two-channel`: every segment on Google Ads and Microsoft
Advertising; Leadflow steers both, `leadflow_google_only` only Google's; every strategy
keeps the safety rules on every budget of both channels, and the score counts both.

A small market (2 industries x 3 provinces, three weeks steered). Which strategy earns
more is for the full run (bench/RESULTS.md, "Two channels"), not asserted here.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from conftest import PgCluster
from leadflow.channels.base import BudgetChange
from leadflow_tools.google_ads_fake import InMemoryGoogleAds
from leadflow_tools.market import (
    MICROSOFT_ACCOUNT,
    MICROSOFT_COST,
    MICROSOFT_REACH,
    MarketModel,
)
from leadflow_tools.simulation import (
    TWO_CHANNEL_STRATEGIES,
    SimulationOptions,
    SimulationResult,
    markdown,
    run_simulation,
)

TWO = SimulationOptions(
    seed=5,
    days=21,
    warmup_days=10,
    start=date(2026, 4, 20),
    industries=2,
    provinces=3,
    shock_share=0.2,
    market="hill",
    scenario="two-channel",
)
PREFIX = "leadflow_sim_hill_two_channel_5"


@pytest.fixture(scope="module")
def two(pg_cluster: PgCluster) -> Iterator[SimulationResult]:
    result = run_simulation(pg_cluster.url, TWO, keep=True)
    try:
        yield result
    finally:
        for name in ["base", *TWO_CHANNEL_STRATEGIES]:
            pg_cluster.drop(f"{PREFIX}_{name}")


def _channel_of(result: SimulationResult) -> dict[str, str]:
    return {c.budget_resource_name: c.channel for c in result.model.campaigns}


def _changes(result: SimulationResult, strategy: str, channel: str) -> list[tuple[str, int, int]]:
    budgets = result.runs[strategy].budgets  # type: ignore[index]
    on = _channel_of(result)
    days = sorted(budgets)
    return [
        (name, budgets[before][name], budgets[after][name])
        for before, after in itertools.pairwise(days)
        for name in budgets[after]
        if on[name] == channel and budgets[after][name] != budgets[before][name]
    ]


def test_every_segment_has_a_budget_on_each_channel_with_its_own_curve(
    two: SimulationResult,
) -> None:
    model = two.model
    assert len(model.segments) == 6 and len(model.others) == 6
    assert two.strategies == TWO_CHANNEL_STRATEGIES
    day = TWO.start
    for segment in model.segments:
        google, microsoft = model.campaigns_of(segment.segment_id)
        assert (google.channel, microsoft.channel) == ("google_ads", "microsoft_ads")
        assert microsoft.customer_id == MICROSOFT_ACCOUNT
        assert microsoft.budget_resource_name.startswith(f"accounts/{MICROSOFT_ACCOUNT}/budgets/")
        assert microsoft.organic_per_day == 0 < google.organic_per_day
        # A smaller reach, cheaper leads at full reach: the ranges the market draws from.
        reach = microsoft.saturation_leads / google.saturation_leads
        assert MICROSOFT_REACH[0] <= reach <= MICROSOFT_REACH[1]
        cost = (microsoft.saturation_spend / microsoft.saturation_leads) / (
            google.saturation_spend / google.saturation_leads
        )
        assert MICROSOFT_COST[0] <= cost <= MICROSOFT_COST[1]
        assert microsoft.full_reach_budget(day) < google.full_reach_budget(day)
        # Its own bounds: the segment's, per budget, as the database applies them.
        assert (microsoft.min_budget_micros, microsoft.max_budget_micros) == (
            google.min_budget_micros,
            google.max_budget_micros,
        )
        assert (
            microsoft.min_budget_micros
            <= microsoft.starting_budget_micros
            <= microsoft.max_budget_micros
        )
    assert two.as_json()["budgets_per_channel"] == {"google_ads": 6, "microsoft_ads": 6}


def test_leadflow_and_the_oracle_move_both_channels_and_google_only_never_microsoft(
    two: SimulationResult,
) -> None:
    for strategy in ("leadflow", "oracle", "rules"):
        assert _changes(two, strategy, "google_ads"), strategy
        assert _changes(two, strategy, "microsoft_ads"), strategy
    assert _changes(two, "leadflow_google_only", "google_ads")
    assert _changes(two, "leadflow_google_only", "microsoft_ads") == []
    assert _changes(two, "fixed", "microsoft_ads") == _changes(two, "fixed", "google_ads") == []
    # Leadflow logged live decisions for both channels; the Google-only run for Google alone.
    both = {d["channel"] for d in two.runs["leadflow"].decisions}
    google = {d["channel"] for d in two.runs["leadflow_google_only"].decisions}
    assert both == {"google_ads", "microsoft_ads"}
    assert google == {"google_ads"}


def test_no_strategy_breaks_a_safety_rule_on_either_channel(two: SimulationResult) -> None:
    bounds = {
        c.budget_resource_name: (c.min_budget_micros, c.max_budget_micros)
        for c in two.model.campaigns
    }
    moved = 0
    for strategy in two.strategies:
        m = two.metrics[strategy]
        assert m.safety_violations == 0, strategy
        assert m.violations_by_channel == {"google_ads": 0, "microsoft_ads": 0}, strategy
        for channel in ("google_ads", "microsoft_ads"):
            for name, old, new in _changes(two, strategy, channel):
                low, high = bounds[name]
                assert abs(new - old) * 5 <= old, (strategy, name, old, new)
                assert low <= new <= high, (strategy, name, old, new)
                moved += 1
    assert moved > 0


def test_every_score_counts_both_channels_spend_and_leads(two: SimulationResult) -> None:
    rows = {r["strategy"]: r for r in two.as_json()["strategies"]}
    assert set(rows) == set(TWO_CHANNEL_STRATEGIES)
    for strategy in two.strategies:
        m = two.metrics[strategy]
        assert set(m.spend_by_channel) == {"google_ads", "microsoft_ads"}
        assert all(v > 0 for v in m.spend_by_channel.values()), strategy
        assert all(v > 0 for v in m.paid_leads_by_channel.values()), strategy
        assert m.spend == pytest.approx(sum(m.spend_by_channel.values()))
        assert m.margin == pytest.approx(m.revenue - m.spend - m.shortfall_cost)
        assert rows[strategy]["spend_by_channel"] == {
            c: round(v, 2) for c, v in m.spend_by_channel.items()
        }
    # The Google-only run still pays for the Microsoft budgets it does not steer: at their
    # hand-set amounts, as the fixed strategy's.
    google_only = two.metrics["leadflow_google_only"].spend_by_channel["microsoft_ads"]
    assert google_only == pytest.approx(two.metrics["fixed"].spend_by_channel["microsoft_ads"])
    names = [t.name for t in two.targets()]
    assert "more margin steering both channels than Google Ads alone" in names
    text = markdown(two)
    assert "(c1) Leadflow, Google Ads only" in text and "spend microsoft_ads" in text


def test_microsoft_leads_are_attributed_to_microsoft_ads(
    two: SimulationResult, pg_cluster: PgCluster
) -> None:
    with psycopg.connect(pg_cluster.url(f"{PREFIX}_leadflow")) as conn:
        by_channel = dict(
            conn.execute(
                "select source_channel, count(*) from leads where msclkid is not null"
                " group by source_channel"
            ).fetchall()
        )
        stats = dict(
            conn.execute(
                "select channel, sum(spend) from lead_channel_stats where day between %s and %s"
                " group by channel",
                (TWO.start, TWO.last_day),
            ).fetchall()
        )
    assert set(by_channel) == {"microsoft_ads"} and by_channel["microsoft_ads"] > 0
    # Leadflow's own stats measured each channel's spend as the market spent it (to the cent
    # a day).
    market = two.metrics["leadflow"].spend_by_channel
    assert float(stats["microsoft_ads"]) == pytest.approx(
        market["microsoft_ads"], abs=0.01 * TWO.days
    )
    assert float(stats["google_ads"]) == pytest.approx(market["google_ads"], abs=0.01 * TWO.days)


def test_the_fake_takes_budgets_of_both_channels_and_refuses_other_names() -> None:
    fake = InMemoryGoogleAds()
    google = "customers/1234567890/campaignBudgets/1"
    microsoft = f"accounts/{MICROSOFT_ACCOUNT}/budgets/2"
    campaign = f"accounts/{MICROSOFT_ACCOUNT}/campaigns/3/budget"
    for name in (google, microsoft, campaign):
        fake.add_budget(name, 10_000_000)
    changes = [
        BudgetChange(1, google, 12_000_000),
        BudgetChange(2, microsoft, 11_000_000),
        BudgetChange(3, campaign, 9_000_000),
    ]
    assert [r.status for r in fake.apply_budgets(changes, validate_only=False)] == ["success"] * 3
    assert fake.budgets[microsoft].amount_micros == 11_000_000
    for bad in ("customers/12/budgets/1", "accounts/x/budgets/1", "accounts/1/campaigns/2"):
        with pytest.raises(ValueError, match="not a campaign budget resource name"):
            fake.apply_budgets([BudgetChange(9, bad, 10_000_000)], validate_only=False)
    with pytest.raises(ValueError, match="whole cent"):
        fake.apply_budgets([BudgetChange(9, microsoft, 10_000_001)], validate_only=False)


def test_a_segment_without_a_second_row_keeps_one_channel() -> None:
    rows = [
        {
            "segment_id": f"00000000-0000-0000-0000-00000000000{i}",
            "code": code,
            "industry": "schilder",
            "region_code": "utrecht",
            "channel": channel,
            "customer_id": customer,
            "campaign_id": str(i),
            "budget_resource_name": name,
            "min_budget_micros": 5_000_000,
            "max_budget_micros": 500_000_000,
            "target_cpl_micros": 25_000_000,
            "accepted_per_day": 6.0,
        }
        for i, code, channel, customer, name in (
            (1, "a", "google_ads", "1234567890", "customers/1234567890/campaignBudgets/1"),
            (1, "a", "microsoft_ads", MICROSOFT_ACCOUNT, f"accounts/{MICROSOFT_ACCOUNT}/budgets/1"),
            (2, "b", "google_ads", "1234567890", "customers/1234567890/campaignBudgets/2"),
        )
    ]
    model = MarketModel.from_rows(3, rows)
    assert [s.code for s in model.segments] == ["a", "b"]
    assert [(c.code, c.channel) for c in model.others] == [("a", "microsoft_ads")]
    # Google's campaign draws what it drew before there were channels.
    alone = MarketModel.from_rows(3, [rows[0], rows[2]])
    assert alone.segments == model.segments
    day = date(2026, 5, 4)
    budgets = {c.budget_resource_name: 20_000_000 for c in model.campaigns}
    outcomes = model.simulate_day(day, budgets)
    assert [o.metrics.budget_resource_name for o in outcomes] == list(budgets)
    assert outcomes[:2] == alone.simulate_day(day, budgets)
    assert dataclasses.replace(model, others=()).campaigns == model.segments
