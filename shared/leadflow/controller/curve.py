"""The budget response curve, its one home in Python: paid leads grow like spend ** e.

    paid leads at spend b = paid leads at spend s x (b / s) ** e        (0 < e <= 1)
    marginal CPL          = d(spend) / d(paid leads) = (s / paid) / e   (average CPL / e)
    the spend where the marginal CPL is `ratio` x today's = s x ratio ** (1 / (1 - e))

The database scales each day's paid leads along the same curve in `orchestration_inputs`
(`power(spend ratio, e)`); tests/core/test_controller_curve.py evaluates both on the same
stats and asserts they agree.
"""

from __future__ import annotations

from decimal import Decimal

from leadflow.controller.arithmetic import as_decimal
from leadflow.controller.model import ControllerConfig, SegmentSignal


def elasticity(s: SegmentSignal, c: ControllerConfig) -> Decimal:
    """The segment's estimated elasticity when valid (0 < e <= 1), else the prior."""
    e = as_decimal(s.lead_elasticity)
    return e if e is not None and 0 < e <= 1 else c.lead_elasticity


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
    times today's (e < 1; the inverse of the curve's derivative)."""
    return marginal_ratio ** (1 / (1 - e))
