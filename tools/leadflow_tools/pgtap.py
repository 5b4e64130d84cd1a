"""pgTAP specifications (supabase/tests/*.sql) and plpgsql_check, run on any server.

pgTAP is pure SQL: Debian's `postgresql-15-pgtap` ships it under Postgres 15's share
directory, and the same files install into another major version's (the embedded
server's) extension directory. `make sql-tools` installs the Debian packages.

A spec file is run as `supabase test db` runs it (one simple-query round trip, the
file's own `begin … rollback`); its TAP output is parsed here rather than by pg_prove,
so that a file that dies half-way, plans wrongly or fails an assertion is reported
with pgTAP's diagnostics.
"""

from __future__ import annotations

import filecmp
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from leadflow.errors import LeadflowError
from psycopg.pq import ExecStatus

#: Where `make sql-tools` (apt: postgresql-15, postgresql-15-pgtap,
#: postgresql-15-plpgsql-check) puts what these checks need.
PG15_BINDIR = Path("/usr/lib/postgresql/15/bin")
PG15_EXTENSION_DIR = Path("/usr/share/postgresql/15/extension")
SPECS_DIR = Path(__file__).resolve().parents[2] / "supabase" / "tests"
SEARCH_PATH = '"$user",public,extensions'
INSTALL_HINT = (
    "run `make sql-tools` as root (apt-get install postgresql-15-pgtap postgresql-15-plpgsql-check)"
)


class SqlToolMissing(LeadflowError):
    """Postgres 15, pgTAP or plpgsql_check is not installed on this machine."""


def pgtap_files(extension_dir: Path = PG15_EXTENSION_DIR) -> list[Path]:
    """pgTAP's control and SQL files as Debian installs them."""
    control = extension_dir / "pgtap.control"
    if not control.exists():
        raise SqlToolMissing(f"pgTAP is not installed ({control}): {INSTALL_HINT}")
    return [control, *sorted(extension_dir.glob("pgtap--*.sql"))]


def install_pgtap(target_extension_dir: Path, source_dir: Path = PG15_EXTENSION_DIR) -> list[Path]:
    """Copy pgTAP's files into another server's extension directory (idempotent)."""
    copied = []
    for source in pgtap_files(source_dir):
        target = target_extension_dir / source.name
        if target.resolve() == source.resolve():
            continue
        if not target.exists() or not filecmp.cmp(source, target, shallow=False):
            shutil.copyfile(source, target)
            copied.append(target)
    return copied


def require_plpgsql_check(extension_dir: Path = PG15_EXTENSION_DIR) -> None:
    """Refuse when plpgsql_check is not installed for Postgres 15."""
    if not (extension_dir / "plpgsql_check.control").exists():
        raise SqlToolMissing(f"plpgsql_check is not installed ({extension_dir}): {INSTALL_HINT}")


def require_pg15(bindir: Path = PG15_BINDIR) -> None:
    """Refuse when the Debian Postgres 15 server is not installed."""
    if not (bindir / "postgres").exists():
        raise SqlToolMissing(f"Postgres 15 is not installed ({bindir}/postgres): {INSTALL_HINT}")


def prepare_database(conn: psycopg.Connection[Any]) -> None:
    """Install pgTAP into `extensions` (as Supabase does) and make it callable by every API
    role: a spec switches to anon, a partner or the service role before it asserts."""
    conn.execute("create extension if not exists pgtap with schema extensions")
    conn.execute("grant usage on schema extensions to anon, authenticated, service_role")
    conn.execute(
        "grant execute on all functions in schema extensions to anon, authenticated, service_role"
    )


# -----------------------------------------------------------------------------
# TAP
# -----------------------------------------------------------------------------
_PLAN = re.compile(r"^1\.\.(\d+)")
_RESULT = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(.*)$")


@dataclass
class TapResult:
    """What one spec file reported."""

    name: str
    lines: list[str] = field(default_factory=list)
    planned: int | None = None
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    todo_passing: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def run(self) -> int:
        return self.passed + len(self.failed)

    @property
    def ok(self) -> bool:
        """Every planned assertion ran and passed, and the file ended normally."""
        return (
            self.error is None
            and not self.failed
            and self.planned is not None
            and self.planned == self.run
            and self.planned > 0
        )

    def report(self) -> str:
        """The failures with pgTAP's diagnostics (the `#` lines after each), for a test message."""
        head = f"{self.name}: planned {self.planned}, ran {self.run}, failed {len(self.failed)}" + (
            f"; died: {self.error}" if self.error else ""
        )
        return "\n".join([head, *[line for line in self.lines if not line.startswith("ok ")]])


def parse_tap(name: str, lines: list[str]) -> TapResult:
    """Count a file's TAP lines: `not ok … # TODO` is an expected failure, not a failure."""
    result = TapResult(name=name, lines=lines)
    for raw in lines:
        for line in raw.splitlines():
            plan = _PLAN.match(line)
            if plan:
                result.planned = int(plan.group(1))
                continue
            match = _RESULT.match(line)
            if not match:
                continue
            verdict, _, rest = match.groups()
            todo = re.search(r"#\s*TODO\b", rest, re.IGNORECASE) is not None
            if verdict == "ok":
                result.passed += 1
                if todo:
                    result.todo_passing.append(line)
            elif todo:
                result.passed += 1
            else:
                result.failed.append(line)
    return result


def run_spec(url: str, path: Path) -> TapResult:
    """Run one spec file on the database at `url` and parse what it printed."""
    text = path.read_text()
    lines: list[str] = []
    error: str | None = None
    # pgTAP lives in `extensions`, on the search path as on a Supabase database.
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={SEARCH_PATH}") as conn:
        # Simple query protocol: the whole file in one round trip, as psql -f would.
        cur = conn.cursor()
        try:
            cur.execute(text.encode(), prepare=False)
            while True:
                if cur.pgresult is not None and cur.pgresult.status == ExecStatus.TUPLES_OK:
                    lines.extend(str(row[0]) for row in cur.fetchall())
                if not cur.nextset():
                    break
        except psycopg.Error as exc:
            diag = exc.diag
            error = f"{diag.sqlstate}: {diag.message_primary}" + (
                f" ({diag.context.splitlines()[0]})" if diag.context else ""
            )
    result = parse_tap(path.name, lines)
    result.error = error
    return result


# -----------------------------------------------------------------------------
# plpgsql_check
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckFinding:
    """One message of plpgsql_check_function about one function."""

    function: str
    level: str
    message: str
    line: str

    def __str__(self) -> str:
        return f"{self.function}: {self.level}: {self.message}{self.line}"


PLPGSQL_CHECK = """
select p.oid::regprocedure::text, c.lineno, c.level, c.message, c.detail, c.hint, c.sqlstate,
       c.statement
from pg_proc p
join pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
join pg_namespace n on n.oid = p.pronamespace and n.nspname in ('public', 'private')
cross join lateral extensions.plpgsql_check_function_tb(
  p.oid,
  relid => coalesce((select t.tgrelid from pg_trigger t where t.tgfoid = p.oid
                     and not t.tgisinternal limit 1), 0),
  fatal_errors => false, extra_warnings => true, performance_warnings => false
) c
where p.prorettype <> 'event_trigger'::regtype
order by 1, c.lineno
"""


def plpgsql_check(conn: psycopg.Connection[Any]) -> list[CheckFinding]:
    """plpgsql_check_function over every plpgsql function in public and private (Postgres 15)."""
    conn.execute("create extension if not exists plpgsql_check with schema extensions")
    findings = []
    for function, lineno, level, message, detail, hint, _sqlstate, statement in conn.execute(
        PLPGSQL_CHECK
    ).fetchall():
        where = f" (line {lineno}, {statement})" if lineno else ""
        extra = "".join(f"; {part}" for part in (detail, hint) if part)
        findings.append(CheckFinding(function, level, f"{message}{extra}", where))
    return findings
