"""Old and new bodies of the per-day SQL functions, side by side on a kept simulation database.

    LEADFLOW_DB_PORT=54340 .venv/bin/python bench/sql_plans_bench.py [--base 9d50f0a] [--rounds 8]

Builds (once; reused after) a kept `leadflow simulate` database (seed 5, 45 steered days) and a
copy of its leadflow strategy, `leadflow_sqlbench`. Installs each changed function twice in
schemas of its own: the body of `--base` (git) as bench_old.*, the working tree's as
bench_new.*. In one REPEATABLE READ transaction (rolled back) it runs both on the same days,
alternating, asserts the same rows (readers: the full output; writers: what they return and
every row of the tables they write, each run from the same savepoint) and prints the median
ms per call.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from leadflow.settings import get_settings
from leadflow_tools import simulation
from leadflow_tools.embedded import running_server

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "leadflow_sqlbench"
SOURCE_DB = "leadflow_sim_mixed_base_5_leadflow"
DAYS = ["2026-04-02", "2026-04-20", "2026-05-09", "2026-05-15", "2026-05-16"]


@dataclass(frozen=True)
class Case:
    name: str  # schema.name
    schema_file: str
    call: str  # {s}: the schema; %s: the day
    tables: tuple[str, ...] = ()  # written tables, compared after each run
    label: str = ""  # in the table, after the name
    setup: str = ""  # run first (rolled back after the case): something for a writer to do


CASES = [
    Case(
        "public.orchestration_inputs",
        "supabase/schemas/20_orchestration_inputs.sql",
        "select * from {s}.orchestration_inputs(%s::date)",
    ),
    Case(
        # The morning's restate: the window's rows mostly as they were.
        "public.aggregate_lead_stats",
        "supabase/schemas/09_stats.sql",
        "select {s}.aggregate_lead_stats(%s::date - 6, %s::date)",
        ("public.lead_generation_stats", "public.lead_channel_stats"),
    ),
    Case(
        "public.aggregate_lead_stats",
        "supabase/schemas/09_stats.sql",
        "select {s}.aggregate_lead_stats(%s::date - 6, %s::date)",
        ("public.lead_generation_stats", "public.lead_channel_stats"),
        label=" 1/3 new",
        # A third of the days' rows gone: the function has them to write again.
        setup="delete from public.lead_channel_stats where extract(day from day)::integer % 3 = 0; "
        "delete from public.lead_generation_stats where extract(day from day)::integer % 3 = 0",
    ),
    Case(
        # As aggregate_lead_stats calls it (plan_lead_segments: the day alone); a month too.
        "public.segment_capacity",
        "supabase/schemas/08_calendar_and_capacity.sql",
        "select * from {s}.segment_capacity(%s::date - 6, %s::date) order by 1, 2",
        label=" 7d",
    ),
    Case(
        "public.segment_capacity",
        "supabase/schemas/08_calendar_and_capacity.sql",
        "select * from {s}.segment_capacity(%s::date - 40, %s::date) order by 1, 2",
        label=" 41d",
    ),
    Case(
        # As plan_lead_segments calls it: the acceptance window (28 days) up to the day.
        "public.update_lead_gaps",
        "supabase/schemas/12_gap.sql",
        "select {s}.update_lead_gaps(%s::date - 28, %s::date)",
        ("public.lead_segment_plans",),
    ),
    Case(
        "public.update_lead_gaps",
        "supabase/schemas/12_gap.sql",
        "select {s}.update_lead_gaps(%s::date - 28, %s::date)",
        ("public.lead_segment_plans",),
        label=" 1/3 off",
        # A third of the actuals off (or unset): the function has them to write back.
        setup="update public.lead_segment_plans set actual_leads = case "
        "when extract(day from day)::integer % 2 = 0 then actual_leads + 1 end "
        "where extract(day from day)::integer % 3 = 0",
    ),
    Case(
        # The account daily cap's count (log and claim; the day pinned in private.clock).
        "private.budget_standing_amounts",
        "supabase/schemas/15_budget_observations.sql",
        "select * from {s}.budget_standing_amounts() order by 1",
    ),
    Case(
        # Called once per change checked (private.change_refusal), from plpgsql: a loop as there.
        "private.budget_day_base",
        "supabase/schemas/15_budget_observations.sql",
        "select {s}.bench_loop(%s::date)",
    ),
]

#: A caller of budget_day_base as change_refusal is: one plpgsql call per budget.
LOOP = """
create function {s}.bench_loop(p_day date) returns bigint[] language plpgsql as $f$
declare
  b text;
  out bigint[] := '{{}}';
begin
  for b in select cb.budget_resource_name from public.segment_campaign_budgets cb order by 1 loop
    out := out || {s}.budget_day_base(b, p_day);
  end loop;
  return out;
end
$f$
"""


def function_sql(text: str, name: str, schema: str) -> str:
    """The `create or replace function <name>` statement of a schema file, in `schema`."""
    pattern = rf"create or replace function {re.escape(name)}\(.*?\n\$\$;\n"
    m = re.search(pattern, text, flags=re.DOTALL)
    if m is None:
        raise SystemExit(f"{name} not found")
    short = name.split(".")[1]
    return m.group(0).replace(f"function {name}(", f"function {schema}.{short}(", 1)


def ensure_db(url_of: Callable[[str], str]) -> None:
    with psycopg.connect(url_of("postgres"), autocommit=True) as admin:
        have = {r[0] for r in admin.execute("select datname from pg_database")}
        if BENCH_DB in have:
            return
        if SOURCE_DB not in have:
            options = simulation.SimulationOptions(seed=5, days=45)
            simulation.run_simulation(url_of, options, keep=True)
        admin.execute(f"create database {BENCH_DB} template {SOURCE_DB}")


def snapshot(cur: psycopg.Cursor, tables: tuple[str, ...]) -> list[list[tuple]]:
    # computed_at is now(): the same within the transaction, so compared too.
    return [cur.execute(f"select * from {t} order by 1, 2, 3").fetchall() for t in tables]


def run(url: str, base: str, rounds: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("set transaction isolation level repeatable read")
        cur = conn.cursor()
        cur.execute("create schema bench_old; create schema bench_new")
        for case in CASES:
            old = subprocess.run(
                ["git", "show", f"{base}:{case.schema_file}"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            new = (ROOT / case.schema_file).read_text()
            cur.execute(function_sql(old, case.name, "bench_old"))
            cur.execute(function_sql(new, case.name, "bench_new"))
        for schema in ("bench_old", "bench_new"):
            cur.execute(LOOP.format(s=schema))
        print(f"{'function':<36} {'old ms':>8} {'new ms':>8}  days compared")
        for case in CASES:
            times: dict[str, list[float]] = {"bench_old": [], "bench_new": []}
            cur.execute("savepoint setup")
            if case.setup:
                cur.execute(case.setup)
            for day in DAYS:
                # The database's today (private.today_nl) is the day, as in the simulation.
                cur.execute(
                    "insert into private.clock (id, today) values (true, %s) "
                    "on conflict (id) do update set today = excluded.today",
                    (day,),
                )
                args = (day,) * case.call.count("%s")
                seen: dict[str, object] = {}
                for r in range(rounds):
                    order = ("bench_old", "bench_new") if r % 2 == 0 else ("bench_new", "bench_old")
                    for s in order:
                        cur.execute("savepoint run")
                        t = time.perf_counter()
                        out = cur.execute(case.call.format(s=s), args).fetchall()
                        times[s].append(time.perf_counter() - t)
                        result = (out, snapshot(cur, case.tables))
                        cur.execute("rollback to savepoint run")
                        if s in seen:
                            assert seen[s] == result, f"{case.name} {s} {day}: not repeatable"
                        seen[s] = result
                assert seen["bench_old"] == seen["bench_new"], f"{case.name} {day}: results differ"
                assert seen["bench_old"][0], f"{case.name} {day}: no rows"  # type: ignore[index]
            print(
                f"{case.name + case.label:<36} {statistics.median(times['bench_old']) * 1000:8.1f} "
                f"{statistics.median(times['bench_new']) * 1000:8.1f}  {len(DAYS)}, identical"
            )
            cur.execute("rollback to savepoint setup")
        conn.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="9d50f0a", help="git revision of the old bodies")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    s = get_settings()
    with running_server(s.home / "postgres", port=s.local_db_port) as server:
        ensure_db(server.url)
        run(server.url(BENCH_DB), args.base, args.rounds)


if __name__ == "__main__":
    main()
