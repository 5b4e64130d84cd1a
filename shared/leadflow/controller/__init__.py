"""The budget controller: one campaign budget's next daily amount from its lead gap.

Pure: numbers in, a :class:`Decision` with a one-sentence reason out; no I/O, no
clock, no randomness. The orchestrate job calls :func:`decide` once per campaign
budget and logs the decision before applying it; the market simulator calls it
to tune :class:`ControllerConfig`.

The steering (amounts in micros per day, leads per day)::

    gap            = target_leads - expected_leads            (> 0: under target)
    average CPL    = spend / paid_leads                       (recent Google Ads)
                     else target_cpl                          (no recent paid leads)
    marginal CPL   = average CPL / lead_elasticity
    wanted change  = gap * marginal CPL
    desired budget = base + wanted change
    base           = current budget; but when over target and the budget is not
                     what limits volume (lost impression share for budget below
                     saturation_lost_share), min(current budget, spend): money the
                     campaign leaves unspent buys no leads, so the cut starts there.

With no cost known at all, the wanted change is fallback_step * max_daily_change
* current budget in the gap's direction.

The economics (when the signal carries the value of an accepted lead)::

    elasticity e        = the segment's estimated elasticity, else config.lead_elasticity
    marginal cost per accepted lead M = marginal CPL / acceptance rate
    worth               = value x (1 - minimum margin + shortfall cost)   (a lead within
                          the target also saves what a lead missed within the partners'
                          capacity costs; config.shortfall_cost, 0: margin alone)
    never raise when M >= worth (hold, the reason names M and the value);
    with recent paid leads (at the week's spend), the budget where the next accepted lead
    costs exactly `worth` and the leads it buys are
        worth_budget = spend x (worth / M) ^ (1 / (1 - e))
        worth_leads  = expected + paid x ((worth / M) ^ (e / (1 - e)) - (current / spend) ^ e)
    (relative to the week's spend M is measured at, not to the current budget, which
    after a run of raises or cuts differs from it; `expected` is at the current budget), and the
    controller steers to min(target, worth_leads): gap = that - expected. So a
    segment whose leads cost more than they earn at the margin is lowered (its gap
    is negative) to worth_budget, one that is worth more is raised only up to it. The
    dead band is then dead_band x expected for both directions (no min_gap_leads floor).

Where the curve is straight or convex (e >= 0.99: the estimate is local, and below the
bend of an S-shaped curve it is above 1) the next lead costs no more than the average one
and no budget makes it cost `worth`: under target the budget is raised by the daily limit
while the average cost per accepted lead is under `worth` (or falls to it within the target
and the maximum); where it does not, every euro above the minimum loses money, so the
budget is cut toward the segment minimum (the leads worth buying are the minimum's, and the
gap is counted to them: the cut is on the gap's side); at the minimum it is held.

Probes: where the gap is within the dead band and the elasticity is uncertain (its sd >=
config.probe_min_sd), the budget moves by config.probe_step on the gap's side (never against
it; up only where the budget limits volume and a lead is worth buying), so that the
estimator sees spend vary; the reason starts "Probing: …".

Exploring below a bend: under target, where the next accepted lead costs more than it is
worth at the estimated e but, at e + config.explore_sd x sd, the curve would be convex there
and the average accepted lead would fall to its worth within the target and the maximum,
the budget is raised by the daily limit (a cut would take it further below the bend, where
a day buys too few leads to tell the curve's shape); the reason starts "Exploring: …".

An account daily cap is applied across budgets by :func:`fit_account_cap`.

Why divide by the elasticity: paid leads grow like spend ** e (0 < e < 1 where returns
diminish), so d(spend)/d(leads) = spend / (e * leads) = average CPL / e.
With e = 0.5 the next lead costs twice the average one.

The desired budget is then clamped, and every rule below holds for any input:

1. never against the gap: under target never lowers, over target never raises;
2. |new - old| <= max_daily_change * old (so a zero budget is never raised);
3. min_budget <= new <= max_budget when acting; a budget outside the bounds is
   brought inside only in the gap's direction and within the daily limit, else held;
4. new is a whole multiple of billable_unit_micros, rounded toward the old budget;
   a change that rounds to nothing is a hold;
5. hold when an input is missing or invalid, the data is stale, the gap is inside
   the dead band, or (under target) the budget is not what limits volume.

A last check (`rules.breaks_a_rule`) re-verifies rules 1-4 in exact integer arithmetic
and turns any violation into a hold, so a bug here can cost a day, never money.

The parts, one module each: `model` (the config, the signal, the decision), `forecast`
(the day's demand factor), `curve` (the budget response curve), `economics` (what the next
accepted lead costs and is worth), `steering` (toward the gap) with `window` (where a move
may land), `account_cap`, `rules` (the last check), `wording` (numbers in reasons) and
`arithmetic` (exact amounts).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import localcontext

from leadflow.controller.account_cap import fit_account_cap
from leadflow.controller.arithmetic import CONTEXT, MICROS_PER_UNIT
from leadflow.controller.economics import expected_of
from leadflow.controller.forecast import MAX_DAY_FACTOR, forecast, forecast_note
from leadflow.controller.model import (
    MIN_LOGGED_GAP,
    Action,
    ControllerConfig,
    Decision,
    SegmentSignal,
)
from leadflow.controller.rules import breaks_a_rule
from leadflow.controller.steering import steer

__all__ = [
    "MAX_DAY_FACTOR",
    "MICROS_PER_UNIT",
    "MIN_LOGGED_GAP",
    "Action",
    "ControllerConfig",
    "Decision",
    "SegmentSignal",
    "decide",
    "expected_of",
    "fit_account_cap",
]


def decide(signal: SegmentSignal, config: ControllerConfig) -> Decision:
    """The next daily budget for one campaign budget; never raises, never breaks a rule."""
    with localcontext(CONTEXT):
        steered = forecast(signal)
        decision = steer(steered, config)
        broken = breaks_a_rule(steered, config, decision)
        if not broken and steered is not signal:
            decision = replace(decision, reason=f"{decision.reason} {forecast_note(signal)}")
    if broken:
        return Decision.hold(
            signal.current_budget_micros,
            f"Holding: the computed change broke a safety rule ({broken}); please report this.",
            decision.expected_gap,
        )
    return decision
