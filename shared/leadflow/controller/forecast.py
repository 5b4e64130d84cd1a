"""The forecast: the trailing week's leads taken to the day steered by its demand factor.

The database gives each budget a `day_factor` (the day's weekday/holiday demand of its
industry over the trailing week's, docs/FORMULAS.md); the controller steers the day with
target, expected and paid leads x that factor.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from leadflow.controller.arithmetic import as_decimal
from leadflow.controller.model import SegmentSignal
from leadflow.controller.wording import leads

#: A day factor above this is taken for a data error and ignored (a holiday or weekday
#: is never ten times the trailing week's demand).
MAX_DAY_FACTOR = Decimal(10)


def forecast(s: SegmentSignal) -> SegmentSignal:
    """The signal for the day steered: the trailing week's target, expected and paid leads
    x the day's factor (weekday and public holidays, docs/FORMULAS.md): the week's leads
    arrive in the pattern's proportions, and a lead costs less on a busy day. Unchanged
    (the same object) without a valid factor."""
    f = as_decimal(s.day_factor)
    if f is None or f <= 0 or f > MAX_DAY_FACTOR or f == 1:
        return s

    def times(value: Decimal | None) -> Decimal | None:
        known = as_decimal(value)
        return value if known is None else known * f

    return replace(
        s,
        target_leads=times(s.target_leads),
        expected_leads=times(s.expected_leads),
        paid_leads=times(s.paid_leads),
        day_factor=None,
    )


def forecast_note(s: SegmentSignal) -> str:
    """The sentence a decision on a forecast day ends with (`s` is the signal before it)."""
    organic = as_decimal(s.organic_leads)
    of_which = "" if organic is None else f", {leads(organic)} of them organic"
    return (
        f"Forecast for the day: target and leads x {as_decimal(s.day_factor):.2f} of the "
        f"trailing week (weekday/holiday pattern){of_which}."
    )
