"""What the controller takes and gives: its tuning knobs, one budget's signal, a decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from leadflow.controller.arithmetic import CONTEXT
from leadflow.controller.wording import text

MIN_LOGGED_GAP = Decimal("0.01")
"""The audit log keeps a gap to two decimals; a change needs a gap that survives that."""

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
    shortfall_cost: Decimal = Decimal(0)
    """The partner promise: what a lead missed within the day's target (partner capacity)
    costs the marketplace, as a fraction of its value; a lead within the target is worth
    value x (1 - min_margin + shortfall_cost) to buy. 0: margin alone; 0 <= x <= 2."""
    probe_step: Decimal = Decimal(0)
    """A probe: where the elasticity is uncertain (sd >= probe_min_sd) and the gap is within
    the dead band, move the budget by this fraction on the gap's side, so that the estimator
    sees spend vary. 0: no probes; 0 <= x <= max_daily_change."""
    probe_min_sd: Decimal = Decimal("0.1")
    """The elasticity's standard deviation from which a segment is probed; >= 0."""
    explore_sd: Decimal = Decimal(0)
    """Exploring below a bend: a segment under target whose next accepted lead costs more
    than it is worth is still raised (by the daily limit) when, at its elasticity plus
    explore_sd standard deviations, the curve would bend there (convex) and the average
    accepted lead would reach its worth within the target and the maximum. 0: never; >= 0."""

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
        _require_decimal("shortfall_cost", self.shortfall_cost, 0, 2)
        _require_decimal("probe_step", self.probe_step, 0, self.max_daily_change)
        _require_decimal("probe_min_sd", self.probe_min_sd, 0, None)
        _require_decimal("explore_sd", self.explore_sd, 0, None)

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
            shortfall_cost=number("shortfall_cost"),
            probe_step=number("probe_step"),
            probe_min_sd=number("probe_min_sd"),
            explore_sd=number("explore_sd"),
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
        raise ValueError(f"{name} must be at least {low}, not {text(value)}")


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
    """The segment's estimated elasticity where it spends (0 < e <= 2; above 1 the curve is
    convex there); None: config.lead_elasticity."""
    day_factor: Decimal | None = None
    """The forecast: the day's weekday/holiday demand over the trailing week's (its industry's,
    from the stats); expected and paid leads are taken x this for the day. None: 1."""
    organic_leads: Decimal | None = None
    """Organic (not Google Ads) leads expected on the day, for the reason; None: unknown."""
    lead_elasticity_sd: Decimal | None = None
    """The standard deviation of the segment's estimated elasticity; None: unknown (no
    probes)."""


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
        return Decimal(quotient).scaleb(-2, CONTEXT)

    @classmethod
    def hold(cls, old: int | None, reason: str, gap: Decimal | None = None) -> Decision:
        """Keep the budget `old` as it is, for `reason`."""
        return cls("hold", old, old, gap, reason)
