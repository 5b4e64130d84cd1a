"""The controller's last check (`controller.rules.breaks_a_rule`) fed decisions that break
one rule each: the steering never makes them, so only these tests show that the safety
net holds by itself (bench/mutation.py removes each rule in turn)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from leadflow import controller
from leadflow.controller import ControllerConfig, Decision, SegmentSignal, decide
from leadflow.controller.rules import breaks_a_rule

EUR = 1_000_000
OLD = 60 * EUR
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
SIGNAL = SegmentSignal(
    current_budget_micros=OLD,
    min_budget_micros=10 * EUR,
    max_budget_micros=70 * EUR,
    target_leads=D(12),
    expected_leads=D("8.8"),
    paid_leads=D(5),
    spend_micros=53_500_000,
    data_age_days=1,
)


def change(new: int, gap: str) -> Decision:
    return Decision("increase" if new > OLD else "decrease", OLD, new, D(gap), "a bad steering")


def test_a_change_within_every_rule_passes() -> None:
    assert breaks_a_rule(SIGNAL, CONFIG, change(66 * EUR, "3")) == ""
    assert breaks_a_rule(SIGNAL, CONFIG, change(54 * EUR, "-3")) == ""


@pytest.mark.parametrize(
    ("decision", "rule"),
    [
        (change(66 * EUR, "-3"), "against the gap"),  # over target, yet raised
        (change(54 * EUR, "3"), "against the gap"),  # under target, yet lowered
        (change(66 * EUR, "0"), "against the gap"),  # on target, yet moved
        (change(72_010_000, "3"), "over the daily limit"),  # one cent past +20 %
        (change(47_990_000, "-3"), "over the daily limit"),  # one cent past -20 %
        (change(71 * EUR, "3"), "outside the segment bounds"),  # within 20 %, over the maximum
        (change(66_005_000, "3"), "not a billable amount"),  # half a cent
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_last_check_names_the_one_rule_a_decision_breaks(decision: Decision, rule: str) -> None:
    assert breaks_a_rule(SIGNAL, CONFIG, decision) == rule


def test_the_limit_is_exactly_twenty_percent_in_integer_arithmetic() -> None:
    assert breaks_a_rule(SIGNAL, CONFIG, change(72 * EUR, "3")) == "outside the segment bounds"
    wide = dataclasses.replace(SIGNAL, max_budget_micros=500 * EUR)
    assert breaks_a_rule(wide, CONFIG, change(72 * EUR, "3")) == ""
    assert breaks_a_rule(wide, CONFIG, change(48 * EUR, "-3")) == ""


def test_decide_turns_a_steering_that_goes_against_the_gap_into_a_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def bad_steering(signal: SegmentSignal, config: ControllerConfig) -> Decision:
        return Decision("increase", signal.current_budget_micros, 66 * EUR, D("-3"), "wrong way")

    monkeypatch.setattr(controller, "steer", bad_steering)
    held = decide(SIGNAL, CONFIG)
    assert held.action == "hold" and held.new_budget_micros == SIGNAL.current_budget_micros
    assert "against the gap" in held.reason


def decision(action: str, new: object, gap: object, old: object = OLD) -> Decision:
    return Decision(action, old, new, gap, "a bad steering")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        (decision("increase", 66 * EUR, D(3), old=59 * EUR), "old budget mismatch"),
        (decision("hold", 66 * EUR, D(3)), "hold changes the budget"),
        (decision("increase", None, D(3)), "missing amount"),
        (decision("increase", 66.0 * EUR, D(3)), "missing amount"),  # not an int
        (decision("increase", True, D(3)), "missing amount"),  # a bool is not an amount
        (decision("increase", 66 * EUR, None), "no gap"),
        (decision("increase", 66 * EUR, D("Infinity")), "no gap"),
        (decision("increase", 66 * EUR, D("NaN")), "no gap"),
        (decision("increase", 54 * EUR, D(3)), "action does not match the change"),
        (decision("decrease", 66 * EUR, D(-3)), "action does not match the change"),
        (decision("increase", OLD, D(3)), "action does not match the change"),
        (decision("decrease", OLD, D(-3)), "action does not match the change"),
        (decision("decrease", 54 * EUR, D("0.5")), "against the gap"),  # under target, by little
        (decision("increase", 66 * EUR, D("-0.5")), "against the gap"),  # over target, by little
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_malformed_decision_is_named_by_the_rule_it_breaks(bad: Decision, rule: str) -> None:
    assert breaks_a_rule(SIGNAL, CONFIG, bad) == rule


def test_a_hold_that_keeps_the_budget_passes() -> None:
    assert breaks_a_rule(SIGNAL, CONFIG, Decision.hold(OLD, "on target", D(0))) == ""


def test_small_gaps_move_the_budget_their_own_way() -> None:
    assert breaks_a_rule(SIGNAL, CONFIG, change(66 * EUR, "0.5")) == ""
    assert breaks_a_rule(SIGNAL, CONFIG, change(54 * EUR, "-0.5")) == ""


def test_the_bounds_are_inclusive() -> None:
    at_bounds = dataclasses.replace(SIGNAL, min_budget_micros=54 * EUR, max_budget_micros=66 * EUR)
    assert breaks_a_rule(at_bounds, CONFIG, change(66 * EUR, "3")) == ""
    assert breaks_a_rule(at_bounds, CONFIG, change(54 * EUR, "-3")) == ""
    assert (
        breaks_a_rule(at_bounds, CONFIG, change(53_990_000, "-3")) == "outside the segment bounds"
    )


def test_the_daily_limit_is_exact_for_a_limit_that_is_not_a_unit_fraction() -> None:
    fifteen = dataclasses.replace(CONFIG, max_daily_change=D("0.15"))
    assert breaks_a_rule(SIGNAL, fifteen, change(66 * EUR, "3")) == ""  # +10 %
    assert breaks_a_rule(SIGNAL, fifteen, change(69 * EUR, "3")) == ""  # +15 % exactly
    assert breaks_a_rule(SIGNAL, fifteen, change(69_010_000, "3")) == "over the daily limit"
