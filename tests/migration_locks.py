"""Helpers shared by tests/sql/test_migration_locks.py and bench/migration_locks_bench.py.

A database as production has it before Leadflow (the baseline marketplace with
`n` leads), a writer inserting leads one by one and timing each insert, and
`leadflow db migrate` run while it writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from leadflow_tools import migrations

BASELINE = "20261125000100"


def baseline_only(directory: Path, target: Path) -> Path:
    """Copy of `directory` holding only the baseline migration (production before Leadflow)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in directory.glob(f"{BASELINE}_*.sql"):
        shutil.copy(path, target / path.name)
    return target


def fill_leads(url: str, n: int) -> None:
    """`n` leads over two years in 12 provinces and 10 industries, as the marketplace has them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into public.industries (slug, name)"
            " select 'industry_' || i, 'Industry ' || i from generate_series(1, 10) i"
            " on conflict do nothing"
        )
        industries = [r[0] for r in conn.execute("select id from public.industries order by slug")]
        conn.execute(
            """
            insert into public.leads (industry_id, region_code, status, price, gclid,
                                      utm_source, utm_medium, utm_campaign, created_at)
            select (%(industries)s::uuid[])[1 + g %% 10],
                   (array['drenthe', 'flevoland', 'friesland', 'gelderland', 'groningen',
                          'limburg', 'noord_brabant', 'noord_holland', 'overijssel',
                          'utrecht', 'zeeland', 'zuid_holland'])[1 + g %% 12],
                   (array['pending', 'accepted', 'rejected'])[1 + g %% 3],
                   25 + g %% 20,
                   case when g %% 2 = 0 then 'gclid-' || g end,
                   case when g %% 5 = 1 then 'google' end,
                   case when g %% 5 = 1 then 'organic' end,
                   'campaign-' || g %% 50,
                   now() - make_interval(secs => g * (63072000.0 / %(n)s))
            from generate_series(1, %(n)s) g
            """,
            {"industries": industries, "n": n},
        )
        conn.execute("vacuum analyze public.leads")


@dataclass
class Writer:
    """Inserts leads one by one until stopped; records how long each insert took."""

    url: str
    waits: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _writing: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._writing.wait(timeout=60)  # connected and written once (or failed to)
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    @property
    def longest(self) -> float:
        return max(self.waits)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            industry = conn.execute("select id from public.industries limit 1").fetchone()
            assert industry is not None
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    conn.execute(
                        "insert into public.leads (industry_id, region_code, utm_source,"
                        " utm_medium) values (%s, 'utrecht', 'google', 'cpc')",
                        (industry[0],),
                    )
                except psycopg.Error as exc:  # recorded: the test says which
                    self.errors.append(str(exc).strip())
                self.waits.append(time.perf_counter() - started)
                self._writing.set()
                time.sleep(0.005)


def leadflow_db_migrate(url: str) -> subprocess.CompletedProcess[str]:
    """`leadflow db migrate` against `url`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", "db", "migrate", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": url},
        check=False,
        timeout=1800,
    )


def migrate_under_load(url: str, directory: Path | None = None) -> tuple[float, Writer, float]:
    """Run the migrations while a writer inserts leads: (longest insert wait, writer, seconds).

    With `directory`, the runner applies that directory in-process (the bench's
    "before" uses the migrations as they were); otherwise `leadflow db migrate`.
    """
    writer = Writer(url).start()
    started = time.perf_counter()
    try:
        if directory is None:
            result = leadflow_db_migrate(url)
            if result.returncode != 0:
                raise AssertionError(f"leadflow db migrate failed: {result.stderr}")
        else:
            with psycopg.connect(url, autocommit=True) as conn:
                migrations.migrate(conn, directory)
    finally:
        elapsed = time.perf_counter() - started
        writer.stop()
    return writer.longest, writer, elapsed
