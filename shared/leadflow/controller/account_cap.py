"""The account cap: the day's raises trimmed so that all budgets sum to at most the cap.

The room under the cap goes to the raises where the next euro earns the most accepted-lead
value (one price for all, found by bisection); holds and decreases stay as decided.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import localcontext

from leadflow.controller.arithmetic import CONTEXT, floor_unit, is_int
from leadflow.controller.economics import value_per_euro
from leadflow.controller.forecast import forecast
from leadflow.controller.model import ControllerConfig, Decision, SegmentSignal
from leadflow.controller.wording import eur, lower, num


def fit_account_cap(
    signals: list[SegmentSignal],
    decisions: list[Decision],
    cap_micros: int | None,
    config: ControllerConfig,
) -> list[Decision]:
    """The decisions with their raises trimmed so the day's budgets sum to at most the cap.

    Holds and decreases stay; the room left under the cap goes to the raises where the
    next euro earns the most accepted-lead value (one price lambda for all: each raise
    stops where value x acceptance x d(paid leads)/d(budget) falls to 1 + lambda, and
    never beyond what `decide` wanted). A raise without a known value comes last. Every
    trimmed amount lies between the old budget and the wanted one (so within the daily
    limit, on the gap's side) and within the bounds, else it becomes a hold. Pure.
    """
    if cap_micros is None or not is_int(cap_micros):
        return list(decisions)
    with localcontext(CONTEXT):
        return _fit_account_cap([forecast(s) for s in signals], decisions, cap_micros, config)


def _fit_account_cap(
    signals: list[SegmentSignal],
    decisions: list[Decision],
    cap: int,
    c: ControllerConfig,
) -> list[Decision]:
    amounts = [d.new_budget_micros or 0 for d in decisions]
    if sum(amounts) <= cap:
        return list(decisions)
    raises = _raises(decisions)
    fixed = sum(a for i, a in enumerate(amounts) if i not in raises)
    room = cap - fixed - sum(decisions[i].old_budget_micros or 0 for i in raises)
    rates = {i: value_per_euro(signals[i], c, decisions[i].old_budget_micros or 0) for i in raises}

    def trimmed(price: float) -> dict[int, int]:
        return {
            i: _trimmed(
                decisions[i].old_budget_micros or 0,
                decisions[i].new_budget_micros or 0,
                rates[i],
                price,
                signals[i].min_budget_micros,
                c.billable_unit_micros,
            )
            for i in raises
        }

    chosen = {i: decisions[i].old_budget_micros or 0 for i in raises}
    price = math.inf
    if room > 0:
        candidate, at = _fill(trimmed, sum(chosen.values()), room)
        if sum(candidate.values()) - sum(chosen.values()) <= room:
            chosen, price = candidate, at
    out = list(decisions)
    for i in raises:
        if chosen[i] != decisions[i].new_budget_micros:
            out[i] = _trimmed_decision(decisions[i], chosen[i], cap, price)
    if sum(x.new_budget_micros or 0 for x in out) > cap and any(
        x.action == "increase" for x in out
    ):  # pragma: no cover - the trimming above never overshoots; a last net
        return [
            Decision(
                "hold",
                x.old_budget_micros,
                x.old_budget_micros,
                x.expected_gap,
                f"Holding: the account cap {eur(cap)}/day would be exceeded.",
            )
            if x.action == "increase"
            else x
            for x in out
        ]
    return out


def _raises(decisions: list[Decision]) -> list[int]:
    """The indexes of the decisions that raise a known, positive budget."""
    return [
        i
        for i, d in enumerate(decisions)
        if d.action == "increase"
        and is_int(d.old_budget_micros)
        and is_int(d.new_budget_micros)
        and d.old_budget_micros is not None
        and d.new_budget_micros is not None
        and d.new_budget_micros > d.old_budget_micros > 0
    ]


def _trimmed(
    old: int, new: int, rate: tuple[float | None, float], price: float, low: int, unit: int
) -> int:
    """A raise from `old` toward `new` stopped where the next euro's value (`rate`, with its
    elasticity) falls to 1 + `price`: billable, and the old budget when below the minimum."""
    value, e = rate
    if value is None:
        wanted = new if price <= 0 else old
    elif value <= 1 + price:
        wanted = old
    elif e >= 1:
        wanted = new
    else:
        factor = (value / (1 + price)) ** (1 / (1 - e))
        wanted = int(min(old * factor, new))
    amount = floor_unit(max(min(wanted, new), old), unit)
    if amount < max(old, low):
        amount = old
    return amount


def _fill(
    trimmed: Callable[[float], dict[int, int]], before: int, room: int
) -> tuple[dict[int, int], float]:
    """The raises at the lowest price whose added money fits in `room` (bisection), and that
    price; the caller checks that they fit."""
    low, high = -1.0, 1.0
    while sum(trimmed(high).values()) - before > room and high < 1e9:
        low, high = high, high * 4
    for _ in range(50):
        middle = (low + high) / 2
        if sum(trimmed(middle).values()) - before > room:
            low = middle
        else:
            high = middle
    return trimmed(high), high


def _trimmed_decision(d: Decision, amount: int, cap: int, price: float) -> Decision:
    """The raise `d` trimmed to `amount` (a hold at its old budget), saying why."""
    note = (
        f"the account cap {eur(cap)}/day binds: the money goes where the next euro "
        f"earns most (here it must earn at least €{num(1 + price)} of accepted-lead value)"
        if math.isfinite(price)
        else f"the account cap {eur(cap)}/day leaves no room for raises"
    )
    if amount == d.old_budget_micros:
        return Decision.hold(
            d.old_budget_micros,
            f"Holding: {lower(d.reason.rstrip('.'))}; but {note}.",
            d.expected_gap,
        )
    return Decision(
        "increase",
        d.old_budget_micros,
        amount,
        d.expected_gap,
        f"{d.reason.rstrip('.')}; {note}: trimmed to {eur(amount)}.",
    )
