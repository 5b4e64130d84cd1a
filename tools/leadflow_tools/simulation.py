"""`leadflow simulate`: the budget controller against baselines and an oracle, on one market.

One marketplace and one simulated Google Ads market (`leadflow_tools.market`, drawn from
a member of the family in `leadflow_tools.markets`), six ways to set the budgets, side by
side:

- ``fixed``: the operator's hand-set budgets, never changed;
- ``minimum``: every budget at its floor (lowered there within the daily limit): the
  yardstick "margin above the floor" is measured from;
- ``rules``: Google Ads automated-rule style, ±20 % when under / over target by
  more than the dead band, no cost model;
- ``cpl_rules``: the cost-aware ±20 % rule: raise while the cost per accepted lead is
  under what the lead is worth and capacity is open, lower otherwise;
- ``leadflow``: the real orchestrate job (and so the real controller), live;
- ``oracle``: knows every response curve and each day sets the budget that maximises the
  objective, within the same ±20 % and bounds.

Scenario ``two-channel`` gives every segment a Microsoft Advertising campaign beside its
Google Ads one (its own curve: cheaper leads, a smaller reach; `leadflow_tools.market`),
and adds a seventh strategy, ``leadflow_google_only``: Leadflow as it was before channels,
steering Google Ads only (the Microsoft mappings inactive in its database) while the
Microsoft budgets keep spending their hand-set amounts. The baselines act per budget; the
oracle knows both curves of each segment and splits its money where the next lead is
cheapest. Every score counts both channels' spend (from the market: a channel no job reads
is still paid for) and leads.

The objective ("margin") is the value of the accepted leads within capacity, minus ad
spend, minus the shortfall cost (`--shortfall-cost`, a share of the lead's value) of each
lead missed within capacity, per segment and month: the same for every strategy's score
and for the oracle's optimisation.

How a run goes:
1. a base database gets the demo marketplace (`demo_generate_marketplace`), two
   capacity shocks (a large partner joins some segments, one leaves others: about
   ±30 % capacity) and every day's organic leads; then `warmup_days` of the daily
   loop on the hand-set budgets, so every strategy starts with the same history;
2. the base is copied into one database per strategy, each with a fork of the
   simulated Google Ads account; every strategy then runs the real daily jobs
   (aggregate yesterday with Google Ads metrics, plan today in SQL), sets its
   budgets and lets the day pass in the market: same market, same seed, and each
   strategy sees exactly the data its own budgets produced;
3. the metrics come from each database's `lead_generation_stats` and plans.

Every number follows from the seed: the same seed gives the same metrics.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import queue
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg
from leadflow.channels.google_ads import BudgetChange
from leadflow.controller import ControllerConfig
from leadflow.days import days_between
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.day import DAY_JOBS, JobName, run_day
from leadflow.jobs.orchestrate import controller_config
from leadflow.settings import Mode

from leadflow_tools import demo, migrations
from leadflow_tools.local import create_database, drop_database
from leadflow_tools.market import (
    INDUSTRIES,
    MEAN_SPEND_SHARE,
    PROVINCES,
    MarketGateway,
    MarketModel,
    SegmentMarket,
)
from leadflow_tools.markets import (
    DEFAULT_MARKET,
    MARKETS,
    SPECS,
    MarketName,
    check_market,
    draw_market,
)
from leadflow_tools.simclock import pin_today, pin_today_on

Scenario = Literal["base", "account-cap", "unprofitable", "drift", "mixed", "two-channel"]
SCENARIOS: tuple[Scenario, ...] = (
    "base",
    "account-cap",
    "unprofitable",
    "drift",
    "mixed",
    "two-channel",
)
#: two-channel: the share of the segments with a Microsoft Advertising budget (all of them).
TWO_CHANNEL_SHARE = 1.0
#: account-cap: the account's daily cap is this share of what filling every segment costs.
CAP_SHARE = 0.80
#: unprofitable: this share of the segments pays UNPROFITABLE_COST x the cost per click, so
#: their marginal cost per accepted lead passes their lead price before capacity is filled.
UNPROFITABLE_SHARE = 0.20
UNPROFITABLE_COST = 2.5
#: drift: cost per click of one group rises 25 %, of another falls 20 %, over DRIFT_DAYS
#: from two weeks into the steering.
DRIFT_SHARE = 0.20
DRIFT_UP, DRIFT_DOWN, DRIFT_DAYS = 0.25, -0.20, 30
Strategy = Literal[
    "fixed", "minimum", "rules", "cpl_rules", "leadflow", "leadflow_google_only", "oracle"
]
STRATEGIES: tuple[Strategy, ...] = ("fixed", "minimum", "rules", "cpl_rules", "leadflow", "oracle")
#: two-channel: today's Leadflow (Google Ads only) beside the one steering both channels.
TWO_CHANNEL_STRATEGIES: tuple[Strategy, ...] = (
    "fixed",
    "minimum",
    "rules",
    "cpl_rules",
    "leadflow",
    "leadflow_google_only",
    "oracle",
)
LABELS: dict[Strategy, str] = {
    "fixed": "(a) fixed budgets",
    "minimum": "(a0) every budget at its floor",
    "rules": "(b) rules ±20 %",
    "cpl_rules": "(b2) cost-aware rules ±20 %",
    "leadflow": "(c) Leadflow controller",
    "leadflow_google_only": "(c1) Leadflow, Google Ads only",
    "oracle": "(d) oracle",
}
#: Strategies steered by the real orchestrate job, live.
LEADFLOW: tuple[Strategy, ...] = ("leadflow", "leadflow_google_only")
#: Strategies whose budgets never depend on the data: they skip the daily jobs, and their
#: stats are aggregated once at the end.
BLIND: tuple[Strategy, ...] = ("fixed", "minimum")
#: What a lead missed within a partner's capacity costs, as a share of its value (credits,
#: refunds, churn; docs/FORMULAS.md "The partner promise").
DEFAULT_SHORTFALL_COST = 0.25
TRIGGERED_BY = "simulation"
DEFAULT_SEED = 42
DEFAULT_DAYS = 90
#: The first steered day: spring, with Easter, King's Day, Ascension and Whitsun in 90 days.
DEFAULT_START = date(2026, 4, 1)
#: Re-convergence: a shocked segment's weekly leads within this share of the oracle's, for a
#: week (issue 24: 10 % was below the simulation's own noise). (The daily limit, the dead
#: band and the billable unit every strategy keeps are the controller's, read from
#: `orchestration_settings`.)
RECONVERGED_WITHIN = 0.20
#: A capacity shock moves a segment's capacity by this share.
SHOCK_SIZE = 0.30
MICROS = 1_000_000

Progress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class SimulationOptions:
    """What to simulate: the seed, the steered days and the size of the marketplace."""

    seed: int = DEFAULT_SEED
    days: int = DEFAULT_DAYS
    warmup_days: int = 28
    start: date = DEFAULT_START
    industries: int = len(INDUSTRIES)
    provinces: int = len(PROVINCES)
    #: Share of the segments (at least one) in each of the two shocks.
    shock_share: float = 0.10
    parallel: bool = True
    scenario: Scenario = "base"
    #: The member of the market family (`leadflow_tools.markets`).
    market: MarketName = DEFAULT_MARKET
    #: A lead missed within capacity costs this share of its value (0: margin alone).
    shortfall_cost: float = DEFAULT_SHORTFALL_COST

    def __post_init__(self) -> None:
        check_market(self.market)
        if not 0 <= self.shortfall_cost <= 2:
            raise LeadflowError(
                f"--shortfall-cost must be between 0 and 2 (x the lead's value), "
                f"not {self.shortfall_cost}"
            )
        if self.scenario not in SCENARIOS:
            raise LeadflowError(
                f"--scenario must be one of {', '.join(SCENARIOS)}, not {self.scenario}"
            )
        if not 14 <= self.days <= 366:
            raise LeadflowError(f"--days must be between 14 and 366, not {self.days}")
        if not 8 <= self.warmup_days <= 60:
            raise LeadflowError("the warm-up must be between 8 and 60 days")
        if not 1 <= self.industries <= len(INDUSTRIES):
            raise LeadflowError(f"--industries must be between 1 and {len(INDUSTRIES)}")
        if not 1 <= self.provinces <= len(PROVINCES):
            raise LeadflowError(f"--provinces must be between 1 and {len(PROVINCES)}")

    @property
    def first_day(self) -> date:
        """The first day with leads (the warm-up's first day)."""
        return self.start - timedelta(days=self.warmup_days)

    @property
    def last_day(self) -> date:
        """The last steered (and simulated) day."""
        return self.start + timedelta(days=self.days - 1)

    @property
    def shock_days(self) -> list[date]:
        """Month starts at least a week into the steering and a week before its end: a large
        partner joins some segments on the first (capacity +30 %) and one leaves others on
        the second (-30 %). Subscriptions start and end with a month."""
        starts = []
        day = (self.start + timedelta(days=7)).replace(day=1)
        while day <= self.last_day - timedelta(days=7):
            if day >= self.start + timedelta(days=7):
                starts.append(day)
            day = (day + timedelta(days=32)).replace(day=1)
        return starts[:2]

    @property
    def join_day(self) -> date | None:
        """A large partner joins some segments (capacity +30 %); None: no room for it."""
        days = self.shock_days
        return days[0] if days else None

    @property
    def leave_day(self) -> date | None:
        """A large partner leaves other segments (capacity -30 %); None: no room for it."""
        days = self.shock_days
        return days[1] if len(days) > 1 else None

    def database(self, kind: str) -> str:
        """The scratch database `run_simulation` keeps `kind` in ("base" or a strategy)."""
        scenario = self.scenario.replace("-", "_")
        return f"leadflow_sim_{self.market}_{scenario}_{self.seed}_{kind}"

    @property
    def databases(self) -> tuple[str, ...]:
        """Every scratch database of the run: the base and one per strategy."""
        return tuple(self.database(kind) for kind in ("base", *self.strategies))

    def has(self, feature: Scenario) -> bool:
        """Whether this scenario includes `feature` (mixed includes them all but two-channel)."""
        return self.scenario == feature or (self.scenario == "mixed" and feature != "two-channel")

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The strategies compared: two-channel adds Leadflow on Google Ads only."""
        return TWO_CHANNEL_STRATEGIES if self.has("two-channel") else STRATEGIES

    @property
    def microsoft_share(self) -> float:
        """Share of the segments with a Microsoft Advertising budget beside Google's."""
        return TWO_CHANNEL_SHARE if self.has("two-channel") else 0.0

    def describe(self) -> str:
        """One line: what this simulation is."""
        return (
            f"market {self.market}, scenario {self.scenario}, seed {self.seed}, "
            f"shortfall cost {self.shortfall_cost:g} x value, "
            f"{self.industries} industries x {self.provinces} provinces, "
            f"{self.days} steered days {self.start} to {self.last_day} after "
            f"{self.warmup_days} days of warm-up on hand-set budgets"
        )


@dataclass(frozen=True)
class Shock:
    """A large partner joining (+) or leaving (-) one segment on `day`, or a competitor
    entering its market (monthly_quota 0)."""

    kind: Literal["join", "leave", "competitor"]
    segment_id: str
    code: str
    day: date
    monthly_quota: int


@dataclass(frozen=True)
class StrategyMetrics:
    """How one strategy did over the steered days (money in euro)."""

    strategy: Strategy
    capacity: float
    accepted: float
    margin: float
    """Euro, the objective: lead price of the accepted leads within capacity minus ad spend
    minus the shortfall cost of the leads missed within capacity."""
    revenue: float
    """Euro: lead price of the accepted leads within capacity."""
    shortfall: float
    """Accepted leads missed within capacity (per segment and month)."""
    shortfall_cost: float
    """Euro: what those missed leads cost (shortfall cost share x their value)."""
    safety_violations: int
    """Days on which a budget moved more than 20 %, left its bounds, or the day's budgets
    summed to more than the account cap."""
    max_cap_use: float | None
    """The highest steered day's sum of budgets / the account cap; None without a cap."""
    filled: float
    """Accepted leads within capacity (per segment and month)."""
    over_delivered: float
    """Accepted leads beyond capacity (per segment and month)."""
    spend: float
    volatility: float
    """Mean absolute daily budget change, as a share of the day's starting budget."""
    reconverge_days: dict[str, list[int | None]]
    """Per shock kind and shocked segment: days from the shock until its leads are within
    RECONVERGED_WITHIN of the oracle's for a week; None: not within the run."""
    spend_by_channel: dict[str, float] = field(default_factory=dict)
    """Euro per paid channel (the market's: every budget spends, steered or not)."""
    paid_leads_by_channel: dict[str, float] = field(default_factory=dict)
    """Paid leads (conversions of the steered days' clicks) per channel."""
    violations_by_channel: dict[str, int] = field(default_factory=dict)
    """Days on which a budget of the channel moved more than the limit or left its bounds."""

    @property
    def reconverge(self) -> list[int | None]:
        """Days to re-converge of every shocked segment."""
        return [d for days in self.reconverge_days.values() for d in days]

    @property
    def reconverge_median(self) -> float | None:
        """The median shocked segment's days to re-converge (None: no shocks or never)."""
        days = sorted(math.inf if d is None else d for d in self.reconverge)
        if not days:
            return None
        middle = len(days) // 2
        median = days[middle] if len(days) % 2 else (days[middle - 1] + days[middle]) / 2
        return None if math.isinf(median) else median

    def reconverged_within(self, days: int) -> int:
        """How many shocked segments re-converged within `days`."""
        return reconverged_count(self.reconverge, days)

    @property
    def fill_rate(self) -> float:
        """Accepted leads within capacity / capacity."""
        return self.filled / self.capacity if self.capacity else 0.0

    @property
    def over_delivery(self) -> float:
        """Accepted leads beyond capacity / capacity."""
        return self.over_delivered / self.capacity if self.capacity else 0.0

    @property
    def cost_per_accepted(self) -> float | None:
        """Spend per accepted lead within capacity (leads beyond it earn nothing)."""
        return self.spend / self.filled if self.filled else None

    def as_json(self) -> dict[str, Any]:
        """For --json."""
        return {
            "strategy": self.strategy,
            "label": LABELS[self.strategy],
            "margin": round(self.margin, 2),
            "revenue": round(self.revenue, 2),
            "shortfall_leads": round(self.shortfall, 2),
            "shortfall_cost": round(self.shortfall_cost, 2),
            "safety_violations": self.safety_violations,
            "max_cap_use": _round(self.max_cap_use, 4),
            "shocked_segments": len(self.reconverge),
            "capacity": round(self.capacity, 2),
            "accepted": round(self.accepted, 2),
            "filled": round(self.filled, 2),
            "fill_rate": round(self.fill_rate, 4),
            "over_delivered": round(self.over_delivered, 2),
            "over_delivery": round(self.over_delivery, 4),
            "spend": round(self.spend, 2),
            "cost_per_accepted": _round(self.cost_per_accepted, 2),
            "volatility": round(self.volatility, 4),
            "reconverge_days": self.reconverge_days,
            "reconverge_median": self.reconverge_median,
            "reconverged_within_7_days": self.reconverged_within(7),
            "reconverged_share": _round(self.reconverged_share, 4),
            "spend_by_channel": {c: round(v, 2) for c, v in self.spend_by_channel.items()},
            "paid_leads_by_channel": {
                c: round(v, 2) for c, v in self.paid_leads_by_channel.items()
            },
            "safety_violations_by_channel": dict(self.violations_by_channel),
        }

    @property
    def reconverged_share(self) -> float | None:
        """Share of shocked segments re-converged within 7 days (None: no shocks)."""
        return self.reconverged_within(7) / len(self.reconverge) if self.reconverge else None


@dataclass(frozen=True)
class Target:
    """One of the controller's targets, met or not, with the numbers."""

    name: str
    met: bool
    detail: str


@dataclass
class StrategyRun:
    """What one strategy's run left behind, for metrics, plots and checks."""

    strategy: Strategy
    #: Budget in force per day (the day before `start` included), by budget resource name.
    budgets: dict[date, dict[str, int]] = field(default_factory=dict)
    #: (segment_id, day) -> (leads generated, accepted, spend in euro, capacity)
    stats: dict[tuple[str, date], tuple[int, int, float, float]] = field(default_factory=dict)
    #: (segment_id, day) -> planned gross leads
    targets: dict[tuple[str, date], float] = field(default_factory=dict)
    #: The live orchestration log of the steered days (leadflow only).
    decisions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: The daily limit the run's database set (orchestration_settings.max_daily_change).
    max_daily_change: Decimal = Decimal(0)
    #: Per steered day: leads of the day before still pending when the morning's aggregate
    #: measured it, and all of that day's leads (acceptance delay; before the final restate).
    pending_seen: dict[date, tuple[int, int]] = field(default_factory=dict)
    #: (segment_id, day, channel) -> (spend in euro, paid leads of the day's clicks), as the
    #: market spent and converted: the score's spend, whether a job read the channel or not.
    campaigns: dict[tuple[str, date, str], tuple[float, float]] = field(default_factory=dict)
    #: Per segment code: its weekly noise-free leads (`_weekly`), kept once computed: every
    #: strategy's re-convergence compares itself with the oracle's.
    weekly: dict[str, dict[date, float]] = field(default_factory=dict, repr=False, compare=False)

    def spend_by_segment(self, channel: str, first: date) -> dict[str, float]:
        """Per segment: its spend (euro) on `channel` from `first` on, as the market spent it."""
        out: dict[str, float] = {}
        for (segment, day, on), (euro, _) in self.campaigns.items():
            if on == channel and day >= first:
                out[segment] = out.get(segment, 0.0) + euro
        return out


@dataclass
class SimulationResult:
    """The comparison: metrics per strategy, daily series, the shocks and the targets."""

    options: SimulationOptions
    model: MarketModel
    shocks: list[Shock]
    metrics: dict[Strategy, StrategyMetrics]
    series: dict[Strategy, dict[str, list[Any]]]
    runs: dict[Strategy, StrategyRun]
    cap: float | None = None
    """The account's daily cap in euro (account-cap and mixed), else None."""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    controller_shortfall: float | str = "not supported"
    """The shortfall cost the controller was given, as its settings column holds it (read
    back), or "not supported" (the controller maximises margin alone; `_give_controller`)."""

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The strategies compared, in order."""
        return self.options.strategies

    def pending_share(self, strategy: Strategy = "leadflow") -> float | None:
        """Share of a day's leads still pending when the morning's aggregate measured it
        (what the strategy's data showed; the score uses the final, settled stats)."""
        seen = self.runs[strategy].pending_seen.values()
        total = sum(n for _, n in seen)
        return sum(p for p, _ in seen) / total if total else None

    def above_floor(self, strategy: Strategy) -> float:
        """Euro: the strategy's margin minus the margin of every budget at its floor."""
        return self.metrics[strategy].margin - self.metrics["minimum"].margin

    def above_floor_share(self, strategy: Strategy) -> float | None:
        """The strategy's margin above the floor as a share of the oracle's (None when the
        oracle earns nothing above the floor)."""
        best = self.above_floor("oracle")
        return self.above_floor(strategy) / best if best > 0 else None

    def gap_closed(self, strategy: Strategy = "leadflow") -> float:
        """Share of the margin gap between the ±20 % rules and the oracle the strategy closes."""
        c, o, b = (self.metrics[s].margin for s in (strategy, "oracle", "rules"))
        gap = o - b
        return (c - b) / gap if gap > 0 else (1.0 if c >= o else 0.0)

    def targets(self) -> list[Target]:
        """The controller's targets (issue 24) against the oracle and the baselines."""
        c, o = self.metrics["leadflow"], self.metrics["oracle"]
        cpl = self.metrics["cpl_rules"]
        share = c.margin / o.margin if o.margin > 0 else -math.inf
        floor = self.above_floor_share("leadflow")
        closed = self.gap_closed()
        shocked = len(c.reconverge)
        within = c.reconverged_within(7)
        unsafe = [m for m in self.metrics.values() if m.safety_violations]
        over_cap = [
            m for m in self.metrics.values() if m.max_cap_use is not None and m.max_cap_use > 1
        ]
        tolerance = f"{100 * RECONVERGED_WITHIN:.0f} %"
        return [
            Target(
                "margin >= 97 % of the oracle's",
                share >= 0.97,
                f"€{c.margin:,.0f} = {100 * share:.1f} % of €{o.margin:,.0f}",
            ),
            Target(
                "margin above the floor >= 90 % of the oracle's",
                floor is not None and floor >= 0.90,
                f"€{self.above_floor('leadflow'):,.0f} = "
                + ("—" if floor is None else f"{100 * floor:.1f} %")
                + f" of €{self.above_floor('oracle'):,.0f}",
            ),
            Target(
                "more margin than the cost-aware rules",
                c.margin > cpl.margin,
                f"€{c.margin - cpl.margin:+,.0f} (cpl_rules €{cpl.margin:,.0f})",
            ),
            Target(
                ">= 2/3 of the margin gap between (b) and (d) closed",
                closed >= 2 / 3,
                f"{100 * closed:.0f} % closed: (b) €{self.metrics['rules'].margin:,.0f}, "
                f"(c) €{c.margin:,.0f}, (d) €{o.margin:,.0f}",
            ),
            Target(
                f">= 80 % of shocked segments within {tolerance} of the oracle within 7 days",
                not shocked or within >= 0.8 * shocked,
                f"{within} of {shocked} (median {_days(c.reconverge_median)})",
            ),
            Target(
                "over-delivery <= 4 %",
                c.over_delivery <= 0.04,
                f"{100 * c.over_delivery:.1f} % of capacity",
            ),
            *self._channel_targets(),
            Target(
                "safety_violations = 0 and max_cap_use <= 1 for every strategy",
                not unsafe and not over_cap,
                ", ".join(
                    f"{m.strategy}: {m.safety_violations} days, cap use "
                    + ("—" if m.max_cap_use is None else f"{m.max_cap_use:.3f}")
                    for m in self.metrics.values()
                ),
            ),
        ]

    def _channel_targets(self) -> list[Target]:
        """two-channel: steering both channels earns more than steering Google Ads alone."""
        if "leadflow_google_only" not in self.metrics:
            return []
        both, google = self.metrics["leadflow"], self.metrics["leadflow_google_only"]
        return [
            Target(
                "more margin steering both channels than Google Ads alone",
                both.margin > google.margin,
                f"€{both.margin - google.margin:+,.0f} (both €{both.margin:,.0f}, "
                f"Google only €{google.margin:,.0f})",
            )
        ]

    def as_json(self) -> dict[str, Any]:
        """`leadflow simulate --json`."""
        o = self.options
        return {
            "options": {
                "seed": o.seed,
                "days": o.days,
                "warmup_days": o.warmup_days,
                "start": o.start.isoformat(),
                "last_day": o.last_day.isoformat(),
                "industries": o.industries,
                "provinces": o.provinces,
                "scenario": o.scenario,
                "market": o.market,
                "shortfall_cost": o.shortfall_cost,
            },
            "scenario": o.scenario,
            "market": o.market,
            "market_parameters": market_summary(self.model),
            "shortfall_cost": o.shortfall_cost,
            "controller_shortfall_cost": self.controller_shortfall,
            "reconverge_tolerance": RECONVERGED_WITHIN,
            "pending_when_aggregated": _round(self.pending_share(), 4),
            "oracle_above_floor": round(self.above_floor("oracle"), 2),
            "account_daily_cap": _round(self.cap, 2),
            "segments": len(self.model.segments),
            "budgets_per_channel": {
                c: sum(1 for k in self.model.campaigns if k.channel == c)
                for c in self.model.channels()
            },
            "shocks": [
                {
                    "kind": s.kind,
                    "segment": s.code,
                    "day": s.day.isoformat(),
                    "quota": s.monthly_quota,
                }
                for s in self.shocks
            ],
            "strategies": [
                {
                    **self.metrics[s].as_json(),
                    "margin_above_floor": round(self.above_floor(s), 2),
                    "above_floor_share": _round(self.above_floor_share(s), 4),
                    "margin_share_of_oracle": _round(
                        self.metrics[s].margin / self.metrics["oracle"].margin
                        if self.metrics["oracle"].margin > 0
                        else None,
                        4,
                    ),
                    "gap_closed": round(self.gap_closed(s), 4),
                }
                for s in self.strategies
            ],
            "targets": [{"name": t.name, "met": t.met, "detail": t.detail} for t in self.targets()],
            "seconds": round(self.seconds, 2),
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }


# --------------------------------------------------------------------------- the databases


@contextmanager
def _connect(url: str) -> Iterator[Database]:
    db = demo.connect(url)
    try:
        yield db
    finally:
        db.close()


def _owner(url: str) -> psycopg.Connection[Any]:
    """The owner's autocommit connection of a strategy's (or the base's) daily loop: its
    clock, the partners' verdicts and the pending counts. Its commits do not wait for the
    disk either (`demo.connect`): a scratch database."""
    return psycopg.connect(url, autocommit=True, options="-c synchronous_commit=off")


# --------------------------------------------------------------------------- the base


def _choose_shocks(model: MarketModel, options: SimulationOptions) -> list[Shock]:
    """Which segments get a partner joining or leaving: drawn from the seed among
    segments with at least one accepted lead a day of capacity."""
    candidates = sorted(
        (s for s in model.segments if s.capacity_per_day >= 1.0),
        key=lambda s: random.Random(f"{options.seed}:{s.code}:shock").random(),  # noqa: S311
    )
    n = max(1, round(options.shock_share * len(model.segments)))
    n = min(n, len(candidates) // 2)
    shocks = []
    for i, s in enumerate(candidates[: 2 * n]):
        monthly = s.capacity_per_day * 365.25 / 12
        if i < n and options.join_day is not None:
            quota = max(1, round(SHOCK_SIZE * monthly))
            shocks.append(Shock("join", s.segment_id, s.code, options.join_day, quota))
        elif i >= n and options.leave_day is not None:
            # Leaving takes SHOCK_SIZE of the capacity with it: q / (base + q) = SHOCK_SIZE.
            quota = max(1, round(SHOCK_SIZE / (1 - SHOCK_SIZE) * monthly))
            shocks.append(Shock("leave", s.segment_id, s.code, options.leave_day, quota))
    return shocks


#: A leaving partner's subscription started this long before the simulation.
LONG_AGO = timedelta(days=90)


def _group(options: SimulationOptions, segments: Sequence[SegmentMarket], key: str) -> list[str]:
    """Segment codes in a seeded order for `key`: scenario groups are drawn from the seed."""
    return [
        s.code
        for s in sorted(
            segments,
            key=lambda s: random.Random(f"{options.seed}:{s.code}:{key}").random(),  # noqa: S311
        )
    ]


def fill_budget(segment: SegmentMarket, day: date) -> int:
    """The budget that fills the segment's capacity on `day` (gross leads = capacity /
    acceptance), full reach when that is out of reach."""
    need = segment.capacity_per_day / segment.acceptance_rate if segment.acceptance_rate else 0
    wanted = segment.budget_for_leads(day, need)
    return segment.full_reach_budget(day) if wanted is None else wanted


def apply_scenario(
    model: MarketModel, options: SimulationOptions
) -> tuple[MarketModel, float | None]:
    """The market of the scenario, and the account's daily cap in euro (None: no cap).

    - unprofitable: UNPROFITABLE_SHARE of the segments pay UNPROFITABLE_COST x per click;
    - drift: cost per click of DRIFT_SHARE of them rises 25 % over DRIFT_DAYS from two weeks
      into the steering, of another DRIFT_SHARE it falls 20 %;
    - account-cap: the cap is CAP_SHARE of the mean steered day's cost of filling every
      segment; the hand-set starting budgets are scaled down to fit it;
    - mixed: all three.
    """
    segments = list(model.segments)
    n = len(segments)
    if options.has("unprofitable"):
        chosen = set(
            _group(options, segments, "unprofitable")[: max(1, round(UNPROFITABLE_SHARE * n))]
        )
        segments = [
            dataclasses.replace(s, saturation_spend=s.saturation_spend * UNPROFITABLE_COST)
            if s.code in chosen
            else s
            for s in segments
        ]
    if options.has("drift"):
        order = _group(options, segments, "drift")
        k = max(1, round(DRIFT_SHARE * n))
        drift = {code: DRIFT_UP for code in order[:k]} | {
            code: DRIFT_DOWN for code in order[k : 2 * k]
        }
        begins = options.start + timedelta(days=14)
        segments = [
            dataclasses.replace(
                s, cost_drift=drift[s.code], drift_start=begins, drift_days=DRIFT_DAYS
            )
            if s.code in drift
            else s
            for s in segments
        ]
    cap: float | None = None
    if options.has("account-cap"):
        days = list(days_between(options.start, options.last_day))
        fill = sum(fill_budget(s, d) for s in segments for d in days) / len(days) / MICROS
        cap = round(CAP_SHARE * fill, 2)
        start = sum(s.starting_budget_micros for s in segments) / MICROS
        if start > cap:
            # The operator's hand-set budgets fit the cap: scaled down, whole euros, in bounds.
            factor = cap / start
            segments = [
                dataclasses.replace(
                    s,
                    starting_budget_micros=min(
                        max(
                            math.floor(s.starting_budget_micros * factor / MICROS) * MICROS,
                            s.min_budget_micros,
                        ),
                        s.max_budget_micros,
                    ),
                )
                for s in segments
            ]
        cap = max(cap, sum(s.starting_budget_micros for s in segments) / MICROS)
    return dataclasses.replace(model, segments=tuple(segments)), cap


def _add_shock_partners(
    db: Database, caller: Caller, shocks: Sequence[Shock], options: SimulationOptions
) -> None:
    """One partner per shock, covering only the shocked segment's province (demo SQL)."""
    if not shocks:
        return
    db.rpc(
        "demo_add_partners",
        {
            "p_partners": [
                {
                    "key": f"simulation:{options.seed}:{shock.kind}:{shock.code}",
                    "email": f"shock-{i}-{shock.kind}@partners.simulation.example",
                    "company_name": f"Large partner ({shock.kind}s {shock.code})",
                    "segment_id": shock.segment_id,
                    "monthly_quota": shock.monthly_quota,
                    "starts_on": (
                        shock.day if shock.kind == "join" else options.first_day - LONG_AGO
                    ).isoformat(),
                    "ends_on": None
                    if shock.kind == "join"
                    else (shock.day - timedelta(days=1)).isoformat(),
                }
                for i, shock in enumerate(shocks)
            ]
        },
        caller=caller,
    )


def _build_base(
    url: str, options: SimulationOptions, caller: Caller, progress: Progress
) -> tuple[MarketModel, MarketGateway, list[Shock], float | None]:
    """Marketplace, shocks, scenario, organic leads and the warm-up in the base database."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn)
    total = options.warmup_days + options.days
    generated = demo.DemoOptions(
        seed=options.seed,
        days=min(total, 366),
        end=options.last_day + timedelta(days=1),
        industries=options.industries,
        provinces=options.provinces,
        mode=Mode.live,
    )
    with _connect(url) as db:
        _, first_model = demo.build_marketplace(
            db, caller, generated, microsoft_share=options.microsoft_share
        )
        shocks = _choose_shocks(first_model, options)
        _add_shock_partners(db, caller, shocks, options)
        # Demand follows the capacity the partners offer over the period, shocks included.
        classic = demo.load_model(db, caller, options.seed)
        model, cap = apply_scenario(draw_market(classic, options.market, options.start), options)
        shocks += competitor_shocks(model, options)
        set_account_cap(db, caller, cap)
        gateway = MarketGateway(
            model=model,
            db=db,
            caller=caller,
            last_lead_day=options.last_day,
            pending_from=options.first_day if model.acceptance_delay_days else None,
        )
        gateway.open_accounts()
        gateway.insert_organic(options.first_day, options.start - timedelta(days=1))
        warmup = list(days_between(options.first_day, options.start - timedelta(days=1)))
        # The steered days' organic leads go in on another connection while the warm-up runs
        # (its jobs read no day after their own; the verdicts are drawn from each lead).
        with (
            ThreadPoolExecutor(max_workers=1) as organic,
            _owner(url) as sql,
        ):
            steered = organic.submit(gateway.insert_organic, options.start, options.last_day)
            for done, day in enumerate(warmup, start=1):
                # Aggregate and plan; the budgets stay hand-set. The orchestrate dry run only
                # on the last day: its estimates are the ones every strategy's first inputs
                # read (the newest within estimate_max_age_days), and a dry run's decisions
                # are read by nobody.
                last = day == warmup[-1]
                _jobs(db, caller, day, gateway, url, steer=Mode.dry_run if last else None, sql=sql)
                gateway.simulate(day, day)
                progress("warmup", f"warm-up {day}", done, len(warmup))
            steered.result()
    return model, gateway, shocks, cap


def competitor_shocks(model: MarketModel, options: SimulationOptions) -> list[Shock]:
    """A competitor entering a segment within the steering (a week before its end at the
    latest) is a shock the strategies must re-converge from, like a partner's."""
    last = options.last_day - timedelta(days=7)
    return [
        Shock("competitor", s.segment_id, s.code, s.competitor_day, 0)
        for s in model.segments
        if s.competitor_day is not None and options.start <= s.competitor_day <= last
    ]


def market_summary(model: MarketModel) -> dict[str, Any]:
    """The drawn market in a few numbers: segments per shape and lag, parameter ranges."""
    shapes: dict[str, int] = defaultdict(int)
    lags: dict[str, int] = defaultdict(int)
    for s in model.segments:
        shapes[s.shape] += 1
        lags["same day possible" if s.lag_weights[0] > 0 else "1-4 days"] += 1

    def spread(values: Sequence[float]) -> list[float] | None:
        return [round(min(values), 3), round(max(values), 3)] if values else None

    power = [s.elasticity for s in model.segments if s.shape in ("power", "adstock")]
    hill = [s for s in model.segments if s.shape == "hill"]
    return {
        "name": model.name,
        "description": SPECS[model.name].description if model.name in SPECS else "classic",
        "shapes": dict(shapes),
        "lags": dict(lags),
        "elasticity": spread(power),
        "hill_n": spread([s.hill_n for s in hill]),
        "hill_k": spread([s.hill_k for s in hill]),
        "carry": spread([s.carry for s in model.segments if s.shape == "adstock"]),
        "exp_k": spread([s.exp_k for s in model.segments if s.shape == "exponential"]),
        "cap_share": spread([s.cap_share for s in model.segments if s.shape == "capped"]),
        "noise_sd": spread([s.noise_sd for s in model.segments]),
        "weekday_amplitude": spread([s.weekday_amplitude for s in model.segments]),
        "competitors": sum(1 for s in model.segments if s.competitor_day is not None),
        "conversions_as_known": model.conversions_as_known,
        "acceptance_delay_days": model.acceptance_delay_days,
    }


def settle_leads(url: str, model: MarketModel, until: date | None) -> int:
    """`settle_leads_on` on a connection of its own."""
    if model.acceptance_delay_days is None:
        return 0
    with psycopg.connect(url, autocommit=True) as conn:
        return settle_leads_on(conn, model, until)


def settle_leads_on(conn: psycopg.Connection[Any], model: MarketModel, until: date | None) -> int:
    """Partners decide on pending leads whose delay has passed by `until` 01:00 Dutch time
    (None: on every pending lead). Each lead's delay (within the market's
    `acceptance_delay_days`) and verdict (accepted with its segment's acceptance rate)
    were drawn from the lead when it was inserted (`demo_lead_verdicts`: from its segment,
    arrival time, medium and click id, all drawn from the seed), so every strategy's same
    lead gets the same answer at the same time. Returns how many were decided.

    The due verdicts are read by their time and deleted as they are applied: each pending
    lead is looked at once, not hashed again every morning until it is decided (the
    default run spent about a sixth of its database time here, bench/RESULTS.md)."""
    if model.acceptance_delay_days is None:
        return 0
    at = (
        None
        if until is None
        else datetime.combine(until, time_of_day(1), tzinfo=ZoneInfo("Europe/Amsterdam"))
    )
    done = conn.execute(
        """
        with due as (
          delete from public.demo_lead_verdicts v
           where %(at)s::timestamptz is null or v.decide_at <= %(at)s::timestamptz
          returning v.lead_id, v.accepted
        )
        update public.leads l
           set status = case when d.accepted then 'accepted' else 'rejected' end
          from due d
         where l.id = d.lead_id and l.status = 'pending'
        """,
        {"at": at},
    )
    return done.rowcount


def set_account_cap(db: Database, caller: Caller, cap: float | None) -> None:
    """The account's daily cap in the settings (demo SQL: setup of the simulated world)."""
    db.rpc("demo_set_account_cap", {"p_cap": cap}, caller=caller)


def _jobs(
    db: Database,
    caller: Caller,
    day: date,
    gateway: MarketGateway,
    url: str,
    *,
    steer: Mode | None = None,
    sql: psycopg.Connection[Any] | None = None,
) -> None:
    """The scheduler's morning on a database whose today is `day`: aggregate yesterday
    (with Google Ads metrics), plan today and, with `steer`, orchestrate in that mode."""
    gateway.today = day
    if sql is None:
        pin_today(url, day)
        settle_leads(url, gateway.model, day)
    else:
        pin_today_on(sql, day)
        settle_leads_on(sql, gateway.model, day)
    jobs: tuple[JobName, ...] = DAY_JOBS if steer else ("aggregate", "plan")
    run_day(
        db,
        caller,
        day,
        gateway,
        mode=steer or Mode.dry_run,
        jobs=jobs,
        triggered_by=TRIGGERED_BY,
    )


# --------------------------------------------------------------------------- the strategies


def clamp_budget(old: int, wanted: int, low: int, high: int, config: ControllerConfig) -> int:
    """`wanted`, moved at most the daily limit from `old`, kept within low..high, in
    billable units rounded toward `old`; `old` when no such amount exists."""
    numerator, denominator = config.max_daily_change.as_integer_ratio()
    step = old * numerator // denominator
    unit = config.billable_unit_micros
    lo, hi = max(low, old - step), min(high, old + step)
    if old <= 0 or lo > hi:
        return old
    new = min(max(wanted, lo), hi)
    if new > old:
        new = max(old, new // unit * unit)
    elif new < old:
        new = min(old, -(-new // unit) * unit)
    return new if lo <= new <= hi else old


def _apply(gateway: MarketGateway, wanted: dict[str, int]) -> None:
    """Set the changed budgets through the gateway, as any tool would."""
    current = gateway.budget_amounts()
    changes = [
        BudgetChange(key=i, budget_resource_name=name, new_amount_micros=amount)
        for i, (name, amount) in enumerate(sorted(wanted.items()))
        if amount != current.get(name)
    ]
    if changes:
        results = gateway.apply_budgets(changes, validate_only=False)
        failed = [r for r in results if r.status != "success"]
        if failed:
            raise LeadflowError(f"simulated Google Ads refused a change: {failed[0].error}")


def _inputs(db: Database, caller: Caller, day: date) -> list[dict[str, Any]]:
    """What every strategy sees: the controller's own inputs for the day."""
    rows: list[dict[str, Any]] = db.rpc(
        "orchestration_inputs", {"p_day": day.isoformat()}, caller=caller, read_only=True
    )
    return rows


def fit_cap(
    old: dict[str, int], new: dict[str, int], cap_micros: int | None, unit: int
) -> dict[str, int]:
    """`new` with its raises scaled down alike so that the budgets sum to at most the cap
    (how a shared budget or a rules script keeps an account cap); lowered budgets stay."""
    if cap_micros is None or sum(new.values()) <= cap_micros:
        return new
    raises = {n: new[n] - old[n] for n in new if new[n] > old.get(n, new[n])}
    fixed = sum(v for n, v in new.items() if n not in raises) + sum(old[n] for n in raises)
    room = max(cap_micros - fixed, 0)
    factor = room / sum(raises.values()) if raises else 0.0
    return {
        n: (old[n] + math.floor(raises[n] * factor / unit) * unit if n in raises else v)
        for n, v in new.items()
    }


def _cap_micros(cap: float | None) -> int | None:
    return None if cap is None else round(cap * MICROS)


def _steer_rules(
    db: Database, caller: Caller, day: date, gateway: MarketGateway, cap: float | None
) -> None:
    """±20 % when under / over target by more than the dead band; no cost model. Under an
    account cap, raises are scaled down alike to fit it."""
    config = controller_config(db, caller)
    current = gateway.budget_amounts()
    wanted = dict(current)
    for row in _inputs(db, caller, day):
        name, old = row["budget_resource_name"], current.get(row["budget_resource_name"])
        if old is None or not row["has_plan"]:
            continue
        if row["target_leads"] is None or row["expected_leads"] is None:
            continue
        target, expected = float(row["target_leads"]), float(row["expected_leads"])
        band = max(float(config.dead_band) * target, float(config.min_gap_leads))
        if abs(target - expected) <= band:
            continue
        limit = float(config.max_daily_change)
        factor = 1 + limit if target > expected else 1 - limit
        wanted[name] = clamp_budget(
            old,
            round(old * factor),
            int(row["min_budget_micros"]),
            int(row["max_budget_micros"]),
            config,
        )
    _apply(gateway, fit_cap(current, wanted, _cap_micros(cap), config.billable_unit_micros))


def _steer_minimum(db: Database, caller: Caller, gateway: MarketGateway) -> None:
    """Every budget toward its floor, as fast as the daily limit allows, then held there:
    the yardstick of doing (almost) nothing."""
    config = controller_config(db, caller)
    current = gateway.budget_amounts()
    wanted = {
        s.budget_resource_name: clamp_budget(
            current[s.budget_resource_name],
            s.min_budget_micros,
            s.min_budget_micros,
            s.max_budget_micros,
            config,
        )
        for s in gateway.model.campaigns
        if s.budget_resource_name in current
    }
    _apply(gateway, {**current, **wanted})


def _steer_cpl_rules(
    db: Database,
    caller: Caller,
    day: date,
    gateway: MarketGateway,
    cap: float | None,
    shortfall_cost: float,
) -> None:
    """What an operator sets up in Google Ads in ten minutes: +20 % while the recent cost
    per accepted lead (spend / (paid leads x acceptance rate)) is under what the lead is
    worth (its value less the minimum margin, plus the shortfall cost of missing it) and
    capacity is open (the week's leads under target by more than the dead band); -20 %
    when the cost is over that or the leads are over target by more than the dead band;
    hold otherwise. Under an account cap, raises are scaled down alike to fit it."""
    config = controller_config(db, caller)
    current = gateway.budget_amounts()
    wanted = dict(current)
    limit = float(config.max_daily_change)
    for row in _inputs(db, caller, day):
        name, old = row["budget_resource_name"], current.get(row["budget_resource_name"])
        if old is None or not row["has_plan"]:
            continue
        if row["target_leads"] is None or row["expected_leads"] is None:
            continue
        target, expected = float(row["target_leads"]), float(row["expected_leads"])
        band = max(float(config.dead_band) * target, float(config.min_gap_leads))
        value = float(row["lead_value_micros"] or 0) / MICROS
        worth = value * (1 - _min_margin(row) + shortfall_cost)
        paid, spend = float(row["paid_leads"] or 0), float(row["spend_micros"] or 0) / MICROS
        accepted = paid * float(row["acceptance_rate"] or 0)
        cost = spend / accepted if accepted > 0 else (math.inf if spend > 0 else 0.0)
        if expected > target + band or (worth > 0 and cost > worth):
            factor = 1 - limit
        elif expected < target - band and (worth <= 0 or cost < worth):
            factor = 1 + limit
        else:
            continue
        wanted[name] = clamp_budget(
            old,
            round(old * factor),
            int(row["min_budget_micros"]),
            int(row["max_budget_micros"]),
            config,
        )
    _apply(gateway, fit_cap(current, wanted, _cap_micros(cap), config.billable_unit_micros))


def _min_margin(row: dict[str, Any]) -> float:
    """The minimum margin the database's settings ask of this segment (0 when it has none)."""
    value = row.get("min_margin")
    return 0.0 if value is None else float(value)


def _steer_oracle(
    db: Database,
    caller: Caller,
    day: date,
    gateway: MarketGateway,
    model: MarketModel,
    cap: float | None,
    shortfall_cost: float = 0.0,
) -> None:
    """Maximises the objective from the true curves under the same rules: per segment the
    cheaper of the budget that meets the target and the one where the next accepted lead
    costs what it is worth (its value less the minimum margin, plus the shortfall cost of
    missing it: within the target every accepted lead also saves that); under a cap, the
    money goes where the next euro earns most (one price lambda for all: marginal value per
    euro >= 1 + lambda); always within ±20 % and the bounds. A segment with campaigns on
    two channels buys each lead where it is cheapest: every campaign at the budget where
    the next accepted lead costs the same, as much as is worth it, and no more than the
    target needs. Adstock: the steady-state curve; lags do not change a steady budget's
    worth."""
    config = controller_config(db, caller)
    current = gateway.budget_amounts()
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _inputs(db, caller, day):
        rows[str(row["segment_id"])].append(row)
    steered = []
    for segment_id, budget_rows in rows.items():
        first = budget_rows[0]
        by_name = {r["budget_resource_name"]: r for r in budget_rows}
        campaigns = [
            c
            for c in model.campaigns_of(segment_id)
            if c.budget_resource_name in by_name and c.budget_resource_name in current
        ]
        if not campaigns or not first["has_plan"] or first["target_leads"] is None:
            continue
        # The segment's target: every budget row carries its even share of it.
        target = sum(float(r["target_leads"]) for r in budget_rows)
        value = campaigns[0].lead_price * (1 - _min_margin(first) + shortfall_cost)
        steered.append((campaigns, by_name, target, value))

    def ideal(campaigns: list[SegmentMarket], target: float, threshold: float) -> list[int]:
        if len(campaigns) == 1:
            segment = campaigns[0]
            needed = segment.budget_for_leads(day, target)
            fill = segment.full_reach_budget(day) if needed is None else needed
            return [min(fill, segment.margin_budget(day, threshold))]
        return _split_budgets(campaigns, day, target, threshold)

    def budgets(price: float) -> dict[str, int]:
        out = dict(current)
        for campaigns, by_name, target, value in steered:
            for campaign, amount in zip(
                campaigns, ideal(campaigns, target, value / (1 + price)), strict=True
            ):
                name = campaign.budget_resource_name
                row = by_name[name]
                out[name] = clamp_budget(
                    current[name],
                    amount,
                    int(row["min_budget_micros"]),
                    int(row["max_budget_micros"]),
                    config,
                )
        return out

    wanted = budgets(0.0)
    cap_micros = _cap_micros(cap)
    if cap_micros is not None and sum(wanted.values()) > cap_micros:
        low, high = 0.0, 1.0
        while sum(budgets(high).values()) > cap_micros and high < 1e6:
            low, high = high, high * 4
        for _ in range(40):
            middle = (low + high) / 2
            if sum(budgets(middle).values()) > cap_micros:
                low = middle
            else:
                high = middle
        wanted = budgets(high)
    _apply(gateway, wanted)


def _split_budgets(
    campaigns: Sequence[SegmentMarket], day: date, target: float, threshold: float
) -> list[int]:
    """One segment's budgets over its channels' campaigns: each where the next accepted lead
    costs `threshold` (what it is worth), unless that brings more gross leads than `target`;
    then each where the next lead costs the same, lower price, that together just meet it."""

    def at(price: float) -> list[int]:
        return [c.margin_budget(day, price) for c in campaigns]

    def leads(budgets: Sequence[int]) -> float:
        spent = [round(b * MEAN_SPEND_SHARE) for b in budgets]
        return campaigns[0].organic_mean(day) + sum(
            c.expected_paid_leads(day, b) for c, b in zip(campaigns, spent, strict=True)
        )

    best = at(threshold)
    if leads(best) <= target:
        return best
    low, high = 0.0, threshold
    for _ in range(40):
        middle = (low + high) / 2
        if leads(at(middle)) < target:
            low = middle
        else:
            high = middle
    return at(high)


def _run_strategy(
    strategy: Strategy,
    url: str,
    base: MarketGateway,
    options: SimulationOptions,
    caller: Caller,
    progress: Progress,
    cap: float | None,
) -> StrategyRun:
    started = time.perf_counter()
    run = StrategyRun(strategy)
    with _connect(url) as db, _owner(url) as sql:
        gateway = base.fork(db)
        if strategy == "leadflow_google_only":
            # Leadflow before channels: it sees and steers Google Ads only; the Microsoft
            # budgets keep their hand-set amounts (and keep spending) in the market.
            sql.execute(
                "update public.segment_campaign_budgets set is_active = false "
                "where channel <> 'google_ads'"
            )
        run.max_daily_change = controller_config(db, caller).max_daily_change
        run.budgets[options.start - timedelta(days=1)] = gateway.budget_amounts()
        days = list(days_between(options.start, options.last_day))
        for done, day in enumerate(days, start=1):
            steer = Mode.live if strategy in LEADFLOW else None  # else steered below
            if strategy in BLIND:
                gateway.today = day  # no jobs: the stats are aggregated once at the end
            else:
                _jobs(db, caller, day, gateway, url, steer=steer, sql=sql)
                run.pending_seen[day] = _pending(sql, day - timedelta(days=1))
            if strategy == "rules":
                _steer_rules(db, caller, day, gateway, cap)
            elif strategy == "cpl_rules":
                _steer_cpl_rules(db, caller, day, gateway, cap, options.shortfall_cost)
            elif strategy == "minimum":
                _steer_minimum(db, caller, gateway)
            elif strategy == "oracle":
                _steer_oracle(db, caller, day, gateway, base.model, cap, options.shortfall_cost)
            run.budgets[day] = gateway.budget_amounts()
            gateway.simulate(day, day)
            progress(strategy, f"{LABELS[strategy]} {day}", done, len(days))
        # The score is kept on the final truth: every lead decided, every day restated.
        settle_leads_on(sql, base.model, None)
        after = options.last_day + timedelta(days=1)
        pin_today_on(sql, after)
        gateway.today = after
        aggregate(
            db, caller, options.start, options.last_day, gateway=gateway, triggered_by=TRIGGERED_BY
        )
        pin_today_on(sql, None)
    _read_back(url, options, run)
    _read_market(gateway, options, run)
    run.seconds = time.perf_counter() - started
    return run


def _read_market(gateway: MarketGateway, options: SimulationOptions, run: StrategyRun) -> None:
    """Each campaign's spend and conversions of the steered days as the market had them; the
    stats' spend becomes the market's (a channel whose mapping is inactive is not aggregated,
    but its budget still spends)."""
    by_budget = {c.budget_resource_name: c for c in gateway.model.campaigns}
    spend: dict[tuple[str, date], float] = defaultdict(float)
    for day in days_between(options.start, options.last_day):
        for m in gateway.metrics.get(day, []):
            campaign = by_budget[m.budget_resource_name]
            euro = m.cost_micros / MICROS
            run.campaigns[(campaign.segment_id, day, campaign.channel)] = (euro, m.conversions)
            spend[(campaign.segment_id, day)] += euro
    for key, (generated, accepted, _, capacity) in run.stats.items():
        run.stats[key] = (generated, accepted, round(spend[key], 6), capacity)


def _pending(conn: psycopg.Connection[Any], day: date) -> tuple[int, int]:
    """Leads of `day` pending in its stats row as aggregated, and all its leads."""
    row = conn.execute(
        "select coalesce(sum(leads_pending), 0), coalesce(sum(leads_generated), 0) "
        "from public.lead_generation_stats where day = %s",
        (day,),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _read_back(url: str, options: SimulationOptions, run: StrategyRun) -> None:
    """The strategy's stats, plans and (live) decisions of the steered days."""
    first, last = options.start, options.last_day
    with psycopg.connect(url) as conn:
        for segment_id, day, generated, accepted, spend, capacity in conn.execute(
            "select segment_id::text, day, leads_generated, leads_accepted, ad_spend, "
            "total_capacity from public.lead_generation_stats where day between %s and %s "
            "order by segment_id, day",  # the same order every run: sums to the same bits
            (first, last),
        ):
            run.stats[(segment_id, day)] = (generated, accepted, float(spend), float(capacity))
        for segment_id, day, target in conn.execute(
            "select segment_id::text, day, target_leads from public.lead_segment_plans "
            "where day between %s and %s",
            (first - timedelta(days=6), last),
        ):
            run.targets[(segment_id, day)] = float(target or 0)
        cursor = conn.execute(
            "select day, segment_id::text, channel, budget_resource_name, action, "
            "old_amount_micros, new_amount_micros, expected_gap, status, reason "
            "from public.channel_orchestration_log "
            "where mode = 'live' and kind = 'adjust' and day between %s and %s order by id",
            (first, last),
        )
        names = [c.name for c in cursor.description or []]
        run.decisions = [dict(zip(names, row, strict=True)) for row in cursor]


# --------------------------------------------------------------------------- the run


def workers(strategies: Sequence[Strategy]) -> int:
    """One strategy at a time per core. A strategy is one chain (our Python, then its
    backend, then our Python again) that keeps about one core busy; more chains than cores
    only share the cores out, and every one of them runs slower (bench/RESULTS.md,
    "Issue 24, round 7")."""
    return max(1, min(len(strategies), os.cpu_count() or 1))


def heaviest_first(strategies: Sequence[Strategy]) -> list[Strategy]:
    """The order the workers take the strategies in: the longest first (the real orchestrate
    job, then those that run the daily jobs, then those that skip them), so that the short
    ones fill in beside the long one at the end."""

    def weight(strategy: Strategy) -> int:
        return 2 if strategy in LEADFLOW else 0 if strategy in BLIND else 1

    return sorted(strategies, key=weight, reverse=True)


RunOne = Callable[[Strategy, Progress], StrategyRun]


def _run_strategies(
    strategies: Sequence[Strategy], run_one: RunOne, progress: Progress, *, parallel: bool
) -> dict[Strategy, StrategyRun]:
    """Every strategy's run, heaviest first, `workers` at a time when `parallel`: in forked
    processes where the platform forks safely (Linux), so that no two strategies share an
    interpreter lock, else in threads."""
    order = heaviest_first(strategies)
    count = workers(strategies) if parallel else 1
    if count == 1:
        return {s: run_one(s, progress) for s in order}
    if sys.platform == "linux":
        return _in_processes(order, count, run_one, progress)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = {s: pool.submit(run_one, s, progress) for s in order}
        return {s: futures[s].result() for s in order}


def _in_processes(
    order: Sequence[Strategy], count: int, run_one: RunOne, progress: Progress
) -> dict[Strategy, StrategyRun]:
    """`count` forked processes take the strategies in `order` and send back their progress
    and runs; the first failure stops them all and is raised here, in one line."""
    context = multiprocessing.get_context("fork")  # the market and the base gateway, as built
    tasks: Any = context.SimpleQueue()
    for strategy in [*order, *[None] * count]:
        tasks.put(strategy)
    results: Any = context.Queue()

    def work() -> None:
        # The parent's console may be a live progress display: a worker writes (if ever)
        # to the real streams, never through the parent's copy of it.
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        while (strategy := tasks.get()) is not None:
            try:
                run = run_one(strategy, lambda *report: results.put(("progress", report)))
            except BaseException as error:  # the parent raises it, in one line
                results.put(("failed", strategy, f"{type(error).__name__}: {error}"))
                return
            results.put(("done", strategy, run))

    processes = [context.Process(target=work, daemon=True) for _ in range(count)]
    for process in processes:
        process.start()
    runs: dict[Strategy, StrategyRun] = {}
    try:
        while len(runs) < len(order):
            try:
                message = results.get(timeout=1)
            except queue.Empty:
                # A worker killed from outside (out of memory, a signal) sends nothing.
                if any(p.exitcode for p in processes) or not any(p.is_alive() for p in processes):
                    raise LeadflowError(
                        "the simulation's worker processes ended before every strategy ran"
                    ) from None
                continue
            if message[0] == "progress":
                progress(*message[1])
            elif message[0] == "done":
                runs[message[1]] = message[2]
            else:
                raise LeadflowError(f"{LABELS[message[1]]} failed: {message[2]}")
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
    return runs


def run_simulation(
    url_of: Callable[[str], str],
    options: SimulationOptions,
    *,
    caller: Caller | None = None,
    on_progress: Progress | None = None,
    keep: bool = False,
) -> SimulationResult:
    """Build the market once, run the six strategies on copies of it, compare them.

    `url_of(name)` is a superuser URL of database `name` on a server the
    simulation may create and drop databases on (`postgres` is the admin one).
    The simulation's databases are dropped afterwards unless `keep`.
    """
    caller = caller or Caller.service()
    progress = on_progress or (lambda task, description, done, total: None)
    admin = url_of("postgres")
    base_name = options.database("base")
    strategies = options.strategies
    names = {s: options.database(s) for s in strategies}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    create_database(admin, base_name, replace=True)
    try:
        model, base, shocks, cap = _build_base(url_of(base_name), options, caller, progress)
        controller_shortfall = _give_controller(url_of(base_name), options.shortfall_cost)
        timings["build and warm-up"] = time.perf_counter() - started
        loop_started = time.perf_counter()

        def run_copy(strategy: Strategy, report: Progress) -> StrategyRun:
            # Each strategy on its own copy of the base, made and dropped by its worker: the
            # copying and dropping overlap the other workers' strategies.
            name = names[strategy]
            create_database(admin, name, template=base_name, replace=True)
            try:
                return _run_strategy(strategy, url_of(name), base, options, caller, report, cap)
            finally:
                if not keep:
                    drop_database(admin, name)

        runs = _run_strategies(strategies, run_copy, progress, parallel=options.parallel)
        timings["strategies"] = time.perf_counter() - loop_started
        timings.update({f"strategy {s}": runs[s].seconds for s in heaviest_first(strategies)})
    finally:
        if not keep:  # the workers dropped their copies, unless one failed or was stopped
            drop_database(admin, *options.databases)
    metrics = {
        s: _metrics(runs[s], runs["oracle"], model, shocks, options, cap) for s in strategies
    }
    series = {s: _series(runs[s], options) for s in strategies}
    return SimulationResult(
        options=options,
        model=model,
        shocks=shocks,
        metrics=metrics,
        series=series,
        runs=runs,
        cap=cap,
        seconds=time.perf_counter() - started,
        timings=timings,
        controller_shortfall=controller_shortfall,
    )


@contextmanager
def kept_run(
    url_of: Callable[[str], str], options: SimulationOptions
) -> Iterator[SimulationResult]:
    """`run_simulation` with its databases kept while the block reads them (the strategies'
    as `options.database(strategy)`), then dropped, also when the run or the block fails."""
    try:
        yield run_simulation(url_of, options, keep=True)
    finally:
        drop_database(url_of("postgres"), *options.databases)


@contextmanager
def kept_local_run(
    options: SimulationOptions,
) -> Iterator[tuple[Callable[[str], str], SimulationResult]]:
    """`kept_run` on the checkout's embedded server (started for the block if it is not
    running): the benches that read a run's databases. Yields the server's `url_of` and the
    result."""
    from leadflow.settings import get_settings

    from leadflow_tools.embedded import running_server

    settings = get_settings()
    with (
        running_server(settings.home / "postgres", port=settings.local_db_port) as server,
        kept_run(server.url, options) as result,
    ):
        yield server.url, result


def market_and_seed(
    args: Sequence[str], script: str, market: str, seed: int
) -> SimulationOptions | None:
    """The options of a bench's `[MARKET [SEED]]` arguments (`market` and `seed` when left
    out); None, with the usage line on stderr, when they are not that."""
    given = [*args, *[market, str(seed)][len(args) :]]
    if len(given) != 2 or given[0] not in MARKETS or not given[1].isdigit():
        print(f"usage: {script} [{'|'.join(MARKETS)} [SEED]]", file=sys.stderr)
        return None
    return SimulationOptions(seed=int(given[1]), market=given[0])


#: The settings column the controller reads the shortfall cost from: a share of the lead's
#: value, like `--shortfall-cost`.
SHORTFALL_SETTING = "shortfall_cost"


def _give_controller(url: str, shortfall_cost: float) -> float | str:
    """The controller's side of the partner promise: when `orchestration_settings` has a
    SHORTFALL_SETTING column, the run's shortfall cost is written there (before the
    strategies' databases are copied) and the value the column then holds returned;
    otherwise "not supported" and the controller maximises margin alone."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "select 1 from information_schema.columns where table_schema = 'public' "
            "and table_name = 'orchestration_settings' and column_name = %s",
            (SHORTFALL_SETTING,),
        ).fetchone()
        if found is None:
            return "not supported"
        held = conn.execute(
            f"update public.orchestration_settings set {SHORTFALL_SETTING} = %s "
            f"returning {SHORTFALL_SETTING}",
            (shortfall_cost,),
        ).fetchone()
    assert held is not None
    return float(held[0])


# --------------------------------------------------------------------------- the metrics


def _metrics(
    run: StrategyRun,
    oracle: StrategyRun,
    model: MarketModel,
    shocks: Sequence[Shock],
    options: SimulationOptions,
    account_cap: float | None = None,
) -> StrategyMetrics:
    price = {s.segment_id: s.lead_price for s in model.segments}
    months: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    spend = accepted = capacity = 0.0
    for (segment_id, day), (_, acc, cost, cap) in run.stats.items():
        month = months[(segment_id, day.month + 12 * day.year)]
        month[0] += acc
        month[1] += cap
        spend += cost
        accepted += acc
        capacity += cap
    filled = sum(min(acc, cap) for acc, cap in months.values())
    over = sum(max(0.0, acc - cap) for acc, cap in months.values())
    revenue = sum(price[seg] * min(acc, c) for (seg, _), (acc, c) in months.items())
    missed = sum(max(0.0, c - acc) for acc, c in months.values())
    penalty = options.shortfall_cost * sum(
        price[seg] * max(0.0, c - acc) for (seg, _), (acc, c) in months.items()
    )
    violations, cap_use = _safety(run, model, options, account_cap)
    by_channel: dict[str, list[float]] = {c: [0.0, 0.0] for c in model.channels()}
    for (_, _, channel), (euro, conversions) in sorted(run.campaigns.items()):
        by_channel[channel][0] += euro
        by_channel[channel][1] += conversions
    return StrategyMetrics(
        strategy=run.strategy,
        capacity=capacity,
        accepted=accepted,
        margin=revenue - spend - penalty,
        revenue=revenue,
        shortfall=missed,
        shortfall_cost=penalty,
        safety_violations=violations,
        max_cap_use=cap_use,
        filled=filled,
        over_delivered=over,
        spend=spend,
        volatility=_volatility(run, options),
        reconverge_days={
            kind: [_reconverge(run, oracle, model, s, options) for s in shocks if s.kind == kind]
            for kind in ("join", "leave", "competitor")
        },
        spend_by_channel={c: v[0] for c, v in by_channel.items()},
        paid_leads_by_channel={c: v[1] for c, v in by_channel.items()},
        violations_by_channel=_channel_violations(run, model, options),
    )


def _safety(
    run: StrategyRun, model: MarketModel, options: SimulationOptions, cap: float | None
) -> tuple[int, float | None]:
    """Days on which a budget broke the daily limit (±20 %), its bounds or the cap; the
    highest cap use."""
    violations, use = 0, 0.0
    for day in days_between(options.start, options.last_day):
        broken = bool(_broken(run, model, day))
        now = run.budgets[day]
        total = sum(now.values()) / MICROS
        if cap is not None:
            use = max(use, total / cap)
            broken = broken or total > cap + 1e-9
        violations += broken
    return violations, (use if cap is not None else None)


def _broken(run: StrategyRun, model: MarketModel, day: date) -> set[str]:
    """The budgets (every channel's) that moved more than the daily limit on `day` or were
    set outside their bounds."""
    numerator, denominator = run.max_daily_change.as_integer_ratio()
    bounds = {
        s.budget_resource_name: (s.min_budget_micros, s.max_budget_micros) for s in model.campaigns
    }
    before, now = run.budgets[day - timedelta(days=1)], run.budgets[day]
    broken = set()
    for name, new in now.items():
        old = before.get(name, new)
        low, high = bounds.get(name, (new, new))
        too_far = abs(new - old) * denominator > old * numerator
        if new != old and (too_far or not low <= new <= high):
            broken.add(name)
    return broken


def _channel_violations(
    run: StrategyRun, model: MarketModel, options: SimulationOptions
) -> dict[str, int]:
    """Per channel: days on which one of its budgets broke the daily limit or its bounds."""
    channel = {c.budget_resource_name: c.channel for c in model.campaigns}
    days: dict[str, int] = {c: 0 for c in model.channels()}
    for day in days_between(options.start, options.last_day):
        for c in {channel.get(name, "unknown") for name in _broken(run, model, day)}:
            days[c] = days.get(c, 0) + 1
    return days


def _volatility(run: StrategyRun, options: SimulationOptions) -> float:
    changes = []
    for day in days_between(options.start, options.last_day):
        before, now = run.budgets[day - timedelta(days=1)], run.budgets[day]
        changes += [abs(now[n] - before[n]) / before[n] for n in now if before.get(n)]
    return sum(changes) / len(changes) if changes else 0.0


def expected_leads(
    run: StrategyRun,
    segment: SegmentMarket,
    day: date,
    lag_weights: Sequence[float] | None = None,
    others: Sequence[SegmentMarket] = (),
) -> float:
    """Noise-free gross leads arriving on `day` at the budgets the strategy set (the
    segment's own lags unless `lag_weights`; adstock: the steady-state curve); with the
    segment's campaigns on other channels (`others`), theirs too, each at its own lags."""
    first = min(run.budgets)
    organic = segment.organic_mean(day)
    paid = 0.0
    for campaign in (segment, *others):
        for lag, weight in enumerate(lag_weights or campaign.lag_weights):
            click = max(day - timedelta(days=lag), first)
            budget = run.budgets[click].get(campaign.budget_resource_name, 0)
            paid += weight * (campaign.expected_leads(click, budget) - campaign.organic_mean(click))
    return organic + paid


def weekly_leads(
    run: StrategyRun,
    model: MarketModel,
    segments: Sequence[SegmentMarket],
    options: SimulationOptions,
) -> dict[date, float]:
    """Per steered day from the first full week: the segments' noise-free gross leads over
    the trailing week at the budgets the strategy set."""
    daily = {
        day: sum(
            expected_leads(run, s, day, others=model.campaigns_of(s.segment_id)[1:])
            for s in segments
        )
        for day in days_between(options.start, options.last_day)
    }
    return {
        day: sum(daily[day - timedelta(days=k)] for k in range(7))
        for day in days_between(options.start + timedelta(days=6), options.last_day)
    }


def reconverged_count(took: Iterable[int | None], days: int) -> int:
    """How many of these re-convergences (days from the shock; None: never) took at most
    `days`."""
    return sum(1 for d in took if d is not None and d <= days)


def _weekly(
    run: StrategyRun, model: MarketModel, code: str, options: SimulationOptions
) -> dict[date, float]:
    """`weekly_leads` of one segment, kept on the run once computed (a run's budgets are
    final once it is scored; every strategy compares itself with the oracle's)."""
    if code not in run.weekly:
        run.weekly[code] = weekly_leads(run, model, [model.segment(code)], options)
    return run.weekly[code]


def _reconverge(
    run: StrategyRun,
    oracle: StrategyRun,
    model: MarketModel,
    shock: Shock,
    options: SimulationOptions,
) -> int | None:
    """Days from the shock until the segment's weekly noise-free leads are within
    RECONVERGED_WITHIN of the oracle's, and stay there for a week (or to the end); None: not
    within the run.

    The oracle is the reference: the best steering to target the ±20 % limit allows.
    """
    if run is oracle:
        return 0
    ours = _weekly(run, model, shock.code, options)
    best = _weekly(oracle, model, shock.code, options)
    after = [d for d in ours if d >= shock.day]
    for i, day in enumerate(after):
        if all(
            abs(ours[d] / best[d] - 1) <= RECONVERGED_WITHIN if best[d] > 0 else ours[d] <= 0
            for d in after[i : i + 7]
        ):
            return (day - shock.day).days
    return None


def _series(run: StrategyRun, options: SimulationOptions) -> dict[str, list[Any]]:
    """Per day: fill over the trailing week (accepted / capacity) and spend."""
    by_day: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for (_, day), (_, acc, cost, cap) in run.stats.items():
        row = by_day[day]
        row[0] += acc
        row[1] += cap
        row[2] += cost
    days = list(days_between(options.start, options.last_day))
    fill: list[float | None] = []
    for i in range(len(days)):
        window = days[max(0, i - 6) : i + 1]
        if len(window) < 7:
            fill.append(None)
            continue
        cap = sum(by_day[d][1] for d in window)
        fill.append(sum(by_day[d][0] for d in window) / cap if cap else None)
    return {
        "day": [d.isoformat() for d in days],
        "fill": fill,
        "spend": [round(by_day[d][2], 2) for d in days],
    }


# --------------------------------------------------------------------------- output


def figure(result: SimulationResult) -> Any:
    """Fill over the trailing week and daily spend of the strategies, shocks marked."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    colours = {
        "fixed": "#7f7f7f",
        "minimum": "#bcbd22",
        "rules": "#ff7f0e",
        "cpl_rules": "#9467bd",
        "leadflow": "#1f77b4",
        "leadflow_google_only": "#17becf",
        "oracle": "#2ca02c",
    }
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            "Capacity fill: accepted leads / capacity, trailing 7 days",
            "Ad spend per day (euro)",
        ),
    )
    for s in result.strategies:
        series = result.series[s]
        dash = "dot" if s == "oracle" else None
        fig.add_trace(
            go.Scatter(
                x=series["day"],
                y=series["fill"],
                name=LABELS[s],
                legendgroup=s,
                line={"color": colours[s], "dash": dash},
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=series["day"],
                y=series["spend"],
                name=LABELS[s],
                legendgroup=s,
                showlegend=False,
                line={"color": colours[s], "dash": dash},
            ),
            row=2,
            col=1,
        )
    fig.add_hline(y=1.0, line={"color": "#444", "width": 1}, row=1, col=1)
    o = result.options
    for day, text in (
        (o.join_day, "partner joins (+30 %)"),
        (o.leave_day, "partner leaves (-30 %)"),
    ):
        if day is None:
            continue
        fig.add_vline(x=day.isoformat(), line={"color": "#aaa", "dash": "dash", "width": 1})
        fig.add_annotation(
            x=day.isoformat(),
            y=0.55,
            yref="paper",
            yanchor="bottom",
            xanchor="left",
            text=text,
            showarrow=False,
            font={"size": 11, "color": "#666"},
        )
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_layout(
        title=f"Leadflow simulation: {len(result.model.segments)} segments, seed {o.seed}",
        template="plotly_white",
        width=1100,
        height=700,
        legend={"orientation": "h", "y": -0.08},
        margin={"t": 90},
    )
    return fig


def write_plot(result: SimulationResult, path: Path) -> Path:
    """The figure as one self-contained HTML file (plotly.js inline, opens offline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure(result).write_html(
        str(path), include_plotlyjs=True, full_html=True, config={"displayModeBar": False}
    )
    return path


def screenshot(html: Path, png: Path, *, browser: str = "chromium") -> Path:
    """A PNG of the HTML plot, taken by headless Chromium (plotly's own PNG export needs
    kaleido); raises LeadflowError when no browser is found or it fails."""
    import shutil
    import subprocess
    import tempfile

    binary = shutil.which(browser) or shutil.which("chromium-browser")
    if binary is None:
        raise LeadflowError("no chromium found for the PNG; the HTML plot was written")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(  # noqa: S603 - a browser we found, our own file, no shell
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--window-size=1100,720",
                "--virtual-time-budget=5000",
                f"--screenshot={png.resolve()}",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0 or not png.exists():
        raise LeadflowError(f"chromium could not take the screenshot: {done.stderr[-300:]}")
    return png


def table(result: SimulationResult) -> Any:
    """The comparison as a rich table."""
    from rich.table import Table

    out = Table(
        show_edge=False,
        title=f"{len(result.strategies)} strategies on one market: {result.options.describe()}",
        caption="fill: accepted leads within capacity / capacity (per segment and month); "
        "over-delivery: accepted beyond capacity / capacity; cost per accepted lead: spend / "
        "accepted within capacity; volatility: mean |daily budget change|; re-converge: days "
        "after a shock (±30 % capacity, a competitor) until a shocked segment's weekly "
        f"expected leads are within {100 * RECONVERGED_WITHIN:.0f} % of the oracle's for a week "
        "(median, and how many within 7 days); margin includes the shortfall cost; above floor: "
        "margin - the margin of every budget at its floor.",
    )
    # One column per strategy, one row per measure: four number columns fit 60 columns and
    # are never cut (no "…" inside a number); the measure's name and the re-convergence
    # text wrap instead.
    rows = [_row(result.metrics[s], result.above_floor(s)) for s in result.strategies]
    out.add_column("", overflow="fold", min_width=10)
    for strategy, row in zip(result.strategies, rows, strict=True):
        numbers = [cell for k, cell in enumerate(row) if k not in (0, 8)]  # not name, re-converge
        out.add_column(
            LABELS[strategy], justify="right", overflow="fold", min_width=max(map(len, numbers))
        )
    measures = (
        "margin",
        "above floor",
        "fill",
        "over-delivery",
        "spend",
        "€ / accepted lead",
        "volatility",
        "re-converge",
        "max cap use",
        "safety violations",
    )
    for k, measure in enumerate(measures, start=1):
        out.add_row(measure, *(row[k] for row in rows))
    return out


def _row(m: StrategyMetrics, above_floor: float) -> list[str]:
    return [
        LABELS[m.strategy],
        f"€{m.margin:,.0f}",
        f"€{above_floor:,.0f}",
        f"{100 * m.fill_rate:.1f} %",
        f"{100 * m.over_delivery:.1f} %",
        f"€{m.spend:,.0f}",
        "—" if m.cost_per_accepted is None else f"€{m.cost_per_accepted:.2f}",
        f"{100 * m.volatility:.1f} %",
        _reconverge_text(m),
        "—" if m.max_cap_use is None else f"{m.max_cap_use:.3f}",
        str(m.safety_violations),
    ]


def markdown(result: SimulationResult) -> str:
    """The comparison table and the targets, as Markdown for bench/RESULTS.md."""
    lines = [
        "| strategy | margin | above floor | fill | over-delivery | spend | € / accepted lead "
        "| volatility | re-converge (median; ≤ 7 d) | max cap use | safety violations |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        "| " + " | ".join(_row(result.metrics[s], result.above_floor(s))) + " |"
        for s in result.strategies
    ]
    lines.append("")
    channels = result.model.channels()
    if len(channels) > 1:
        lines += [
            "| strategy | "
            + " | ".join(f"spend {c} | paid leads {c} | violations {c}" for c in channels)
            + " |",
            "| --- |" + " ---: |" * (3 * len(channels)),
        ]
        for s in result.strategies:
            m = result.metrics[s]
            cells = [
                f"€{m.spend_by_channel.get(c, 0):,.0f} | {m.paid_leads_by_channel.get(c, 0):,.0f}"
                f" | {m.violations_by_channel.get(c, 0)}"
                for c in channels
            ]
            lines.append(f"| {LABELS[s]} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        f"- {t.name}: **{'met' if t.met else 'NOT met'}** ({t.detail})" for t in result.targets()
    ]
    return "\n".join(lines)


def _reconverge_text(m: StrategyMetrics) -> str:
    if m.strategy == "oracle":
        return "(reference)"
    if not m.reconverge:
        return "—"
    return f"{_days(m.reconverge_median)} ({m.reconverged_within(7)}/{len(m.reconverge)} ≤ 7 d)"


def _days(value: float | None) -> str:
    return "never" if value is None else f"{value:g} d"


def _num(value: float | None) -> float:
    return math.inf if value is None else value


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
