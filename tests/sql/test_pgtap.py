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
            f"{result.name}: TODO passes now, remove the todo(): {result.todo_passing}",
            stacklevel=1,
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
        warnings.warn("plpgsql_check warnings:\n" + "\n".join(map(str, others)), stacklevel=1)
    assert not errors, "plpgsql_check errors:\n" + "\n".join(map(str, errors))


def _plpgsql_functions(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "select count(*) from pg_proc p join pg_language l on l.oid = p.prolang"
        " join pg_namespace n on n.oid = p.pronamespace"
        " where l.lanname = 'plpgsql' and n.nspname in ('public', 'private')"
    ).fetchone()
    assert row is not None
    return int(row[0])


# -----------------------------------------------------------------------------
# The specs fail for the right reason: each mutant below breaks one money rule in a
# fresh database, and the named spec must then fail at the named assertion.
# -----------------------------------------------------------------------------
CHANGE_REFUSAL = "private.change_refusal(text,text,date,text,uuid,bigint,bigint,numeric,bigint)"
FUNCTION_MUTANTS = {
    "daily limit relaxed to 25 %": (
        CHANGE_REFUSAL,
        "floor(base * settings.max_daily_change)",
        "floor(base * (settings.max_daily_change + 0.05))",
        "05_budget_changes.sql",
        "a raise of one cent past +20 % is logged skipped",
    ),
    "one change per budget per day dropped": (
        CHANGE_REFUSAL,
        "if other is not null then\n      return format('already changed today",
        "if false then\n      return format('already changed today",
        "05_budget_changes.sql",
        "a second change of a budget on the same day is logged skipped",
    ),
    "bounds not checked": (
        CHANGE_REFUSAL,
        "if p_new < m.lo or p_new > m.hi then",
        "if false then",
        "05_budget_changes.sql",
        "over the segment's maximum is logged skipped",
    ),
    "the claim ignores the kill switch": (
        "private.claim_budget_decisions(uuid,bigint[])",
        "when not coalesce(enabled, false) then",
        "when false then",
        "05_budget_changes.sql",
        "a pending change is not sent once the kill switch is on",
    ),
    "an ended run may be revived": (
        "private.job_runs_move_forward()",
        "if old.status <> 'running' then",
        "if false then",
        "06_job_runs.sql",
        "a taken-over run is never revived",
    ),
    "observations in fractions of a cent": (
        "private.record_budget_observations(jsonb)",
        "or x.amount_micros % 10000 <> 0",
        "",
        "07_budget_observations.sql",
        "a reported amount that is not whole cents is refused",
    ),
    "a disagreeing report becomes the record": (
        "private.record_budget_observations(jsonb)",
        "insert into private.budget_external_changes (budget_resource_name, record_micros, "
        "observed_micros)\n      values (seen.budget_resource_name, rec, seen.amount_micros)\n"
        "      on conflict do nothing;",
        "update private.budget_records set amount_micros = seen.amount_micros"
        " where budget_resource_name = seen.budget_resource_name;",
        "07_budget_observations.sql",
        "but the record stays 50 euro",
    ),
}
STATEMENT_MUTANTS = {
    "the service role may update the log": (
        "grant update on public.channel_orchestration_log to service_role",
        "04_money_tables.sql",
        "the service role cannot mark a decision sent past the claim",
    ),
    "partners read every plan": (
        "create policy mutant on public.lead_segment_plans for select to authenticated using (true)",
        "01_reads.sql",
        "a partner reads plans only of the segment it subscribes to",
    ),
}


def _killed(cluster: PgCluster, mutate: str, spec: str, assertion: str) -> None:
    name = cluster.create(PGTAP_TEMPLATE)
    try:
        with psycopg.connect(cluster.url(name), autocommit=True) as conn:
            conn.execute(mutate.encode())
        result = pgtap.run_spec(cluster.url(name), pgtap.SPECS_DIR / spec)
    finally:
        cluster.drop(name)
    assert not result.ok, f"{spec} holds against the mutant"
    assert any(assertion in line for line in result.failed), result.report()


@pytest.mark.parametrize("mutant", FUNCTION_MUTANTS, ids=str)
def test_spec_fails_when_a_money_rule_is_removed(embedded_specs: PgCluster, mutant: str) -> None:
    function, old, new, spec, assertion = FUNCTION_MUTANTS[mutant]
    with psycopg.connect(embedded_specs.url(PGTAP_TEMPLATE)) as conn:
        row = conn.execute("select pg_get_functiondef(%s::regprocedure)", (function,)).fetchone()
    assert row is not None and old in row[0], f"the mutant no longer applies to {function}"
    _killed(embedded_specs, row[0].replace(old, new), spec, assertion)


@pytest.mark.parametrize("mutant", STATEMENT_MUTANTS, ids=str)
def test_spec_fails_when_a_privilege_is_widened(embedded_specs: PgCluster, mutant: str) -> None:
    statement, spec, assertion = STATEMENT_MUTANTS[mutant]
    _killed(embedded_specs, statement, spec, assertion)


def test_plpgsql_check_reports_a_broken_function(pg15: PgCluster) -> None:
    name = pg15.create(PGTAP_TEMPLATE)
    try:
        with psycopg.connect(pg15.url(name), autocommit=True) as conn:
            conn.execute(
                "create function private.mutant() returns bigint language plpgsql as"
                " $$ begin return (select no_such_column from public.job_runs); end $$"
            )
            findings = pgtap.plpgsql_check(conn)
    finally:
        pg15.drop(name)
    assert any(
        f.function == "private.mutant()" and f.level == "error" and "no_such_column" in f.message
        for f in findings
    ), findings


# -----------------------------------------------------------------------------
# The runner: what counts as a spec that holds
# -----------------------------------------------------------------------------
def test_missing_pgtap_is_reported_with_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(pgtap.SqlToolMissing, match="make sql-tools"):
        pgtap.pgtap_files(tmp_path)
    with pytest.raises(pgtap.SqlToolMissing, match="make sql-tools"):
        pgtap.require_plpgsql_check(tmp_path)
    with pytest.raises(pgtap.SqlToolMissing, match="make sql-tools"):
        pgtap.require_pg15(tmp_path)


def test_tap_counts_todo_failures_as_expected_and_plan_mismatches_as_failures() -> None:
    holds = pgtap.parse_tap("a", ["1..2", "ok 1 - x", "not ok 2 - y # TODO later\n# Failed (TODO)"])
    assert holds.ok and holds.passed == 2
    short = pgtap.parse_tap("b", ["1..3", "ok 1 - x", "ok 2 - y"])
    assert not short.ok, "a file that stops before its plan is done does not hold"
    failed = pgtap.parse_tap("c", ["1..1", "not ok 1 - z\n# Failed test 1\n#   have: 1"])
    assert not failed.ok and "have: 1" in failed.report()
    assert not pgtap.parse_tap("d", []).ok, "no plan, no pass"
