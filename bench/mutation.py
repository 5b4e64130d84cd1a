"""Mutation run for the money core: do the money tests fail for the right reason?

    .venv/bin/python bench/mutation.py            # every mutant, SQL then Python
    .venv/bin/python bench/mutation.py --only sql --match cap

SQL mutants: each one (one rule broken, possibly in more than one place where the rule
is written twice) is applied ALONE to a temporary copy of supabase/migrations; the money
test files then run against it (`pytest -x -q`, LEADFLOW_MIGRATIONS_DIR pointing at the
copy, so every fixture database is built from the mutated history). Killed = the tests
fail. The pgTAP specifications of supabase/tests run on the embedded server too.

Python mutants: the same by text substitution, applied to a temporary copy of
shared/leadflow put first on PYTHONPATH (the working tree is never edited), then the
tests of that module run.

A mutant whose old snippet is not found (exactly `count` times) is an error, not a
survivor: the list must follow the code. Exit status 1 when a mutant survives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "supabase" / "migrations"
PACKAGE = ROOT / "shared" / "leadflow"
PYTHON = sys.executable

#: The money tests, fastest and most pointed first (pytest -x stops at the first failure).
SQL_TESTS = (
    "tests/sql/test_money_gate.py",
    "tests/sql/test_pgtap.py::test_spec_holds_on_the_embedded_server",
    "tests/core/test_orchestrate.py",
    "tests/sql/test_money_safety.py",
    "tests/sql/test_money_adversary.py",
)


@dataclass(frozen=True)
class Edit:
    """Replace `old` by `new` in the one file matching `glob` (exactly `count` times)."""

    glob: str
    old: str
    new: str
    count: int = 1


@dataclass(frozen=True)
class Mutant:
    name: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...] = SQL_TESTS


def sql(glob: str, old: str, new: str, count: int = 1) -> Edit:
    return Edit(f"*_{glob}.sql", old, new, count)


RULES = "change_rules"
CLAIMS = "claims_and_caps"
OBSERVATIONS = "budget_observations"
RUNS = "job_runs"
LOG = "orchestration_log"
LEASE_CHECK = (
    "if not found or run.status <> 'running' or run.heartbeat_at < now() - private.job_lease() then"
)

SQL_MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "daily limit relaxed to +-25 % (claim, log and trigger share it)",
        (
            sql(
                RULES,
                "if abs(p_new - base) > floor(base * settings.max_daily_change) then",
                "if abs(p_new - base) > floor(base * (settings.max_daily_change + 0.05)) then",
            ),
        ),
    ),
    Mutant(
        "one change per budget per day removed, its unique index made non-unique",
        (
            sql(
                RULES,
                "if other is not null then\n      return format('already changed today",
                "if false then\n      return format('already changed today",
            ),
            sql(
                LOG,
                "create unique index channel_orchestration_log_one_live_change_idx",
                "create index channel_orchestration_log_one_live_change_idx",
            ),
        ),
    ),
    Mutant(
        "account cap at the claim: total == cap refused (>= instead of >)",
        (
            sql(
                CLAIMS,
                "if total + r.new_amount_micros - standing > cap then",
                "if total + r.new_amount_micros - standing >= cap then",
            ),
        ),
    ),
    Mutant(
        "account cap at the claim: one cent over the cap allowed (> cap + 1 cent)",
        (
            sql(
                CLAIMS,
                "if total + r.new_amount_micros - standing > cap then",
                "if total + r.new_amount_micros - standing > cap + 10000 then",
            ),
        ),
    ),
    Mutant(
        "account cap at the log: total == cap refused (>= instead of >)",
        (
            sql(
                CLAIMS,
                "if total + new_amount - standing > cap then",
                "if total + new_amount - standing >= cap then",
            ),
        ),
    ),
    Mutant(
        "account cap at the log: one cent over the cap logged pending",
        (
            sql(
                CLAIMS,
                "if total + new_amount - standing > cap then",
                "if total + new_amount - standing > cap + 10000 then",
            ),
        ),
    ),
    Mutant(
        "account cap counts only active segments' budgets",
        (
            sql(
                OBSERVATIONS,
                "  from public.segment_campaign_budgets cb\n$$;",
                "  from public.segment_campaign_budgets cb\n  where cb.is_active and exists ("
                "select 1 from public.lead_segments s where s.id = cb.segment_id and s.is_active)"
                "\n$$;",
            ),
        ),
    ),
    Mutant(
        "kill switch: the claim's own check removed",
        (sql(CLAIMS, "when not coalesce(enabled, false) then", "when false then"),),
    ),
    Mutant(
        "kill switch: change_refusal's check removed",
        (sql(RULES, "if not coalesce(settings.changes_enabled, false) then", "if false then"),),
    ),
    Mutant(
        "kill switch ignored at claim (its check and change_refusal's)",
        (
            sql(CLAIMS, "when not coalesce(enabled, false) then", "when false then"),
            sql(RULES, "if not coalesce(settings.changes_enabled, false) then", "if false then"),
        ),
    ),
    Mutant(
        "bounds check removed",
        (sql(RULES, "if p_new < m.lo or p_new > m.hi then", "if false then"),),
    ),
    Mutant(
        "sign of the gap not checked",
        (
            sql(
                RULES,
                "if p_kind = 'adjust' and p_old is not null\n",
                "if false and p_old is not null\n",
            ),
        ),
    ),
    Mutant(
        "live changes not limited to today",
        (sql(RULES, "if p_mode = 'live' and p_day is distinct from today then", "if false then"),),
    ),
    Mutant(
        "in-doubt check removed, its unique index made non-unique",
        (
            sql(
                RULES,
                "if other is not null then\n      return format('the outcome of log",
                "if false then\n      return format('the outcome of log",
            ),
            sql(
                LOG,
                "create unique index channel_orchestration_log_one_in_doubt_idx",
                "create index channel_orchestration_log_one_in_doubt_idx",
            ),
        ),
    ),
    Mutant(
        "external-change check removed",
        (
            sql(
                RULES,
                "if abs(p_new - ext.observed_micros) > "
                "floor(ext.observed_micros * settings.max_daily_change) then",
                "if false then",
            ),
        ),
    ),
    Mutant(
        "rollback may go to any amount, not the day's base",
        (sql(RULES, "if p_kind = 'rollback' and p_new <> base then", "if false then"),),
    ),
    Mutant(
        "hold rows sendable (the trigger and the claim let a pending hold through)",
        (
            sql(
                RULES,
                "if new.status = 'pending' then\n      raise exception 'a hold is never sent",
                "if false then\n      raise exception 'a hold is never sent",
            ),
            sql(
                CLAIMS,
                "when r.action = 'hold' then 'a hold is never sent'",
                "when r.action = 'hold' then null",
            ),
        ),
    ),
    Mutant(
        "hold rows sendable (logged pending, unchecked by the trigger and the claim)",
        (
            sql(
                CLAIMS,
                "when act = 'hold' then 'hold: ' || "
                "coalesce(nullif(btrim(d.reason), ''), 'no change')",
                "when act = 'hold' then null",
            ),
            sql(
                RULES,
                "if new.status = 'pending' then\n      raise exception 'a hold is never sent",
                "if false then\n      raise exception 'a hold is never sent",
            ),
            sql(
                CLAIMS,
                "when r.action = 'hold' then 'a hold is never sent'",
                "when r.action = 'hold' then null",
            ),
        ),
    ),
    Mutant(
        "a disagreeing observation becomes the record",
        (
            sql(
                OBSERVATIONS,
                "insert into private.budget_external_changes (budget_resource_name, record_micros, "
                "observed_micros)\n      values (seen.budget_resource_name, rec, "
                "seen.amount_micros)\n"
                "      on conflict do nothing;",
                "update private.budget_records set amount_micros = seen.amount_micros"
                " where budget_resource_name = seen.budget_resource_name;",
            ),
        ),
    ),
    Mutant(
        "the log takes the caller's old amount",
        (
            sql(
                CLAIMS,
                "old_amount := case when p_day = today then "
                "private.budget_record(d.budget_resource_name) end;",
                "old_amount := d.old_amount_micros::bigint;",
            ),
        ),
    ),
    Mutant(
        "unmapped budget not refused",
        (
            sql(
                RULES,
                "if not found then\n    return 'the budget is not mapped",
                "if false then\n    return 'the budget is not mapped",
            ),
        ),
    ),
    Mutant(
        "remapped budget (another segment) not refused",
        (sql(RULES, "if p_segment_id is distinct from m.segment_id then", "if false then"),),
    ),
    Mutant(
        "inactive mapping not refused",
        (sql(RULES, "if not m.mapping_active then", "if false then"),),
    ),
    Mutant(
        "inactive segment not refused",
        (sql(RULES, "if not m.segment_active then", "if false then"),),
    ),
    Mutant(
        "whole cents not checked (log's argument check and change_refusal)",
        (
            sql(
                CLAIMS, "                or (e ->> 'new_amount_micros')::numeric % 10000 <> 0\n", ""
            ),
            sql(RULES, "if p_new < 0 or p_new % 10000 <> 0 then", "if p_new < 0 then"),
        ),
    ),
    Mutant(
        "whole cents not checked in observations",
        (sql(OBSERVATIONS, "\n       or x.amount_micros % 10000 <> 0", ""),),
    ),
    Mutant(
        "lease / fencing check removed",
        (
            sql(
                RUNS,
                LEASE_CHECK,
                "if false then",
            ),
        ),
    ),
    Mutant(
        "lease: a silent run keeps its lease",
        (
            sql(
                RUNS,
                LEASE_CHECK,
                "if not found or run.status <> 'running' then",
            ),
        ),
    ),
    Mutant(
        "job_runs trigger allows revival of an ended run",
        (
            sql(
                RUNS,
                "if old.status <> 'running' then\n    raise exception 'job run % has ended",
                "if false then\n    raise exception 'job run % has ended",
            ),
        ),
    ),
    Mutant(
        "service_role granted update on the log",
        (
            sql(
                LOG,
                "grant select on table public.channel_orchestration_log to service_role;",
                "grant select, update on table public.channel_orchestration_log to service_role;",
            ),
        ),
    ),
    Mutant(
        "complete accepts rows that were never sent",
        (
            sql(
                CLAIMS,
                "where l.id = r.id and l.run_id = p_run_id and l.status = 'sent'",
                "where l.id = r.id and l.run_id = p_run_id",
            ),
        ),
    ),
)


def py(path: str, old: str, new: str, count: int = 1) -> Edit:
    return Edit(path, old, new, count)


CONTROLLER_TESTS = (
    "tests/core/test_controller_rules.py",
    "tests/core/test_controller_steering.py",
    "tests/core/test_controller.py",
)
GATEWAY_TESTS = ("tests/core/test_google_ads.py",)
ENTRY_TESTS = ("tests/functions/test_job_functions.py",)
ORCHESTRATE_TESTS = ("tests/core/test_orchestrate.py", "tests/sql/test_money_safety.py")

UNKNOWN_RESULT = (
    "                results[change.key] = "
    'BudgetResult(change.key, "unknown", self._clean(message))\n'
)

PY_MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "controller: the final sign rule removed",
        (
            py(
                "controller/rules.py",
                "if (gap > 0 and new < old) or (gap < 0 and new > old) or gap == 0:",
                "if False:",
            ),
        ),
        CONTROLLER_TESTS,
    ),
    Mutant(
        "controller: the final daily-limit rule removed",
        (
            py(
                "controller/rules.py",
                "if abs(new - old) * denominator > old * numerator:",
                "if False:",
            ),
        ),
        CONTROLLER_TESTS,
    ),
    Mutant(
        "controller: the final bounds rule removed",
        (
            py(
                "controller/rules.py",
                "if not s.min_budget_micros <= new <= s.max_budget_micros:",
                "if False:",
            ),
        ),
        CONTROLLER_TESTS,
    ),
    Mutant(
        "controller: the final billable-unit rule removed",
        (py("controller/rules.py", "if new % c.billable_unit_micros:", "if False:"),),
        CONTROLLER_TESTS,
    ),
    Mutant(
        "gateway: an operation whose result is missing is sent again",
        (
            py(
                "google_ads_api.py",
                UNKNOWN_RESULT,
                UNKNOWN_RESULT + "                resend.append(change)\n",
            ),
        ),
        GATEWAY_TESTS,
    ),
    Mutant(
        "gateway: an operation whose result is missing counts as applied",
        (
            py(
                "google_ads_api.py",
                "elif not validate_only and not _has_result(response, index):",
                "elif False:",
            ),
        ),
        GATEWAY_TESTS,
    ),
    Mutant(
        "gateway: a permanently refused operation is sent again",
        (
            py(
                "google_ads_api.py",
                'if kind == "transient":\n                    resend.append(change)',
                "resend.append(change)",
            ),
        ),
        GATEWAY_TESTS,
    ),
    Mutant(
        "job auth: any bearer accepted when only OIDC is configured",
        (
            py(
                "jobs/entry.py",
                'return token.count(".") == 2 and _verified_identity(token, settings)',
                "return secret is None or _verified_identity(token, settings)",
            ),
        ),
        ENTRY_TESTS,
    ),
    Mutant(
        "job auth: an OIDC token of another service account accepted",
        (
            py(
                "jobs/entry.py",
                'return claims.get("email") == email and claims.get("email_verified") is True',
                "return True",
            ),
        ),
        ENTRY_TESTS,
    ),
    Mutant(
        "orchestrator: a row its claim returned as skipped is sent",
        (
            py(
                "jobs/orchestrate.py",
                'to_send = [row for row in claimed if row["status"] == "sent"]',
                "to_send = list(claimed)",
            ),
        ),
        ORCHESTRATE_TESTS,
    ),
    Mutant(
        "orchestrator: a claim older than the send window is still sent",
        (
            py(
                "jobs/orchestrate.py",
                "if time.monotonic() - claimed_at > SEND_WITHIN_SECONDS:",
                "if False:",
            ),
        ),
        ORCHESTRATE_TESTS,
    ),
)


def _apply(mutant: Mutant, directory: Path) -> None:
    for edit in mutant.edits:
        files = sorted(directory.glob(edit.glob))
        if len(files) != 1:
            raise SystemExit(
                f"{mutant.name}: {edit.glob} matches {len(files)} files in {directory}"
            )
        text = files[0].read_text()
        if text.count(edit.old) != edit.count:
            raise SystemExit(
                f"{mutant.name}: the snippet is found {text.count(edit.old)} times in "
                f"{files[0].name}, "
                f"not {edit.count}: the mutant list no longer follows the code\n{edit.old}"
            )
        files[0].write_text(text.replace(edit.old, edit.new))


def _run(mutant: Mutant, kind: str, timeout: float) -> tuple[bool, float, str]:
    """(killed, seconds, the last line of pytest's report)."""
    with tempfile.TemporaryDirectory(prefix="leadflow-mutant-") as tmp:
        env = dict(os.environ)
        if kind == "sql":
            copy = Path(tmp) / "migrations"
            shutil.copytree(MIGRATIONS, copy)
            _apply(mutant, copy)
            env["LEADFLOW_MIGRATIONS_DIR"] = str(copy)
        else:
            copy = Path(tmp) / "leadflow"
            shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
            _apply(mutant, copy)
            env["PYTHONPATH"] = os.pathsep.join([tmp, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            _check_import(env, copy)
        command = [
            PYTHON,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *mutant.tests,
        ]
        started = time.monotonic()
        try:
            done = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return (
                False,
                time.monotonic() - started,
                f"timed out after {timeout:.0f} s (counted as survived)",
            )
        seconds = time.monotonic() - started
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        last = failed[0] if failed else lines[-1] if lines else done.stderr.strip()[-200:]
        if done.returncode not in (0, 1):
            # 2-5: interrupted, internal error, usage error, nothing collected: not a kill.
            raise SystemExit(
                f"{mutant.name}: pytest exited {done.returncode}\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.returncode == 1, seconds, last


def _check_import(env: dict[str, str], copy: Path) -> None:
    probe = subprocess.run(
        [PYTHON, "-c", "import leadflow; print(leadflow.__file__)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if not Path(probe.stdout.strip()).is_relative_to(copy):
        raise SystemExit(f"the mutated copy is not the one imported: {probe.stdout.strip()}")


#: mutmut's own operators on the controller's last check, with its specification tests.
MUTMUT_TARGET = "leadflow/controller/rules.py"
MUTMUT_TESTS = ("tests/core/test_controller_rules.py", "tests/core/test_controller_steering.py")
#: mutmut's mutants of rules.py that no input can tell from the original (checked by hand;
#: mutmut numbers them stably while the file is unchanged). Counted apart, not as killed.
MUTMUT_EQUIVALENT = {
    "x_breaks_a_rule__mutmut_14": "`old is None and new is None`: is_int(None) already fails",
    "x_breaks_a_rule__mutmut_34": "`new >= old` for `new > old`: new == old is refused by the "
    "`or new == old` beside it",
    "x_breaks_a_rule__mutmut_42": "`gap >= 0` for `gap > 0`: gap == 0 is refused by `or gap == 0`",
    "x_breaks_a_rule__mutmut_44": "`new <= old` for `new < old`: new == old never gets here",
    "x_breaks_a_rule__mutmut_46": "`gap <= 0` for `gap < 0`: gap == 0 is refused by `or gap == 0`",
    "x_breaks_a_rule__mutmut_48": "`new >= old` for `new > old`: new == old never gets here",
}


def _mutmut(timeout: float) -> tuple[int, int, list[str], float]:
    """(killed, total, survivors, seconds) of `mutmut run` on MUTMUT_TARGET, equivalent
    mutants (MUTMUT_EQUIVALENT) left out.

    mutmut 3 imports the mutated code from mutants/ (or mutants/src) and names each mutant
    by its module path from the working directory; the package lives in shared/, so the run
    happens in a temporary layout where `leadflow` sits at the top.
    """
    mutmut = Path(PYTHON).with_name("mutmut")
    with tempfile.TemporaryDirectory(prefix="leadflow-mutmut-") as tmp:
        work = Path(tmp)
        shutil.copytree(PACKAGE, work / "leadflow", ignore=shutil.ignore_patterns("__pycache__"))
        for test in MUTMUT_TESTS:
            (work / test).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / test, work / test)
        tests = ", ".join(f'"{t}"' for t in MUTMUT_TESTS)
        (work / "pyproject.toml").write_text(
            "[tool.mutmut]\n"
            'source_paths = ["leadflow/"]\n'
            f'only_mutate = ["{MUTMUT_TARGET}"]\n'
            'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
            f"pytest_add_cli_args_test_selection = [{tests}]\n"
        )
        started = time.monotonic()
        subprocess.run(
            [str(mutmut), "run"], cwd=work, capture_output=True, timeout=timeout, check=False
        )
        seconds = time.monotonic() - started
        listed = subprocess.run(
            [str(mutmut), "results", "--all", "true"],
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    verdicts = [line.strip().rsplit(": ", 1) for line in listed.splitlines() if ": " in line]
    counted = [(n, v) for n, v in verdicts if n.rsplit(".", 1)[-1] not in MUTMUT_EQUIVALENT]
    survivors = [name for name, verdict in counted if verdict != "killed"]
    return len(counted) - len(survivors), len(counted), survivors, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("sql", "python", "mutmut"), help="one kind")
    parser.add_argument("--match", default="", help="only mutants whose name contains this")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant")
    args = parser.parse_args()
    started = time.monotonic()
    mutmut_counts = (0, 0)
    table: dict[str, list[tuple[str, bool, float, str]]] = {"sql": [], "python": []}
    for kind, mutants in (("sql", SQL_MUTANTS), ("python", PY_MUTANTS)):
        if args.only and args.only != kind:
            continue
        for mutant in mutants:
            if args.match.lower() not in mutant.name.lower():
                continue
            killed, seconds, last = _run(mutant, kind, args.timeout)
            table[kind].append((mutant.name, killed, seconds, last))
            verdict = "killed  " if killed else "SURVIVED"
            print(f"{kind:6} {verdict} {seconds:6.1f} s  {mutant.name}\n{'':25}{last}", flush=True)
    if args.only in (None, "mutmut") and not args.match:
        dead, total, survivors, seconds = _mutmut(args.timeout)
        mutmut_counts = (dead, total)
        table["mutmut"] = [
            (f"mutmut {MUTMUT_TARGET}: {dead}/{total} killed", not survivors, seconds, "")
        ]
        print(f"mutmut {dead}/{total} killed in {seconds:.0f} s; survived: {survivors}", flush=True)
    print()
    print("| kind | mutant | result | seconds |")
    print("| --- | --- | --- | --- |")
    for kind, rows in table.items():
        for name, killed, seconds, _ in rows:
            print(f"| {kind} | {name} | {'killed' if killed else '**survived**'} | {seconds:.0f} |")
    survived = 0
    dead = total = 0
    if "mutmut" in table:
        dead, total = mutmut_counts
    for kind, rows in table.items():
        if rows and kind == "mutmut":
            survived += total - dead
            print(
                f"mutmut ({MUTMUT_TARGET}): {dead}/{total} killed ({100 * dead / total:.0f} %), "
                f"{len(MUTMUT_EQUIVALENT)} equivalent mutants left out"
            )
        elif rows:
            dead = sum(1 for row in rows if row[1])
            survived += len(rows) - dead
            print(f"{kind}: {dead}/{len(rows)} killed ({100 * dead / len(rows):.0f} %)")
    print(f"total time {time.monotonic() - started:.0f} s")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
