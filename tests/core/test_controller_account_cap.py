"""The account cap (`controller.account_cap`): the day's raises trimmed under the cap."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from leadflow.controller import ControllerConfig, Decision, SegmentSignal
from leadflow.controller.account_cap import _trimmed, fit_account_cap
from leadflow.controller.economics import value_per_euro

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
SIGNAL = SegmentSignal(
    current_budget_micros=60 * EUR,
    min_budget_micros=10 * EUR,
    max_budget_micros=500 * EUR,
    target_leads=D(12),
    expected_leads=D("8.8"),
    paid_leads=D(5),
    spend_micros=53_500_000,
    data_age_days=1,
    lead_value_micros=80 * EUR,
    acceptance_rate=D("0.8"),
)
RAISE = Decision("increase", 60 * EUR, 72 * EUR, D("3.2"), "Under target by 3.2 leads/day.")
CUT = Decision("decrease", 60 * EUR, 50 * EUR, D(-2), "Over target by 2 leads/day.")
HOLD = Decision.hold(40 * EUR, "Holding: inside the dead band.", D(0))


def test_under_the_cap_or_without_one_every_decision_stays() -> None:
    decisions = [RAISE, CUT, HOLD]
    assert fit_account_cap([SIGNAL] * 3, decisions, None, CONFIG) == decisions
    assert fit_account_cap([SIGNAL] * 3, decisions, 162 * EUR, CONFIG) == decisions


def test_without_room_a_raise_becomes_a_hold_and_cuts_and_holds_stay() -> None:
    fitted = fit_account_cap([SIGNAL] * 3, [RAISE, CUT, HOLD], 150 * EUR, CONFIG)
    assert fitted[1:] == [CUT, HOLD]
    assert fitted[0] == Decision(
        "hold",
        60 * EUR,
        60 * EUR,
        D("3.2"),
        "Holding: under target by 3.2 leads/day; but the account cap €150.00/day leaves no "
        "room for raises.",
    )


def test_with_some_room_a_raise_is_trimmed_to_fit_and_says_at_what_price() -> None:
    fitted = fit_account_cap([SIGNAL] * 3, [RAISE, CUT, HOLD], 155 * EUR, CONFIG)
    first = fitted[0]
    assert first.action == "increase"
    assert first.new_budget_micros == 65 * EUR  # all the room: 155 - 50 - 40
    assert "the account cap €155.00/day binds" in first.reason
    assert first.reason.endswith("trimmed to €65.00.")


def test_the_next_euro_earns_value_times_acceptance_times_the_curves_slope() -> None:
    # €80 x 0.8 x e 0.5 x 5 paid leads / €60 = 2.67 euro of accepted-lead value per euro.
    rate, e = value_per_euro(SIGNAL, CONFIG, 60 * EUR)
    assert e == 0.5 and rate is not None and abs(rate - 80 * 0.8 * 0.5 * 5 / 60) < 1e-12
    assert value_per_euro(dataclasses.replace(SIGNAL, paid_leads=None), CONFIG, 60 * EUR)[0] is None


def test_a_raise_stops_where_the_next_euro_earns_one_plus_the_price() -> None:
    old, new, unit = 60 * EUR, 72 * EUR, 10_000
    assert _trimmed(old, new, (None, 0.5), 0.0, 0, unit) == new  # no value known: last in
    assert _trimmed(old, new, (None, 0.5), 0.1, 0, unit) == old
    assert _trimmed(old, new, (1.5, 0.5), 0.5, 0, unit) == old  # worth exactly the price
    assert _trimmed(old, new, (3.0, 1.0), 0.5, 0, unit) == new  # linear: all or nothing
    # e = 0.5: the rate falls like budget^-0.5, so (2.2 / 2)^2 = 1.21 x old, capped at new.
    assert _trimmed(old, new, (2.2, 0.5), 1.0, 0, unit) == 72 * EUR
    assert _trimmed(old, new, (2.1, 0.5), 1.0, 0, unit) == 66_150_000
    # Below the segment minimum the raise is not worth making: the old budget stays.
    assert _trimmed(old, new, (2.1, 0.5), 1.0, 70 * EUR, unit) == old
