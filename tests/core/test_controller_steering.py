"""Steering toward the gap (`controller.steering`) and where a move may land
(`controller.window`), tested below `decide` (without its forecast and last check)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from leadflow.controller import ControllerConfig, Decision, SegmentSignal
from leadflow.controller.rules import breaks_a_rule
from leadflow.controller.steering import steer
from leadflow.controller.window import Window, move, window

EUR = 1_000_000
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
BASE = SegmentSignal(
    current_budget_micros=60 * EUR,
    min_budget_micros=10 * EUR,
    max_budget_micros=500 * EUR,
    target_leads=D(12),
    expected_leads=D("8.8"),
    paid_leads=D(5),
    spend_micros=53_500_000,
    data_age_days=1,
)


def signal(**changes: object) -> SegmentSignal:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def test_under_target_the_wanted_change_is_the_gap_times_the_marginal_cpl() -> None:
    # gap 3.2 x marginal CPL (53.5 / 5 / 0.5 = €21.40) = €68.48 wanted; +20 % caps at €72.
    d = steer(signal(), CONFIG)
    assert (d.action, d.old_budget_micros, d.new_budget_micros) == ("increase", 60 * EUR, 72 * EUR)
    assert d.expected_gap == D("3.2")
    assert "marginal CPL €21.40 (recent CPL €10.70 ÷ elasticity 0.5)" in d.reason
    assert "+€68.48 wanted, capped at +20% (€12.00)" in d.reason


def test_over_target_a_small_cut_is_rounded_up_to_a_billable_amount() -> None:
    # gap -0.3333 x €21.40 = -€7.13 wanted: €52.86738, rounded up (toward the old budget).
    no_band = dataclasses.replace(CONFIG, dead_band=D(0), min_gap_leads=D(0))
    d = steer(signal(expected_leads=D("12.3333")), no_band)
    assert (d.action, d.new_budget_micros) == ("decrease", 52_870_000)
    assert d.reason.endswith("rounded up to a billable amount: €60.00 → €52.87.")


def test_inside_the_dead_band_is_a_hold() -> None:
    # gap -0.3 inside the 10 % dead band of 12 (±1.2).
    d = steer(signal(expected_leads=D("12.3")), CONFIG)
    assert d.action == "hold" and "within the dead band of ±1.2" in d.reason


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"target_leads": None}, "no lead target"),
        ({"expected_leads": D("NaN")}, "expected leads (NaN) are not a valid number"),
        ({"data_age_days": 3}, "3 days old (more than 2)"),
        ({"current_budget_micros": None}, "current budget is unknown"),
        ({"min_budget_micros": 9 * EUR, "max_budget_micros": 8 * EUR}, "bounds"),
        ({"spend_micros": -1}, "recent spend (-1) is not valid"),
        ({"lost_impression_share_budget": 1.5}, "not a share between 0 and 1"),
    ],
)
def test_a_missing_or_invalid_input_is_a_hold_that_names_it(
    changes: dict[str, object], words: str
) -> None:
    d = steer(signal(**changes), CONFIG)
    assert d.action == "hold" and d.new_budget_micros == d.old_budget_micros
    assert d.reason.startswith("Holding: ") and words in d.reason


def test_an_economic_input_that_is_not_valid_is_a_hold_with_the_gap() -> None:
    d = steer(signal(lead_value_micros=40 * EUR, acceptance_rate=D("1.5")), CONFIG)
    assert d.action == "hold" and d.expected_gap == D("3.2")
    assert "acceptance rate (1.5) is not valid" in d.reason


def test_under_target_with_little_lost_to_budget_holds() -> None:
    d = steer(signal(lost_impression_share_budget=0.01), CONFIG)
    assert d.action == "hold" and "only 1% of impressions are lost to budget" in d.reason


def test_every_steered_decision_keeps_the_hard_rules() -> None:
    for target in range(0, 30):
        s = signal(target_leads=D(target))
        d = steer(s, CONFIG)
        assert breaks_a_rule(s, CONFIG, d) == "", (target, d)


def test_the_window_of_a_raise_runs_from_one_billable_step_to_the_daily_limit() -> None:
    w = window(signal(), CONFIG, 60 * EUR, "Under target", up=True)
    assert w == Window(up=True, step=12 * EUR, nearest=60_010_000, farthest=72 * EUR)
    w = window(signal(), CONFIG, 60 * EUR, "Over target", up=False)
    assert w == Window(up=False, step=12 * EUR, nearest=59_990_000, farthest=48 * EUR)


def test_a_window_at_the_bound_or_from_zero_is_a_reason_to_hold() -> None:
    at_max = window(signal(max_budget_micros=60 * EUR), CONFIG, 60 * EUR, "Under", up=True)
    assert at_max == "Holding: under, but already at the maximum €60.00."
    zero = window(signal(current_budget_micros=0), CONFIG, 0, "Under", up=True)
    assert isinstance(zero, str) and "set a starting budget" in zero


def test_a_move_lands_on_the_billable_amount_toward_the_old_budget() -> None:
    s = signal()
    w = window(s, CONFIG, 60 * EUR, "Under target", up=True)
    assert isinstance(w, Window)
    d = move(s, CONFIG, 60 * EUR, D(1), "Under target", w, D("65123456.7"), "wanted")
    assert d == Decision(
        "increase",
        60 * EUR,
        65_120_000,
        D(1),
        "Under target; wanted, rounded down to a billable amount: €60.00 → €65.12.",
    )
    tiny = move(s, CONFIG, 60 * EUR, D(1), "Under target", w, D(60_004_000), "wanted")
    assert tiny.action == "hold" and "rounds to no change" in tiny.reason
