"""The economics of the next lead (`controller.economics`): its marginal cost per accepted
lead, its worth, and the budget and leads where the one meets the other."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from decimal import localcontext

from leadflow.controller import ControllerConfig, SegmentSignal
from leadflow.controller.arithmetic import CONTEXT
from leadflow.controller.economics import Economics, economics, expected_of

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
    spend_micros=50 * EUR,
    data_age_days=1,
    lead_value_micros=80 * EUR,
    acceptance_rate=D("0.8"),
    min_margin=D("0.2"),
)


def _of(s: SegmentSignal) -> Economics | str | None:
    with localcontext(CONTEXT):
        return economics(s, CONFIG, s.paid_leads, s.spend_micros, s.target_cpl_micros)


def test_the_next_accepted_lead_costs_the_marginal_cpl_over_the_acceptance_rate() -> None:
    e = _of(SIGNAL)
    assert isinstance(e, Economics)
    assert e.marginal_cpl == 20 * EUR  # €50 / 5 leads / elasticity 0.5
    assert e.marginal == 25 * EUR  # / acceptance 0.8
    assert e.worth == 64 * EUR  # €80 less the 20 % minimum margin
    assert e.describe() == (
        "€25.00 (marginal CPL €20.00 ÷ acceptance 80%) against its value €80.00 less the "
        "20% minimum margin (€64.00)"
    )


def test_the_budget_worth_buying_is_where_the_curve_makes_the_next_lead_cost_its_worth() -> None:
    e = _of(SIGNAL)
    assert isinstance(e, Economics) and e.worth_budget is not None and e.worth_leads is not None
    # e = 0.5: the marginal cost grows like spend^0.5, so (64 / 25)^2 = 6.5536 x the spend.
    assert e.worth_budget == D("6.5536") * 50 * EUR
    # The budget is not known to limit volume: leads from the expected ones, + 5 x (2.56 - 1).
    assert e.worth_leads == D("8.8") + 5 * (D("2.56") - 1)


def test_without_a_value_or_any_cost_there_are_no_economics() -> None:
    assert _of(dataclasses.replace(SIGNAL, lead_value_micros=None)) is None
    assert _of(dataclasses.replace(SIGNAL, paid_leads=None, spend_micros=None)) is None


def test_an_economic_input_that_is_not_valid_is_a_reason_to_hold() -> None:
    for changes, words in (
        ({"lead_value_micros": -1}, "value of an accepted lead (-1)"),
        ({"acceptance_rate": D(0)}, "acceptance rate (0)"),
        ({"min_margin": D(1)}, "minimum margin (1)"),
        ({"lead_elasticity": D("1.5")}, "elasticity (1.5)"),
    ):
        reason = _of(dataclasses.replace(SIGNAL, **changes))  # type: ignore[arg-type]
        assert isinstance(reason, str) and reason.startswith("Holding: ") and words in reason


def test_expected_leads_that_are_not_a_number_count_as_none() -> None:
    assert expected_of(SIGNAL) == D("8.8")
    assert expected_of(dataclasses.replace(SIGNAL, expected_leads=D("NaN"))) == 0
