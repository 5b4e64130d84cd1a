"""How much the simulation's data can say about each segment's elasticity, and what saying
more would cost: the bound behind "margin is information-limited" (bench/RESULTS.md, issue 24,
round 8).

    .venv/bin/python bench/information_limit.py [MARKET [SEED]]      (default: mixed 42)

One simulation run, its databases kept until Leadflow's data are read. For every segment whose
Google Ads curve has one elasticity everywhere (power and adstock shapes; a Hill curve's local
elasticity moves with the spend), over the last response window of budget-limited days (the
days the estimator reads, `estimate_segment_responses`):

- the product's own estimate (`own_elasticity`: up to round 8's first part the grouping
  estimator, since then a Poisson regression in SQL) and this script's Poisson regression of
  the day's conversions on log spend (the efficient estimator for counts, to convergence),
  each against the market's true elasticity (robust spread: 1.4826 x the median absolute
  deviation);
- the Cramér-Rao bound: no unbiased estimator from these days does better than
  sd = sqrt((1 + m x demand_variance) / sum mu_i (x_i - x_bar)^2), x = ln spend, mu the fitted
  conversions, m their mean (Poisson counts on a lognormal day-to-day demand);
- what the spend would have to vary for sd 0.10, and what that costs: a two-level design
  around the best budget, spend x e^(+-a), loses 1 - (cosh(e a) - e cosh(a)) / (1 - e) of the
  segment's best margin (power curve, at its median true elasticity);
- the posterior's (what the controller steers by) correlation with the truth, beside what the
  best estimate at the bound reaches: each segment's data at its bound shrunk to the mean with
  the truth's spread known, sqrt(1 - mean(1 / (1 / spread^2 + 1 / bound^2)) / spread^2) (the
  truth is drawn per segment, independently of industry and province: pooling cannot add);

and, for re-convergence, the same test the score applies to a shocked segment (its weekly
leads within 20 % of the oracle's for a week, within 7 days of the shock day) applied to the
segments no shock touched, at the same days: what "re-converged" gives without any shock.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections import defaultdict
from datetime import date, timedelta

import psycopg
from leadflow_tools import simulation

#: The sd of an elasticity estimate the question is asked for.
WANTED_SD = 0.10


def poisson_slope(
    spend: list[float], conversions: list[float], demand_variance: float
) -> tuple[float, float] | None:
    """The slope b of conversions ~ Poisson(exp(a + b ln spend)) by maximum likelihood, and
    its Cramér-Rao sd with the demand's extra variance; None when the data cannot say."""
    x = [math.log(s) for s in spend]
    total = sum(conversions)
    if total <= 0 or max(x) - min(x) < 0.01:
        return None
    mean_x = statistics.fmean(x)
    x = [v - mean_x for v in x]
    b, weights = 0.5, [1.0] * len(x)
    for _ in range(50):
        # Profile likelihood in b (a solved for): score = sum x y - total x (weighted mean of
        # x under exp(b x)), Newton on it; the weighted variance of x is its slope.
        weights = [math.exp(b * v) for v in x]
        w_sum = sum(weights)
        m1 = sum(w * v for w, v in zip(weights, x, strict=True)) / w_sum
        m2 = sum(w * v * v for w, v in zip(weights, x, strict=True)) / w_sum
        score = sum(v * y for v, y in zip(x, conversions, strict=True)) - total * m1
        step = max(min(score / (total * (m2 - m1 * m1)), 1.0), -1.0)
        b += step
        if abs(step) < 1e-9:
            break
    if not -5 < b < 5:
        return None
    weights = [math.exp(b * v) for v in x]
    fitted = [total * w / sum(weights) for w in weights]
    m1 = sum(f * v for f, v in zip(fitted, x, strict=True)) / total
    information = sum(f * (v - m1) ** 2 for f, v in zip(fitted, x, strict=True))
    return b, math.sqrt((1 + statistics.fmean(fitted) * demand_variance) / information)


def design_loss(elasticity: float, spread: float) -> float:
    """Share of a power-curve segment's best margin lost by spending e^(+-spread) x the best
    budget on alternate days (log-spend variance spread^2) instead of the best budget."""
    e = elasticity
    return 1 - (math.cosh(e * spread) - e * math.cosh(spread)) / (1 - e)


def robust_sd(values: list[float]) -> float:
    """1.4826 x the median absolute deviation: the sd of the bulk, not of the outliers."""
    middle = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - middle) for v in values)


def _leadflow_data(
    url: str,
) -> tuple[dict[str, list[tuple[date, float, float, float]]], dict[str, tuple], dict]:
    """Google Ads days per segment, the newest estimates, and the settings."""
    with psycopg.connect(url) as conn:
        days = conn.execute(
            "select cb.segment_id::text, m.day, sum(m.cost_micros) / 1e6, "
            "sum(m.conversions)::float8, max(m.search_budget_lost_impression_share)::float8 "
            "from public.segment_campaign_budgets cb join public.ad_campaign_daily_metrics m "
            "on m.channel = cb.channel and m.customer_id = cb.customer_id "
            "and m.campaign_id = cb.campaign_id "
            "where cb.is_active and cb.channel = 'google_ads' group by 1, 2"
        ).fetchall()
        estimates = conn.execute(
            "select segment_id::text, day, elasticity::float8, own_elasticity::float8, "
            "own_elasticity_sd::float8 from public.segment_response_estimates "
            "where channel = 'google_ads' "
            "and day = (select max(day) from public.segment_response_estimates)"
        ).fetchall()
        settings = conn.execute(
            "select response_window_days, saturation_lost_share::float8, "
            "demand_variance::float8 from public.orchestration_settings limit 1"
        ).fetchone()
    by_segment: dict[str, list[tuple[date, float, float, float]]] = defaultdict(list)
    for segment, day, spend, conversions, lost in days:
        by_segment[segment].append((day, float(spend), conversions, lost or 0.0))
    assert settings is not None
    return (
        by_segment,
        {r[0]: r[1:] for r in estimates},
        {"window": settings[0], "saturated": settings[1], "demand_variance": settings[2]},
    )


def _reconverged_unshocked(result: simulation.SimulationResult) -> float:
    """The score's re-convergence test on the segments no shock touched, at each day a shock
    fell on: the share within 7 days, each day weighted by the shocks on it (as the shocked
    segments' share is)."""
    shocked = {s.segment_id for s in result.shocks}
    shocks_on: dict[date, int] = defaultdict(int)
    for shock in result.shocks:
        shocks_on[shock.day] += 1
    share = 0.0
    for day, count in shocks_on.items():
        within = tested = 0
        for segment in result.model.segments:
            if segment.segment_id in shocked:
                continue
            pseudo = simulation.Shock("join", segment.segment_id, segment.code, day, 0)
            took = simulation._reconverge(  # the score's own test, reused
                result.runs["leadflow"],
                result.runs["oracle"],
                result.model,
                pseudo,
                result.options,
            )
            tested += 1
            within += took is not None and took <= 7
        share += count * within / tested
    return share / len(result.shocks)


def main() -> int:
    options = simulation.market_and_seed(sys.argv[1:], "information_limit.py", "mixed", 42)
    if options is None:
        return 2
    market, seed = options.market, options.seed
    with simulation.kept_local_run(options) as (url_of, result):
        days, estimates, knobs = _leadflow_data(url_of(options.database("leadflow")))

    rows = []
    for segment, (day, posterior, own, own_sd) in estimates.items():
        curve = result.model.campaigns_of(segment)[0]
        if curve.shape not in ("power", "adstock"):
            continue
        used = [
            r
            for r in days.get(segment, [])
            if day - timedelta(days=knobs["window"]) <= r[0] < day
            and r[1] > 0
            and r[3] >= knobs["saturated"]
        ]
        if len(used) < 2:
            continue
        spend, conversions = [r[1] for r in used], [r[2] for r in used]
        fit = poisson_slope(spend, conversions, knobs["demand_variance"])
        log_spend = [math.log(s) for s in spend]
        rows.append(
            {
                "truth": curve.elasticity,
                "posterior": posterior,
                "own": own,
                "own_sd": own_sd,
                "fit": fit,
                "leads": sum(conversions),
                "days": len(used),
                "log_spend_var": statistics.pvariance(log_spend),
            }
        )
    shocked = result.metrics["leadflow"]
    unshocked = _reconverged_unshocked(result)
    reconverged = (
        f"| re-converged within 7 days: shocked segments / segments never shocked, same days | "
        f"{shocked.reconverged_within(7)}/{len(shocked.reconverge)} "
        f"({shocked.reconverged_within(7) / max(1, len(shocked.reconverge)):.0%}) / "
        f"{unshocked:.0%} |"
    )
    if not rows:
        print(f"{market}/{seed}: no segment with one true elasticity (Google Ads)")
        print("| measure | value |\n| --- | ---: |")
        print(reconverged)
        return 0

    truth = [r["truth"] for r in rows]
    fits = [r for r in rows if r["fit"] is not None]
    bounds = [r["fit"][1] for r in fits]
    median_e = statistics.median(truth)
    # The log-spend variance each segment would need for sd WANTED_SD (the bound scales like
    # 1 / sqrt(variance)), and the two-level design's loss at that spread.
    needed = [r["log_spend_var"] * (r["fit"][1] / WANTED_SD) ** 2 for r in fits]
    half = [4 * r["log_spend_var"] for r in fits]  # half the sd: four times the variance
    mid_needed, mid_half = statistics.median(needed), statistics.median(half)
    own = [r["own"] - r["truth"] for r in rows if r["own"] is not None]
    poisson = [r["fit"][0] - r["truth"] for r in fits]
    posterior = [r["posterior"] for r in rows]

    print(f"{market}/{seed}: {len(rows)} segments with one true elasticity (Google Ads)")
    print("| measure | value |")
    print("| --- | ---: |")
    print(f"| spread of the true elasticities (sd) | {statistics.pstdev(truth):.3f} |")
    print(
        f"| budget-limited days read, paid conversions on them (medians) | "
        f"{statistics.median(r['days'] for r in rows):.0f}, "
        f"{statistics.median(r['leads'] for r in rows):.0f} |"
    )
    print(
        f"| sd of ln spend over those days (median) | "
        f"{math.sqrt(statistics.median(r['log_spend_var'] for r in rows)):.3f} |"
    )
    print(f"| Cramér-Rao sd of any unbiased estimate (median) | {statistics.median(bounds):.3f} |")
    print(
        f"| product's own estimate: stated sd (median), spread of its error | "
        f"{statistics.median(r['own_sd'] for r in rows if r['own_sd'] is not None):.3f}, "
        f"{robust_sd(own):.3f} |"
    )
    print(f"| Poisson regression: spread of its error | {robust_sd(poisson):.3f} |")
    # The best estimate at the bound, knowing the truth's spread: each segment's own data at
    # sd b_i shrunk to the mean, posterior variance 1 / (1 / spread^2 + 1 / b_i^2); the share
    # of the truth's variance it explains is the squared correlation it reaches.
    spread = statistics.pstdev(truth)
    left = statistics.fmean(1 / (1 / spread**2 + 1 / b**2) for b in bounds)
    print(
        "| correlation with the truth the best estimate at the bound reaches | "
        f"{math.sqrt(1 - left / spread**2):.2f} |"
    )
    print(
        f"| posterior (what the controller steers by): correlation with the truth | "
        f"{statistics.correlation(truth, posterior):.2f} |"
    )
    print(
        f"| sd of ln spend needed for sd {WANTED_SD:.2f} / for half today's bound (median) | "
        f"{math.sqrt(mid_needed):.2f} / {math.sqrt(mid_half):.2f} |"
    )
    print(
        f"| margin a two-level design at that spread loses (e = {median_e:.2f}) | "
        f"{design_loss(median_e, math.sqrt(mid_needed)):.1%} / "
        f"{design_loss(median_e, math.sqrt(mid_half)):.1%} |"
    )
    print(reconverged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
