"""Test fixtures: one embedded Postgres per test session, a fresh database per test.

Every test database is a `create database … template …` copy of a migrated
(and, for `seeded_*` fixtures, seeded) template: about 25 ms, and each test
starts from the same state whatever the others did.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from leadflow.db import Caller, Database
from leadflow.db.direct import DirectTransport
from leadflow_tools import migrations
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import create_database, drop_database

#: The repository (tests are grouped by layer: tests/sql, tests/core, tests/functions, tests/tools).
ROOT = Path(__file__).resolve().parents[1]

EMPTY_TEMPLATE = "leadflow_tmpl_empty"
SEEDED_TEMPLATE = "leadflow_tmpl_seeded"

# Ids from supabase/seed.sql.
ADMIN_ID = "00000000-0000-4000-8000-000000000001"
PARTNER_BRABANT_ID = "00000000-0000-4000-8000-000000000011"  # schilder, noord_brabant
PARTNER_UTRECHT_ID = "00000000-0000-4000-8000-000000000012"  # schilder, utrecht + zuid_holland
PARTNER_PAUSED_ID = "00000000-0000-4000-8000-000000000015"  # dakdekker utrecht, paused


class PgCluster:
    """The session's embedded server and its template databases."""

    def __init__(self, server: EmbeddedPostgres) -> None:
        self.server = server
        self._names = itertools.count()

    def admin_url(self) -> str:
        return self.server.url()

    def url(self, database: str) -> str:
        return self.server.url(database)

    def create(self, template: str) -> str:
        name = f"t{next(self._names)}"
        create_database(self.admin_url(), name, template=template)
        return name

    def drop(self, name: str) -> None:
        drop_database(self.admin_url(), name)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    data_dir = Path(tempfile.mkdtemp(prefix="leadflow-test-pg-"))
    server = EmbeddedPostgres(data_dir)
    server.start(fast=True)
    cluster = PgCluster(server)
    try:
        create_database(cluster.admin_url(), EMPTY_TEMPLATE)
        with psycopg.connect(cluster.url(EMPTY_TEMPLATE), autocommit=True) as conn:
            migrations.migrate(conn)
        create_database(cluster.admin_url(), SEEDED_TEMPLATE, template=EMPTY_TEMPLATE)
        with psycopg.connect(cluster.url(SEEDED_TEMPLATE), autocommit=True) as conn:
            migrations.seed(conn)
        yield cluster
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _fresh(cluster: PgCluster, template: str) -> Iterator[str]:
    name = cluster.create(template)
    try:
        yield cluster.url(name)
    finally:
        cluster.drop(name)


@pytest.fixture
def empty_db_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A migrated database with no data (but the provinces)."""
    yield from _fresh(pg_cluster, EMPTY_TEMPLATE)


@pytest.fixture
def db_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A migrated database holding supabase/seed.sql."""
    yield from _fresh(pg_cluster, SEEDED_TEMPLATE)


@pytest.fixture
def bare_db_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A database with nothing in it: not bootstrapped, not migrated."""
    yield from _fresh(pg_cluster, "template0")


@pytest.fixture
def sql(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection (autocommit) to the seeded database, for setup and checks."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """The data seam over the direct transport, on the seeded database."""
    db = Database(DirectTransport(db_url, max_size=4))
    try:
        yield db
    finally:
        db.close()


def run_cli(
    *args: str, db_url: str | None, home: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """`leadflow ARGS` in a subprocess, as a user would run it (80 columns, its own home)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LEADFLOW_HOME": str(home / "leadflow"),
        "COLUMNS": "80",
        **env,
    }
    if db_url:
        environment["DATABASE_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def as_user(
    conn: psycopg.Connection[Any], user_id: str | None, role: str = "authenticated"
) -> None:
    """Inside the current transaction, act as PostgREST does for this JWT."""
    claims: dict[str, Any] = {"role": role}
    if user_id:
        claims["sub"] = user_id
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        (role, json.dumps(claims)),
    )


def caller(user_id: str | None, role: str = "authenticated") -> Caller:
    """A Caller as the API would build it from a verified JWT."""
    if role == "anon":
        return Caller.anonymous()
    claims: dict[str, Any] = {"role": role}
    if user_id:
        claims["sub"] = user_id
    return Caller(claims=claims)


# The API tests' fixtures live in tests/api_fixtures.py.
from api_fixtures import (  # noqa: E402, F401
    api_client,
    api_function,
    api_reader,
    api_sql,
    jwks,
    jwks_keys,
    jwks_reader,
    roles,
    sample_days,
    shared_db_url,
)
