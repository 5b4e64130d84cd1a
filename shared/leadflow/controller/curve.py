"""The budget response curve, its one home in Python: paid leads grow like spend ** e.

    paid leads at spend b = paid leads at spend s x (b / s) ** e        (0 < e <= 2)
    marginal CPL          = d(spend) / d(paid leads) = (s / paid) / e   (average CPL / e)
    the spend where the marginal CPL is `ratio` x today's = s x ratio ** (1 / (1 - e))
                                                                        (e < STRAIGHT)

e is local: the elasticity where the segment spends. Below 1 the curve bends (the next lead
costs more than the average one); from STRAIGHT on it is straight or convex (below the bend of
an S-shaped curve: the next lead costs no more than the average one) and has no budget where
the marginal CPL reaches a given one, so the economics do not extrapolate it there.

The database scales each day's paid leads along the same curve in `orchestration_inputs`
(`power(spend ratio, e)`); tests/core/test_controller_curve.py evaluates both on the same
stats and asserts they agree.
"""

from __future__ import annotations

from decimal import Decimal

from leadflow.controller.arithmetic import as_decimal
from leadflow.controller.model import ControllerConfig, SegmentSignal

MAX_ELASTICITY = Decimal(2)
"""The largest elasticity a segment's estimate may have (the check on
segment_response_estimates.elasticity and orchestration_settings.elasticity_max)."""

STRAIGHT = Decimal("0.99")
"""From this elasticity on the curve counts as straight or convex: (W / M) ** (1 / (1 - e))
would overflow toward e = 1 and means nothing above it."""


BENDS_FROM = Decimal("1.05")
"""From this elasticity on the average cost falls measurably as the budget rises, and the
budget where it reaches a lead's worth, spend x (A / W) ** (1 / (e - 1)), is finite enough to
steer by (the economics' break_even_budget)."""


def elasticity(s: SegmentSignal, c: ControllerConfig) -> Decimal:
    """The segment's estimated elasticity when valid (0 < e <= MAX_ELASTICITY), else the
    prior."""
    e = as_decimal(s.lead_elasticity)
    return e if e is not None and 0 < e <= MAX_ELASTICITY else c.lead_elasticity


def is_convex(e: Decimal) -> bool:
    """Whether the curve is straight or convex at elasticity `e` (the next lead costs no more
    than the average one, up to rounding)."""
    return e >= STRAIGHT


def growth(spend_ratio: Decimal, e: Decimal) -> Decimal:
    """How many times the paid leads a spend `spend_ratio` times as high buys."""
    return spend_ratio**e


def paid_leads_at(paid: Decimal, spend: Decimal, budget: Decimal, e: Decimal) -> Decimal:
    """The paid leads a day of `budget` buys when `spend` bought `paid` (the same curve)."""
    return paid * growth(budget / spend, e)


def marginal_cpl(spend: Decimal | int, paid: Decimal, e: Decimal) -> Decimal:
    """What the next paid lead costs at `spend`: the average CPL (spend / paid) / e."""
    return spend / paid / e


def spend_ratio_for(marginal_ratio: Decimal, e: Decimal) -> Decimal:
    """The spend, as a multiple of today's, at which the marginal CPL is `marginal_ratio`
    times today's (e < STRAIGHT; the inverse of the curve's derivative)."""
    return marginal_ratio ** (1 / (1 - e))
