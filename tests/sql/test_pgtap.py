"""The SQL specifications (supabase/tests/*.sql, pgTAP) on both servers, and plpgsql_check.

Every spec file runs on a fresh copy of a migrated, seeded database on the session's
embedded server (Postgres 17) and on Debian's Postgres 15 (what Supabase runs), started
here. pgTAP and plpgsql_check come from Debian's packages (`make sql-tools`); when they
or Postgres 15 are missing these tests fail, they never skip: a spec not run is not a
spec that holds.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import SEEDED_TEMPLATE, PgCluster
from leadflow_tools import migrations, pgtap
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import create_database

SPECS = sorted(pgtap.SPECS_DIR.glob("*.sql"))
PGTAP_TEMPLATE = "leadflow_tmpl_pgtap"


def _missing(exc: pgtap.SqlToolMissing) -> None:
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def embedded_specs(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    """The session's embedded server with pgTAP installed and a seeded template holding it."""
    try:
        with psycopg.connect(pg_cluster.admin_url(), autocommit=True) as conn:
            row = conn.execute("select setting from pg_config where name = 'SHAREDIR'").fetchone()
            assert row is not None
            pgtap.install_pgtap(Path(row[0]) / "extension")
    except pgtap.SqlToolMissing as exc:
        _missing(exc)
    create_database(pg_cluster.admin_url(), PGTAP_TEMPLATE, template=SEEDED_TEMPLATE)
    with psycopg.connect(pg_cluster.url(PGTAP_TEMPLATE), autocommit=True) as conn:
        pgtap.prepare_database(conn)
    try:
        yield pg_cluster
    finally:
        pg_cluster.drop(PGTAP_TEMPLATE)


@pytest.fixture(scope="module")
def pg15() -> Iterator[PgCluster]:
    """Debian's Postgres 15, bootstrapped, migrated and seeded as conftest does, with pgTAP."""
    try:
        pgtap.require_pg15()
        pgtap.pgtap_files()
    except pgtap.SqlToolMissing as exc:
        _missing(exc)
    data_dir = Path(tempfile.mkdtemp(prefix="leadflow-test-pg15-"))
    server = EmbeddedPostgres(data_dir)
    with _pg15_tools():
        server.start(fast=True)
    cluster = PgCluster(server)
    try:
        with psycopg.connect(cluster.admin_url(), autocommit=True) as conn:
            version = conn.execute("show server_version_num").fetchone()
            assert version is not None and str(version[0]).startswith("15"), version
        create_database(cluster.admin_url(), PGTAP_TEMPLATE)
        with psycopg.connect(cluster.url(PGTAP_TEMPLATE), autocommit=True) as conn:
            migrations.migrate(conn)
            migrations.seed(conn)
            pgtap.prepare_database(conn)
        yield cluster
    finally:
        with _pg15_tools():
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def _pg15_tools() -> Iterator[None]:
    """The server programs (initdb, pg_ctl) of Debian's Postgres 15, while inside."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEADFLOW_PG_BINDIR", str(pgtap.PG15_BINDIR))
        yield


def _run(cluster: PgCluster, spec: Path) -> pgtap.TapResult:
    name = cluster.create(PGTAP_TEMPLATE)
    try:
        started = time.monotonic()
        result = pgtap.run_spec(cluster.url(name), spec)
        result.lines.append(f"# {time.monotonic() - started:.2f} s")
        return result
    finally:
        cluster.drop(name)


def _check(result: pgtap.TapResult) -> None:
    assert result.ok, result.report()
    if result.todo_passing:
        warnings.warn(
            f"{result.name}: TODO passes now, remove the todo(): {result.todo_passing}", stacklevel=1
        )


def test_there_are_specs_and_each_is_one_rolled_back_transaction() -> None:
    assert len(SPECS) >= 7, SPECS
    for spec in SPECS:
        text = "\n".join(
            line for line in spec.read_text().splitlines() if line and not line.startswith("--")
        ).lower()
        assert text.startswith("begin;\nselect plan("), spec.name
        assert text.endswith("select * from finish();\nrollback;"), spec.name


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_spec_holds_on_the_embedded_server(embedded_specs: PgCluster, spec: Path) -> None:
    _check(_run(embedded_specs, spec))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_spec_holds_on_postgres_15(pg15: PgCluster, spec: Path) -> None:
    _check(_run(pg15, spec))


def test_plpgsql_check_finds_no_error_in_public_or_private(pg15: PgCluster) -> None:
    try:
        pgtap.require_plpgsql_check()
    except pgtap.SqlToolMissing as exc:
        _missing(exc)
    name = pg15.create(PGTAP_TEMPLATE)
    try:
        with psycopg.connect(pg15.url(name), autocommit=True) as conn:
            findings = pgtap.plpgsql_check(conn)
            checked = _plpgsql_functions(conn)
    finally:
        pg15.drop(name)
    assert checked > 20, f"only {checked} plpgsql functions found in public and private"
    errors = [f for f in findings if f.level == "error"]
    others = [f for f in findings if f.level != "error"]
    if others:
        warnings.warn(
            "plpgsql_check warnings:\n" + "\n".join(map(str, others)), stacklevel=1
        )
    assert not errors, "plpgsql_check errors:\n" + "\n".join(map(str, errors))


def _plpgsql_functions(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "select count(*) from pg_proc p join pg_language l on l.oid = p.prolang"
        " join pg_namespace n on n.oid = p.pronamespace"
        " where l.lanname = 'plpgsql' and n.nspname in ('public', 'private')"
    ).fetchone()
    assert row is not None
    return int(row[0])
