"""A family of simulated markets: shapes and frictions the controller was not shaped for.

`leadflow simulate --market NAME` draws every segment's market from one member of the
family. Each member starts from the classic market (`leadflow_tools.market`: demand,
capacity, prices and the hand-set budgets, drawn from the seed as before) and redraws,
per segment and from ranges, what the controller must learn rather than know:

- the response shape: ``power`` (paid leads ~ spend^e, e in ELASTICITY), saturating
  ``hill`` ((1 + K^n) x^n / (x^n + K^n) of full reach x, n in HILL_N, K in HILL_K; S-shaped
  for n > 1), ``adstock`` (the power curve on the effective spend
  E(d) = (1 - c) spend(d) + c E(d - 1), carry-over c in CARRY);
- conversion lag: ``short`` (leads 0-3 days after the click, most the same day) or
  ``long`` (1-4 days, never the same day, mode drawn per segment); Google Ads credits a
  conversion to the click's day and reports it only once the lead has arrived, so the
  newest days' conversions are incomplete and are restated later;
- acceptance delay: partners accept or reject a lead ACCEPTANCE_DELAY_DAYS after it
  arrives (PENDING_SHARE of leads; the others are decided at once);
- a competitor entering COMPETITOR_SHARE of the segments on a day drawn within the
  steering: cost per click up COMPETITOR_COST, a share COMPETITOR_LOSS of the leads gone;
- weekly seasonality: the weekday pattern's amplitude x WEEKDAY_AMPLITUDE;
- noise: the lognormal sd of the day's mean paid leads in NOISE_SD.

Members: ``classic`` (the market before the family, for comparison), ``power``, ``hill``,
``adstock`` (short lag each), ``lagged`` (power curves, long lag) and ``mixed`` (per
segment a shape drawn from the three and a lag from both; the default). The oracle knows
every drawn parameter; the controller sees only the database, as in production.

Held out: ``exponential`` (1 - exp(-x / k) saturation, k in EXP_K: concave everywhere, its
local elasticity falling from 1 toward 0 as spend rises) and ``capped`` (leads grow in
proportion to spend up to CAP_SHARE of full reach and not at all past it: the search volume
runs out while the budget still buys clicks), each with both lags. They were added after
every controller setting had been chosen, to measure the controller on shapes it was not
shaped for; no setting may be chosen on them (bench/RESULTS.md, "held-out shapes").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from leadflow.errors import LeadflowError

from leadflow_tools.market import MarketModel, SegmentMarket, Shape, _rng

MarketName = Literal[
    "classic", "power", "hill", "adstock", "lagged", "mixed", "exponential", "capped"
]
MARKETS: tuple[MarketName, ...] = (
    "classic",
    "power",
    "hill",
    "adstock",
    "lagged",
    "mixed",
    "exponential",
    "capped",
)
DEFAULT_MARKET: MarketName = "mixed"
Lag = Literal["short", "long"]

ELASTICITY = (0.30, 0.85)
HILL_N = (0.8, 2.2)
HILL_K = (0.25, 0.75)
CARRY = (0.3, 0.7)
EXP_K = (0.15, 0.6)
CAP_SHARE = (0.3, 0.8)
NOISE_SD = (0.05, 0.35)
WEEKDAY_AMPLITUDE = (0.5, 1.6)
#: Short lag: leads 0, 1, 2, 3 days after the click (the classic market's weights).
SHORT_LAG: tuple[float, ...] = (0.55, 0.25, 0.12, 0.08)
#: Partners decide on PENDING_SHARE of the leads between these many days after arrival.
ACCEPTANCE_DELAY_DAYS = (0.1, 4.0)
PENDING_SHARE = 0.55
COMPETITOR_SHARE = 0.10
COMPETITOR_COST = (0.2, 0.6)
COMPETITOR_LOSS = (0.1, 0.35)
#: The competitor enters between these many days into the steering.
COMPETITOR_WINDOW = (10, 50)


@dataclass(frozen=True)
class MarketSpec:
    """One member of the family: which shapes and lags its segments are drawn from."""

    name: MarketName
    shapes: tuple[Shape, ...]
    lags: tuple[Lag, ...]
    description: str


SPECS: dict[MarketName, MarketSpec] = {
    "power": MarketSpec("power", ("power",), ("short",), "power curves, wide elasticities"),
    "hill": MarketSpec("hill", ("hill",), ("short",), "saturating Hill curves"),
    "adstock": MarketSpec("adstock", ("adstock",), ("short",), "carry-over of spend"),
    "lagged": MarketSpec("lagged", ("power",), ("long",), "leads 1-4 days after the click"),
    "mixed": MarketSpec(
        "mixed", ("power", "hill", "adstock"), ("short", "long"), "every shape and lag"
    ),
    "exponential": MarketSpec(
        "exponential", ("exponential",), ("short", "long"), "held out: exponential saturation"
    ),
    "capped": MarketSpec(
        "capped", ("capped",), ("short", "long"), "held out: straight up to a volume cap"
    ),
}


def check_market(name: str) -> MarketName:
    """`name` if it is a member of the family; LeadflowError naming the members otherwise."""
    if name not in MARKETS:
        raise LeadflowError(f"--market must be one of {', '.join(MARKETS)}, not {name}")
    return name


def long_lag(mode: int) -> tuple[float, ...]:
    """Lag weights over 0..4 days: none the same day, most `mode` (1-4) days after."""
    weights = [0.0] + [math.exp(-abs(k - mode)) for k in range(1, 5)]
    total = sum(weights)
    return tuple(w / total for w in weights)


def draw_market(model: MarketModel, name: MarketName, start: date) -> MarketModel:
    """`model` (the classic market) with every segment redrawn from member `name`;
    `start` is the first steered day (the competitor enters after it)."""
    if name == "classic":
        return model
    spec = SPECS[name]
    segments = tuple(_draw(model.seed, s, spec, start) for s in model.segments)
    # A second channel's campaign gets its own shape and curve from the member; a competitor
    # is the segment's event, told on its first channel.
    others = tuple(
        dataclasses.replace(
            _draw(model.seed, s, spec, start),
            competitor_day=None,
            competitor_cost=0.0,
            competitor_loss=0.0,
        )
        for s in model.others
    )
    return dataclasses.replace(
        model,
        name=name,
        segments=segments,
        others=others,
        conversions_as_known=True,
        acceptance_delay_days=ACCEPTANCE_DELAY_DAYS,
    )


def _pick(rng_value: float, options: Sequence[str]) -> str:
    return options[min(int(rng_value * len(options)), len(options) - 1)]


def _draw(seed: int, s: SegmentMarket, spec: MarketSpec, start: date) -> SegmentMarket:
    rng = _rng(seed, *s.key, "family", spec.name)
    shape: Shape = _pick(rng.random(), spec.shapes)  # type: ignore[assignment]
    lag: Lag = _pick(rng.random(), spec.lags)  # type: ignore[assignment]
    competitor = rng.random() < COMPETITOR_SHARE
    entry = start + timedelta(days=rng.randint(*COMPETITOR_WINDOW))
    return dataclasses.replace(
        s,
        shape=shape,
        elasticity=rng.uniform(*ELASTICITY),
        hill_n=rng.uniform(*HILL_N),
        hill_k=rng.uniform(*HILL_K),
        carry=rng.uniform(*CARRY) if shape == "adstock" else 0.0,
        lag_weights=SHORT_LAG if lag == "short" else long_lag(rng.randint(1, 4)),
        noise_sd=rng.uniform(*NOISE_SD),
        weekday_amplitude=rng.uniform(*WEEKDAY_AMPLITUDE),
        competitor_day=entry if competitor else None,
        competitor_cost=rng.uniform(*COMPETITOR_COST) if competitor else 0.0,
        competitor_loss=rng.uniform(*COMPETITOR_LOSS) if competitor else 0.0,
        # Drawn last, and only for their shapes: every other member draws as before.
        exp_k=rng.uniform(*EXP_K) if shape == "exponential" else 0.3,
        cap_share=rng.uniform(*CAP_SHARE) if shape == "capped" else 0.6,
    )
