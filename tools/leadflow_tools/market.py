"""A simulated lead market behind fake ad channels: leads that respond to budget.

Used by `leadflow demo`, and meant for simulations that compare budget strategies:
the model is pure and deterministic (every number follows from the seed, the
segment and the day, never from call order), and the gateway is a drop-in
`ChannelGateway` serving every paid channel (Google Ads, Microsoft Advertising), so the
real jobs run against it unchanged.

Per segment and Dutch day (money in euro per day)::

    demand(d)  = weekday(d) x season(d) x holiday(d)           (about 1 on average)
    organic(d) ~ Poisson(organic_per_day x demand(d))           SEO and microsite leads
    reach(d)   = saturation_spend x demand(d) x cost(d)         spend that buys every impression
                 (cost(d): cost per click relative to the start, 1 unless a scenario drifts it)
    spend(d)   = min(budget, reach(d)) x U(0.93, 1)
    paid(d)    ~ Poisson(saturation_leads x demand(d) x (spend / reach(d)) ** elasticity x noise)
    clicks(d)  ~ Poisson(the same mean without the noise / conversion_rate x U(0.9, 1.1))
    lost impression share (budget) = 1 - budget / reach(d) while the budget limits, else ~0

`elasticity` < 1 gives diminishing returns: each extra euro buys fewer leads.

A segment may have a second paid campaign on Microsoft Advertising beside its Google Ads one
(`MarketModel.others`): the same demand and partners, its own response curve, cost per click
and saturation drawn per segment (MICROSOFT_REACH, MICROSOFT_COST, MICROSOFT_ELASTICITY): a
smaller audience than Google's, so fewer leads at full reach, but each cheaper. Its leads
carry an `msclkid` (attributed to microsoft_ads); organic leads belong to the segment, once.
A paid lead arrives `lag` days after its click, lag ~ LAG_WEIGHTS (Google Ads
reports the conversion on the click's day). Partners accept a segment's lead
with its `acceptance_rate`.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import holidays
from leadflow.channels.google_ads import MICROS_PER_CENT, CampaignMetrics, GoogleAdsGateway
from leadflow.days import days_between
from leadflow.db import Caller, Database

from leadflow_tools.google_ads_fake import InMemoryGoogleAds

MICROS = 1_000_000

#: Relative demand Monday..Sunday (mean 1): busy Mondays, quiet Saturdays, browsing Sunday evenings.
WEEKDAY_DEMAND: tuple[float, ...] = (1.20, 1.12, 1.05, 1.00, 0.88, 0.72, 1.03)
#: Relative demand on a Dutch public holiday.
HOLIDAY_DEMAND = 0.65
#: Share of paid leads that arrive 0, 1, 2, 3 days after the click.
LAG_WEIGHTS: tuple[float, ...] = (0.55, 0.25, 0.12, 0.08)
#: What share of the budget a campaign spends on a day when the budget limits: U(0.93, 1).
SPEND_SHARE: tuple[float, float] = (0.93, 1.0)
#: Its mean: an oracle that knows the curve plans with it.
MEAN_SPEND_SHARE = sum(SPEND_SHARE) / 2
#: Gross leads per day a segment of size 1 (industry weight x province population in millions)
#: asks for, used for demand where no partner has capacity.
DEMAND_PER_SIZE = 4.0

#: Microsoft Advertising beside Google Ads, drawn per segment from these ranges. Bing's
#: audience is smaller: at full reach its campaign buys this share of the paid leads Google's
#: buys, so it saturates at a fraction of Google's spend ...
MICROSOFT_REACH: tuple[float, float] = (0.25, 0.5)
#: ... but each of those leads costs less: the cost per lead at full reach is this share of
#: Google's (lower cost per click, fewer bidders) ...
MICROSOFT_COST: tuple[float, float] = (0.55, 0.85)
#: ... and its curve is its own (the classic market's power curve; the family redraws it).
MICROSOFT_ELASTICITY: tuple[float, float] = (0.4, 0.7)
#: The operator's hand-set Microsoft budget: this share of the segment's Google one (a
#: channel added later, given little), within the segment's bounds, in whole euros.
MICROSOFT_START: tuple[float, float] = (0.15, 0.4)
#: The demo's Microsoft Advertising account (its budgets: accounts/5550001/budgets/<n>).
MICROSOFT_ACCOUNT = "5550001"

Channel = Literal["google_ads", "microsoft_ads", "seo", "microsite"]
PaidChannel = Literal["google_ads", "microsoft_ads"]
Shape = Literal["power", "hill", "adstock", "exponential", "capped"]


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Industry:
    """A trade: how much demand it has, what its leads cost and earn, when it peaks."""

    slug: str
    name: str
    weight: float  # relative demand
    target_cpl: float  # euro; what operators aim to pay per paid lead
    lead_price: float  # euro; what a partner pays for an accepted lead
    season_peak_day: int  # day of the year with the most demand
    season_amplitude: float  # demand swings ± this fraction over the year


@dataclass(frozen=True)
class Province:
    """A Dutch province and its population in millions."""

    code: str
    population: float


INDUSTRIES: tuple[Industry, ...] = (
    Industry("schilder", "Schilder", 1.2, 25, 32, 150, 0.25),
    Industry("loodgieter", "Loodgieter", 1.3, 20, 28, 20, 0.10),
    Industry("dakdekker", "Dakdekker", 0.8, 35, 45, 300, 0.20),
    Industry("elektricien", "Elektricien", 0.9, 22, 30, 0, 0.05),
    Industry("hovenier", "Hovenier", 0.9, 28, 35, 120, 0.45),
    Industry("cv_monteur", "CV-monteur", 1.0, 30, 38, 15, 0.40),
    Industry("stukadoor", "Stukadoor", 0.6, 24, 32, 60, 0.10),
    Industry("tegelzetter", "Tegelzetter", 0.6, 26, 34, 80, 0.10),
    Industry("timmerman", "Timmerman", 0.7, 27, 35, 130, 0.10),
    Industry("zonnepanelen", "Zonnepanelen", 0.7, 45, 60, 110, 0.30),
    Industry("isolatie", "Isolatie", 0.6, 38, 50, 290, 0.35),
    Industry("airco", "Airco-installateur", 0.5, 40, 52, 190, 0.50),
    Industry("verhuizer", "Verhuizer", 0.8, 18, 24, 200, 0.20),
    Industry("kozijnen", "Kozijnen", 0.5, 42, 55, 100, 0.15),
    Industry("vloerenlegger", "Vloerenlegger", 0.5, 23, 30, 40, 0.10),
)

#: In map order, so that neighbours in this list are mostly neighbours on the map
#: (a partner covering several provinces covers consecutive ones).
PROVINCES: tuple[Province, ...] = (
    Province("groningen", 0.59),
    Province("friesland", 0.66),
    Province("drenthe", 0.50),
    Province("overijssel", 1.18),
    Province("flevoland", 0.44),
    Province("gelderland", 2.15),
    Province("utrecht", 1.39),
    Province("noord_holland", 2.95),
    Province("zuid_holland", 3.83),
    Province("zeeland", 0.39),
    Province("noord_brabant", 2.62),
    Province("limburg", 1.12),
)


# --------------------------------------------------------------------------- randomness


def _rng(seed: int, *key: object) -> random.Random:
    """A generator for one purpose: the same key always yields the same numbers."""
    return random.Random(":".join(str(k) for k in (seed, *key)))  # noqa: S311 - simulation


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth below 30, a rounded normal above)."""
    if mean <= 0:
        return 0
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NL", years=year))


@lru_cache(maxsize=65536)
def demand_factor(day: date, peak_day: int, amplitude: float) -> float:
    """Relative demand on `day`: weekday x season x public holiday (mean about 1). Cached:
    a simulation asks it about 1.5 million times for some 40,000 distinct arguments."""
    season = 1 + amplitude * math.cos(2 * math.pi * (day.timetuple().tm_yday - peak_day) / 365.25)
    holiday = HOLIDAY_DEMAND if day in _holidays(day.year) else 1.0
    return WEEKDAY_DEMAND[day.weekday()] * season * holiday


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class SegmentMarket:
    """One segment's market on one paid channel: its campaign, its demand and its response
    curve (the segment's organic leads, if any, live on its first channel's market)."""

    segment_id: str
    code: str
    customer_id: str
    campaign_id: str
    budget_resource_name: str
    min_budget_micros: int
    max_budget_micros: int
    #: Accepted leads per calendar day the partners' quotas allow (mean over the period).
    capacity_per_day: float
    acceptance_rate: float
    lead_price: float
    organic_per_day: float
    microsite_share: float  # of organic leads
    saturation_leads: float  # paid leads/day at full reach on a day of demand 1
    saturation_spend: float  # euro/day that buys full reach on a day of demand 1
    elasticity: float  # 0 < e < 1: paid leads grow like spend ** e
    conversion_rate: float  # leads per click
    click_through_rate: float  # clicks per impression
    season_peak_day: int
    season_amplitude: float
    starting_budget_micros: int  # what an operator set by hand before Leadflow
    #: Cost per click drifts by this share (0.25: +25 %) over `drift_days` from `drift_start`.
    cost_drift: float = 0.0
    drift_start: date | None = None
    drift_days: int = 30
    #: The response curve's shape (see `response`); the classic market is "power".
    shape: Shape = "power"
    #: Hill curve: steepness n and half-saturation K as a share of full reach.
    hill_n: float = 1.0
    hill_k: float = 0.5
    #: Adstock: the share of yesterday's effective spend carried into today.
    carry: float = 0.0
    #: Exponential: the share of full reach over which the curve saturates (scale k).
    exp_k: float = 0.3
    #: Capped: the share of full reach past which more clicks bring no more leads.
    cap_share: float = 0.6
    #: Share of paid leads that arrive 0, 1, 2, ... days after the click.
    lag_weights: tuple[float, ...] = LAG_WEIGHTS
    #: Day-to-day noise on the paid leads' mean (sd of a lognormal factor).
    noise_sd: float = 0.12
    #: How strongly the weekday pattern shows (1: WEEKDAY_DEMAND as it is, 0: flat).
    weekday_amplitude: float = 1.0
    #: A competitor enters on this day: cost per click x (1 + competitor_cost) and this
    #: share of the paid leads taken (competitor_loss).
    competitor_day: date | None = None
    competitor_cost: float = 0.0
    competitor_loss: float = 0.0
    #: The paid channel this campaign runs on.
    channel: PaidChannel = "google_ads"

    @property
    def key(self) -> tuple[object, ...]:
        """What this campaign's randomness is keyed by: the segment, and a channel other
        than Google Ads (so a Google campaign draws what it drew before channels)."""
        return (self.code,) if self.channel == "google_ads" else (self.code, self.channel)

    def demand(self, day: date) -> float:
        """Relative demand on `day`."""
        base = demand_factor(day, self.season_peak_day, self.season_amplitude)
        if self.weekday_amplitude == 1.0:
            return base
        weekday = WEEKDAY_DEMAND[day.weekday()]
        return base / weekday * (1 + self.weekday_amplitude * (weekday - 1))

    def competing(self, day: date) -> bool:
        """Whether the competitor has entered by `day`."""
        return self.competitor_day is not None and day >= self.competitor_day

    def cost_factor(self, day: date) -> float:
        """Cost per click on `day` relative to the segment's starting cost per click."""
        factor = 1.0 + self.competitor_cost if self.competing(day) else 1.0
        if self.drift_start is None or not self.cost_drift:
            return factor
        done = min(max((day - self.drift_start).days / self.drift_days, 0.0), 1.0)
        return factor * (1.0 + self.cost_drift * done)

    def reach(self, day: date) -> float:
        """Euro that buys every impression on `day`; more budget is not spent."""
        return self.saturation_spend * self.demand(day) * self.cost_factor(day)

    def top(self, day: date) -> float:
        """Paid leads per day at full reach on `day`."""
        loss = self.competitor_loss if self.competing(day) else 0.0
        return self.saturation_leads * self.demand(day) * (1 - loss)

    def response(self, share: float) -> float:
        """Paid leads at `share` (0..1) of full reach, as a share of those at full reach.

        power (and adstock, on the effective spend): share ** elasticity;
        hill: (1 + K^n) share^n / (share^n + K^n), saturating (S-shaped for n > 1);
        exponential: (1 - exp(-share / k)) / (1 - exp(-1 / k)), saturating without a bend;
        capped: share / cap up to the cap, flat past it (the search volume runs out; the
        clicks past it bring no leads).
        """
        if share <= 0:
            return 0.0
        share = min(share, 1.0)
        if self.shape == "hill":
            kn = self.hill_k**self.hill_n
            xn = share**self.hill_n
            return (1 + kn) * xn / (xn + kn)
        if self.shape == "exponential":
            return -math.expm1(-share / self.exp_k) / -math.expm1(-1 / self.exp_k)
        if self.shape == "capped":
            return min(share / self.cap_share, 1.0)
        return float(share**self.elasticity)

    def slope(self, share: float) -> float:
        """d response / d share (0 beyond full reach)."""
        if share <= 0 or share >= 1:
            return 0.0
        if self.shape == "hill":
            n, kn = self.hill_n, self.hill_k**self.hill_n
            xn = share**n
            return (1 + kn) * n * kn * share ** (n - 1) / (xn + kn) ** 2
        if self.shape == "exponential":
            k = self.exp_k
            return math.exp(-share / k) / (k * -math.expm1(-1 / k))
        if self.shape == "capped":
            return 1 / self.cap_share if share < self.cap_share else 0.0
        return float(self.elasticity * share ** (self.elasticity - 1))

    def _inverse(self, y: float) -> float:
        """The share of full reach whose response is `y` (0 < y <= 1)."""
        if self.shape == "hill":
            kn = self.hill_k**self.hill_n
            return float((y * kn / (1 + kn - y)) ** (1 / self.hill_n))
        if self.shape == "exponential":
            return float(-self.exp_k * math.log1p(y * math.expm1(-1 / self.exp_k)))
        if self.shape == "capped":
            return y * self.cap_share
        return float(y ** (1 / self.elasticity))

    def _margin_share(self, need: float) -> float:
        """The share of full reach at which slope = `need`, on the falling side of the
        slope; 0 when no spend pays for itself; 1 when even full reach does."""
        if self.shape in ("power", "adstock"):
            e = self.elasticity
            return min((need / e) ** (1 / (e - 1)), 1.0)
        peak = 1e-9  # the steepest point: the start, except on an S-shaped Hill curve
        if self.shape == "hill":
            n, k = self.hill_n, self.hill_k
            peak = k * ((n - 1) / (n + 1)) ** (1 / n) if n > 1 else 1e-9
        if self.slope(peak) < need:
            return 0.0
        if self.slope(1 - 1e-9) >= need:
            return 1.0
        low, high = peak, 1.0
        for _ in range(40):
            middle = (low + high) / 2
            if self.slope(middle) >= need:
                low = middle
            else:
                high = middle
        # An S-shaped curve: the local best may still lose money against spending nothing.
        return low if self.response(low) >= need * low else 0.0

    def margin_budget(self, day: date, threshold: float) -> int:
        """The budget (whole cents) at which the next accepted lead costs `threshold` euro
        (marginal cost per accepted lead = reach / (acceptance x top x slope)); full reach
        when even that lead costs less (for adstock: in the steady state)."""
        reach, top = self.reach(day), self.top(day)
        if reach <= 0 or top <= 0 or threshold <= 0:
            return 0
        # reach / (a top slope(x)) = threshold  <=>  slope(x) = reach / (threshold a top)
        share = self._margin_share(reach / (threshold * self.acceptance_rate * top))
        euro = share * reach / MEAN_SPEND_SHARE
        return min(
            math.floor(euro * MICROS / MICROS_PER_CENT) * MICROS_PER_CENT,
            self.full_reach_budget(day),
        )

    def value_per_euro(self, day: date, budget_micros: int) -> float:
        """Accepted-lead value (euro) the next euro of budget buys on `day` (noise-free)."""
        reach = self.reach(day)
        spend = max(budget_micros, 0) / MICROS * MEAN_SPEND_SHARE
        if reach <= 0 or spend <= 0 or spend >= reach:
            return 0.0
        return (
            self.lead_price
            * self.acceptance_rate
            * self.top(day)
            * self.slope(spend / reach)
            / reach
            * MEAN_SPEND_SHARE
        )

    def expected_paid_leads(self, day: date, budget_micros: int) -> float:
        """Mean paid leads from clicks on `day` at this budget (no noise, spend = budget;
        adstock: in the steady state)."""
        reach = self.reach(day)
        if reach <= 0 or budget_micros <= 0:
            return 0.0
        return self.top(day) * self.response(budget_micros / MICROS / reach)

    def budget_for_paid_leads(self, day: date, leads: float) -> int | None:
        """The least budget (whole cents) expected to buy `leads` on `day`; None: unreachable."""
        top = self.top(day)
        if leads <= 0:
            return 0
        if leads > top:
            return None
        euro = self.reach(day) * self._inverse(leads / top)
        return math.ceil(euro * MICROS / MICROS_PER_CENT) * MICROS_PER_CENT

    def organic_mean(self, day: date) -> float:
        """Mean SEO and microsite leads on `day`."""
        return self.organic_per_day * self.demand(day)

    def expected_leads(self, day: date, budget_micros: int) -> float:
        """Mean gross leads (organic and paid, noise-free) from `day` at this budget.

        Unlike `expected_paid_leads`, a budget that limits is spent at its mean share.
        """
        reach = self.reach(day)
        spent = min(max(budget_micros, 0) / MICROS * MEAN_SPEND_SHARE, reach)
        return self.organic_mean(day) + self.expected_paid_leads(day, round(spent * MICROS))

    def full_reach_budget(self, day: date) -> int:
        """The least budget (whole cents) whose mean spend buys every impression on `day`."""
        euro = self.reach(day) / MEAN_SPEND_SHARE
        return math.ceil(euro * MICROS / MICROS_PER_CENT) * MICROS_PER_CENT

    def budget_for_leads(self, day: date, leads: float) -> int | None:
        """The least budget (whole cents) expected to bring `leads` gross leads on `day`,
        organic ones included; None: more than full reach brings."""
        paid = self.budget_for_paid_leads(day, leads - self.organic_mean(day))
        if paid is None:
            return None
        euro = paid / MICROS / MEAN_SPEND_SHARE
        return min(
            math.ceil(euro * MICROS / MICROS_PER_CENT) * MICROS_PER_CENT,
            self.full_reach_budget(day),
        )


@dataclass(frozen=True)
class LeadCount:
    """`leads` leads of one segment, day and channel (`batch` tells apart same-day arrivals)."""

    segment_id: str
    day: date
    channel: Channel
    leads: int
    batch: str = ""

    def as_json(self) -> dict[str, Any]:
        """The object `demo_insert_leads` takes."""
        return {
            "segment_id": self.segment_id,
            "day": self.day.isoformat(),
            "channel": self.channel,
            "leads": self.leads,
            "batch": self.batch,
        }


@dataclass(frozen=True)
class PaidDay:
    """What one segment's campaign did on one day."""

    metrics: CampaignMetrics
    #: Leads from this day's clicks by the day they arrive.
    arrivals: tuple[tuple[date, int], ...]
    #: Adstock: the day's effective spend (euro), carried into the next day.
    effective_spend: float = 0.0

    @property
    def conversions(self) -> int:
        """Leads from this day's clicks, whenever they arrive."""
        return sum(n for _, n in self.arrivals)


@dataclass(frozen=True)
class MarketModel:
    """Every segment's market, and the seed its noise comes from."""

    seed: int
    segments: tuple[SegmentMarket, ...]
    lag_weights: tuple[float, ...] = LAG_WEIGHTS
    #: The family member these segments were drawn from (`leadflow_tools.markets`).
    name: str = "classic"
    #: Google Ads reports a click's conversions only once its lead has arrived (restated
    #: for days); False: every conversion on the click's day at once (the classic market).
    conversions_as_known: bool = False
    #: Partners decide on a lead this many days (low, high) after it arrives; None: at once
    #: (the classic market).
    acceptance_delay_days: tuple[float, float] | None = None
    #: Campaigns on other paid channels (Microsoft Advertising) of segments in `segments`:
    #: the same segment id and code, no organic leads of their own.
    others: tuple[SegmentMarket, ...] = ()

    @property
    def campaigns(self) -> tuple[SegmentMarket, ...]:
        """Every campaign: each segment's first (Google Ads) one, then the others."""
        return self.segments + self.others

    def campaigns_of(self, segment_id: str) -> list[SegmentMarket]:
        """The segment's campaigns, its first channel's first."""
        return [c for c in self.campaigns if c.segment_id == segment_id]

    def channels(self) -> list[str]:
        """The paid channels with campaigns, Google Ads first."""
        return list(dict.fromkeys(c.channel for c in self.campaigns))

    @classmethod
    def from_rows(
        cls,
        seed: int,
        rows: Iterable[Mapping[str, Any]],
        industries: Sequence[Industry] = INDUSTRIES,
        provinces: Sequence[Province] = PROVINCES,
    ) -> MarketModel:
        """Draw each segment's market from the seed; rows as `demo_market_segments` returns
        them (a segment's Google Ads budget first; a second channel's row gets its own curve)."""
        by_slug = {i.slug: i for i in industries}
        population = {p.code: p.population for p in provinces}
        segments: dict[str, SegmentMarket] = {}
        others = []
        for row in rows:
            first = segments.get(str(row["segment_id"]))
            if first is not None:
                others.append(_draw_channel(seed, row, first))
                continue
            industry = by_slug.get(
                row["industry"], Industry(row["industry"], row["industry"], 1.0, 25, 30, 0, 0.0)
            )
            size = industry.weight * population.get(row["region_code"], 1.0)
            segments[str(row["segment_id"])] = _draw_segment(seed, row, industry, size)
        return cls(seed=seed, segments=tuple(segments.values()), others=tuple(others))

    def segment(self, code: str) -> SegmentMarket:
        """The market of the segment with this code; KeyError if there is none."""
        for s in self.segments:
            if s.code == code:
                return s
        raise KeyError(code)

    def organic_leads(self, first: date, last: date) -> list[LeadCount]:
        """SEO and microsite leads of every segment for the days `first`..`last`."""
        counts = []
        for s in self.segments:
            for day in days_between(first, last):
                rng = _rng(self.seed, s.code, day, "organic")
                mean = s.organic_per_day * s.demand(day)
                for channel, share in (
                    ("microsite", s.microsite_share),
                    ("seo", 1 - s.microsite_share),
                ):
                    n = poisson(rng, mean * share)
                    if n:
                        counts.append(LeadCount(s.segment_id, day, channel, n))  # type: ignore[arg-type]
        return counts

    def simulate_day(
        self,
        day: date,
        budgets: Mapping[str, int],
        carried: Mapping[str, float] | None = None,
    ) -> list[PaidDay]:
        """Each campaign's day (every channel's) at its budget (by budget resource name;
        missing means paused).

        `carried`: adstock segments' effective spend of the day before (euro, by budget
        resource name); a segment without one starts in the steady state.
        """
        carried = carried or {}
        return [
            self._paid_day(
                s,
                day,
                budgets.get(s.budget_resource_name, 0),
                carried.get(s.budget_resource_name),
            )
            for s in self.campaigns
        ]

    def _paid_day(
        self, s: SegmentMarket, day: date, budget_micros: int, carried: float | None = None
    ) -> PaidDay:
        rng = _rng(self.seed, *s.key[:1], day, "paid", *s.key[1:])
        reach = s.reach(day)
        budget = max(budget_micros, 0) / MICROS
        spend = min(budget, reach) * rng.uniform(*SPEND_SHARE)
        limited = budget < reach
        lost = max(0.0, min(0.95, 1 - budget / reach)) if limited and reach > 0 else 0.0
        if not limited:
            lost = rng.uniform(0.0, 0.015)
        effective = spend
        if s.shape == "adstock" and carried is not None:
            effective = (1 - s.carry) * spend + s.carry * carried
        mean = s.top(day) * s.response(effective / reach) if reach else 0.0
        leads = poisson(rng, mean * rng.lognormvariate(0, s.noise_sd))
        click_rate, shown = rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1)
        arrivals: dict[date, int] = defaultdict(int)
        weights = s.lag_weights
        for _ in range(leads):
            lag = rng.choices(range(len(weights)), weights=weights)[0]
            arrivals[day + timedelta(days=lag)] += 1
        # Clicks are a count too: Poisson around the curve's clicks, drawn last so that every
        # draw before them (leads, lags) is the one it was before clicks were counted.
        clicks = max(leads, poisson(rng, mean / s.conversion_rate * click_rate))
        impressions = round(clicks / s.click_through_rate * shown)
        metrics = CampaignMetrics(
            customer_id=s.customer_id,
            campaign_id=s.campaign_id,
            budget_resource_name=s.budget_resource_name,
            cost_micros=round(spend * MICROS),
            clicks=clicks,
            impressions=impressions,
            conversions=float(leads),
            search_budget_lost_impression_share=round(lost, 4),
        )
        return PaidDay(
            metrics=metrics, arrivals=tuple(sorted(arrivals.items())), effective_spend=effective
        )


def _draw_segment(
    seed: int, row: Mapping[str, Any], industry: Industry, size: float
) -> SegmentMarket:
    """One segment's market parameters, drawn from the seed and the segment's code.

    The marketplace recruited its partners where the demand is, so demand follows
    capacity (give or take a quarter); a segment without partners gets demand by its size.
    """
    rng = _rng(seed, row["code"], "market")
    acceptance = round(rng.uniform(0.62, 0.88), 3)
    capacity = float(row["accepted_per_day"] or 0)
    need = capacity / acceptance if capacity > 0 else size * DEMAND_PER_SIZE / 2
    demand = need * rng.uniform(0.8, 1.25)
    organic = demand * rng.uniform(0.15, 0.6)
    saturation_leads = demand * rng.uniform(0.9, 1.8)
    target_cpl = (row["target_cpl_micros"] or 25 * MICROS) / MICROS
    saturation_spend = saturation_leads * target_cpl * rng.uniform(0.9, 1.5)
    low, high = int(row["min_budget_micros"]), int(row["max_budget_micros"])
    # An operator's hand-set budget: roughly the paid leads the market seems to need at the
    # target CPL, off by up to a factor two either way, in whole euros.
    hand = max(1.0, demand - organic) * target_cpl * rng.uniform(0.45, 1.6)
    starting = min(max(round(hand) * MICROS, low), high)
    return SegmentMarket(
        channel=row.get("channel") or "google_ads",
        segment_id=str(row["segment_id"]),
        code=row["code"],
        customer_id=row["customer_id"],
        campaign_id=row["campaign_id"],
        budget_resource_name=row["budget_resource_name"],
        min_budget_micros=low,
        max_budget_micros=high,
        capacity_per_day=capacity,
        acceptance_rate=acceptance,
        lead_price=industry.lead_price,
        organic_per_day=organic,
        microsite_share=rng.uniform(0.15, 0.4),
        saturation_leads=saturation_leads,
        saturation_spend=saturation_spend,
        elasticity=rng.uniform(0.45, 0.75),
        conversion_rate=rng.uniform(0.06, 0.12),
        click_through_rate=rng.uniform(0.03, 0.07),
        season_peak_day=industry.season_peak_day,
        season_amplitude=industry.season_amplitude,
        starting_budget_micros=starting,
    )


def _draw_channel(seed: int, row: Mapping[str, Any], first: SegmentMarket) -> SegmentMarket:
    """A segment's campaign on a second channel (Microsoft Advertising) beside `first`: the
    same demand, partners and prices; a smaller reach (MICROSOFT_REACH of the paid leads at
    full reach), a lower cost per lead there (MICROSOFT_COST), its own curve and clicks, and
    a small hand-set budget (MICROSOFT_START of the first one's), within its bounds."""
    rng = _rng(seed, row["code"], "market", row["channel"])
    saturation_leads = first.saturation_leads * rng.uniform(*MICROSOFT_REACH)
    cost_per_lead = first.saturation_spend / first.saturation_leads * rng.uniform(*MICROSOFT_COST)
    low, high = int(row["min_budget_micros"]), int(row["max_budget_micros"])
    hand = first.starting_budget_micros / MICROS * rng.uniform(*MICROSOFT_START)
    return dataclasses.replace(
        first,
        channel=row["channel"],
        customer_id=row["customer_id"],
        campaign_id=row["campaign_id"],
        budget_resource_name=row["budget_resource_name"],
        min_budget_micros=low,
        max_budget_micros=high,
        organic_per_day=0.0,
        saturation_leads=saturation_leads,
        saturation_spend=saturation_leads * cost_per_lead,
        elasticity=rng.uniform(*MICROSOFT_ELASTICITY),
        conversion_rate=rng.uniform(0.08, 0.15),
        click_through_rate=rng.uniform(0.03, 0.07),
        starting_budget_micros=min(max(round(hand) * MICROS, low), high),
    )


# --------------------------------------------------------------------------- the gateway


@dataclass(kw_only=True)
class MarketGateway(InMemoryGoogleAds):
    """The ad accounts (Google Ads and Microsoft Advertising) whose campaigns live in a
    `MarketModel`; one gateway serves both channels (`ChannelSet.every`).

    Budgets change through `apply_budgets` like the real thing. `simulate(first, last)`
    lets the days pass at the budgets then in force: it records each campaign's
    metrics (what `daily_metrics` answers) and inserts the paid leads into
    `public.leads` through `demo_insert_leads`, so aggregation sees them. Leads
    arriving after `last_lead_day` (the future) are dropped.
    """

    model: MarketModel
    db: Database
    caller: Caller = field(default_factory=Caller.service)
    last_lead_day: date | None = None
    #: Leads of days from this one on are partly still pending (the partner has not decided).
    pending_from: date | None = None
    #: The account's today (the simulation pins it each morning): with
    #: `model.conversions_as_known`, a day's conversions are those whose lead has arrived
    #: before today, restated as more arrive.
    today: date | None = None
    #: Adstock: each campaign's effective spend of the last simulated day (euro).
    carried: dict[str, float] = field(default_factory=dict)
    #: Per day and budget: its clicks' leads by arrival day.
    arrivals: dict[date, dict[str, tuple[tuple[date, int], ...]]] = field(default_factory=dict)

    def open_accounts(self) -> None:
        """Create every campaign budget (every channel's) at its hand-set starting amount."""
        for s in self.model.campaigns:
            self.add_budget(s.budget_resource_name, s.starting_budget_micros)

    def fork(self, db: Database) -> MarketGateway:
        """This account as it stands (budgets, metrics), on another database.

        Strategies compared side by side each steer their own fork of one account.
        """
        return MarketGateway(
            model=self.model,
            db=db,
            caller=self.caller,
            last_lead_day=self.last_lead_day,
            pending_from=self.pending_from,
            budgets=dict(self.budgets),
            metrics={day: list(rows) for day, rows in self.metrics.items()},
            today=self.today,
            carried=dict(self.carried),
            arrivals={day: dict(rows) for day, rows in self.arrivals.items()},
        )

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """The day's metrics as Google Ads reports them today: with conversions credited to
        the click's day only once the lead has arrived (`model.conversions_as_known`)."""
        rows = super().daily_metrics(day, customer_ids)
        if not self.model.conversions_as_known or self.today is None:
            return rows
        known, today = self.arrivals.get(day, {}), self.today
        restated = []
        for m in rows:
            conversions = float(
                sum(n for arrival, n in known.get(m.budget_resource_name, ()) if arrival < today)
            )
            # A day whose leads have all arrived reports what was stored: the row as it is (a
            # copy per row and restated day was a tenth of a comparison strategy's time).
            restated.append(
                m
                if conversions == m.conversions
                else dataclasses.replace(m, conversions=conversions)
            )
        return restated

    def budget_amounts(self) -> dict[str, int]:
        """Current daily budget (micros) per budget resource name."""
        return {name: info.amount_micros for name, info in self.budgets.items()}

    def simulate(self, first: date, last: date) -> dict[str, int]:
        """Let `first`..`last` pass at the current budgets; returns paid leads and spend."""
        counts: list[LeadCount] = []
        spend = conversions = 0
        by_budget = {s.budget_resource_name: s for s in self.model.campaigns}
        for day in days_between(first, last):
            outcomes = self.model.simulate_day(day, self.budget_amounts(), self.carried)
            self.add_metrics(day, [o.metrics for o in outcomes])
            self.arrivals[day] = {o.metrics.budget_resource_name: o.arrivals for o in outcomes}
            for outcome in outcomes:
                segment = by_budget[outcome.metrics.budget_resource_name]
                if segment.shape == "adstock":
                    self.carried[segment.budget_resource_name] = outcome.effective_spend
                spend += outcome.metrics.cost_micros
                conversions += outcome.conversions
                for arrival, n in outcome.arrivals:
                    if self.last_lead_day is None or arrival <= self.last_lead_day:
                        counts.append(
                            LeadCount(
                                segment.segment_id, arrival, segment.channel, n, f"click {day}"
                            )
                        )
        inserted = self.insert_leads(counts)
        return {"paid_leads": inserted, "conversions": conversions, "spend_micros": spend}

    def insert_organic(self, first: date, last: date) -> int:
        """Insert every segment's SEO and microsite leads for `first`..`last`."""
        return self.insert_leads(self.model.organic_leads(first, last))

    def _delay_args(self) -> dict[str, float]:
        """The partners' delay range (days), when pending leads get their verdict drawn at
        insert (`demo_lead_verdicts`, which `simulation.settle_leads_on` applies)."""
        delay = self.model.acceptance_delay_days
        if self.pending_from is None or delay is None:
            return {}
        return {"p_delay_low": delay[0], "p_delay_high": delay[1]}

    def insert_leads(self, counts: Sequence[LeadCount]) -> int:
        """Insert leads from counts, set-based in one call; returns how many."""
        if not counts:
            return 0
        return int(
            self.db.rpc(
                "demo_insert_leads",
                {
                    "p_counts": [c.as_json() for c in counts],
                    "p_segments": [
                        {
                            "segment_id": s.segment_id,
                            "acceptance_rate": s.acceptance_rate,
                            "price": s.lead_price,
                        }
                        for s in self.model.segments
                    ],
                    "p_pending_from": self.pending_from.isoformat() if self.pending_from else None,
                    **self._delay_args(),
                },
                caller=self.caller,
            )
        )


if TYPE_CHECKING:
    _conforms: type[GoogleAdsGateway] = MarketGateway
