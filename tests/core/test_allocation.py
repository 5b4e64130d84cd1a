"""A segment's paid target split over its channels by marginal cost
(`leadflow.controller.allocation`): the cheaper channel at the margin takes more, a
channel at full reach takes no more than it brings, one channel is left alone."""

from __future__ import annotations

from typing import Any

import pytest
from leadflow.controller.allocation import allocate, split


def _row(channel: str, **overrides: Any) -> dict[str, Any]:
    """One budget row of a two-budget segment as `orchestration_inputs` gives it: target 10
    leads/day, 4 organic, each channel 3 paid leads/day at 30 euro/day (per budget: halves)."""
    return {
        "segment_id": "s1",
        "code": "schilder_utrecht",
        "channel": channel,
        "budget_resource_name": f"{channel}/1",
        "target_leads": 5.0,
        "expected_leads": 5.0,
        "paid_leads": 3.0,
        "expected_paid_leads": 3.0,
        "spend_micros": 30_000_000,
        "lead_elasticity": 0.5,
        "min_budget_micros": 5_000_000,
        "max_budget_micros": 500_000_000,
        "lost_impression_share_budget": 0.3,
        **overrides,
    }


def test_the_channel_cheaper_at_the_margin_takes_more_of_the_paid_target() -> None:
    shares = split(
        [_row("google_ads"), _row("microsoft_ads", spend_micros=15_000_000)],
        saturated_below=0.02,
    )
    assert shares is not None
    google, microsoft = shares["google_ads"], shares["microsoft_ads"]
    # Paid target: the target, 10, less the 4 organic leads.
    assert google.target_paid + microsoft.target_paid == pytest.approx(6.0)
    assert microsoft.target_paid > 3.0 > google.target_paid
    assert google.marginal_cost == pytest.approx(microsoft.marginal_cost)


def test_a_channel_at_full_reach_takes_no_more_than_it_brings() -> None:
    cheap_but_full = _row(
        "microsoft_ads", spend_micros=15_000_000, lost_impression_share_budget=0.01
    )
    rows = [_row("google_ads", target_leads=6.0), {**cheap_but_full, "target_leads": 6.0}]
    shares = split(rows, saturated_below=0.02)
    assert shares is not None
    # Target 12, 4 organic: 8 paid. Microsoft is cheaper at the margin but at full reach: it
    # keeps its 3, Google buys the other 5.
    assert shares["microsoft_ads"].target_paid == pytest.approx(3.0)
    assert shares["google_ads"].target_paid == pytest.approx(5.0)
    # Without the lost impression share the curve alone would give Microsoft more.
    blind = split(rows)
    assert blind is not None and blind["microsoft_ads"].target_paid > 3.0
    # Each budget's target then is its channel's share: Google's gap is +2 leads/day.
    out, _ = allocate(rows, saturated_below=0.02)
    google = next(r for r in out if r["channel"] == "google_ads")
    microsoft = next(r for r in out if r["channel"] == "microsoft_ads")
    assert float(google["target_leads"]) - float(google["expected_leads"]) == pytest.approx(2.0)
    assert float(microsoft["target_leads"]) == pytest.approx(float(microsoft["expected_leads"]))


def test_a_full_channel_still_gives_up_leads_when_the_target_falls() -> None:
    rows = [
        _row("google_ads", target_leads=3.5),
        _row("microsoft_ads", target_leads=3.5, lost_impression_share_budget=0.0),
    ]
    shares = split(rows, saturated_below=0.02)
    assert shares is not None
    # Target 7, 4 organic: 3 paid, fewer than the 3 + 3 bought now: both give up leads.
    assert shares["google_ads"].target_paid + shares["microsoft_ads"].target_paid == pytest.approx(
        3.0
    )
    assert shares["microsoft_ads"].target_paid < 3.0


def test_a_single_channel_segment_is_left_as_it_is() -> None:
    rows = [_row("google_ads"), _row("google_ads", budget_resource_name="google_ads/2")]
    assert split(rows, saturated_below=0.02) is None
    out, shares = allocate(rows, saturated_below=0.02)
    assert shares == {} and out == rows
