"""The forecast: the trailing week's leads taken to the day steered by its demand factor."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from leadflow.controller import ControllerConfig, SegmentSignal, decide
from leadflow.controller.forecast import MAX_DAY_FACTOR, forecast, forecast_note

EUR = 1_000_000
WEEK = SegmentSignal(
    current_budget_micros=60 * EUR,
    min_budget_micros=10 * EUR,
    max_budget_micros=500 * EUR,
    target_leads=D(12),
    expected_leads=D("8.8"),
    paid_leads=D(5),
    spend_micros=53_500_000,
    data_age_days=1,
)
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


def test_a_busy_day_scales_target_expected_and_paid_leads_and_nothing_else() -> None:
    day = forecast(dataclasses.replace(WEEK, day_factor=D("1.25")))
    assert (day.target_leads, day.expected_leads, day.paid_leads) == (D(15), D("11.000"), D("6.25"))
    assert day.day_factor is None
    assert (day.current_budget_micros, day.spend_micros) == (60 * EUR, 53_500_000)


@pytest.mark.parametrize("factor", [None, D(1), D(0), D(-1), MAX_DAY_FACTOR + 1, D("NaN")])
def test_without_a_valid_factor_the_signal_is_the_weeks_own(factor: D | None) -> None:
    week = dataclasses.replace(WEEK, day_factor=factor)
    assert forecast(week) is week


def test_unknown_leads_stay_unknown_on_a_forecast_day() -> None:
    day = forecast(dataclasses.replace(WEEK, paid_leads=None, day_factor=D(2)))
    assert day.paid_leads is None and day.target_leads == D(24)


def test_the_note_names_the_factor_and_the_organic_leads() -> None:
    week = dataclasses.replace(WEEK, day_factor=D("0.8"), organic_leads=D("3.333"))
    assert forecast_note(week) == (
        "Forecast for the day: target and leads x 0.80 of the trailing week "
        "(weekday/holiday pattern), 3.33 of them organic."
    )


def test_a_decision_on_a_forecast_day_ends_with_the_note_and_steers_the_days_gap() -> None:
    busy = dataclasses.replace(WEEK, day_factor=D("1.25"))
    d = decide(busy, CONFIG)
    assert d.reason.endswith(forecast_note(busy))
    assert d.expected_gap == D(15) - D("11.000")
    assert decide(WEEK, CONFIG).expected_gap == D(12) - D("8.8")
