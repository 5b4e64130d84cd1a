"""Apply `supabase/migrations/*.sql` the way the Supabase CLI does.

Each file runs with its history row in one transaction, recorded in
`supabase_migrations.schema_migrations(version, statements, name)`, so that
`supabase db push` on a real project agrees with what ran here.

Statements Postgres refuses in a transaction (`create index concurrently` and
the like) run the way the Supabase CLI (2.117) runs them: it sends a file's
statements and its history insert as one pipeline (pgx `ExecBatch`, one
implicit transaction), except that each such statement is sent on its own, as
a simple query, between the batches before and after it. Such a file is
therefore not atomic, so we allow in it only those statements and session
`set` / `reset` (e.g. a lock timeout for the build): a failure never leaves
half a schema change. The history row is written after the last statement; an
invalid index a failed concurrent build leaves is dropped, so a rerun builds it.

After the migrations, `migrate` fills leads that existed before the segment
columns in small batches (`public.backfill_lead_sources`), each batch its own
short transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import psycopg.sql
from leadflow.errors import LeadflowError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: LEADFLOW_MIGRATIONS_DIR points the tools (and the tests) at another copy of the history:
#: bench/mutation.py runs the money tests against mutated copies of it.
MIGRATIONS_DIR = Path(
    os.environ.get("LEADFLOW_MIGRATIONS_DIR") or PROJECT_ROOT / "supabase" / "migrations"
)
SCHEMAS_DIR = PROJECT_ROOT / "supabase" / "schemas"
SEED_FILE = PROJECT_ROOT / "supabase" / "seed.sql"

_FILE_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.+)\.sql$")
_BOOTSTRAP_MARKER = "leadflow local bootstrap"

# Statements the Supabase CLI sends outside its pipeline (its isPipelineIncompatible).
_NON_TRANSACTIONAL = re.compile(
    r"^\s*(?:(?:create\s+(?:unique\s+)?|drop\s+)index\s+concurrently\b"
    r"|reindex\b.*\bconcurrently\b"
    r"|vacuum\b|alter\s+system\b|cluster\b)",
    re.IGNORECASE | re.DOTALL,
)
_SESSION_SETTING = re.compile(r"^\s*(?:set|reset)\s+(?!local\b)", re.IGNORECASE)
_INDEX_NAME = re.compile(
    r"^\s*create\s+(?:unique\s+)?index\s+concurrently\s+(?:if\s+not\s+exists\s+)?"
    r"(?P<name>[a-z_][a-z0-9_$]*)\s+on\s+(?:only\s+)?(?:(?P<schema>[a-z_][a-z0-9_$]*)\.)?",
    re.IGNORECASE,
)

#: Defaults for every transactional file; a file's own `set local` wins. Short
#: lock waits: a migration queued for a lock blocks every writer queued behind it.
FILE_LOCK_TIMEOUT = "1s"
FILE_STATEMENT_TIMEOUT = "1min"
#: Leads per backfill batch: one batch is one short transaction (bench/RESULTS.md,
#: "Migrations on a live leads table": well under Supabase's 8 s statement timeout).
BACKFILL_BATCH = 5000
BACKFILL_STATEMENT_TIMEOUT = "8s"

_HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text not null primary key,
  statements text[],
  name text
);
"""


class MigrationError(LeadflowError):
    """A migration, the seed or the bootstrap failed; the message is one line."""


class ChangedMigration(MigrationError):
    """A file already applied to the database differs from what was applied."""


@dataclass(frozen=True)
class Migration:
    """One file of `supabase/migrations/`."""

    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        """The file's text."""
        return self.path.read_text(encoding="utf-8")

    @property
    def statements(self) -> list[str]:
        """The file's statements, as the Supabase CLI records them."""
        return split_statements(self.sql)

    @property
    def is_transactional(self) -> bool:
        """False for a file holding a statement Postgres runs only outside a transaction."""
        return not any(_NON_TRANSACTIONAL.match(_strip_comments(s)) for s in self.statements)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory`, in file-name order; other files are an error."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: not named <version>_<name>.sql")
        migrations.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a version")
    return migrations


def split_statements(text: str) -> list[str]:
    """Split SQL into statements on `;`, outside quotes, dollar quotes and comments.

    The Supabase CLI stores each file's statements like this in the history table.
    """
    statements: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end == -1 else end + 1
        elif ch == "/" and text.startswith("/*", i):
            depth = 1
            i += 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif ch in ("'", '"'):
            i += 1
            while i < n:
                if text[i] == ch:
                    if i + 1 < n and text[i + 1] == ch:  # doubled quote
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif ch == "$":
            tag = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if tag:
                close = text.find(tag.group(0), i + len(tag.group(0)))
                i = n if close == -1 else close + len(tag.group(0))
            else:
                i += 1
        elif ch == ";":
            statement = text[start:i].strip()
            if statement and not _only_comments(statement):
                statements.append(statement)
            start = i + 1
            i += 1
        else:
            i += 1
    tail = text[start:].strip()
    if tail and not _only_comments(tail):
        statements.append(tail)
    return statements


def _only_comments(statement: str) -> bool:
    lines = [line.strip() for line in statement.splitlines()]
    return all(not line or line.startswith("--") for line in lines)


def _strip_comments(statement: str) -> str:
    """The statement without its leading `--` comment lines."""
    lines = statement.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


def _one_line(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary if exc.diag else None
    text = primary or str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_local_bootstrap_needed(conn: psycopg.Connection[Any]) -> bool:
    """True on plain Postgres (no `auth.users`) or on a database we bootstrapped before."""
    row = conn.execute(
        "select to_regclass('auth.users') is not null,"
        " coalesce(obj_description(to_regnamespace('auth')::oid, 'pg_namespace'), '')"
    ).fetchone()
    assert row is not None
    has_users, comment = row
    return not has_users or comment == _BOOTSTRAP_MARKER


def bootstrap(conn: psycopg.Connection[Any]) -> bool:
    """Give a plain Postgres what Supabase provides (roles, auth schema). Skipped on Supabase."""
    if not is_local_bootstrap_needed(conn):
        return False
    text = (
        resources.files("leadflow_tools").joinpath("sql/bootstrap.sql").read_text(encoding="utf-8")
    )
    try:
        with conn.transaction():
            conn.execute(text)
            conn.execute(f"comment on schema auth is '{_BOOTSTRAP_MARKER}'")
    except psycopg.Error as exc:
        raise MigrationError(f"local bootstrap: {_one_line(exc)}") from None
    return True


def applied_versions(conn: psycopg.Connection[Any]) -> set[str]:
    """Versions recorded in the history table (creating it if needed)."""
    with conn.transaction():
        conn.execute(_HISTORY_DDL)
    rows = conn.execute("select version from supabase_migrations.schema_migrations").fetchall()
    return {row[0] for row in rows}


def migrate(
    conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR, *, tools: bool = True
) -> list[Migration]:
    """Apply the migrations not yet recorded, then backfill old leads; returns those applied.

    On a local database (one we bootstrapped) the tools' SQL is installed after the
    whole history (`install_tools`), unless `tools` is false.

    A file and its history row commit together or not at all (a file of
    non-transactional statements runs statement by statement, as the Supabase
    CLI runs it); the first failure stops the run with a one-line `MigrationError`.
    """
    if not conn.autocommit:
        raise ValueError("migrate() needs an autocommit connection; it manages transactions")
    bootstrap(conn)
    migrations = discover(directory)
    done = applied_versions(conn)
    local = {m.version for m in migrations}
    missing = sorted(done - local)
    if missing:
        raise MigrationError(
            f"remote migration versions not found in {directory.name}/: {', '.join(missing)}"
        )
    changed = _changed_since_applied(conn, [m for m in migrations if m.version in done])
    if changed:
        raise ChangedMigration(
            f"{changed[0].path.name} differs from what this database applied: migrations are "
            "append-only, so put the change in a new file (a local database can be rebuilt: "
            "leadflow db reset, or leadflow demo --fresh)"
        )
    pending = [m for m in migrations if m.version not in done]
    for migration in pending:  # refuse a bad file before anything runs
        if not migration.is_transactional:
            mixed = [
                s
                for s in migration.statements
                if not _NON_TRANSACTIONAL.match(_strip_comments(s))
                and not _SESSION_SETTING.match(_strip_comments(s))
            ]
            if mixed:
                raise MigrationError(
                    f"{migration.path.name}: a file with a non-transactional statement"
                    " (CONCURRENTLY, VACUUM, ...) may hold only such statements and session"
                    " set/reset: the Supabase CLI runs it in parts, so anything else could be"
                    f" left half-applied; move {' '.join(mixed[0].split())[:60]!r} to a file"
                    " of its own"
                )
    applied = []
    for migration in pending:
        if migration.is_transactional:
            _apply_in_transaction(conn, migration)
        else:
            _apply_outside_transaction(conn, migration)
        applied.append(migration)
    if applied:
        backfill_leads(conn)
    if tools and directory == MIGRATIONS_DIR and is_local_bootstrap_needed(conn):
        install_tools(conn)  # the whole history is in: the tools' SQL can read it
    return applied


def build_from_schemas(conn: psycopg.Connection[Any], directory: Path = SCHEMAS_DIR) -> list[Path]:
    """Build a database from the declarative schema: each file of `directory`, in name order,
    in its own transaction (no history is recorded). The catalog-equality test compares the
    result with a database built from the migrations."""
    if not conn.autocommit:
        raise ValueError("build_from_schemas() needs an autocommit connection")
    bootstrap(conn)
    files = sorted(directory.glob("*.sql"))
    for path in files:
        try:
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
        except psycopg.Error as exc:
            raise MigrationError(f"{path.name}: {_one_line(exc)}") from None
    return files


#: The tools' own SQL, installed on local databases only (never a migration): the
#: simulated clock of demos and simulations, and the operator report's queries.
TOOLS_SQL = ("sql/clock.sql", "sql/report.sql")


def install_tools(conn: psycopg.Connection[Any]) -> None:
    """Install (or refresh) the tools' SQL on a local database; rerunnable."""
    for name in TOOLS_SQL:
        text = resources.files("leadflow_tools").joinpath(name).read_text(encoding="utf-8")
        try:
            with conn.transaction():
                conn.execute(text)
        except psycopg.Error as exc:
            raise MigrationError(f"tools' {name}: {_one_line(exc)}") from None


def _normalized(statements: list[str]) -> str:
    """A file's statements compared as SQL: without comment lines, spacing or splitting."""
    words: list[str] = []
    for statement in statements:
        for line in statement.splitlines():
            if not line.lstrip().startswith("--"):
                words.extend(line.split())
    return " ".join(words).replace(" ;", ";").rstrip(";")


def _changed_since_applied(
    conn: psycopg.Connection[Any], applied: list[Migration]
) -> list[Migration]:
    """The applied files whose statements differ from those the history table recorded."""
    recorded = dict(
        conn.execute(
            "select version, statements from supabase_migrations.schema_migrations"
        ).fetchall()
    )
    return [
        m
        for m in applied
        if recorded.get(m.version) is not None
        and _normalized(list(recorded[m.version])) != _normalized(m.statements)
    ]


def _record(conn: psycopg.Connection[Any], migration: Migration) -> None:
    conn.execute(
        "insert into supabase_migrations.schema_migrations (version, name, statements)"
        " values (%s, %s, %s)",
        (migration.version, migration.name, migration.statements),
    )


def _apply_in_transaction(conn: psycopg.Connection[Any], migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(
                "select set_config('lock_timeout', %s, true),"
                " set_config('statement_timeout', %s, true)",
                (FILE_LOCK_TIMEOUT, FILE_STATEMENT_TIMEOUT),
            )
            conn.execute(migration.sql)
            _record(conn, migration)
    except psycopg.Error as exc:
        raise MigrationError(f"{migration.path.name}: {_explain(exc)}") from None


def _apply_outside_transaction(conn: psycopg.Connection[Any], migration: Migration) -> None:
    """Each statement on its own, outside a transaction, then the history row (as the CLI)."""
    try:
        for number, statement in enumerate(migration.statements):
            index = _INDEX_NAME.match(_strip_comments(statement))
            try:
                if index:  # a build that died earlier leaves an invalid index `if not exists` keeps
                    _drop_invalid_index(conn, index["schema"] or "public", index["name"])
                conn.execute(statement)
            except psycopg.Error as exc:
                message = f"statement {number + 1}: {_explain(exc)}"
                if index:
                    message += _cleanup_after_failed_build(conn, index)
                raise MigrationError(f"{migration.path.name}: {message}") from None
        try:
            _record(conn, migration)
        except psycopg.Error as exc:
            raise MigrationError(f"{migration.path.name}: {_one_line(exc)}") from None
    finally:
        conn.execute("reset all")


def _cleanup_after_failed_build(conn: psycopg.Connection[Any], index: re.Match[str]) -> str:
    """Drop the invalid index a failed concurrent build left; what happened, for the message."""
    try:
        conn.execute("reset statement_timeout")
        if _drop_invalid_index(conn, index["schema"] or "public", index["name"]):
            return f" (the invalid index {index['name']} it left was dropped)"
        return ""
    except psycopg.Error as cleanup:
        return (
            f" (the invalid index {index['name']} it left could not be dropped now"
            f" ({_one_line(cleanup)}); it is unused, and the next run drops it first)"
        )


def _drop_invalid_index(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    """Drop `schema.name` if it is an invalid index (a failed concurrent build); True if dropped."""
    row = conn.execute(
        "select 1 from pg_index i join pg_class c on c.oid = i.indexrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relname = %s and not i.indisvalid",
        (schema, name),
    ).fetchone()
    if row is None:
        return False
    conn.execute(
        psycopg.sql.SQL("drop index concurrently if exists {}").format(
            psycopg.sql.Identifier(schema, name)
        )
    )
    return True


def _explain(exc: psycopg.Error) -> str:
    """One line; for a lock or statement timeout, also what it means for the deploy."""
    message = _one_line(exc)
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return (
            f"{message}: another transaction holds a conflicting lock; nothing of this"
            " file was applied. Find it with `select * from pg_stat_activity where"
            " state <> 'idle'`, then run the migration again (docs/DEPLOY.md)"
        )
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"{message}: nothing of this file was applied (docs/DEPLOY.md)"
    return message


def backfill_leads(
    conn: psycopg.Connection[Any],
    batch: int = BACKFILL_BATCH,
    on_batch: Callable[[int, int], None] | None = None,
) -> int:
    """Fill the segment and source fields of existing leads, `batch` leads per transaction.

    Returns how many leads changed. `on_batch(scanned, changed)` is called after each batch.
    """
    exists = conn.execute(
        "select to_regprocedure('public.backfill_lead_sources(uuid, integer)') is not null"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    changed_total = 0
    after: Any = None
    while True:
        try:
            with conn.transaction():
                conn.execute(
                    "select set_config('statement_timeout', %s, true)",
                    (BACKFILL_STATEMENT_TIMEOUT,),
                )
                row = conn.execute(
                    "select scanned, updated, last_id from public.backfill_lead_sources(%s, %s)",
                    (after, batch),
                ).fetchone()
        except psycopg.Error as exc:
            raise MigrationError(f"backfill of leads: {_explain(exc)}") from None
        assert row is not None
        scanned, changed, after = row
        changed_total += changed
        if on_batch:
            on_batch(scanned, changed)
        if after is None or scanned < batch:
            return changed_total


def seed(conn: psycopg.Connection[Any], path: Path = SEED_FILE) -> None:
    """Load `supabase/seed.sql` in one transaction (it is written to be rerunnable)."""
    try:
        with conn.transaction():
            conn.execute(path.read_text(encoding="utf-8"))
    except psycopg.Error as exc:
        raise MigrationError(f"{path.name}: {_one_line(exc)}") from None
