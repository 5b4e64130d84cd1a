"""Steering toward the gap: one budget's raise, cut or hold from its target and expected leads.

    gap            = target_leads - expected_leads            (> 0: under target)
    marginal CPL   = average CPL / lead_elasticity  (else target CPL / elasticity)
    wanted change  = gap * marginal CPL
    desired budget = base + wanted change (base: the current budget, or the spend when
                     over target and the budget is not what limits volume)

With an economics signal the target is at most the leads worth buying (`economics.py`);
where the desired budget may land is `window.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from leadflow.controller.arithmetic import as_decimal, as_share, is_int
from leadflow.controller.curve import BENDS_FROM, MAX_ELASTICITY, elasticity, marginal_cpl
from leadflow.controller.economics import Economics, economics, expected_of
from leadflow.controller.model import MIN_LOGGED_GAP, ControllerConfig, Decision, SegmentSignal
from leadflow.controller.window import move, window
from leadflow.controller.wording import eur, leads, lower, pct, share, text, upper


@dataclass(frozen=True)
class _Inputs:
    """The signal's numbers, checked: what every decision needs and the optional costs."""

    old: int
    target: Decimal
    expected: Decimal
    gap: Decimal
    paid: Decimal | None
    spend: int | None
    target_cpl: int | None
    lost: Decimal | None


def steer(s: SegmentSignal, c: ControllerConfig) -> Decision:
    """The decision for one budget (rules unchecked: `rules.breaks_a_rule` checks them)."""
    checked = _checked(s, c)
    if isinstance(checked, Decision):
        return checked
    old, target, expected, gap = checked.old, checked.target, checked.expected, checked.gap
    paid, spend, target_cpl, lost = checked.paid, checked.spend, checked.target_cpl, checked.lost

    def hold(reason: str) -> Decision:
        return Decision.hold(s.current_budget_micros, reason, gap)

    next_lead = economics(s, c, paid, spend, target_cpl)
    if isinstance(next_lead, str):
        return hold(next_lead)
    if next_lead is not None and next_lead.blocks_raise:
        explored = explore(s, c, old, target, gap, paid, spend, target_cpl, lost)
        if explored is not None:
            return explored
    told_worth = ""
    if next_lead is not None:
        worth_leads = next_lead.worth_leads
        if worth_leads is not None and worth_leads < target:
            # Leads past the budget where the next accepted one costs its worth lose money.
            planned, target = target, max(worth_leads, Decimal(0))
            gap = target - expected
            told_worth = (
                f"only {leads(target)} leads/day are worth buying (the next accepted lead "
                f"costs {next_lead.describe()}), so {not_bought(planned, target)}; "
            )
        invests = next_lead.invests(target, s.max_budget_micros)
        floor = next_lead.floor_leads
        if (
            gap > 0
            and next_lead.loses_on_average(target, s.max_budget_micros)
            and (floor is not None and floor < expected)
        ):
            # Convex and losing on every lead, with no break-even in reach: every euro above
            # the minimum loses money, so the leads worth buying are those the minimum buys.
            planned, target = target, max(floor, Decimal(0))
            gap = target - expected
            told_worth = (
                f"only {leads(target)} leads/day are worth buying ({next_lead.describe_convex()}, "
                "and at this elasticity the average does not fall to its worth within the "
                f"target and the segment maximum), so {not_bought(planned, target)}; "
            )
        elif gap > 0 and next_lead.blocks_raise and not invests:
            if next_lead.convex:
                return hold(
                    f"Holding: under target by {leads(gap)} leads/day; "
                    f"{next_lead.describe_convex()}; the next accepted lead would cost "
                    f"{next_lead.describe()}, but on average they cost more than they are "
                    "worth, so none is bought."
                )
            return hold(
                f"Holding: under target by {leads(gap)} leads/day, but the next accepted lead "
                f"would cost {next_lead.describe()}: it is not bought, as it would cost more "
                "than it is worth."
            )

    band = dead_band(c, target)
    if told_worth:
        # Steering to the leads worth buying: the band is relative to what is bought now,
        # without the absolute floor of min_gap_leads, for raises and cuts alike (a small
        # segment paying too much is cut, and one worth more is raised, by the same rule:
        # with the floor on raises only, Poisson noise ratchets small segments down), but
        # at least MIN_LOGGED_GAP, so that the logged gap (two decimals) keeps its sign.
        band = max(c.dead_band * expected, MIN_LOGGED_GAP)
    side = "Under" if gap > 0 else "Over"
    told = f"{side} target by {leads(abs(gap))} leads/day"
    if told_worth:
        told = f"{upper(told_worth)}{lower(told)}"
    saturated = lost is not None and lost < c.saturation_lost_share
    if abs(gap) <= band:
        worth = ""
        if told_worth and next_lead is not None:
            worth = f"; {not_bought(checked.target, target)} ({next_lead.describe()})"
        within = (
            f"{leads(target)} leads/day targeted, {leads(expected)} expected, "
            f"a gap of {leads(gap)} within the dead band of ±{leads(band)}{worth}"
        )
        probed = probe(s, c, old, gap, within, saturated, next_lead)
        return probed or hold(f"Holding: {within}.")
    if gap > 0 and saturated and lost is not None:
        return hold(
            f"Holding: {lower(told)}, but only {share(lost)} of impressions are lost "
            "to budget, so more money would buy few leads."
        )
    return _change(s, c, old, gap, told, paid, spend, target_cpl, saturated, next_lead)


def probe(
    s: SegmentSignal,
    c: ControllerConfig,
    old: int,
    gap: Decimal,
    within: str,
    saturated: bool,
    next_lead: Economics | None,
) -> Decision | None:
    """A small move on the gap's side where the curve is uncertain and the gap is within the
    dead band, so that the estimator sees spend vary; None: no probe (hold).

    Never against the gap (the database refuses that): the probe goes up while the gap is
    positive and down while it is negative, so it alternates as the probes move the expected
    leads across the target. Not up where the budget does not limit volume or a lead within
    the target costs more than it is worth."""
    sd = as_decimal(s.lead_elasticity_sd)
    if c.probe_step <= 0 or sd is None or sd < c.probe_min_sd or abs(gap) < MIN_LOGGED_GAP:
        return None
    if not s.min_budget_micros <= old <= s.max_budget_micros:
        return None  # an operator's budget outside the bounds: not a place to learn from
    up = gap > 0
    if up and (saturated or s.lost_impression_share_budget is None):
        return None
    if up and next_lead is not None and next_lead.blocks_raise:
        return None
    side = "up" if up else "down"
    told = (
        f"Probing: {within}, but the elasticity is uncertain "
        f"({elasticity_text(s)} ± {sd.normalize()}), so the budget moves {side} by "
        f"{pct(c.probe_step)} on the gap's side to learn the curve"
    )
    where = window(s, c, old, told, up=up)
    if isinstance(where, str):
        return None
    step = c.probe_step * old
    decision = move(s, c, old, gap, told, where, old + step if up else old - step, "a probe")
    return None if decision.action == "hold" else decision


def dead_band(c: ControllerConfig, target: Decimal) -> Decimal:
    """The gap within which the controller holds: dead_band x target, at least min_gap_leads."""
    return max(c.dead_band * target, c.min_gap_leads)


def explore(
    s: SegmentSignal,
    c: ControllerConfig,
    old: int,
    target: Decimal,
    gap: Decimal,
    paid: Decimal | None,
    spend: int | None,
    target_cpl: int | None,
    lost: Decimal | None,
) -> Decision | None:
    """A raise by the daily limit where the next accepted lead costs more than it is worth
    at the estimated elasticity, but the estimate is uncertain enough that the segment may
    sit below the bend of an S-shaped curve: at e + explore_sd x sd the curve is convex here
    and the average accepted lead falls to its worth within the target and the segment
    maximum. None: no exploring (the economics decide).

    Cutting such a segment takes it further below the bend, where leads cost more still and
    a day buys too few to tell the curve's shape; only spending past it shows whether it
    pays. Once the data say the curve is concave, e + explore_sd x sd falls under the bend
    and the economics cut it back; once they say it is convex, the break-even raise goes on."""
    sd = as_decimal(s.lead_elasticity_sd)
    if c.explore_sd <= 0 or sd is None or sd <= 0:
        return None
    if gap <= dead_band(c, target) or lost is None or lost < c.saturation_lost_share:
        return None  # within the band, or more money would not buy leads
    if not s.min_budget_micros <= old < s.max_budget_micros:
        return None
    e = elasticity(s, c)
    high = min(e + c.explore_sd * sd, MAX_ELASTICITY)
    if high < BENDS_FROM:
        return None
    hoped = economics(replace(s, lead_elasticity=high), c, paid, spend, target_cpl)
    if not isinstance(hoped, Economics) or not hoped.blocks_raise:
        # The average accepted lead costs less than its worth: the segment is past any bend,
        # where the next lead costs more than the average (a concave curve near its best).
        return None
    if not hoped.invests(target, s.max_budget_micros):
        return None
    assert hoped.break_even_budget is not None  # invests says so
    told = (
        f"Exploring: under target by {leads(gap)} leads/day; at the elasticity "
        f"{e.normalize()} the next accepted lead costs more than it is worth, but the "
        f"elasticity is uncertain (± {sd.normalize()}): at {high.normalize()} the curve "
        "bends here and the average accepted lead falls to its worth "
        f"{eur(hoped.worth)} at {eur(hoped.break_even_budget)}, within the target and the "
        "segment maximum"
    )
    where = window(s, c, old, told, up=True)
    if isinstance(where, str):
        return None
    decision = move(
        s, c, old, gap, told, where, Decimal(where.farthest), "raised by the daily limit to learn"
    )
    return None if decision.action == "hold" else decision


def elasticity_text(s: SegmentSignal) -> str:
    """The segment's estimated elasticity, for a reason."""
    e = as_decimal(s.lead_elasticity)
    return "the prior" if e is None else str(e.normalize())


def not_bought(planned: Decimal, bought: Decimal) -> str:
    """The leads of the target not bought as they would cost more than they are worth."""
    return (
        f"{leads(planned - bought)} of the {leads(planned)} leads/day planned are not bought: "
        "they would cost more than they are worth"
    )


def _checked(s: SegmentSignal, c: ControllerConfig) -> _Inputs | Decision:
    """The signal's inputs when usable, else a hold saying which is missing or invalid."""
    old = s.current_budget_micros if is_int(s.current_budget_micros) else None

    def hold(reason: str, gap: Decimal | None = None) -> Decision:
        return Decision.hold(s.current_budget_micros, reason, gap)

    # Inputs every decision needs.
    target = as_decimal(s.target_leads)
    expected = as_decimal(s.expected_leads)
    if s.target_leads is None:
        return hold("Holding: there is no lead target for this segment and day.")
    if target is None or target < 0:
        return hold(f"Holding: the lead target ({text(s.target_leads)}) is not a valid number.")
    if s.expected_leads is None:
        return hold("Holding: there are no recent lead numbers for this segment.")
    if expected is None or expected < 0:
        return hold(
            f"Holding: the expected leads ({text(s.expected_leads)}) are not a valid number."
        )
    gap = target - expected
    if not gap.is_finite():
        return hold("Holding: the gap between target and expected leads is too large to use.")
    age = s.data_age_days
    if age is None:
        return hold("Holding: there are no stats for this segment yet.", gap)
    if not is_int(age) or age < 0:
        return hold(f"Holding: the data age ({text(age)} days) is not valid.", gap)
    if age > c.stale_after_days:
        return hold(
            f"Holding: the newest stats are {text(age)} days old "
            f"(more than {text(c.stale_after_days)}).",
            gap,
        )
    if s.current_budget_micros is None:
        return hold("Holding: the current budget is unknown.", gap)
    if old is None or old < 0:
        return hold(
            f"Holding: the current budget ({text(s.current_budget_micros)}) is not valid.", gap
        )
    low, high = s.min_budget_micros, s.max_budget_micros
    if not (is_int(low) and is_int(high)) or low < 0 or low > high:
        return hold(
            f"Holding: the segment budget bounds ({text(low)} to {text(high)}) are not valid.",
            gap,
        )

    # Optional inputs: missing is fine (fallback), present but nonsense is a data problem.
    paid = as_decimal(s.paid_leads)
    if s.paid_leads is not None and (paid is None or paid < 0):
        return hold(f"Holding: the recent paid leads ({text(s.paid_leads)}) are not valid.", gap)
    spend = s.spend_micros
    if spend is not None and (not is_int(spend) or spend < 0):
        return hold(f"Holding: the recent spend ({text(spend)}) is not valid.", gap)
    target_cpl = s.target_cpl_micros
    if target_cpl is not None and (not is_int(target_cpl) or target_cpl < 0):
        return hold(f"Holding: the target CPL ({text(target_cpl)}) is not valid.", gap)
    lost = as_share(s.lost_impression_share_budget)
    if s.lost_impression_share_budget is not None and lost is None:
        return hold(
            f"Holding: the lost impression share ({text(s.lost_impression_share_budget)}) "
            "is not a share between 0 and 1.",
            gap,
        )
    return _Inputs(old, target, expected, gap, paid, spend, target_cpl, lost)


def _change(
    s: SegmentSignal,
    c: ControllerConfig,
    old: int,
    gap: Decimal,
    told: str,
    paid: Decimal | None,
    spend: int | None,
    target_cpl: int | None,
    saturated: bool,
    next_lead: Economics | None,
) -> Decision:
    """A raise (under target) or a cut (over target) toward the gap, within the window."""
    up = gap > 0
    where = window(s, c, old, told, up=up)
    if isinstance(where, str):
        return Decision.hold(s.current_budget_micros, where, gap)
    wanted, how = _wanted_change(c, elasticity(s, c), old, gap, paid, spend, target_cpl)
    cannot = Decision.hold(
        s.current_budget_micros,
        f"Holding: {lower(told)}, but the wanted change could not be computed.",
        gap,
    )
    if up:
        desired = old + wanted
        if desired.is_nan():
            return cannot
        if next_lead is not None and next_lead.convex:
            # No budget where the next lead costs its worth: the leads only get cheaper.
            how = f"{next_lead.describe_convex()}, so raised by the daily limit"
            if next_lead.blocks_raise and next_lead.break_even_budget is not None:
                how = (
                    f"{next_lead.describe_convex()}; the average falls as the budget rises "
                    f"and reaches the worth at {eur(next_lead.break_even_budget)}, within the "
                    "target and the segment maximum, so raised by the daily limit"
                )
            return move(s, c, old, gap, told, where, Decimal(where.farthest), how)
        if next_lead is not None and next_lead.worth_budget is not None:
            limit = next_lead.worth_budget
            if limit < desired:
                desired = limit
                how += f", up to {eur(limit)} where the next accepted lead costs its worth"
        return move(s, c, old, gap, told, where, desired, f"{how} → +{eur(wanted)} wanted")
    base = old
    if saturated and spend is not None and spend < old:
        # The budget is not binding: the unspent part buys nothing, so cut from actual spend.
        base = spend
        how += f", from actual spend {eur(spend)} as the budget is not limiting"
    desired = base + wanted
    if (
        next_lead is not None
        and next_lead.worth_budget is not None
        and next_lead.worth_leads is not None
        and next_lead.worth_leads < expected_of(s)
    ):
        # Cutting to the leads worth buying: the curve says which budget that is.
        desired = next_lead.worth_budget
        how = f"down to {eur(desired)} where the next accepted lead costs its worth"
    elif next_lead is not None and next_lead.convex and next_lead.blocks_raise:
        # Convex and losing on every lead: it loses least at the segment minimum.
        desired = Decimal(s.min_budget_micros)
        how = f"down toward the segment minimum {eur(desired)}, where it loses least"
    if desired.is_nan():
        return cannot
    return move(s, c, old, gap, told, where, desired, f"{how} → {eur(desired - old)} wanted")


def _wanted_change(
    c: ControllerConfig,
    e: Decimal,
    old: int,
    gap: Decimal,
    paid: Decimal | None,
    spend: int | None,
    target_cpl: int | None,
) -> tuple[Decimal, str]:
    """The signed change in micros that would close the gap, and how it was estimated."""
    if paid is not None and paid > 0 and spend is not None and spend > 0:
        average = spend / paid
        marginal = marginal_cpl(spend, paid, e)
        how = f"marginal CPL {eur(marginal)} (recent CPL {eur(average)} ÷ elasticity {e})"
        return gap * marginal, how
    if target_cpl is not None and target_cpl > 0:
        marginal = target_cpl / e
        how = (
            f"marginal CPL {eur(marginal)} (no recent paid leads; "
            f"target CPL {eur(target_cpl)} ÷ elasticity {e})"
        )
        return gap * marginal, how
    fraction = c.fallback_step * c.max_daily_change
    sign = 1 if gap > 0 else -1
    how = f"no cost per lead known, so a fixed {pct(fraction)} step"
    return sign * fraction * old, how
