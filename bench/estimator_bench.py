"""The estimator's plan: estimate_segment_responses as migration 20261206000400 made it
against today's body, side by side on one simulated market's database.

    .venv/bin/python bench/estimator_bench.py [--seed 3] [--days 45] [--repeats 3]

Runs `leadflow simulate`'s market (180 segments, 28 warm-up days and --days steered) with
its databases kept, then on Leadflow's database, for three days of the steering, times
both bodies (each installed in turn inside one REPEATABLE READ transaction that is rolled
back) and checks that they write the same estimates. The old body's halves are given the
same tie-break on spend (by day), so that the check does not rest on the order the plan
happens to deliver tied days in.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from leadflow_tools import simulation

ROOT = Path(__file__).resolve().parents[1]
OLD = "supabase/migrations/20261206000400_learning_that_bends.sql"
NEW = "supabase/schemas/19_response_estimates.sql"
START = "create or replace function public.estimate_segment_responses"
ROWS = (
    "select segment_id, channel, elasticity, elasticity_sd, own_elasticity, own_elasticity_sd, "
    "pooled_elasticity, scale, lead_value, lead_value_source, days_used "
    "from public.segment_response_estimates where day = %s order by segment_id, channel"
)


def body(path: str) -> str:
    text = (ROOT / path).read_text()
    start = text.index(START)
    return text[start : text.index("$$;", start) + 3]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    old = body(OLD).replace("order by d.spend)", "order by d.spend, d.day)")
    new = body(NEW)
    options = simulation.SimulationOptions(seed=args.seed, days=args.days)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(f"estimate_segment_responses, {options.describe()}; commit {commit}")
    with simulation.kept_local_run(options) as (url_of, _):
        url = url_of(options.database("leadflow"))
        days = [
            options.start + timedelta(days=7),
            options.start + timedelta(days=args.days // 2),
            options.last_day,
        ]
        print("| day | old body, ms (median) | new body, ms (median) | old / new | same rows |")
        print("| --- | ---: | ---: | ---: | --- |")
        worst = True
        with psycopg.connect(url) as conn:
            for day in days:
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                times: dict[str, list[float]] = {"old": [], "new": []}
                rows: dict[str, list[tuple[object, ...]]] = {}
                for _ in range(args.repeats):
                    for label, sql in (("old", old), ("new", new)):  # alternating
                        conn.execute(sql.encode())
                        started = time.perf_counter()
                        conn.execute("select public.estimate_segment_responses(%s)", (day,))
                        times[label].append((time.perf_counter() - started) * 1000)
                        rows[label] = conn.execute(ROWS, (day,)).fetchall()
                conn.rollback()
                same = rows["old"] == rows["new"] and len(rows["new"]) > 0
                worst = worst and same
                a, b = statistics.median(times["old"]), statistics.median(times["new"])
                print(f"| {day.isoformat()} | {a:,.1f} | {b:,.1f} | {a / b:,.0f}x | {same} |")
    return 0 if worst else 1


if __name__ == "__main__":
    sys.exit(main())
