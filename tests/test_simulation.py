"""`leadflow simulate`: four strategies on one market keep the safety rules, deterministically.

A small market (2 industries x 3 provinces, three weeks steered, one capacity
shock). The performance targets are for the full run (bench/RESULTS.md), not
asserted here.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import PgCluster
from leadflow_tools.simulation import (
    STRATEGIES,
    SimulationOptions,
    SimulationResult,
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
        assert d["lead_gap"] != 0
        assert (
            (d["lead_gap"] > 0)
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
    old: int, wanted: int, expected: int
) -> None:
    assert clamp_budget(old, wanted, 5_000_000, 150_000_000) == expected


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
