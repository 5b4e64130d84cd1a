"""Where Leadflow's spend and elasticity stand against the truth, per response shape: one
simulation run, its databases kept until the estimates are read.

    .venv/bin/python bench/estimate_by_shape.py [MARKET [SEED]]      (default: mixed 5)

Per shape of the segments' Google Ads curves, over the last 21 steered days: Leadflow's spend
against the oracle's (and how many segments spent 10 % more or less), and its elasticities
against each curve's true local elasticity at Leadflow's own spend (d ln leads / d ln spend
there): the segment's own estimate (clicks and conversions, before pooling) and the
posterior the controller steers by (medians, and the robust spread 1.4826 x MAD). Used for
bench/RESULTS.md ("Issue 24, round 10").
"""

from __future__ import annotations

import math
import statistics
import sys
from datetime import timedelta

import psycopg
from leadflow_tools import simulation

LAST_DAYS = 21


def _median_and_spread(values: list[float]) -> str:
    if not values:
        return "—"
    median = statistics.median(values)
    spread = 1.4826 * statistics.median(abs(v - median) for v in values)
    return f"{median:+.3f} ({spread:.3f})"


def main() -> int:
    options = simulation.market_and_seed(sys.argv[1:], "estimate_by_shape.py", "mixed", 5)
    if options is None:
        return 2
    with simulation.kept_local_run(options) as (url_of, result):
        url = url_of(options.database("leadflow"))
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "select segment_id::text, elasticity, own_elasticity "
                "from public.segment_response_estimates where channel = 'google_ads' "
                "and day = (select max(day) from public.segment_response_estimates)"
            ).fetchall()
    first = options.last_day - timedelta(days=LAST_DAYS - 1)
    spend = {
        strategy: result.runs[strategy].spend_by_segment("google_ads", first)
        for strategy in ("leadflow", "oracle")
    }
    shapes: dict[str, list[tuple[float, float, float, float | None, float]]] = {}
    for segment, posterior, own in rows:
        curve = result.model.campaigns_of(segment)[0]
        days = [options.last_day - timedelta(days=k) for k in range(LAST_DAYS)]
        reach = statistics.fmean(curve.reach(d) for d in days)
        ours, oracle = spend["leadflow"].get(segment, 0.0), spend["oracle"].get(segment, 0.0)
        share = ours / LAST_DAYS / reach
        response = curve.response(share)
        truth = (
            curve.slope(share) * share / response if 0 < share < 1 and response > 0 else math.nan
        )
        shapes.setdefault(curve.shape, []).append(
            (ours, oracle, float(posterior), None if own is None else float(own), truth)
        )
    print(f"{options.market}/{options.seed}, last {LAST_DAYS} steered days")
    print(
        "| shape | segments | spend: Leadflow / oracle | 10 % more / less | own - truth "
        "| posterior - truth |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for shape, seg in sorted(shapes.items()):
        ours = sum(s[0] for s in seg)
        oracle = sum(s[1] for s in seg)
        more = sum(1 for s in seg if s[0] > 1.1 * s[1])
        less = sum(1 for s in seg if s[0] < 0.9 * s[1])
        own = [s[3] - s[4] for s in seg if s[3] is not None and not math.isnan(s[4])]
        posterior = [s[2] - s[4] for s in seg if not math.isnan(s[4])]
        print(
            f"| {shape} | {len(seg)} | €{ours / 1000:,.1f}k / €{oracle / 1000:,.1f}k "
            f"({ours / oracle:.2f}) | {more} / {less} | {_median_and_spread(own)} "
            f"| {_median_and_spread(posterior)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
