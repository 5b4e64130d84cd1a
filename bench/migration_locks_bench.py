"""How long a lead insert waits while the migrations run on a big `leads` table.

Production before Leadflow (the baseline marketplace with --leads leads), a
writer inserting a lead every 5 ms and timing each insert, then the Leadflow
migrations: "before" as they were at --before (one transaction per file, no
timeouts, indexes built in the transaction), "after" as in this tree through
`leadflow db migrate`. Prints the longest insert wait of each, and the time per
backfill batch.

    .venv/bin/python bench/migration_locks_bench.py --leads 1000000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from leadflow_tools import migrations
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import create_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from migration_locks import baseline_only, fill_leads, migrate_under_load

ROOT = Path(__file__).resolve().parents[1]


def old_migrations(rev: str, target: Path) -> Path:
    """supabase/migrations/ as it was at git revision `rev`."""
    target.mkdir(parents=True)
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{rev}:supabase/migrations/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        text = subprocess.run(
            ["git", "show", f"{rev}:supabase/migrations/{name}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (target / name).write_text(text)
    return target


def prepare(server: EmbeddedPostgres, name: str, leads: int, work: Path) -> str:
    create_database(server.url(), name)
    url = server.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, baseline_only(migrations.MIGRATIONS_DIR, work / f"{name}-base"))
    started = time.perf_counter()
    fill_leads(url, leads)
    print(f"{name}: {leads:,} leads in {time.perf_counter() - started:.1f} s", flush=True)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--before", default="511889e", help="git revision of the old migrations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadflow-locks-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o711)  # as root the server runs as `nobody`, which must reach its data dir
        server = EmbeddedPostgres(work / "pg")
        server.start()
        try:
            results = {}
            # Before: the old files, run as the old runner did (no timeouts).
            url = prepare(server, "before", args.leads, work)
            migrations.FILE_LOCK_TIMEOUT = "0"
            migrations.FILE_STATEMENT_TIMEOUT = "0"
            longest, writer, elapsed = migrate_under_load(
                url, old_migrations(args.before, work / "old")
            )
            results["before"] = {
                "longest_insert_wait_s": round(longest, 3),
                "median_insert_wait_ms": round(statistics.median(writer.waits) * 1000, 2),
                "inserts": len(writer.waits),
                "migrate_s": round(elapsed, 1),
                "errors": writer.errors[:3],
            }
            print(json.dumps(results["before"]), flush=True)
            # After: this tree, through `leadflow db migrate` (schema, validation,
            # concurrent indexes, batched backfill).
            url = prepare(server, "after", args.leads, work)
            longest, writer, elapsed = migrate_under_load(url)
            results["after"] = {
                "longest_insert_wait_s": round(longest, 3),
                "median_insert_wait_ms": round(statistics.median(writer.waits) * 1000, 2),
                "inserts": len(writer.waits),
                "migrate_s": round(elapsed, 1),
                "errors": writer.errors[:3],
            }
            print(json.dumps(results["after"]), flush=True)
            # One backfill batch on its own: the leads' fields cleared again, timed.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("alter table public.leads disable trigger leads_assign_segment")
                conn.execute("update public.leads set source_channel = null")
                conn.execute("alter table public.leads enable trigger leads_assign_segment")
                conn.execute("vacuum analyze public.leads")
                times: list[float] = []
                started = time.perf_counter()
                migrations.backfill_leads(
                    conn,
                    on_batch=lambda scanned, changed: times.append(time.perf_counter()),
                )
                spans = [b - a for a, b in zip([started, *times], times, strict=False)]
            results["backfill"] = {
                "batch": migrations.BACKFILL_BATCH,
                "batches": len(spans),
                "total_s": round(sum(spans), 1),
                "median_batch_s": round(statistics.median(spans), 3),
                "max_batch_s": round(max(spans), 3),
            }
            print(json.dumps(results["backfill"]), flush=True)
        finally:
            server.stop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
