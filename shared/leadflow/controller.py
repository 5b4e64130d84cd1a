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
    worth               = value x (1 - minimum margin)
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

An account daily cap is applied across budgets by :func:`fit_account_cap`.

Why divide by the elasticity: paid leads grow like spend ** e (0 < e <= 1,
diminishing returns), so d(spend)/d(leads) = spend / (e * leads) = average CPL / e.
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

A last check (`_breaks_a_rule`) re-verifies rules 1-4 in exact integer arithmetic
and turns any violation into a hold, so a bug here can cost a day, never money.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    localcontext,
)
from typing import Any, Literal

MICROS_PER_UNIT = 1_000_000

MIN_LOGGED_GAP = Decimal("0.01")
"""The audit log keeps a gap to two decimals; a change needs a gap that survives that."""

# Wide exponents and no traps: arithmetic on huge or tiny inputs gives Infinity or 0,
# never an exception. Inputs are checked to be finite before any arithmetic.
_CONTEXT = Context(
    prec=34, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[], flags=[]
)

Action = Literal["increase", "decrease", "hold"]


@dataclass(frozen=True)
class ControllerConfig:
    """Tuning knobs of the controller; validated on construction (bad values raise).

    Their one home is the database's `public.orchestration_settings` (defaults, limits and
    meaning there and in docs/FORMULAS.md); :meth:`from_settings` builds the config from that
    row. The checks below only keep the arithmetic meaningful; the table's constraints hold
    the policy (the 20 % ceiling of max_daily_change is written there, once).
    """

    max_daily_change: Decimal
    """Largest change per day as a fraction of the current budget; 0 < x < 1."""
    dead_band: Decimal
    """Hold while |gap| <= dead_band * target_leads (relative dead band); 0 <= x <= 1."""
    min_gap_leads: Decimal
    """Hold while |gap| <= this many leads/day (absolute dead band); >= 0."""
    billable_unit_micros: int
    """Budgets are whole multiples of this; >= 1."""
    stale_after_days: int
    """Hold when the newest stats row is older than this many days; >= 0."""
    lead_elasticity: Decimal
    """Paid leads grow like spend ** e; marginal CPL = average CPL / e; 0 < e <= 1. The
    elasticity of a segment without its own estimate (`prior_elasticity` in the settings)."""
    fallback_step: Decimal
    """With no cost known, move by this fraction of the daily limit; 0 < x <= 1."""
    saturation_lost_share: Decimal
    """Lost impression share (budget) below this: the budget is not what limits volume
    (under target: hold; over target: cut from actual spend). 0 disables; 0 <= x < 1."""

    def __post_init__(self) -> None:
        _require_decimal("max_daily_change", self.max_daily_change, 0, 1)
        if not 0 < self.max_daily_change < 1:
            raise ValueError("max_daily_change must be greater than 0 and less than 1")
        _require_decimal("dead_band", self.dead_band, 0, 1)
        _require_decimal("min_gap_leads", self.min_gap_leads, 0, None)
        _require_int("billable_unit_micros", self.billable_unit_micros, 1)
        _require_int("stale_after_days", self.stale_after_days, 0)
        _require_decimal("lead_elasticity", self.lead_elasticity, 0, 1)
        if self.lead_elasticity <= 0:
            raise ValueError("lead_elasticity must be greater than 0")
        _require_decimal("fallback_step", self.fallback_step, 0, 1)
        if self.fallback_step <= 0:
            raise ValueError("fallback_step must be greater than 0")
        _require_decimal("saturation_lost_share", self.saturation_lost_share, 0, 1)
        if self.saturation_lost_share >= 1:
            raise ValueError("saturation_lost_share must be less than 1")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ControllerConfig:
        """The config of the settings row (`orchestration_settings_get`): numbers as JSON
        gives them, made exact."""

        def number(name: str) -> Decimal:
            return Decimal(str(settings[name]))

        return cls(
            max_daily_change=number("max_daily_change"),
            dead_band=number("dead_band"),
            min_gap_leads=number("min_gap_leads"),
            billable_unit_micros=int(settings["billable_unit_micros"]),
            stale_after_days=int(settings["stale_after_days"]),
            lead_elasticity=number("prior_elasticity"),
            fallback_step=number("fallback_step"),
            saturation_lost_share=number("saturation_lost_share"),
        )


def _require_decimal(name: str, value: object, low: int, high: Decimal | int | None) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number, not {value}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and at most {high}"
        raise ValueError(f"{name} must be at least {low}{upper}, not {value}")


def _require_int(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, not {_text(value)}")


@dataclass(frozen=True)
class SegmentSignal:
    """Everything the controller knows of one campaign budget of a segment.

    Money in micros per day (1,000,000 = €1), leads per day. None means unknown.
    """

    current_budget_micros: int | None
    min_budget_micros: int
    max_budget_micros: int
    target_leads: Decimal | None
    """Planned (gross) leads per day for the day being steered."""
    expected_leads: Decimal | None
    """Leads per day at the current budget: recent trailing average, all channels."""
    paid_leads: Decimal | None
    """Recent average Google Ads leads per day."""
    spend_micros: int | None
    """Recent average Google Ads spend per day."""
    target_cpl_micros: int | None = None
    data_age_days: int | None = None
    """Days since the newest stats row; None means no data at all."""
    lost_impression_share_budget: float | None = None
    """search_budget_lost_impression_share (0..1); near 0: more budget buys little."""
    lead_value_micros: int | None = None
    """What an accepted lead earns (the partners' price); None: no economics rule."""
    acceptance_rate: Decimal | None = None
    """Share of leads the partners accept (0..1]; None: counted as 1 (cost per gross lead)."""
    min_margin: Decimal | None = None
    """Minimum margin on an accepted lead, 0 <= x < 1; None: 0."""
    lead_elasticity: Decimal | None = None
    """The segment's estimated elasticity (0 < e <= 1); None: config.lead_elasticity."""
    day_factor: Decimal | None = None
    """The forecast: the day's weekday/holiday demand over the trailing week's (its industry's,
    from the stats); expected and paid leads are taken x this for the day. None: 1."""
    organic_leads: Decimal | None = None
    """Organic (not Google Ads) leads expected on the day, for the reason; None: unknown."""


@dataclass(frozen=True)
class Decision:
    """What to do with one budget, and why, in one sentence with the numbers."""

    action: Action
    old_budget_micros: int | None
    new_budget_micros: int | None
    """Equal to old_budget_micros for a hold."""
    expected_gap: Decimal | None
    """target_leads - expected_leads (leads/day), when both are known."""
    reason: str

    @property
    def change_pct(self) -> Decimal | None:
        """The change in percent of the old budget, two decimals (None if old is 0 or unknown)."""
        old, new = self.old_budget_micros, self.new_budget_micros
        if old is None or new is None or old <= 0:
            return None
        quotient, remainder = divmod((new - old) * 10_000, old)  # hundredths of a percent
        if 2 * remainder > old or (2 * remainder == old and quotient % 2):
            quotient += 1
        return Decimal(quotient).scaleb(-2, _CONTEXT)


def decide(signal: SegmentSignal, config: ControllerConfig) -> Decision:
    """The next daily budget for one campaign budget; never raises, never breaks a rule."""
    with localcontext(_CONTEXT):
        forecast = _forecast(signal)
        decision = _decide(forecast, config)
        broken = _breaks_a_rule(forecast, config, decision)
        if not broken and forecast is not signal:
            decision = replace(decision, reason=f"{decision.reason} {_forecast_note(signal)}")
    if broken:
        return Decision(
            "hold",
            signal.current_budget_micros,
            signal.current_budget_micros,
            decision.expected_gap,
            f"Holding: the computed change broke a safety rule ({broken}); please report this.",
        )
    return decision


#: A day factor above this is taken for a data error and ignored (a holiday or weekday
#: is never ten times the trailing week's demand).
MAX_DAY_FACTOR = Decimal(10)


def _forecast(s: SegmentSignal) -> SegmentSignal:
    """The signal for the day steered: the trailing week's target, expected and paid leads
    x the day's factor (weekday and public holidays, docs/FORMULAS.md): the week's leads
    arrive in the pattern's proportions, and a lead costs less on a busy day. Unchanged
    without a valid factor."""
    f = _as_decimal(s.day_factor)
    if f is None or f <= 0 or f > MAX_DAY_FACTOR or f == 1:
        return s

    def times(value: Decimal | None) -> Decimal | None:
        known = _as_decimal(value)
        return value if known is None else known * f

    return replace(
        s,
        target_leads=times(s.target_leads),
        expected_leads=times(s.expected_leads),
        paid_leads=times(s.paid_leads),
        day_factor=None,
    )


def _forecast_note(s: SegmentSignal) -> str:
    organic = _as_decimal(s.organic_leads)
    of_which = "" if organic is None else f", {_leads(organic)} of them organic"
    return (
        f"Forecast for the day: target and leads x {_as_decimal(s.day_factor):.2f} of the "
        f"trailing week (weekday/holiday pattern){of_which}."
    )


# --------------------------------------------------------------------------- the steering


def _decide(s: SegmentSignal, c: ControllerConfig) -> Decision:
    old = s.current_budget_micros if _is_int(s.current_budget_micros) else None

    def hold(reason: str, gap: Decimal | None = None) -> Decision:
        return _hold(s, reason, gap)

    # Inputs every decision needs.
    target = _as_decimal(s.target_leads)
    expected = _as_decimal(s.expected_leads)
    if s.target_leads is None:
        return hold("Holding: there is no lead target for this segment and day.")
    if target is None or target < 0:
        return hold(f"Holding: the lead target ({_text(s.target_leads)}) is not a valid number.")
    if s.expected_leads is None:
        return hold("Holding: there are no recent lead numbers for this segment.")
    if expected is None or expected < 0:
        return hold(
            f"Holding: the expected leads ({_text(s.expected_leads)}) are not a valid number."
        )
    gap = target - expected
    if not gap.is_finite():
        return hold("Holding: the gap between target and expected leads is too large to use.")
    age = s.data_age_days
    if age is None:
        return hold("Holding: there are no stats for this segment yet.", gap)
    if not _is_int(age) or age < 0:
        return hold(f"Holding: the data age ({_text(age)} days) is not valid.", gap)
    if age > c.stale_after_days:
        return hold(
            f"Holding: the newest stats are {_text(age)} days old "
            f"(more than {_text(c.stale_after_days)}).",
            gap,
        )
    if s.current_budget_micros is None:
        return hold("Holding: the current budget is unknown.", gap)
    if old is None or old < 0:
        return hold(
            f"Holding: the current budget ({_text(s.current_budget_micros)}) is not valid.", gap
        )
    low, high = s.min_budget_micros, s.max_budget_micros
    if not (_is_int(low) and _is_int(high)) or low < 0 or low > high:
        return hold(
            f"Holding: the segment budget bounds ({_text(low)} to {_text(high)}) are not valid.",
            gap,
        )

    # Optional inputs: missing is fine (fallback), present but nonsense is a data problem.
    paid = _as_decimal(s.paid_leads)
    if s.paid_leads is not None and (paid is None or paid < 0):
        return hold(f"Holding: the recent paid leads ({_text(s.paid_leads)}) are not valid.", gap)
    spend = s.spend_micros
    if spend is not None and (not _is_int(spend) or spend < 0):
        return hold(f"Holding: the recent spend ({_text(spend)}) is not valid.", gap)
    target_cpl = s.target_cpl_micros
    if target_cpl is not None and (not _is_int(target_cpl) or target_cpl < 0):
        return hold(f"Holding: the target CPL ({_text(target_cpl)}) is not valid.", gap)
    lost = _as_share(s.lost_impression_share_budget)
    if s.lost_impression_share_budget is not None and lost is None:
        return hold(
            f"Holding: the lost impression share ({_text(s.lost_impression_share_budget)}) "
            "is not a share between 0 and 1.",
            gap,
        )

    economics = _economics(s, c, paid, spend, target_cpl)
    if isinstance(economics, str):
        return hold(economics, gap)
    told_worth = ""
    if economics is not None:
        worth_leads = economics.worth_leads
        if worth_leads is not None and worth_leads < target:
            # Leads past the budget where the next accepted one costs its worth lose money.
            target = max(worth_leads, Decimal(0))
            gap = target - expected
            told_worth = (
                f"only {_leads(target)} leads/day are worth buying (the next accepted lead "
                f"costs {economics.describe()}); "
            )
        if gap > 0 and economics.marginal >= economics.worth:
            return hold(
                f"Holding: under target by {_leads(gap)} leads/day, but the next accepted lead "
                f"would cost {economics.describe()}.",
                gap,
            )

    band = max(c.dead_band * target, c.min_gap_leads)
    if told_worth:
        # Steering to the leads worth buying: the band is relative to what is bought now,
        # without the absolute floor of min_gap_leads, for raises and cuts alike (a small
        # segment paying too much is cut, and one worth more is raised, by the same rule:
        # with the floor on raises only, Poisson noise ratchets small segments down), but
        # at least MIN_LOGGED_GAP, so that the logged gap (two decimals) keeps its sign.
        band = max(c.dead_band * expected, MIN_LOGGED_GAP)
    side = "Under" if gap > 0 else "Over"
    told = f"{side} target by {_leads(abs(gap))} leads/day"
    if told_worth:
        told = f"{told_worth[0].upper()}{told_worth[1:]}{_lower(told)}"
    if abs(gap) <= band:
        return hold(
            f"Holding: {_leads(target)} leads/day targeted, {_leads(expected)} expected, "
            f"a gap of {_leads(gap)} within the dead band of ±{_leads(band)}.",
            gap,
        )
    saturated = lost is not None and lost < c.saturation_lost_share
    if gap > 0 and saturated and lost is not None:
        return hold(
            f"Holding: {_lower(told)}, but only {_share(lost)} of impressions are lost "
            "to budget, so more money would buy few leads.",
            gap,
        )
    return _change(s, c, old, gap, told, paid, spend, target_cpl, saturated, economics)


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
    economics: _Economics | None,
) -> Decision:
    """A raise (under target) or a cut (over target) toward the gap, within the window."""
    up = gap > 0
    window = _window(s, c, old, told, up=up)
    if isinstance(window, str):
        return _hold(s, window, gap)
    wanted, how = _wanted_change(c, _elasticity(s, c), old, gap, paid, spend, target_cpl)
    cannot = f"Holding: {_lower(told)}, but the wanted change could not be computed."
    if up:
        desired = old + wanted
        if desired.is_nan():
            return _hold(s, cannot, gap)
        if economics is not None and economics.worth_budget is not None:
            limit = economics.worth_budget
            if limit < desired:
                desired = limit
                how += f", up to {_eur(limit)} where the next accepted lead costs its worth"
        return _move(s, c, old, gap, told, window, desired, f"{how} → +{_eur(wanted)} wanted")
    base = old
    if saturated and spend is not None and spend < old:
        # The budget is not binding: the unspent part buys nothing, so cut from actual spend.
        base = spend
        how += f", from actual spend {_eur(spend)} as the budget is not limiting"
    desired = base + wanted
    if (
        economics is not None
        and economics.worth_budget is not None
        and economics.worth_leads is not None
        and economics.worth_leads < expected_of(s)
    ):
        # Cutting to the leads worth buying: the curve says which budget that is.
        desired = economics.worth_budget
        how = f"down to {_eur(desired)} where the next accepted lead costs its worth"
    if desired.is_nan():
        return _hold(s, cannot, gap)
    return _move(s, c, old, gap, told, window, desired, f"{how} → {_eur(desired - old)} wanted")


@dataclass(frozen=True)
class _Window:
    """Where a move of one direction may land: billable amounts from `nearest` (the least
    move) to `farthest` (the daily limit or the bound toward which it moves)."""

    up: bool
    step: int
    """The daily limit in micros: floor(old x max_daily_change)."""
    nearest: int
    farthest: int


def _window(
    s: SegmentSignal, c: ControllerConfig, old: int, told: str, *, up: bool
) -> _Window | str:
    """The amounts a raise (up) or a cut may take, or why the budget must be held."""
    low, high, unit = s.min_budget_micros, s.max_budget_micros, c.billable_unit_micros
    toward, away = (high, low) if up else (low, high)
    bound, other = ("maximum", "minimum") if up else ("minimum", "maximum")
    limit = f"{'+' if up else '-'}{_pct(c.max_daily_change)}"
    told = _lower(told)
    if (old > toward) if up else (old < toward):
        return (
            f"Holding: {told}, but the budget {_eur(old)} is {'above' if up else 'below'} the "
            f"segment {bound} {_eur(toward)} and may not be {'lowered' if up else 'raised'} "
            "against the gap; an operator should fix it."
        )
    if old == toward:
        return f"Holding: {told}, but already at the {bound} {_eur(toward)}."
    if up and old == 0:
        return (
            f"Holding: {told}, but the budget is {_eur(0)} and a daily change is capped "
            f"at {_pct(c.max_daily_change)} of it; an operator should set a starting budget."
        )
    step = _max_step(old, c.max_daily_change)
    if up:
        nearest = _ceil_unit(max(low, old + 1), unit)
        farthest = _floor_unit(min(high, old + step), unit)
    else:
        nearest = _floor_unit(min(high, old - 1), unit)
        farthest = _ceil_unit(max(low, old - step), unit)
    if (nearest > farthest) if up else (nearest < farthest):
        if (old < away) if up else (old > away):
            return (
                f"Holding: {told}, but the budget {_eur(old)} is {'below' if up else 'above'} "
                f"the segment {other} {_eur(away)} and {limit} ({_eur(step)}) cannot reach it; "
                f"an operator should {'raise' if up else 'lower'} the budget to the {other}."
            )
        return (
            f"Holding: {told}, but no billable amount lies within {limit} of {_eur(old)} "
            "and the segment bounds."
        )
    return _Window(up, step, nearest, farthest)


def _move(
    s: SegmentSignal,
    c: ControllerConfig,
    old: int,
    gap: Decimal,
    told: str,
    w: _Window,
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
            cap = f"capped at {'+' if w.up else '-'}{_pct(c.max_daily_change)} ({_eur(w.step)})"
        else:
            cap = f"capped at the segment {bound} {_eur(toward)}"
    else:
        if w.up:
            new = _floor_unit(int(desired.to_integral_value(ROUND_FLOOR)), unit)
        else:
            new = _ceil_unit(int(desired.to_integral_value(ROUND_CEILING)), unit)
        cap = f"rounded {'down' if w.up else 'up'} to a billable amount" if new != desired else ""
        if (new < w.nearest) if w.up else (new > w.nearest):
            if (old >= away) if w.up else (old <= away):
                return _hold(
                    s, f"Holding: {_lower(told)}; {wording}, which rounds to no change.", gap
                )
            moved = "raised" if w.up else "lowered"
            new, cap = w.nearest, f"{moved} to the segment {other} {_eur(away)}"
    wording += f", {cap}" if cap else ""
    action: Action = "increase" if w.up else "decrease"
    return Decision(action, old, new, gap, f"{told}; {wording}: {_eur(old)} → {_eur(new)}.")


def _wanted_change(
    c: ControllerConfig,
    elasticity: Decimal,
    old: int,
    gap: Decimal,
    paid: Decimal | None,
    spend: int | None,
    target_cpl: int | None,
) -> tuple[Decimal, str]:
    """The signed change in micros that would close the gap, and how it was estimated."""
    e = elasticity
    if paid is not None and paid > 0 and spend is not None and spend > 0:
        average = spend / paid
        marginal = average / e
        how = f"marginal CPL {_eur(marginal)} (recent CPL {_eur(average)} ÷ elasticity {e})"
        return gap * marginal, how
    if target_cpl is not None and target_cpl > 0:
        marginal = target_cpl / e
        how = (
            f"marginal CPL {_eur(marginal)} (no recent paid leads; "
            f"target CPL {_eur(target_cpl)} ÷ elasticity {e})"
        )
        return gap * marginal, how
    fraction = c.fallback_step * c.max_daily_change
    sign = 1 if gap > 0 else -1
    how = f"no cost per lead known, so a fixed {_pct(fraction)} step"
    return sign * fraction * old, how


@dataclass(frozen=True)
class _Economics:
    """What the next accepted lead costs and is worth (micros), and what follows."""

    marginal: Decimal
    """Marginal cost per accepted lead at the current spend."""
    marginal_cpl: Decimal
    acceptance: Decimal
    value: Decimal
    min_margin: Decimal
    worth: Decimal
    """value x (1 - min_margin): the most the next accepted lead may cost."""
    worth_leads: Decimal | None
    """Leads/day at the budget where the next accepted lead costs `worth` (None: unknown)."""
    worth_budget: Decimal | None
    """That budget in micros (None: unknown or unlimited): the spend M was measured at (the
    week's) x (worth / M) ^ (1 / (1 - e)). The ratio is relative to that spend, not to the
    current budget: after a run of raises the current budget is above the week's spend, and
    scaling it would overshoot (and after cuts undershoot) the budget the curve names."""

    def describe(self) -> str:
        return (
            f"{_eur(self.marginal)} (marginal CPL {_eur(self.marginal_cpl)} ÷ acceptance "
            f"{_share(self.acceptance)}) against its value {_eur(self.value)} less the "
            f"{_share(self.min_margin)} minimum margin ({_eur(self.worth)})"
        )


def expected_of(s: SegmentSignal) -> Decimal:
    """The signal's expected leads as a finite Decimal (0 when not valid)."""
    return _as_decimal(s.expected_leads) or Decimal(0)


def _elasticity(s: SegmentSignal, c: ControllerConfig) -> Decimal:
    e = _as_decimal(s.lead_elasticity)
    return e if e is not None and 0 < e <= 1 else c.lead_elasticity


def _economics(
    s: SegmentSignal,
    c: ControllerConfig,
    paid: Decimal | None,
    spend: int | None,
    target_cpl: int | None,
) -> _Economics | str | None:
    """The economics of the next lead; None without a value or a cost; a reason when an
    economic input is present but not valid."""
    if s.lead_value_micros is None:
        return None
    value = s.lead_value_micros
    if not _is_int(value) or value < 0:
        return f"Holding: the value of an accepted lead ({_text(value)}) is not valid."
    acceptance = Decimal(1) if s.acceptance_rate is None else _as_decimal(s.acceptance_rate)
    if acceptance is None or not 0 < acceptance <= 1:
        return f"Holding: the acceptance rate ({_text(s.acceptance_rate)}) is not valid."
    margin = Decimal(0) if s.min_margin is None else _as_decimal(s.min_margin)
    if margin is None or not 0 <= margin < 1:
        return f"Holding: the minimum margin ({_text(s.min_margin)}) is not valid."
    if s.lead_elasticity is not None:
        e = _as_decimal(s.lead_elasticity)
        if e is None or not 0 < e <= 1:
            return f"Holding: the elasticity ({_text(s.lead_elasticity)}) is not valid."
    e = _elasticity(s, c)
    observed = paid is not None and paid > 0 and spend is not None and spend > 0
    if observed and paid is not None and spend is not None:
        marginal_cpl = spend / paid / e
    elif target_cpl is not None and target_cpl > 0:
        marginal_cpl = target_cpl / e
    else:
        return None
    marginal = marginal_cpl / acceptance
    worth = value * (1 - margin)
    worth_leads = worth_budget = None
    if observed and paid is not None and spend is not None and e < 1 and marginal > 0:
        ratio = worth / marginal
        budget_limit = ratio ** (1 / (1 - e)) if ratio > 0 else Decimal(0)
        expected = _as_decimal(s.expected_leads) or Decimal(0)
        # `expected` is measured at yesterday's spend, `paid` at the week's: while the budget
        # limits the campaign (it spends about its budget), the leads worth buying are the
        # expected ones plus the paid leads the curve adds from the current budget to
        # worth_budget, so that the gap's sign and the budget agree after a run of moves.
        current, lost = s.current_budget_micros, _as_share(s.lost_impression_share_budget)
        limiting = lost is not None and lost >= c.saturation_lost_share
        now = Decimal(1)
        if limiting and _is_int(current) and current is not None and current > 0:
            now = (current / Decimal(spend)) ** e
        worth_leads = expected + paid * (budget_limit**e - now)
        worth_budget = spend * budget_limit
        if not (worth_budget.is_finite() and worth_leads.is_finite()):
            worth_leads = worth_budget = None
    return _Economics(
        marginal, marginal_cpl, acceptance, Decimal(value), margin, worth, worth_leads, worth_budget
    )


# --------------------------------------------------------------------------- the account cap


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
    if cap_micros is None or not _is_int(cap_micros):
        return list(decisions)
    with localcontext(_CONTEXT):
        return _fit_account_cap([_forecast(s) for s in signals], decisions, cap_micros, config)


def _fit_account_cap(
    signals: list[SegmentSignal],
    decisions: list[Decision],
    cap: int,
    c: ControllerConfig,
) -> list[Decision]:
    amounts = [d.new_budget_micros or 0 for d in decisions]
    if sum(amounts) <= cap:
        return list(decisions)
    raises = [
        i
        for i, d in enumerate(decisions)
        if d.action == "increase"
        and _is_int(d.old_budget_micros)
        and _is_int(d.new_budget_micros)
        and d.old_budget_micros is not None
        and d.new_budget_micros is not None
        and d.new_budget_micros > d.old_budget_micros > 0
    ]
    fixed = sum(a for i, a in enumerate(amounts) if i not in raises)
    room = cap - fixed - sum(decisions[i].old_budget_micros or 0 for i in raises)
    rates = {i: _value_per_euro(signals[i], c, decisions[i].old_budget_micros or 0) for i in raises}

    def trimmed(price: float) -> dict[int, int]:
        out = {}
        for i in raises:
            old = decisions[i].old_budget_micros or 0
            new = decisions[i].new_budget_micros or 0
            rate, e = rates[i]
            if rate is None:
                wanted = new if price <= 0 else old
            elif rate <= 1 + price:
                wanted = old
            elif e >= 1:
                wanted = new
            else:
                factor = (rate / (1 + price)) ** (1 / (1 - e))
                wanted = int(min(old * factor, new))
            amount = _floor_unit(max(min(wanted, new), old), c.billable_unit_micros)
            if amount < max(old, signals[i].min_budget_micros):
                amount = old
            out[i] = amount
        return out

    chosen = {i: decisions[i].old_budget_micros or 0 for i in raises}
    price = math.inf
    if room > 0:
        low, high = -1.0, 1.0
        while sum(trimmed(high).values()) - sum(chosen.values()) > room and high < 1e9:
            low, high = high, high * 4
        for _ in range(50):
            middle = (low + high) / 2
            if sum(trimmed(middle).values()) - sum(chosen.values()) > room:
                low = middle
            else:
                high = middle
        candidate = trimmed(high)
        if sum(candidate.values()) - sum(chosen.values()) <= room:
            chosen, price = candidate, high
    out = list(decisions)
    for i in raises:
        d, amount = decisions[i], chosen[i]
        if amount == d.new_budget_micros:
            continue
        note = (
            f"the account cap {_eur(cap)}/day binds: the money goes where the next euro "
            f"earns most (here it must earn at least €{_num(1 + price)} of accepted-lead value)"
            if math.isfinite(price)
            else f"the account cap {_eur(cap)}/day leaves no room for raises"
        )
        if amount == d.old_budget_micros:
            out[i] = Decision(
                "hold",
                d.old_budget_micros,
                d.old_budget_micros,
                d.expected_gap,
                f"Holding: {_lower(d.reason.rstrip('.'))}; but {note}.",
            )
        else:
            out[i] = Decision(
                "increase",
                d.old_budget_micros,
                amount,
                d.expected_gap,
                f"{d.reason.rstrip('.')}; {note}: trimmed to {_eur(amount)}.",
            )
    if sum(x.new_budget_micros or 0 for x in out) > cap and any(
        x.action == "increase" for x in out
    ):  # pragma: no cover - the trimming above never overshoots; a last net
        return [
            Decision(
                "hold",
                x.old_budget_micros,
                x.old_budget_micros,
                x.expected_gap,
                f"Holding: the account cap {_eur(cap)}/day would be exceeded.",
            )
            if x.action == "increase"
            else x
            for x in out
        ]
    return out


def _value_per_euro(s: SegmentSignal, c: ControllerConfig, old: int) -> tuple[float | None, float]:
    """Accepted-lead value the next euro of budget buys at the current budget, and the
    elasticity; (None, e) when unknown."""
    e = float(_elasticity(s, c))
    paid, value = _as_decimal(s.paid_leads), s.lead_value_micros
    acceptance = _as_decimal(s.acceptance_rate) if s.acceptance_rate is not None else Decimal(1)
    if (
        paid is None
        or paid <= 0
        or old <= 0
        or not _is_int(value)
        or value is None
        or value <= 0
        or acceptance is None
        or not 0 < acceptance <= 1
    ):
        return None, e
    margin = _as_decimal(s.min_margin) if s.min_margin is not None else Decimal(0)
    if margin is None or not 0 <= margin < 1:
        return None, e
    worth = float(value) * (1 - float(margin))
    return worth * float(acceptance) * e * float(paid) / old, e


def _num(value: float) -> str:
    return f"{value:.2f}"


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


# --------------------------------------------------------------------------- the last check


def _breaks_a_rule(s: SegmentSignal, c: ControllerConfig, d: Decision) -> str:
    """The first hard rule `d` breaks, in exact arithmetic; '' when it keeps them all."""
    old, new = d.old_budget_micros, d.new_budget_micros
    if old != s.current_budget_micros:
        return "old budget mismatch"
    if d.action == "hold":
        return "" if new == old else "hold changes the budget"
    if not (_is_int(old) and _is_int(new)) or old is None or new is None:
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


# --------------------------------------------------------------------------- small helpers


def _hold(s: SegmentSignal, reason: str, gap: Decimal | None = None) -> Decision:
    return Decision("hold", s.current_budget_micros, s.current_budget_micros, gap, reason)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_decimal(value: object) -> Decimal | None:
    """A finite Decimal, or None for anything else (None, NaN, Infinity, wrong type)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = Decimal(value)  # exact; a float NaN becomes a Decimal NaN
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def _as_share(value: object) -> Decimal | None:
    share = _as_decimal(value)
    return share if share is not None and 0 <= share <= 1 else None


def _max_step(old: int, fraction: Decimal) -> int:
    """floor(old * fraction), exactly."""
    numerator, denominator = fraction.as_integer_ratio()
    return old * numerator // denominator


def _floor_unit(micros: int, unit: int) -> int:
    return micros // unit * unit


def _ceil_unit(micros: int, unit: int) -> int:
    return -(-micros // unit) * unit


def _eur(micros: int | Decimal) -> str:
    """Micros as euros to the cent: 12_345_678 -> '€12.35', -5e6 -> '-€5.00'."""
    if isinstance(micros, int) and abs(micros) >= 10**24:
        micros = Decimal(micros)  # str() of a huge int raises; show it in E-notation
    if isinstance(micros, Decimal):
        if not micros.is_finite():
            return "-€∞" if micros < 0 else "€∞"
        if abs(micros) >= 10**24:
            return f"{'-' if micros < 0 else ''}€{abs(micros) / MICROS_PER_UNIT:.3E}"
        micros = int(micros.to_integral_value(ROUND_HALF_EVEN))
    sign = "-" if micros < 0 else ""
    cents = (abs(micros) + 5_000) // 10_000
    return f"{sign}€{cents // 100:,}.{cents % 100:02d}"


def _text(value: object) -> str:
    """Any input value for a sentence; str() of an int over 4,300 digits would raise."""
    if isinstance(value, int) and abs(value) >= 10**21:
        return f"{Decimal(value):.3E}"
    return str(value)


def _leads(value: Decimal) -> str:
    """A lead count for a sentence: up to two decimals, no trailing zeros."""
    if value != 0 and (abs(value) >= 10**15 or abs(value) < Decimal("0.01")):
        return f"{value:.3E}"
    text = f"{value.quantize(Decimal('0.01')):f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _share(value: Decimal) -> str:
    return f"{_leads(value * 100)}%"


def _pct(fraction: Decimal) -> str:
    return f"{_leads(fraction * 100)}%"
