"""The real Supabase CLI (npm `supabase`, pinned in package.json) agrees with `leadflow db migrate`.

`make install` installs it with `npm ci`; these tests run it against the
session's embedded server: what our runner applied the CLI lists as applied
and has nothing to push, and what the CLI pushed our runner finds up to date,
with the same history rows.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from leadflow_tools import migrations
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
SUPABASE_CLI = ROOT / "node_modules" / ".bin" / "supabase"
PINNED = json.loads((ROOT / "package.json").read_text())["devDependencies"]["supabase"]
HISTORY = (
    "select version, name, statements from supabase_migrations.schema_migrations order by version"
)


def cli_url(url: str) -> str:
    """`url` as the CLI's --db-url: a URL (not key=value) and no TLS (the embedded server has none)."""
    params = conninfo_to_dict(url)
    return (
        f"postgresql://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
        "?sslmode=disable"
    )


def supabase(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The pinned Supabase CLI, in `cwd` (which holds supabase/)."""
    assert SUPABASE_CLI.exists(), "run `make install`: it installs the Supabase CLI with npm ci"
    return subprocess.run(
        [str(SUPABASE_CLI), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_installed_cli_is_the_pinned_version() -> None:
    result = supabase("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == PINNED == "2.117.0"


def _listed(output: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*`?(\d*)`?\s*\|\s*`?(\d*)`?\s*\|", output, flags=re.MULTILINE)


def test_cli_lists_what_leadflow_db_migrate_applied_and_has_nothing_to_push(
    bare_db_url: str,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", "db", "migrate", "--json"],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": bare_db_url, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    local = [m.version for m in migrations.discover()]
    assert len(json.loads(result.stdout)["applied"]) == len(local)

    listing = supabase("migration", "list", "--db-url", cli_url(bare_db_url))
    assert listing.returncode == 0, listing.stderr
    assert [row for row in _listed(listing.stdout) if row != ("", "")] == [(v, v) for v in local], (
        listing.stdout
    )

    push = supabase("db", "push", "--dry-run", "--db-url", cli_url(bare_db_url))
    assert push.returncode == 0, push.stderr
    assert "Remote database is up to date." in push.stdout + push.stderr


def test_a_database_pushed_by_the_cli_is_up_to_date_for_leadflow(
    bare_db_url: str, empty_db_url: str
) -> None:
    # Plain Postgres lacks what a Supabase project has (roles, auth): the local
    # bootstrap gives it that, as a Supabase project would have it.
    with psycopg.connect(bare_db_url, autocommit=True) as conn:
        migrations.bootstrap(conn)
    push = supabase("db", "push", "--yes", "--db-url", cli_url(bare_db_url))
    assert push.returncode == 0, push.stderr
    assert "Finished supabase db push." in push.stdout + push.stderr

    result = subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", "db", "migrate"],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": bare_db_url, "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout
    # The same history rows, statement for statement, as our runner writes.
    with (
        psycopg.connect(bare_db_url) as pushed,
        psycopg.connect(empty_db_url) as ours,
    ):
        assert pushed.execute(HISTORY).fetchall() == ours.execute(HISTORY).fetchall()
        # And the concurrently built indexes are there and valid.
        assert pushed.execute(
            "select count(*) from pg_index i join pg_class c on c.oid = i.indexrelid"
            " where i.indisvalid and c.relname in ('leads_segment_id_created_at_idx',"
            " 'leads_created_at_idx', 'leads_unassigned_idx')"
        ).fetchone() == (3,)


def test_cli_runs_a_concurrent_build_apart_so_our_runner_refuses_a_mixed_file(
    empty_db_url: str, tmp_path: Path
) -> None:
    # What the CLI does with a file that mixes a change and a concurrent build:
    # the change commits on its own, the build fails, the file is half-applied.
    (tmp_path / "supabase").mkdir()
    shutil.copytree(ROOT / "supabase" / "migrations", tmp_path / "supabase" / "migrations")
    shutil.copy(ROOT / "supabase" / "config.toml", tmp_path / "supabase" / "config.toml")
    (tmp_path / "supabase" / "migrations" / "29990101000000_mixed.sql").write_text(
        "create table public.half (id int primary key);\n"
        "create index concurrently half_idx on public.no_such_table (id);\n"
    )
    push = supabase("db", "push", "--yes", "--db-url", cli_url(empty_db_url), cwd=tmp_path)
    assert push.returncode != 0
    assert 'relation "public.no_such_table" does not exist' in push.stdout + push.stderr
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        assert conn.execute("select to_regclass('public.half')").fetchone() == ("half",)
        conn.execute("drop table public.half")
        # Our runner refuses such a file before running any of it.
        with pytest.raises(migrations.MigrationError, match="could be left half-applied"):
            migrations.migrate(conn, tmp_path / "supabase" / "migrations")
        assert conn.execute("select to_regclass('public.half')").fetchone() == (None,)


def test_a_files_set_local_timeouts_hold_for_that_file_only_under_the_cli(
    empty_db_url: str, tmp_path: Path
) -> None:
    # Our files start with `set local lock_timeout`: the CLI's pipeline is one
    # transaction, so the setting holds for the whole file and ends with it.
    (tmp_path / "supabase").mkdir()
    shutil.copytree(ROOT / "supabase" / "migrations", tmp_path / "supabase" / "migrations")
    shutil.copy(ROOT / "supabase" / "config.toml", tmp_path / "supabase" / "config.toml")
    (tmp_path / "supabase" / "migrations" / "29990101000000_probe.sql").write_text(
        "set local lock_timeout = '1234ms';\n"
        "create table public.probe as select current_setting('lock_timeout') as inside;\n"
    )
    (tmp_path / "supabase" / "migrations" / "29990101000001_probe_after.sql").write_text(
        "alter table public.probe add column after_it text"
        " default current_setting('lock_timeout');\n"
    )
    push = supabase("db", "push", "--yes", "--db-url", cli_url(empty_db_url), cwd=tmp_path)
    assert push.returncode == 0, push.stderr
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("select inside, after_it from public.probe").fetchone() == (
            "1234ms",
            "0",
        )
