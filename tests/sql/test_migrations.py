"""The migration runner: Supabase CLI history, reruns, failures that leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from leadflow_tools import migrations


def _history(conn: psycopg.Connection) -> list[tuple[str, str, list[str]]]:
    return conn.execute(
        "select version, name, statements"
        " from supabase_migrations.schema_migrations order by version"
    ).fetchall()


def test_fresh_database_gets_every_migration_recorded_like_the_supabase_cli(
    bare_db_url: str,
) -> None:
    with psycopg.connect(bare_db_url, autocommit=True) as conn:
        applied = migrations.migrate(conn)
        history = _history(conn)
    files = sorted(migrations.MIGRATIONS_DIR.glob("*.sql"))
    assert [m.path for m in applied] == files
    assert [(v, n) for v, n, _ in history] == [
        (f.name.split("_", 1)[0], f.name.split("_", 1)[1].removesuffix(".sql")) for f in files
    ]
    for (_, _, statements), path in zip(history, files, strict=True):
        assert statements == migrations.split_statements(path.read_text())
        assert all(not s.endswith(";") for s in statements)


def test_rerun_applies_nothing(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        before = _history(conn)
        assert migrations.migrate(conn) == []
        assert _history(conn) == before


def test_failing_file_leaves_no_partial_state_and_names_the_file(
    empty_db_url: str, tmp_path: Path
) -> None:
    for path in migrations.MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "29990101000000_broken.sql").write_text(
        "create table public.half_done (id int primary key);\n"
        "insert into public.half_done values (1);\n"
        "select * from public.no_such_table;\n"
    )
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        with pytest.raises(migrations.MigrationError) as error:
            migrations.migrate(conn, tmp_path)
        assert str(error.value) == (
            '29990101000000_broken.sql: relation "public.no_such_table" does not exist'
        )
        assert conn.execute("select to_regclass('public.half_done')").fetchone() == (None,)
        versions = {row[0] for row in _history(conn)}
    assert "29990101000000" not in versions


def test_recorded_version_missing_locally_is_an_error(empty_db_url: str, tmp_path: Path) -> None:
    with (
        psycopg.connect(empty_db_url, autocommit=True) as conn,
        pytest.raises(migrations.MigrationError, match="not found"),
    ):
        migrations.migrate(conn, tmp_path)


def test_a_file_changed_after_it_was_applied_is_refused_and_nothing_runs(
    empty_db_url: str, tmp_path: Path
) -> None:
    for path in migrations.MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    report = sorted(tmp_path.glob("*_api_routes.sql"))[-1]
    # Comments, spacing and line breaks are no change; a new statement is.
    report.write_text("-- reviewed\n" + report.read_text().replace("\n", "\n\n"))
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        assert migrations.migrate(conn, tmp_path) == []
    report.write_text(report.read_text() + "\ncreate table public.sneaked_in (id int);\n")
    (tmp_path / "29990101000000_next.sql").write_text("create table public.next_one (id int);\n")
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        with pytest.raises(migrations.ChangedMigration, match=report.name) as error:
            migrations.migrate(conn, tmp_path)
        assert "append-only" in str(error.value)
        assert conn.execute(
            "select to_regclass('public.sneaked_in'), to_regclass('public.next_one')"
        ).fetchone() == (None, None)


def test_bootstrap_is_skipped_on_a_supabase_database(bare_db_url: str) -> None:
    with psycopg.connect(bare_db_url, autocommit=True) as conn:
        # A Supabase database: auth.users exists and is not ours.
        conn.execute("create schema auth; create table auth.users (id uuid primary key)")
        assert migrations.is_local_bootstrap_needed(conn) is False
        assert migrations.bootstrap(conn) is False
        assert conn.execute("select to_regprocedure('auth.uid()')").fetchone() == (None,)


def test_bootstrap_is_idempotent(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        assert migrations.bootstrap(conn) is True
        roles = conn.execute(
            "select rolname, rolbypassrls, rolcanlogin, rolinherit from pg_roles"
            " where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')"
            " order by rolname"
        ).fetchall()
    # As on Supabase since 2023: the API roles inherit, the login role does not.
    assert roles == [
        ("anon", False, False, True),
        ("authenticated", False, False, True),
        ("authenticator", False, True, False),
        ("service_role", True, False, True),
    ]


def test_the_local_auth_schema_reads_who_calls_from_the_request_claims(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)",
            (
                '{"sub": "00000000-0000-4000-8000-000000000099", "role": "authenticated",'
                ' "email": "a@b.example"}',
            ),
        )
        row = conn.execute(
            "select auth.uid()::text, auth.role(), auth.email(), auth.jwt() ->> 'role'"
        ).fetchone()
    assert row == (
        "00000000-0000-4000-8000-000000000099",
        "authenticated",
        "a@b.example",
        "authenticated",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("select 1; select 2;", ["select 1", "select 2"]),
        ("select ';' as a; -- c; d\nselect 2", ["select ';' as a", "-- c; d\nselect 2"]),
        (
            "create function f() returns int language sql as $$ select 1; $$;",
            ["create function f() returns int language sql as $$ select 1; $$"],
        ),
        (
            "do $x$ begin perform 1; end $x$; /* a; /* b; */ */ select 3",
            ["do $x$ begin perform 1; end $x$", "/* a; /* b; */ */ select 3"],
        ),
        ('select "a;b" from t; -- only a comment;', ['select "a;b" from t']),
        ("select 'it''s; fine'", ["select 'it''s; fine'"]),
    ],
)
def test_statement_splitter_respects_quotes_and_comments(text: str, expected: list[str]) -> None:
    assert migrations.split_statements(text) == expected


def test_cli_migrate_reports_a_broken_file_in_one_line(empty_db_url: str, tmp_path: Path) -> None:
    # Same runner behind the CLI; the database URL comes from the environment.
    result = subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", "db", "migrate"],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_the_migrations_carry_no_demo_code(empty_db_url: str) -> None:
    """The demo generator (which writes auth.users) lives in the tools, never on a real project."""
    with psycopg.connect(empty_db_url) as conn:
        demo_objects = conn.execute(
            "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
            "where n.nspname in ('public', 'private') and p.proname like 'demo%%' "
            "union all select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname in ('public', 'private') and c.relname like 'demo%%'"
        ).fetchall()
    assert demo_objects == []
