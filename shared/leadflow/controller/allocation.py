"""A segment's paid target split over its channels by marginal cost.

With budgets on more than one paid channel, a segment's leads can be bought where they
are cheapest at the margin. Each channel c has its own learned curve (paid leads grow like
spend ^ e_c, measured at the week's spend S_c where it bought P_c leads a day)::

    leads on c at spend S      L_c(S) = P_c x (S / S_c) ^ e_c
    marginal cost of a lead    dS/dL  = S / (e_c x L)

The paid target (the segment's target minus the leads that come without a steered
channel) is split so that the next lead costs the same on every channel, lambda, each
channel held within what its budgets' bounds let it spend::

    L_c(lambda) = clamp( (lambda x e_c x P_c ^ (1/e_c) / S_c) ^ (e_c / (1 - e_c)) )
    sum over c of L_c(lambda) = paid target          (lambda found by bisection)

Each budget then steers toward its channel's share: its gap is (L_c - expected paid
leads on c at yesterday's spend) / budgets on c. A channel without a curve yet (no spend
or no leads in the window) keeps an equal share of the segment's gap, so it still learns.

A channel at full reach (every budget of it lost less than `saturated_below` of its
impressions to budget yesterday: the controller's `saturation_lost_share`) cannot buy more
leads with more money, whatever its curve says: its share is held to at most the leads it
brings now, and the rest of the target goes to the channels that can still grow. (Without
this, a cheap channel that saturates soon was given a share it could never deliver: its
raise was then held as saturated while the other channel was cut to its smaller share, and
the segment fell short of its target.)
Single-channel segments are left exactly as they are. Pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: Elasticities are held under this for the split (at 1 the marginal cost is flat and
#: the split all-or-nothing).
MAX_SPLIT_ELASTICITY = 0.95
#: Bisection steps on log(lambda): 2^-80 of the bracket, far below a cent.
STEPS = 80


@dataclass(frozen=True)
class ChannelShare:
    """One channel's part of a segment's paid target (leads per day, the channel's total)."""

    channel: str
    budgets: int
    expected_paid: float
    """Paid leads the channel brings at yesterday's spend."""
    target_paid: float
    """Its share of the segment's paid target."""
    marginal_cost: float | None
    """Euro per paid lead at the margin at its share; None without a curve."""


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class _Curve:
    paid: float  # leads/day at `spend`
    spend: float  # euro/day
    e: float
    low: float  # leads/day at the channel's lowest allowed spend
    high: float  # ... and highest

    def leads_at(self, spend: float) -> float:
        return self.paid * (spend / self.spend) ** self.e

    def leads_for(self, marginal: float) -> float:
        """Leads where the next one costs `marginal` euro, within the bounds."""
        raw = (marginal * self.e * self.paid ** (1 / self.e) / self.spend) ** (
            self.e / (1 - self.e)
        )
        return min(max(raw, self.low), self.high)

    def marginal_at(self, leads: float) -> float:
        spend = self.spend * (leads / self.paid) ** (1 / self.e)
        return spend / (self.e * leads)


def _saturated(rows: Sequence[Mapping[str, Any]], below: float | None) -> bool:
    """Whether every budget of the channel was at full reach yesterday (lost less than
    `below` of its impressions to budget); False when unknown."""
    if below is None:
        return False
    lost = [_num(r.get("lost_impression_share_budget")) for r in rows]
    return all(x is not None and x < below for x in lost)


def _curve(
    rows: Sequence[Mapping[str, Any]], saturated_below: float | None = None, now: float = 0.0
) -> _Curve | None:
    """The channel's curve (its total over its budgets), held within what its budgets'
    bounds let it spend, and at full reach (`_saturated`) to at most `now` (its expected
    paid leads at yesterday's spend)."""
    first = rows[0]
    n = len(rows)
    paid = _num(first.get("paid_leads"))
    spend = _num(first.get("spend_micros"))
    e = _num(first.get("lead_elasticity"))
    if not paid or not spend or not e or paid <= 0 or spend <= 0 or e <= 0:
        return None
    e = min(e, MAX_SPLIT_ELASTICITY)
    curve = _Curve(paid * n, spend * n / 1e6, e, 0.0, math.inf)
    lo = _num(first.get("min_budget_micros")) or 0.0
    hi = _num(first.get("max_budget_micros"))
    low = curve.leads_at(lo * n / 1e6) if lo > 0 else 0.0
    high = curve.leads_at(hi * n / 1e6) if hi else math.inf
    if _saturated(rows, saturated_below):
        high = max(low, min(high, now))
    return _Curve(curve.paid, curve.spend, e, low, high)


def split(
    rows: Sequence[Mapping[str, Any]], saturated_below: float | None = None
) -> dict[str, ChannelShare] | None:
    """The paid target of one segment's budget rows (`orchestration_inputs`) split over its
    channels; None when the segment steers one channel or its target is unknown. A channel
    whose budgets all lost less than `saturated_below` of their impressions to budget is at
    full reach: it takes no larger share than the leads it brings now."""
    by_channel: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_channel[str(row["channel"])].append(row)
    if len(by_channel) < 2:
        return None
    first = rows[0]
    n = len(rows)
    target = _num(first.get("target_leads"))
    expected = _num(first.get("expected_leads"))
    if target is None or expected is None:
        return None
    expected_paid = {
        c: (_num(rs[0].get("expected_paid_leads")) or 0.0) * len(rs) for c, rs in by_channel.items()
    }
    organic = expected * n - sum(expected_paid.values())
    paid_target = max(target * n - organic, 0.0)
    curves = {c: _curve(rs, saturated_below, expected_paid[c]) for c, rs in by_channel.items()}
    blind = [c for c, curve in curves.items() if curve is None]
    known = {c: curve for c, curve in curves.items() if curve is not None}
    # A channel without a curve keeps an equal share of the gap (so it still learns); the
    # channels with curves share the rest at one marginal cost.
    gap = paid_target - sum(expected_paid.values())
    shares = {c: expected_paid[c] + gap / len(by_channel) for c in blind}
    rest = max(paid_target - sum(shares.values()), 0.0)
    lam: float | None = None
    if known:
        floor = sum(k.low for k in known.values())
        ceiling = sum(k.high for k in known.values())
        if rest <= floor:
            alloc = {c: k.low for c, k in known.items()}
        elif rest >= ceiling:
            alloc = {c: k.high for c, k in known.items()}
        else:
            lo, hi = math.log(1e-6), math.log(1e7)
            for _ in range(STEPS):
                mid = (lo + hi) / 2
                if sum(k.leads_for(math.exp(mid)) for k in known.values()) < rest:
                    lo = mid
                else:
                    hi = mid
            lam = math.exp(hi)
            alloc = {c: k.leads_for(lam) for c, k in known.items()}
        shares.update(alloc)
    return {
        c: ChannelShare(
            channel=c,
            budgets=len(rs),
            expected_paid=expected_paid[c],
            target_paid=max(shares[c], 0.0),
            marginal_cost=(
                known[c].marginal_at(shares[c]) if c in known and shares[c] > 0 else None
            ),
        )
        for c, rs in by_channel.items()
    }


def allocate(
    inputs: Sequence[Mapping[str, Any]], saturated_below: float | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every budget row with its target set to its channel's share (multi-channel segments
    only), and per segment id the shares, for the reasons and the audit (`saturated_below`:
    the controller's saturation_lost_share, see `split`)."""
    segments: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(inputs):
        segments[str(row["segment_id"])].append(i)
    out = [dict(row) for row in inputs]
    shares: dict[str, Any] = {}
    for segment, indexes in segments.items():
        split_ = split([inputs[i] for i in indexes], saturated_below)
        if split_ is None:
            continue
        shares[segment] = split_
        n = len(indexes)
        for i in indexes:
            row = out[i]
            share = split_[str(row["channel"])]
            expected = Decimal(str(row["expected_leads"]))
            gap = Decimal(repr((share.target_paid - share.expected_paid) / share.budgets))
            row["target_leads"] = round(expected + gap, 4)
            row["channel_target_paid_leads"] = round(share.target_paid, 4)
            row["budgets_in_segment"] = n
    return out, shares


def describe(channel: str, shares: Mapping[str, ChannelShare], labels: Mapping[str, str]) -> str:
    """One sentence: the channel's part of the segment's paid target, and why."""
    own = shares[channel]
    parts = []
    for c, share in sorted(shares.items()):
        cost = "" if share.marginal_cost is None else f" at €{share.marginal_cost:.2f} a lead"
        parts.append(f"{labels.get(c, c)} {share.target_paid:.1f}{cost}")
    total = sum(s.target_paid for s in shares.values())
    move = own.target_paid - own.expected_paid
    direction = "more" if move > 0.05 else "fewer" if move < -0.05 else "about as many"
    return (
        f"Paid target {total:.1f} leads/day split by marginal cost: {', '.join(parts)}; "
        f"{labels.get(channel, channel)} buys {direction} leads than at its current budget "
        f"({own.expected_paid:.1f})."
    )
