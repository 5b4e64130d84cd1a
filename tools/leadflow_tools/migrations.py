"""Apply `supabase/migrations/*.sql` the way the Supabase CLI does.

Each file runs with its history row in one transaction, recorded in
`supabase_migrations.schema_migrations(version, statements, name)`, so that
`supabase db push` on a real project agrees with what ran here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from leadflow.errors import LeadflowError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = PROJECT_ROOT / "supabase" / "migrations"
SEED_FILE = PROJECT_ROOT / "supabase" / "seed.sql"

_FILE_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.+)\.sql$")
_BOOTSTRAP_MARKER = "leadflow local bootstrap"

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


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the migrations not yet recorded; returns those applied.

    A file and its history row commit together or not at all; the first
    failure stops the run with a one-line `MigrationError`.
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
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        text = migration.sql
        try:
            with conn.transaction():
                conn.execute(text)
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, name, statements)"
                    " values (%s, %s, %s)",
                    (migration.version, migration.name, split_statements(text)),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"{migration.path.name}: {_one_line(exc)}") from None
        applied.append(migration)
    return applied


def seed(conn: psycopg.Connection[Any], path: Path = SEED_FILE) -> None:
    """Load `supabase/seed.sql` in one transaction (it is written to be rerunnable)."""
    try:
        with conn.transaction():
            conn.execute(path.read_text(encoding="utf-8"))
    except psycopg.Error as exc:
        raise MigrationError(f"{path.name}: {_one_line(exc)}") from None
