"""The economics of the next lead: what it costs at the margin, what an accepted lead is worth,
and how far the budget may go before the next accepted lead costs more than it earns.

    marginal cost per accepted lead M = marginal CPL / acceptance rate
    worth                             = value x (1 - minimum margin + shortfall cost)
    worth_budget = spend x (worth / M) ^ (1 / (1 - e))
    worth_leads  = expected + paid x ((worth / M) ^ (e / (1 - e)) - (current / spend) ^ e)

(relative to the week's spend M is measured at, not to the current budget; `expected` is
at the current budget). See the package docstring and docs/FORMULAS.md.

Where the curve is straight or convex (e >= curve.STRAIGHT: below the bend of an S-shaped
curve) the next lead costs no more than the average one and no budget makes it cost `worth`:
there is no worth_budget, and a lead within the target is bought while the average cost per
accepted lead A = (spend / paid leads) / acceptance is under its worth (`blocks_raise`); the
steering then raises by the daily limit.

The partner promise: the controller only buys leads within the day's target (partner
capacity), and a lead bought there also saves the shortfall cost a lead missed within the
capacity costs (`ControllerConfig.shortfall_cost`, a fraction of the value), so it is worth
value x (1 - min margin + shortfall cost). A lead beyond the target would be worth at most
value x (1 - min margin) and is never steered to (the target caps the leads bought).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from leadflow.controller.arithmetic import as_decimal, as_share, is_int
from leadflow.controller.curve import (
    BENDS_FROM,
    MAX_ELASTICITY,
    elasticity,
    growth,
    is_convex,
    marginal_cpl,
    spend_ratio_for,
)
from leadflow.controller.model import ControllerConfig, SegmentSignal
from leadflow.controller.wording import eur, share, text


@dataclass(frozen=True)
class Economics:
    """What the next accepted lead costs and is worth (micros), and what follows."""

    marginal: Decimal
    """Marginal cost per accepted lead at the current spend."""
    marginal_cpl: Decimal
    acceptance: Decimal
    value: Decimal
    min_margin: Decimal
    worth: Decimal
    """value x (1 - min_margin + shortfall): the most the next accepted lead within the
    target may cost."""
    worth_leads: Decimal | None
    """Leads/day at the budget where the next accepted lead costs `worth` (None: unknown)."""
    worth_budget: Decimal | None
    """That budget in micros (None: unknown or unlimited): the spend M was measured at (the
    week's) x (worth / M) ^ (1 / (1 - e)). The ratio is relative to that spend, not to the
    current budget: after a run of raises the current budget is above the week's spend, and
    scaling it would overshoot (and after cuts undershoot) the budget the curve names."""
    shortfall: Decimal = Decimal(0)
    """The shortfall cost (a fraction of the value) a lead bought within the target saves."""
    elasticity: Decimal = Decimal("0.5")
    """The elasticity the costs were computed with."""
    break_even_budget: Decimal | None = None
    """Convex curves (e >= BENDS_FROM) only: the budget (micros) where the average cost per
    accepted lead, falling as the budget rises, reaches the lead's worth:
    spend x (A / worth) ^ (1 / (e - 1)); None: unknown or not convex."""
    break_even_leads: Decimal | None = None
    """The leads/day at break_even_budget (as worth_leads is computed)."""
    floor_leads: Decimal | None = None
    """Convex curves only: the leads/day at the segment minimum (as worth_leads is computed):
    where a convex segment whose average accepted lead costs more than its worth, and does
    not fall to it within the target and the maximum, loses least (`loses_on_average`)."""

    @property
    def convex(self) -> bool:
        """Whether the curve is straight or convex here (the next lead costs no more than the
        average one): no worth_budget, raised by the daily limit while `average` < worth."""
        return is_convex(self.elasticity)

    @property
    def average(self) -> Decimal:
        """The average cost per accepted lead: M x e."""
        return self.marginal * self.elasticity

    @property
    def blocks_raise(self) -> bool:
        """Whether a lead within the target costs more than it is worth: M >= worth, or where
        the curve is convex the average cost per accepted lead >= worth (see `invests`)."""
        return (self.average if self.convex else self.marginal) >= self.worth

    def invests(self, target: Decimal, max_budget: int) -> bool:
        """Whether a convex segment whose average accepted lead costs more than its worth is
        still worth raising: the average falls as the budget rises and reaches the worth at
        break_even_budget, within the segment's maximum and with leads within the target."""
        return (
            self.convex
            and self.break_even_budget is not None
            and self.break_even_leads is not None
            and self.break_even_budget <= max_budget
            and self.break_even_leads <= target
        )

    def loses_on_average(self, target: Decimal, max_budget: int) -> bool:
        """Whether a convex segment loses money on every lead at any budget it may take: its
        average accepted lead costs more than its worth and, at this elasticity, does not
        fall to it within the target and the segment maximum (not `invests`). Each euro it
        spends there loses money, so it loses least at its minimum: it is cut toward it."""
        return self.convex and self.blocks_raise and not self.invests(target, max_budget)

    def describe_convex(self) -> str:
        """Why a convex segment is raised (or held), for a reason."""
        return (
            f"the curve is straight or convex here (elasticity {self.elasticity}): the next "
            f"lead costs no more than the average one, {eur(self.average)} per accepted lead "
            f"against its worth {eur(self.worth)}"
        )

    def describe(self) -> str:
        """The next accepted lead's cost against its worth, for a reason."""
        cost = (
            f"{eur(self.marginal)} (marginal CPL {eur(self.marginal_cpl)} ÷ acceptance "
            f"{share(self.acceptance)})"
        )
        if not self.shortfall:
            return (
                f"{cost} against its value {eur(self.value)} less the "
                f"{share(self.min_margin)} minimum margin ({eur(self.worth)})"
            )
        return (
            f"{cost} against its worth {eur(self.worth)} (its value {eur(self.value)} less the "
            f"{share(self.min_margin)} minimum margin, plus the {share(self.shortfall)} "
            "shortfall cost a lead missed within the partners' capacity costs)"
        )


def expected_of(s: SegmentSignal) -> Decimal:
    """The signal's expected leads as a finite Decimal (0 when not valid)."""
    return as_decimal(s.expected_leads) or Decimal(0)


def economics(
    s: SegmentSignal,
    c: ControllerConfig,
    paid: Decimal | None,
    spend: int | None,
    target_cpl: int | None,
) -> Economics | str | None:
    """The economics of the next lead; None without a value or a cost; a reason when an
    economic input is present but not valid."""
    if s.lead_value_micros is None:
        return None
    value = s.lead_value_micros
    if not is_int(value) or value < 0:
        return f"Holding: the value of an accepted lead ({text(value)}) is not valid."
    acceptance = Decimal(1) if s.acceptance_rate is None else as_decimal(s.acceptance_rate)
    if acceptance is None or not 0 < acceptance <= 1:
        return f"Holding: the acceptance rate ({text(s.acceptance_rate)}) is not valid."
    margin = Decimal(0) if s.min_margin is None else as_decimal(s.min_margin)
    if margin is None or not 0 <= margin < 1:
        return f"Holding: the minimum margin ({text(s.min_margin)}) is not valid."
    if s.lead_elasticity is not None:
        e = as_decimal(s.lead_elasticity)
        if e is None or not 0 < e <= MAX_ELASTICITY:
            return f"Holding: the elasticity ({text(s.lead_elasticity)}) is not valid."
    e = elasticity(s, c)
    observed = paid is not None and paid > 0 and spend is not None and spend > 0
    if observed and paid is not None and spend is not None:
        next_cpl = marginal_cpl(spend, paid, e)
    elif target_cpl is not None and target_cpl > 0:
        next_cpl = target_cpl / e
    else:
        return None
    marginal = next_cpl / acceptance
    worth = value * (1 - margin + c.shortfall_cost)
    worth_leads = worth_budget = None
    break_even_budget = break_even_leads = floor_leads = None
    if observed and paid is not None and spend is not None and marginal > 0:
        expected = as_decimal(s.expected_leads) or Decimal(0)
        # `expected` is measured at yesterday's spend, `paid` at the week's: while the budget
        # limits the campaign (it spends about its budget), the leads worth buying are the
        # expected ones plus the paid leads the curve adds from the current budget to
        # worth_budget, so that the gap's sign and the budget agree after a run of moves.
        current, lost = s.current_budget_micros, as_share(s.lost_impression_share_budget)
        limiting = lost is not None and lost >= c.saturation_lost_share
        now = Decimal(1)
        if limiting and is_int(current) and current is not None and current > 0:
            now = growth(current / Decimal(spend), e)
        if not is_convex(e):
            ratio = worth / marginal
            budget_limit = spend_ratio_for(ratio, e) if ratio > 0 else Decimal(0)
            worth_leads = expected + paid * (growth(budget_limit, e) - now)
            worth_budget = spend * budget_limit
            if not (worth_budget.is_finite() and worth_leads.is_finite()):
                worth_leads = worth_budget = None
        elif e >= BENDS_FROM:
            # Convex: the average cost per accepted lead falls like spend ** (1 - e); it is
            # the lead's worth at spend x (A / W) ** (1 / (e - 1)).
            ratio = marginal * e / worth
            break_even_budget = spend * ratio ** (1 / (e - 1))
            break_even_leads = expected + paid * (growth(break_even_budget / spend, e) - now)
            if not (break_even_budget.is_finite() and break_even_leads.is_finite()):
                break_even_budget = break_even_leads = None
        if is_convex(e) and is_int(s.min_budget_micros) and s.min_budget_micros >= 0:
            floor_leads = expected + paid * (growth(s.min_budget_micros / Decimal(spend), e) - now)
            if not floor_leads.is_finite():
                floor_leads = None
    return Economics(
        marginal,
        next_cpl,
        acceptance,
        Decimal(value),
        margin,
        worth,
        worth_leads,
        worth_budget,
        c.shortfall_cost,
        e,
        break_even_budget,
        break_even_leads,
        floor_leads,
    )


def value_per_euro(s: SegmentSignal, c: ControllerConfig, old: int) -> tuple[float | None, float]:
    """Accepted-lead value the next euro of budget buys at the current budget (a lead within
    the target counted at its worth, the shortfall it saves included), and the elasticity;
    (None, e) when unknown."""
    e = float(elasticity(s, c))
    paid, value = as_decimal(s.paid_leads), s.lead_value_micros
    acceptance = as_decimal(s.acceptance_rate) if s.acceptance_rate is not None else Decimal(1)
    if (
        paid is None
        or paid <= 0
        or old <= 0
        or not is_int(value)
        or value is None
        or value <= 0
        or acceptance is None
        or not 0 < acceptance <= 1
    ):
        return None, e
    margin = as_decimal(s.min_margin) if s.min_margin is not None else Decimal(0)
    if margin is None or not 0 <= margin < 1:
        return None, e
    worth = float(value) * (1 - float(margin) + float(c.shortfall_cost))
    return worth * float(acceptance) * e * float(paid) / old, e
