"""The estimator's plan: estimate_segment_responses as migration 20261206000400 made it
against today's body, side by side on one simulated market's database.

    .venv/bin/python bench/estimator_bench.py [--seed 3] [--days 45] [--repeats 3]
    .venv/bin/python bench/estimator_bench.py --old supabase/migrations/M.sql --different
    .venv/bin/python bench/estimator_bench.py --function orchestration_inputs --old M --different

Runs `leadflow simulate`'s market (180 segments, 28 warm-up days and --days steered) with
its databases kept, then on Leadflow's database, for three days of the steering, times
both bodies (each installed in turn inside one REPEATABLE READ transaction that is rolled
back) and checks that they write the same estimates (or, for orchestration_inputs, return
the same rows). The default old body's halves are given the same tie-break on spend (by
day), so that the check does not rest on the order the plan happens to deliver tied days
in. `--old` takes another migration's body; `--different`: the bodies compute differently
on purpose (a new estimator), so only their times are compared and the exit is 0.
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
#: Per function: the schema file with today's body, the call, and the rows it is judged by.
FUNCTIONS = {
    "estimate_segment_responses": (
        "supabase/schemas/19_response_estimates.sql",
        "select public.estimate_segment_responses(%s)",
        "select segment_id, channel, elasticity, elasticity_sd, own_elasticity, "
        "own_elasticity_sd, pooled_elasticity, scale, lead_value, lead_value_source, days_used "
        "from public.segment_response_estimates where day = %s order by segment_id, channel",
    ),
    "orchestration_inputs": (
        "supabase/schemas/20_orchestration_inputs.sql",
        "select count(*) from public.orchestration_inputs(%s)",
        "select * from public.orchestration_inputs(%s) order by budget_resource_name",
    ),
}


def body(path: str, function: str) -> str:
    text = (ROOT / path).read_text()
    start = text.index(f"create or replace function public.{function}(")
    return text[start : text.index("$$;", start) + 3]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--function", choices=sorted(FUNCTIONS), default="estimate_segment_responses"
    )
    parser.add_argument("--old", default=OLD, help="the migration whose body is the old one")
    parser.add_argument("--different", action="store_true", help="compare times only")
    args = parser.parse_args()
    schema, call, judged = FUNCTIONS[args.function]
    if not (ROOT / args.old).is_file():
        print(f"no such migration: {args.old}", file=sys.stderr)
        return 2
    old = body(args.old, args.function).replace("order by d.spend)", "order by d.spend, d.day)")
    new = body(schema, args.function)
    options = simulation.SimulationOptions(seed=args.seed, days=args.days)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(
        f"{args.function}, old body of {Path(args.old).name}; {options.describe()}; commit {commit}"
    )
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
                        conn.execute(call, (day,))
                        times[label].append((time.perf_counter() - started) * 1000)
                        rows[label] = conn.execute(judged, (day,)).fetchall()
                conn.rollback()
                same = rows["old"] == rows["new"] and len(rows["new"]) > 0
                worst = worst and same
                a, b = statistics.median(times["old"]), statistics.median(times["new"])
                print(f"| {day.isoformat()} | {a:,.1f} | {b:,.1f} | {a / b:,.2f}x | {same} |")
    return 0 if worst or args.different else 1


if __name__ == "__main__":
    sys.exit(main())
