"""How far Leadflow's learned elasticities are from the market's, and what that does to its
budgets: one simulation run, its databases kept until the estimates are read, then per band of
the true elasticity the posterior's mean and Leadflow's spend beside the oracle's.

    .venv/bin/python bench/estimate_vs_truth.py [MARKET [SEED]]      (default: power 3)

Only segments whose Google Ads curve has one elasticity everywhere (power and adstock shapes)
are compared; a Hill curve's local elasticity moves with the spend. The estimate is the newest
`segment_response_estimates` row of the Leadflow strategy's database (the controller's view on
the last steered day); spend is each strategy's on Google Ads over the last 21 steered days.
Used for bench/RESULTS.md ("Issue 24, round 6").
"""

from __future__ import annotations

import statistics
import sys
from datetime import timedelta

import psycopg
from leadflow_tools import simulation

BANDS = ((0.0, 0.45), (0.45, 0.6), (0.6, 0.7), (0.7, 1.0))
LAST_DAYS = 21


def _estimates(url: str) -> dict[str, tuple[float, float | None, float | None]]:
    """Per segment: posterior elasticity, its own estimate and that estimate's sd."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select segment_id::text, elasticity, own_elasticity, own_elasticity_sd "
            "from public.segment_response_estimates where channel = 'google_ads' "
            "and day = (select max(day) from public.segment_response_estimates)"
        ).fetchall()
    return {
        r[0]: (
            float(r[1]),
            None if r[2] is None else float(r[2]),
            None if r[3] is None else float(r[3]),
        )
        for r in rows
    }


def main() -> int:
    options = simulation.market_and_seed(sys.argv[1:], "estimate_vs_truth.py", "power", 3)
    if options is None:
        return 2
    market = options.market
    with simulation.kept_local_run(options) as (url_of, result):
        estimates = _estimates(url_of(options.database("leadflow")))
    first = options.last_day - timedelta(days=LAST_DAYS - 1)
    ours = result.runs["leadflow"].spend_by_segment("google_ads", first)
    best = result.runs["oracle"].spend_by_segment("google_ads", first)
    rows = []
    for segment, (estimate, own, sd) in estimates.items():
        curve = result.model.campaigns_of(segment)[0]
        if curve.shape in ("power", "adstock"):
            spent, oracle = ours.get(segment, 0.0), best.get(segment, 0.0)
            rows.append((curve.elasticity, estimate, own, sd, spent, oracle))
    if not rows:
        print("no power or adstock segments in this market")
        return 1
    truth = [r[0] for r in rows]
    posterior = [r[1] for r in rows]
    slope = statistics.covariance(truth, posterior) / statistics.variance(truth)
    line = statistics.mean(posterior) - slope * statistics.mean(truth)
    sds = [r[3] for r in rows if r[3] is not None]
    print(
        f"{market}/{options.seed}: {len(rows)} segments; "
        f"posterior = {line:.2f} + {slope:.2f} x truth; "
        f"median sd of the segments' own estimates {statistics.median(sds):.2f}"
    )
    print(
        "| true elasticity | segments | mean truth | mean posterior | median own - truth "
        f"| Leadflow's spend / oracle's (last {LAST_DAYS} days) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for low, high in BANDS:
        band = [r for r in rows if low <= r[0] < high]
        if not band:
            continue
        owns = [r[2] - r[0] for r in band if r[2] is not None]
        spent, oracle = sum(r[4] for r in band), sum(r[5] for r in band)
        print(
            f"| {low:.2f}-{high:.2f} | {len(band)} | {statistics.mean(r[0] for r in band):.3f} "
            f"| {statistics.mean(r[1] for r in band):.3f} "
            f"| {statistics.median(owns) if owns else float('nan'):+.3f} "
            f"| €{spent:,.0f} / €{oracle:,.0f} ({spent / oracle:.0%}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
