"""Migrations on a live marketplace: short locks on `leads`, fail fast, nothing half-applied.

Each test starts from production as it is before Leadflow: the baseline
marketplace with leads in it, then runs the real migrations while the
marketplace keeps inserting leads. The 1 M-lead measurement is in
bench/migration_locks_bench.py (bench/RESULTS.md); here a smaller table keeps
the suite fast while asserting the same behaviour.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from leadflow_tools import migrations
from migration_locks import (
    Writer,
    baseline_only,
    fill_leads,
    leadflow_db_migrate,
    migrate_under_load,
)

LEADS = 100_000
LEAD_FILES = [
    "20261125000210_leads_segment_columns.sql",
    "20261125000220_leads_validate_constraints.sql",
    "20261125000230_leads_segment_id_created_at_idx.sql",
    "20261125000240_leads_created_at_idx.sql",
    "20261125000250_leads_unassigned_idx.sql",
    "20261206000210_leads_msclkid_and_channel_key.sql",
]


@pytest.fixture
def marketplace_url(bare_db_url: str, tmp_path: Path) -> str:
    """Production before Leadflow: the baseline tables and LEADS leads."""
    with psycopg.connect(bare_db_url, autocommit=True) as conn:
        migrations.migrate(conn, baseline_only(migrations.MIGRATIONS_DIR, tmp_path / "baseline"))
    fill_leads(bare_db_url, LEADS)
    return bare_db_url


def _history(conn: psycopg.Connection) -> set[str]:
    return {
        f"{v}_{n}.sql"
        for v, n in conn.execute("select version, name from supabase_migrations.schema_migrations")
    }


def _columns(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "select attname from pg_attribute where attrelid = 'public.leads'::regclass"
        " and attnum > 0 and not attisdropped"
    )
    return {r[0] for r in rows}


def test_lead_inserts_never_wait_long_while_leadflow_db_migrate_runs(
    marketplace_url: str,
) -> None:
    longest, writer, elapsed = migrate_under_load(marketplace_url)

    assert writer.errors == []
    assert len(writer.waits) > 20, "the writer kept inserting throughout the migration"
    assert longest <= 1.0, f"an insert waited {longest:.3f} s (migration took {elapsed:.1f} s)"
    with psycopg.connect(marketplace_url, autocommit=True) as conn:
        assert set(LEAD_FILES) <= _history(conn)
        # Validated constraints (the channel is a key of ad_channels, checked by the
        # trigger: no constraint), valid indexes, every lead filled (old by the backfill,
        # new by the trigger).
        assert conn.execute(
            "select conname, convalidated from pg_constraint"
            " where conrelid = 'public.leads'::regclass"
            " and conname in ('leads_segment_id_fkey', 'leads_source_channel_check',"
            " 'leads_source_channel_fkey')"
            " order by conname"
        ).fetchall() == [("leads_segment_id_fkey", True)]
        assert conn.execute(
            "select count(*) filter (where i.indisvalid), count(*) from pg_index i"
            " join pg_class c on c.oid = i.indexrelid"
            " where c.relname in ('leads_segment_id_created_at_idx', 'leads_created_at_idx',"
            " 'leads_unassigned_idx')"
        ).fetchone() == (3, 3)
        assert conn.execute(
            "select count(*), count(*) filter (where source_channel is null),"
            " count(*) filter (where source_channel = 'google_ads')"
            " from public.leads"
        ).fetchone() == (
            LEADS + len(writer.waits),
            0,
            # Old leads: gclid on even numbers; new leads: utm google / cpc.
            LEADS // 2
            + conn.execute("select count(*) from public.leads where utm_medium = 'cpc'").fetchone()[
                0
            ],
        )


def test_held_conflicting_lock_makes_migrate_fail_fast_with_nothing_half_applied(
    marketplace_url: str,
) -> None:
    # A reporting query left open in a transaction: ACCESS SHARE on leads until it ends.
    holder = psycopg.connect(marketplace_url)
    holder.execute("select count(*) from public.leads")
    writer = Writer(marketplace_url).start()
    try:
        started = time.perf_counter()
        result = leadflow_db_migrate(marketplace_url)
        elapsed = time.perf_counter() - started
    finally:
        writer.stop()

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    # migrate ran with --json: the error is the JSON envelope of the API
    message = json.loads(result.stderr)["error"]["message"]
    assert message.startswith(
        "20261125000210_leads_segment_columns.sql: canceling statement due to lock"
        " timeout: another transaction holds a conflicting lock; nothing of this file was"
        " applied."
    ), message
    assert elapsed < 15, "failed fast, not after a long wait"
    assert writer.errors == []
    # Inserts queued behind the waiting ALTER for at most its lock_timeout (1 s).
    assert writer.longest < 1.5, f"an insert waited {writer.longest:.3f} s"
    with psycopg.connect(marketplace_url, autocommit=True) as conn:
        history = _history(conn)
        assert "20261125000200_segments.sql" in history  # whole files before it stay
        assert not set(LEAD_FILES) & history
        assert not {"segment_id", "source_channel"} & _columns(conn)
        assert conn.execute(
            "select count(*) from pg_trigger where tgrelid = 'public.leads'::regclass"
            " and tgname = 'leads_assign_segment'"
        ).fetchone() == (0,)
    holder.close()

    # Once the long transaction is gone, the same command finishes the job.
    result = leadflow_db_migrate(marketplace_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(marketplace_url, autocommit=True) as conn:
        assert set(LEAD_FILES) <= _history(conn)
        assert conn.execute(
            "select count(*) from public.leads where source_channel is null"
        ).fetchone() == (0,)


def test_failed_concurrent_index_build_is_dropped_and_not_recorded(
    marketplace_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory)
    build = directory / LEAD_FILES[2]
    # The file's 10 s lock timeout, shortened for the test.
    build.write_text(build.read_text().replace("lock_timeout = '10s'", "lock_timeout = '300ms'"))
    up_to_validate = tmp_path / "up_to_validate"
    up_to_validate.mkdir()
    for path in directory.glob("*.sql"):
        if path.name < LEAD_FILES[2]:
            shutil.copy(path, up_to_validate / path.name)
    with psycopg.connect(marketplace_url, autocommit=True) as conn:
        migrations.migrate(conn, up_to_validate)
    # An insert left uncommitted: a concurrent build waits for it after creating
    # its (still invalid) index.
    writer_tx = psycopg.connect(marketplace_url)
    writer_tx.execute(
        "insert into public.leads (industry_id, region_code)"
        " select id, 'utrecht' from public.industries limit 1"
    )
    try:
        with psycopg.connect(marketplace_url, autocommit=True) as conn:
            with pytest.raises(migrations.MigrationError) as error:
                migrations.migrate(conn, directory)
            assert str(error.value).startswith(
                "20261125000230_leads_segment_id_created_at_idx.sql: statement 3: canceling"
                " statement due to lock timeout"
            )
            # Dropping it concurrently waits for the same open insert: it stays, invalid
            # (never used by a query), until the next run drops it first.
            assert str(error.value).endswith(
                "(the invalid index leads_segment_id_created_at_idx it left could not be dropped"
                " now (canceling statement due to lock timeout); it is unused, and the next run"
                " drops it first)"
            )
            assert conn.execute(
                "select i.indisvalid from pg_index i"
                " where i.indexrelid = 'public.leads_segment_id_created_at_idx'::regclass"
            ).fetchone() == (False,)
            assert not set(LEAD_FILES[2:]) & _history(conn)
            # The file's session settings do not outlive it.
            assert conn.execute("show lock_timeout").fetchone() == ("0",)
    finally:
        writer_tx.rollback()
        writer_tx.close()
    with psycopg.connect(marketplace_url, autocommit=True) as conn:
        assert [m.path.name for m in migrations.migrate(conn, directory)][:3] == LEAD_FILES[2:5]
        assert conn.execute(
            "select i.indisvalid from pg_index i"
            " where i.indexrelid = 'public.leads_segment_id_created_at_idx'::regclass"
        ).fetchone() == (True,)


def test_a_non_transactional_statement_is_not_mixed_with_other_changes(
    empty_db_url: str, tmp_path: Path
) -> None:
    for path in migrations.MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "29990101000000_mixed.sql").write_text(
        "create table public.lonely (id int primary key);\n"
        "create index concurrently lonely_idx on public.lonely (id);\n"
    )
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        with pytest.raises(migrations.MigrationError) as error:
            migrations.migrate(conn, tmp_path)
        assert str(error.value) == (
            "29990101000000_mixed.sql: a file with a non-transactional statement (CONCURRENTLY,"
            " VACUUM, ...) may hold only such statements and session set/reset: the Supabase"
            " CLI runs it in parts, so anything else could be left half-applied; move"
            " 'create table public.lonely (id int primary key)' to a file of its own"
        )
        assert conn.execute("select to_regclass('public.lonely')").fetchone() == (None,)


def test_backfill_goes_in_batches_of_short_transactions(
    marketplace_url: str, tmp_path: Path
) -> None:
    # Schema change without the backfill: the runner's own step is called below.
    with psycopg.connect(marketplace_url, autocommit=True) as conn:
        for path in sorted(migrations.MIGRATIONS_DIR.glob("*.sql")):
            shutil.copy(path, tmp_path / path.name)
        batches: list[tuple[int, int]] = []
        original = migrations.backfill_leads
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(migrations, "backfill_leads", lambda conn: 0)
            migrations.migrate(conn, tmp_path)
        assert conn.execute(
            "select count(*) from public.leads where source_channel is null"
        ).fetchone() == (LEADS,)
        changed = original(
            conn, batch=10_000, on_batch=lambda scanned, n: batches.append((scanned, n))
        )
    assert changed == LEADS
    assert len(batches) == LEADS // 10_000 + 1
    assert all(scanned <= 10_000 for scanned, _ in batches)


def test_leadflow_db_backfill_fills_leads_after_a_cli_push(
    marketplace_url: str, tmp_path: Path
) -> None:
    # As after `supabase db push`: the schema is there, the old leads are not filled.
    with (
        psycopg.connect(marketplace_url, autocommit=True) as conn,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(migrations, "backfill_leads", lambda conn: 0)
        migrations.migrate(conn)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "leadflow_tools.cli",
            "db",
            "backfill",
            "--batch",
            "20000",
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": marketplace_url},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"leads_changed": LEADS}
    with psycopg.connect(marketplace_url) as conn:
        assert conn.execute(
            "select count(*) from public.leads where source_channel is null"
        ).fetchone() == (0,)
