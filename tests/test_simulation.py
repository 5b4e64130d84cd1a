"""`leadflow simulate`: four strategies on one market keep the safety rules, deterministically.

A small market (2 industries x 3 provinces, three weeks steered, one capacity
shock). The performance targets are for the full run (bench/RESULTS.md), not
asserted here.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import PgCluster
from leadflow.db import Caller, Database
from leadflow.jobs.orchestrate import controller_config
from leadflow_tools.simulation import (
    STRATEGIES,
    UNPROFITABLE_SHARE,
    SimulationOptions,
    SimulationResult,
    _safety,
    apply_scenario,
    clamp_budget,
    markdown,
    run_simulation,
    write_plot,
)

SMALL = SimulationOptions(
    seed=5,
    days=21,
    warmup_days=10,
    start=date(2026, 4, 20),
    industries=2,
    provinces=3,
    shock_share=0.2,
)


@pytest.fixture(scope="module")
def small(pg_cluster: PgCluster) -> SimulationResult:
    return run_simulation(pg_cluster.url, SMALL)


def _changes(result: SimulationResult, strategy: str) -> list[tuple[str, int, int]]:
    budgets = result.runs[strategy].budgets  # type: ignore[index]
    days = sorted(budgets)
    return [
        (name, budgets[before][name], budgets[after][name])
        for before, after in itertools.pairwise(days)
        for name in budgets[after]
        if budgets[after][name] != budgets[before][name]
    ]


def test_every_strategy_runs_every_steered_day_on_the_same_market(
    small: SimulationResult,
) -> None:
    steered = SMALL.days
    segments = len(small.model.segments)
    assert segments == 6
    for strategy in STRATEGIES:
        run = small.runs[strategy]
        assert len(run.budgets) == steered + 1  # and the day before the steering
        assert len(run.stats) == segments * steered
        assert {day for _, day in run.stats} == {
            SMALL.start + timedelta(days=n) for n in range(steered)
        }
    # Same market: capacity does not depend on the strategy.
    capacities = {round(small.metrics[s].capacity, 2) for s in STRATEGIES}
    assert len(capacities) == 1 and capacities.pop() > 0
    assert [s.kind for s in small.shocks] == ["join"]
    assert small.shocks[0].day == date(2026, 5, 1)


def test_fixed_budgets_never_change_and_the_others_do(small: SimulationResult) -> None:
    assert _changes(small, "fixed") == []
    for strategy in ("rules", "leadflow", "oracle"):
        assert _changes(small, strategy), f"{strategy} never changed a budget"


def test_every_budget_change_stays_within_20_percent_and_the_bounds(
    small: SimulationResult,
) -> None:
    bounds = {
        s.budget_resource_name: (s.min_budget_micros, s.max_budget_micros)
        for s in small.model.segments
    }
    for strategy in STRATEGIES:
        for name, old, new in _changes(small, strategy):
            low, high = bounds[name]
            assert abs(new - old) * 5 <= old, (strategy, name, old, new)
            assert low <= new <= high, (strategy, name, old, new)
            assert new % 10_000 == 0, (strategy, name, new)


def test_the_controller_never_moves_against_the_gap(small: SimulationResult) -> None:
    decisions = small.runs["leadflow"].decisions
    assert len(decisions) == SMALL.days * len(small.model.segments)
    changes = [d for d in decisions if d["action"] != "hold"]
    assert changes
    for d in changes:
        assert d["status"] == "success"
        assert d["expected_gap"] != 0
        assert (
            (d["expected_gap"] > 0)
            == (d["action"] == "increase")
            == (d["new_amount_micros"] > d["old_amount_micros"])
        )


def test_the_same_seed_gives_the_same_metrics(
    pg_cluster: PgCluster, small: SimulationResult
) -> None:
    again = run_simulation(pg_cluster.url, SMALL)
    assert again.as_json()["strategies"] == small.as_json()["strategies"]
    assert again.series == small.series


def test_metrics_are_shares_and_the_table_names_every_strategy(
    small: SimulationResult, tmp_path: Path
) -> None:
    for strategy in STRATEGIES:
        m = small.metrics[strategy]
        assert 0 < m.fill_rate <= 1
        assert m.over_delivery >= 0
        assert m.filled + m.over_delivered == pytest.approx(m.accepted)
        assert m.spend > 0 and m.cost_per_accepted
    assert small.metrics["fixed"].volatility == 0
    text = markdown(small)
    assert all(label in text for label in ("fixed", "rules", "Leadflow", "oracle"))
    assert text.count("met") >= 5
    page = write_plot(small, tmp_path / "simulation.html").read_text()
    assert "plotly" in page and "Capacity fill" in page


@pytest.mark.parametrize(
    ("old", "wanted", "expected"),
    [
        (100_000_000, 500_000_000, 120_000_000),  # capped at +20 %
        (100_000_000, 0, 80_000_000),  # capped at -20 %
        (100_000_000, 103_456_789, 103_450_000),  # rounded toward the old budget
        (100_000_000, 96_543_211, 96_550_000),
        (140_000_000, 200_000_000, 150_000_000),  # the maximum
        (3_000_000, 9_000_000, 3_000_000),  # below the minimum and out of reach: held
        (0, 9_000_000, 0),  # a zero budget is never raised
    ],
)
def test_baselines_clamp_their_budgets_like_the_controller(
    old: int, wanted: int, expected: int, database: Database
) -> None:
    # With the database's settings: a daily limit of 20 %, whole cents.
    config = controller_config(database, Caller.service())
    assert clamp_budget(old, wanted, 5_000_000, 150_000_000, config) == expected


@pytest.mark.parametrize("width", [80, 60])
def test_the_table_never_cuts_a_number_at_80_columns(small: SimulationResult, width: int) -> None:
    import io

    from leadflow_tools.simulation import table
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(table(small))
    out = buffer.getvalue()
    assert "…" not in out
    for strategy in STRATEGIES:
        assert f"€{small.metrics[strategy].spend:,.0f}" in out


MIXED = dataclasses.replace(SMALL, scenario="mixed", seed=6)


@pytest.fixture(scope="module")
def mixed(pg_cluster: PgCluster) -> SimulationResult:
    return run_simulation(pg_cluster.url, MIXED)


def test_the_scenarios_change_the_market_as_described(small: SimulationResult) -> None:
    model, cap = apply_scenario(small.model, dataclasses.replace(SMALL, scenario="mixed"))
    before = {s.code: s for s in small.model.segments}
    dearer = [s for s in model.segments if s.saturation_spend > before[s.code].saturation_spend]
    assert len(dearer) == max(1, round(UNPROFITABLE_SHARE * len(model.segments)))
    drifting = sorted(s.cost_drift for s in model.segments if s.cost_drift)
    assert drifting and drifting[0] < 0 < drifting[-1]
    s = next(s for s in model.segments if s.cost_drift > 0)
    assert s.drift_start is not None
    assert s.cost_factor(s.drift_start) == 1.0
    assert s.cost_factor(s.drift_start + timedelta(days=60)) == pytest.approx(1.25)
    assert cap is not None
    assert sum(s.starting_budget_micros for s in model.segments) <= cap * 1_000_000
    assert apply_scenario(small.model, SMALL)[1] is None  # base: no cap


def test_mixed_scenario_keeps_the_cap_and_every_rule_for_every_strategy(
    mixed: SimulationResult,
) -> None:
    data = mixed.as_json()
    assert data["scenario"] == "mixed" and data["account_daily_cap"] > 0
    fields = {
        "strategy",
        "margin",
        "spend",
        "fill_rate",
        "over_delivery",
        "cost_per_accepted",
        "reconverged_within_7_days",
        "shocked_segments",
        "max_cap_use",
        "safety_violations",
    }
    assert [s["strategy"] for s in data["strategies"]] == list(STRATEGIES)
    for row in data["strategies"]:
        assert fields <= row.keys()
        assert row["safety_violations"] == 0, row
        assert 0 < row["max_cap_use"] <= 1, row
    cap = mixed.cap
    assert cap is not None
    for strategy in STRATEGIES:
        for day, budgets in mixed.runs[strategy].budgets.items():
            assert sum(budgets.values()) <= cap * 1_000_000, (strategy, day)
    reasons = [d["reason"] for d in mixed.runs["leadflow"].decisions if d["action"] != "hold"]
    assert any("accepted lead costs" in r or "worth" in r for r in reasons)


def test_safety_violations_count_days_that_break_a_rule(small: SimulationResult) -> None:
    run = small.runs["rules"]
    first = SMALL.start
    name = next(iter(run.budgets[first]))
    broken = dataclasses.replace(run, budgets={d: dict(b) for d, b in run.budgets.items()})
    broken.budgets[first][name] = broken.budgets[first - timedelta(days=1)][name] * 2
    metrics = small.metrics["rules"]
    assert metrics.safety_violations == 0
    # Doubled on the first day, back to the old amount on the second: two days break ±20 %.
    assert _safety(broken, small.model, SMALL, None)[0] == 2
    total = sum(broken.budgets[first].values()) / 1_000_000
    assert _safety(broken, small.model, SMALL, total - 1)[0] >= 1
