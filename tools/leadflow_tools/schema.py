"""Whether a database is at the project's latest migration (checked, never changed, here)."""

from __future__ import annotations

from typing import Any

import psycopg
from leadflow.errors import LeadflowError

from leadflow_tools import migrations


class SchemaNotCurrent(LeadflowError):
    """The database is not at the latest migration; only `leadflow db migrate` changes that."""


def pending(conn: psycopg.Connection[Any]) -> list[str]:
    """Migrations of supabase/migrations/ not recorded in the database (all when none are)."""
    known = [f"{m.version}_{m.name}" for m in migrations.discover()]
    has_history = conn.execute(
        "select to_regclass('supabase_migrations.schema_migrations') is not null"
    ).fetchone()
    if not has_history or not has_history[0]:
        return known
    history = conn.execute("select version from supabase_migrations.schema_migrations")
    done = {row[0] for row in history}
    return [name for name in known if name.split("_", 1)[0] not in done]


def check_current(url: str, where: str) -> None:
    """SchemaNotCurrent (one line, saying what to run) unless `url` is fully migrated."""
    with psycopg.connect(url, autocommit=True) as conn:
        missing = pending(conn)
    if not missing:
        return
    total = len(migrations.discover())
    if len(missing) == total:
        raise SchemaNotCurrent(
            f"{where} has no Leadflow schema; run `leadflow db migrate` to create it"
        )
    raise SchemaNotCurrent(
        f"{where} is {len(missing)} migration(s) behind ({missing[0]} first); "
        "run `leadflow db migrate`"
    )
