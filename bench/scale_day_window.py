"""Does the start of every job read all of `leads`? `public.job_day_window()` vs the lead count.

    .venv/bin/python bench/scale_day_window.py [--leads 300000,1000000,3000000]

`job_day_window()` (called by `start_job_run` through `check_job_days`, so by every
job run, and by `check_live_day`) takes `min(created_at at time zone
'Europe/Amsterdam')` over all leads: an expression the `leads_created_at_idx`
index cannot answer, so Postgres reads the whole table. This times the function,
the same minimum written so the index answers it (`min(created_at)` first, then
converted), and prints the plan, at growing lead counts (jobs_bench's data, 180
segments, 730 days), in one embedded server. Prints only; see docs/SCALE.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jobs_bench as jb
import scale
from leadflow_tools import migrations
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import create_database

INDEXED = "select (min(created_at) at time zone 'Europe/Amsterdam')::date from public.leads"


def timed(conn: psycopg.Connection, query: str, runs: int = 5) -> float:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.execute(query).fetchall()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--leads", type=lambda s: [int(x) for x in s.split(",")],
        default=[300_000, 1_000_000, 3_000_000],
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadflow-window-") as tmp:
        Path(tmp).chmod(0o711)
        server = EmbeddedPostgres(Path(tmp) / "pg")
        server.start()
        try:
            create_database(server.url(), "window")
            url = server.url("window")
            first_day = jb.END - timedelta(days=730)
            with psycopg.connect(url, autocommit=True) as conn:
                migrations.migrate(conn)
                conn.execute(jb.SETUP_SQL)
                jb.add_market(
                    conn,
                    first=1,
                    last=180,
                    metrics_from=jb.END - timedelta(days=2),
                    metrics_to=jb.END - timedelta(days=1),
                    first_day=first_day,
                    days=730,
                )
                scale.segs_table(conn, 1, 180)
                print(
                    "| leads | job_day_window() ms | min(created_at) ms (index)"
                    " | plan of the function's min |"
                )
                print("| ---: | ---: | ---: | --- |")
                for n in args.leads:
                    conn.execute("truncate public.leads")
                    scale.insert_leads(
                        conn,
                        first_id=1,
                        count=n,
                        segments=180,
                        first_day=first_day,
                        days=730,
                        drop_indexes=True,
                    )
                    window = timed(conn, "select * from public.job_day_window()")
                    indexed = timed(conn, INDEXED)
                    plan = conn.execute(
                        "explain select min(l.created_at at time zone 'Europe/Amsterdam')::date"
                        " from public.leads l"
                    ).fetchall()
                    nodes = " / ".join(r[0].strip().split("  (")[0].lstrip("-> ") for r in plan)
                    print(f"| {n:,} | {window:.1f} | {indexed:.2f} | {nodes} |", flush=True)
        finally:
            server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
