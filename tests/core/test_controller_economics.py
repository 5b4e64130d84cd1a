"""The economics of the next lead (`controller.economics`): its marginal cost per accepted
lead, its worth, and the budget and leads where the one meets the other."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from decimal import localcontext

from leadflow.controller import ControllerConfig, Decision, SegmentSignal, decide
from leadflow.controller.arithmetic import CONTEXT
from leadflow.controller.economics import Economics, economics, expected_of, value_per_euro

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
        ({"lead_elasticity": D("2.5")}, "elasticity (2.5)"),
    ):
        reason = _of(dataclasses.replace(SIGNAL, **changes))  # type: ignore[arg-type]
        assert isinstance(reason, str) and reason.startswith("Holding: ") and words in reason


def test_expected_leads_that_are_not_a_number_count_as_none() -> None:
    assert expected_of(SIGNAL) == D("8.8")
    assert expected_of(dataclasses.replace(SIGNAL, expected_leads=D("NaN"))) == 0


# --------------------------------------------------------------------------- the partner promise

PROMISE = dataclasses.replace(CONFIG, shortfall_cost=D("0.25"))
# €140 a day bought 5 paid leads: marginal CPL €140 / 5 / 0.5 = €56, ÷ acceptance 0.8 = €70 per
# accepted lead: above the €64 the value less the margin gives, below the €84 a lead within the
# target is worth once the €20 shortfall cost it avoids (0.25 x €80) is counted.
DEAR = dataclasses.replace(SIGNAL, current_budget_micros=140 * EUR, spend_micros=140 * EUR)


def _decide(s: SegmentSignal, c: ControllerConfig) -> Decision:
    return decide(s, c)


def test_a_lead_within_the_target_is_worth_the_shortfall_it_avoids() -> None:
    with localcontext(CONTEXT):
        e = economics(SIGNAL, PROMISE, SIGNAL.paid_leads, SIGNAL.spend_micros, None)
    assert isinstance(e, Economics) and e.worth_budget is not None
    assert e.worth == 84 * EUR  # €80 x (1 - 0.2 + 0.25)
    assert e.shortfall == D("0.25")
    assert e.worth_budget == (D(84) / 25) ** 2 * 50 * EUR
    assert e.describe() == (
        "€25.00 (marginal CPL €20.00 ÷ acceptance 80%) against its worth €84.00 (its value "
        "€80.00 less the 20% minimum margin, plus the 25% shortfall cost a lead missed within "
        "the partners' capacity costs)"
    )


def test_it_raises_while_a_lead_within_the_target_costs_less_than_it_is_worth() -> None:
    margin_alone = _decide(DEAR, CONFIG)
    assert margin_alone.action == "hold"
    # 8.8 + 5 x (64 / 70 - 1) = 8.37 leads/day are worth buying on margin alone: a gap of
    # -0.43 inside the dead band (0.88), and the reason says what is not bought and why.
    assert "8.37 leads/day targeted, 8.8 expected" in margin_alone.reason
    assert (
        "3.63 of the 12 leads/day planned are not bought: they would cost more than they are "
        "worth (€70.00" in margin_alone.reason
    )
    promised = _decide(DEAR, PROMISE)
    # 8.8 + 5 x (84 / 70 - 1) = 9.8 worth buying, a gap of 1 over the band of 0.88: a raise
    # toward €140 + 1 x €56, within the 20 % daily limit: €168.
    assert promised.action == "increase"
    assert promised.new_budget_micros == 168 * EUR
    assert "2.2 of the 12 leads/day planned are not bought" in promised.reason
    assert "shortfall cost" in promised.reason


def test_a_lead_that_costs_more_than_it_is_worth_is_not_bought_and_the_reason_says_so() -> None:
    # Nothing in the week's numbers says how the curve bends beyond: no worth budget (spend
    # unknown, target CPL €70 ÷ e 0.5 ÷ acceptance 0.8 = €175 per accepted lead, above €84).
    s = dataclasses.replace(SIGNAL, paid_leads=None, spend_micros=None, target_cpl_micros=70 * EUR)
    d = _decide(s, PROMISE)
    assert d.action == "hold"
    assert "it is not bought, as it would cost more than it is worth" in d.reason
    assert "€175.00" in d.reason and "€84.00" in d.reason


def test_no_shortfall_cost_buys_a_lead_beyond_the_target() -> None:
    # Over target by 1 lead a day with leads far cheaper than their worth: never a raise.
    over = dataclasses.replace(SIGNAL, expected_leads=D(13))
    for cost in ("0", "0.25", "2"):
        d = _decide(over, dataclasses.replace(CONFIG, shortfall_cost=D(cost)))
        assert d.action != "increase", cost


def test_the_account_caps_value_per_euro_counts_the_shortfall_avoided() -> None:
    plain, e = value_per_euro(SIGNAL, CONFIG, 60 * EUR)
    promised, _ = value_per_euro(SIGNAL, PROMISE, 60 * EUR)
    assert plain is not None and promised is not None and e == 0.5
    assert promised / plain == 84 / 64
