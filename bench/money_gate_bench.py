"""The money gate at scale: one live run's log, claim and completion per number of budgets.

    .venv/bin/python bench/money_gate_bench.py [--budgets 1000,10000] [--repeats 3]

On one embedded Postgres (bench/jobs_bench.py's market: segments, one budget each), every
budget reported at 50 euro; then per size and repeat, on a fresh day: one
`log_budget_decisions` per 500 decisions with a +10 % change of every budget (live), the
claims in batches of 200 and the completions (as the orchestrate job makes them). Times are wall
clock of the calls; the 8 s statement timeout of Supabase's API roles applies per call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from leadflow.db import Caller, Database
from leadflow.db.direct import DirectTransport
from leadflow_tools import migrations
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import create_database

sys.path.insert(0, str(Path(__file__).parent))
import jobs_bench as jb

SERVICE = Caller.service()
START = 50_000_000
BATCH = 200
LOG_BATCH = 500  # as leadflow.jobs.orchestrate.LOG_BATCH


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(x) for x in args.budgets.split(",")]
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="leadflow-gate-")))
    server.start(fast=True)
    try:
        create_database(server.url(), "gate")
        url = server.url("gate")
        day = date(2026, 11, 1)
        print(
            "| budgets | log, 500 a call (s) | claims, 200 a call (s) | completions (s) "
            "| slowest call (s) |"
        )
        print("| ---: | ---: | ---: | ---: | ---: |")
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn)
            conn.execute(jb.SETUP_SQL)
            have = 0
            for n in sizes:
                jb.add_market(
                    conn,
                    first=have + 1,
                    last=n,
                    metrics_from=day,
                    metrics_to=day,
                    first_day=day,
                    days=1,
                )
                have = n
                names = [
                    r[0]
                    for r in conn.execute(
                        "select budget_resource_name from segment_campaign_budgets order by 1"
                    )
                ]
                conn.execute(
                    "update lead_segments set min_daily_budget = 1, max_daily_budget = 500"
                )
                db = Database(DirectTransport(url, max_size=1))
                logs, claims, completes, slowest = [], [], [], []
                for repeat in range(args.repeats):
                    today = day + timedelta(days=repeat + 10 * len(logs) + n % 97)
                    conn.execute(
                        "insert into private.clock (id, today) values (true, %s) "
                        "on conflict (id) do update set today = excluded.today",
                        (today,),
                    )
                    current = dict(
                        conn.execute(
                            "select budget_resource_name, amount_micros from private.budget_records"
                        ).fetchall()
                    )
                    db.rpc(
                        "record_budget_observations",
                        {
                            "p_observed": [
                                {"budget_resource_name": b, "amount_micros": current.get(b, START)}
                                for b in names
                            ]
                        },
                        caller=SERVICE,
                    )
                    run = db.rpc(
                        "start_job_run",
                        {
                            "p_job": "orchestrate",
                            "p_day": today.isoformat(),
                            "p_triggered_by": "bench",
                        },
                        caller=SERVICE,
                    )
                    decisions = [
                        {
                            "budget_resource_name": b,
                            "action": "increase",
                            "new_amount_micros": current.get(b, START)
                            * 11
                            // 10
                            // 10_000
                            * 10_000,
                            "expected_gap": 1,
                            "reason": "bench",
                        }
                        for b in names
                    ]
                    t0 = time.perf_counter()
                    logged = []
                    log_worst = 0.0
                    for i in range(0, len(decisions), LOG_BATCH):
                        t_call = time.perf_counter()
                        logged += db.rpc(
                            "log_budget_decisions",
                            {
                                "p_run_id": run,
                                "p_day": today.isoformat(),
                                "p_kind": "adjust",
                                "p_mode": "live",
                                "p_triggered_by": "bench",
                                "p_decisions": decisions[i : i + LOG_BATCH],
                            },
                            caller=SERVICE,
                        )
                        log_worst = max(log_worst, time.perf_counter() - t_call)
                    logs.append(time.perf_counter() - t0)
                    pending = [r["id"] for r in logged if r["status"] == "pending"]
                    assert len(pending) == len(names), {r["error"] for r in logged}
                    claim_t = complete_t = worst = 0.0
                    for i in range(0, len(pending), BATCH):
                        t1 = time.perf_counter()
                        claimed = db.rpc(
                            "claim_budget_decisions",
                            {"p_run_id": run, "p_ids": pending[i : i + BATCH]},
                            caller=SERVICE,
                        )
                        t2 = time.perf_counter()
                        db.rpc(
                            "complete_budget_decisions",
                            {
                                "p_run_id": run,
                                "p_results": [
                                    {"id": r["id"], "status": "success"} for r in claimed
                                ],
                            },
                            caller=SERVICE,
                        )
                        t3 = time.perf_counter()
                        claim_t += t2 - t1
                        complete_t += t3 - t2
                        worst = max(worst, t2 - t1, t3 - t2)
                    db.rpc(
                        "finish_job_run", {"p_run_id": run, "p_status": "success"}, caller=SERVICE
                    )
                    claims.append(claim_t)
                    completes.append(complete_t)
                    slowest.append(max(worst, log_worst))
                db.close()
                print(
                    f"| {n:,} | {statistics.median(logs):.2f} | {statistics.median(claims):.2f} | "
                    f"{statistics.median(completes):.2f} | {statistics.median(slowest):.2f} |",
                    flush=True,
                )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
