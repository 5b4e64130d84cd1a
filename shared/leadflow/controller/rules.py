"""The last check: a decision re-verified against the hard rules in exact integer arithmetic.

`decide` turns any violation into a hold, so a bug in the steering can cost a day, never
money.
"""

from __future__ import annotations

from leadflow.controller.arithmetic import is_int
from leadflow.controller.model import ControllerConfig, Decision, SegmentSignal


def breaks_a_rule(s: SegmentSignal, c: ControllerConfig, d: Decision) -> str:
    """The first hard rule `d` breaks, in exact arithmetic; '' when it keeps them all."""
    old, new = d.old_budget_micros, d.new_budget_micros
    if old != s.current_budget_micros:
        return "old budget mismatch"
    if d.action == "hold":
        return "" if new == old else "hold changes the budget"
    if not (is_int(old) and is_int(new)) or old is None or new is None:
        return "missing amount"
    if d.expected_gap is None or not d.expected_gap.is_finite():
        return "no gap"
    if (d.action == "increase") != (new > old) or new == old:
        return "action does not match the change"
    gap = d.expected_gap
    if (gap > 0 and new < old) or (gap < 0 and new > old) or gap == 0:
        return "against the gap"
    numerator, denominator = c.max_daily_change.as_integer_ratio()
    if abs(new - old) * denominator > old * numerator:
        return "over the daily limit"
    if not s.min_budget_micros <= new <= s.max_budget_micros:
        return "outside the segment bounds"
    if new % c.billable_unit_micros:
        return "not a billable amount"
    return ""
