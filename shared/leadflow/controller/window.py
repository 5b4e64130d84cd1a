"""Where a move may land: the billable amounts between the least move and the daily limit or
the segment's bound, and the amount closest to the one wanted, rounded toward the old budget.

Rules 2-4 of the package docstring are made here: |new - old| <= max_daily_change x old,
min_budget <= new <= max_budget (a budget outside is brought inside only in the gap's
direction), new a whole multiple of billable_unit_micros; a change that rounds to nothing
is a hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from leadflow.controller.arithmetic import ceil_unit, floor_unit, max_step
from leadflow.controller.model import Action, ControllerConfig, Decision, SegmentSignal
from leadflow.controller.wording import eur, lower, pct


@dataclass(frozen=True)
class Window:
    """Where a move of one direction may land: billable amounts from `nearest` (the least
    move) to `farthest` (the daily limit or the bound toward which it moves)."""

    up: bool
    step: int
    """The daily limit in micros: floor(old x max_daily_change)."""
    nearest: int
    farthest: int


def window(s: SegmentSignal, c: ControllerConfig, old: int, told: str, *, up: bool) -> Window | str:
    """The amounts a raise (up) or a cut may take, or why the budget must be held."""
    low, high, unit = s.min_budget_micros, s.max_budget_micros, c.billable_unit_micros
    toward, away = (high, low) if up else (low, high)
    bound, other = ("maximum", "minimum") if up else ("minimum", "maximum")
    limit = f"{'+' if up else '-'}{pct(c.max_daily_change)}"
    told = lower(told)
    if (old > toward) if up else (old < toward):
        return (
            f"Holding: {told}, but the budget {eur(old)} is {'above' if up else 'below'} the "
            f"segment {bound} {eur(toward)} and may not be {'lowered' if up else 'raised'} "
            "against the gap; an operator should fix it."
        )
    if old == toward:
        return f"Holding: {told}, but already at the {bound} {eur(toward)}."
    if up and old == 0:
        return (
            f"Holding: {told}, but the budget is {eur(0)} and a daily change is capped "
            f"at {pct(c.max_daily_change)} of it; an operator should set a starting budget."
        )
    step = max_step(old, c.max_daily_change)
    if up:
        nearest = ceil_unit(max(low, old + 1), unit)
        farthest = floor_unit(min(high, old + step), unit)
    else:
        nearest = floor_unit(min(high, old - 1), unit)
        farthest = ceil_unit(max(low, old - step), unit)
    if (nearest > farthest) if up else (nearest < farthest):
        if (old < away) if up else (old > away):
            return (
                f"Holding: {told}, but the budget {eur(old)} is {'below' if up else 'above'} "
                f"the segment {other} {eur(away)} and {limit} ({eur(step)}) cannot reach it; "
                f"an operator should {'raise' if up else 'lower'} the budget to the {other}."
            )
        return (
            f"Holding: {told}, but no billable amount lies within {limit} of {eur(old)} "
            "and the segment bounds."
        )
    return Window(up, step, nearest, farthest)


def move(
    s: SegmentSignal,
    c: ControllerConfig,
    old: int,
    gap: Decimal,
    told: str,
    w: Window,
    desired: Decimal,
    wording: str,
) -> Decision:
    """The billable amount in the window closest to `desired`, rounded toward the old budget,
    or a hold when that is no change."""
    low, high, unit = s.min_budget_micros, s.max_budget_micros, c.billable_unit_micros
    toward, away = (high, low) if w.up else (low, high)
    bound, other = ("maximum", "minimum") if w.up else ("minimum", "maximum")
    if (desired >= w.farthest) if w.up else (desired <= w.farthest):
        new = w.farthest
        if (old + w.step <= high) if w.up else (old - w.step >= low):
            cap = f"capped at {'+' if w.up else '-'}{pct(c.max_daily_change)} ({eur(w.step)})"
        else:
            cap = f"capped at the segment {bound} {eur(toward)}"
    else:
        if w.up:
            new = floor_unit(int(desired.to_integral_value(ROUND_FLOOR)), unit)
        else:
            new = ceil_unit(int(desired.to_integral_value(ROUND_CEILING)), unit)
        cap = f"rounded {'down' if w.up else 'up'} to a billable amount" if new != desired else ""
        if (new < w.nearest) if w.up else (new > w.nearest):
            if (old >= away) if w.up else (old <= away):
                return Decision.hold(
                    s.current_budget_micros,
                    f"Holding: {lower(told)}; {wording}, which rounds to no change.",
                    gap,
                )
            moved = "raised" if w.up else "lowered"
            new, cap = w.nearest, f"{moved} to the segment {other} {eur(away)}"
    wording += f", {cap}" if cap else ""
    action: Action = "increase" if w.up else "decrease"
    return Decision(action, old, new, gap, f"{told}; {wording}: {eur(old)} → {eur(new)}.")
