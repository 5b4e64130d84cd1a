"""API benchmark: every route, before and after a change, side by side in one run, on loopback.

One embedded Postgres holds two identical databases: one migrated with the
baseline's SQL (a git ref, by default where this branch left `main`), one with
the working tree's. Two gunicorn servers (same settings) serve
`functions/api/main.py` on 127.0.0.1: the baseline's code on its database, the
working tree's on the other. The data: the seed plus 240 segments (249 in all),
90 days of stats and plans for each, job runs and budget decisions for the
status page; an admin token and a subscribed partner's token.

What it measures, always both variants in the same run (interleaved where it
can be, so that load from other work hits both alike):

1. service time, one client at a time, per route and role (the Python client's
   time from request to last byte), and its ratio to `health`;
2. where a call's time goes, in process (Flask test client, no HTTP): token
   check, pool, SQL (round trips, server time, decoding), validate+encode;
3. closed loop: 50 clients that never pause, stats and health (saturation);
4. open loop: a dashboard mix arriving at a constant rate (each request sent
   at its scheduled time on a free keep-alive connection, whether or not
   earlier ones have answered; latency counted from the scheduled time, so a
   server that falls behind is charged for the queue), at 100 and 200 req/s,
   then rising by 100 req/s until p99 exceeds 50 ms.

    .venv/bin/python bench/api_bench.py [--baseline REF] [--write]

`--write` replaces the "API latency" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import jwt
import psycopg

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
SECRET = "bench-jwt-secret-" + "0123456789abcdef" * 3
ADMIN = "00000000-0000-4000-8000-000000000001"
PARTNER = "00000000-0000-4000-8000-000000000011"  # seed: schilder noord_brabant
SEGMENT = "00000000-0000-4000-8002-000000000011"  # the partner's segment
LAST_DAY = date(2026, 11, 24)
FIRST_DAY = LAST_DAY - timedelta(days=89)
HEADING = "## API latency"
BENCH_INDUSTRIES = 20  # x 12 provinces = 240 segments on top of the seed's 9
P99_BUDGET_MS = 50.0
RANGE = f"from={FIRST_DAY}&to={LAST_DAY}"

#: (name, path, token) of the one-client routes; `health` is the reference.
ROUTES: list[tuple[str, str, str]] = [
    ("health", "/api/health", "admin"),
    ("list 1", "/api/lead-segments?limit=1", "admin"),
    ("list 50", "/api/lead-segments?limit=50", "admin"),
    ("list 100", "/api/lead-segments", "admin"),
    ("list 100 (partner)", "/api/lead-segments", "partner"),
    ("detail", f"/api/lead-segments/{SEGMENT}", "admin"),
    ("stats 90 d", f"/api/lead-segments/{SEGMENT}/stats?{RANGE}", "admin"),
    ("stats 90 d (partner)", f"/api/lead-segments/{SEGMENT}/stats?{RANGE}", "partner"),
    ("plans 90 d", f"/api/lead-segments/{SEGMENT}/plans?{RANGE}", "admin"),
    ("plans 90 d (partner)", f"/api/lead-segments/{SEGMENT}/plans?{RANGE}", "partner"),
    ("status", f"/api/orchestration/status?day={LAST_DAY}", "admin"),
]

#: A dashboard's requests, by weight: operators (admin) and partners' portal pages.
MIX: list[tuple[str, str, int]] = [
    ("/api/lead-segments", "admin", 2),
    ("/api/lead-segments", "partner", 2),
    (f"/api/lead-segments/{SEGMENT}", "admin", 2),
    (f"/api/lead-segments/{SEGMENT}", "partner", 2),
    (f"/api/lead-segments/{SEGMENT}/stats?{RANGE}", "admin", 3),
    (f"/api/lead-segments/{SEGMENT}/stats?{RANGE}", "partner", 3),
    (f"/api/lead-segments/{SEGMENT}/plans?{RANGE}", "admin", 2),
    (f"/api/lead-segments/{SEGMENT}/plans?{RANGE}", "partner", 2),
    (f"/api/orchestration/status?day={LAST_DAY}", "admin", 2),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def load_average() -> str:
    """The 1-minute load average: the machine is shared, so say how busy it was."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}, "
        f"{platform.system()}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -----------------------------------------------------------------------------
# The two variants: code trees, databases, servers
# -----------------------------------------------------------------------------


@dataclass
class Variant:
    """One code tree (its Python package and its SQL) with its own database and server."""

    name: str
    tree: Path
    url: str = ""
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment that makes `import leadflow` load this tree's package."""
        return {**os.environ, "PYTHONPATH": str(self.tree / "shared")}


def extract(ref: str, into: Path) -> Path:
    """The files of git `ref`, unpacked into `into` (no worktree, nothing registered in git)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def prepare_database(admin_url: str, url: str, tree: Path) -> None:
    """Migrate with `tree`'s migrations and seed; then the bench data, the same for every tree."""
    from leadflow_tools import migrations  # the working tree's runner; the SQL is `tree`'s
    from leadflow_tools.local import create_database

    create_database(admin_url, url.rsplit("/", 1)[1], replace=True)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, tree / "supabase" / "migrations")
        migrations.seed(conn, tree / "supabase" / "seed.sql")
        conn.execute(
            """
            insert into public.industries (id, slug, name)
            select ('00000000-0000-4000-8101-' || lpad(n::text, 12, '0'))::uuid,
                   'bench' || n, 'Bench trade ' || n
            from generate_series(1, %(n)s) as n
            """,
            {"n": BENCH_INDUSTRIES},
        )
        conn.execute(
            """
            insert into public.lead_segments
              (code, name, industry_id, region_code, min_daily_budget, max_daily_budget, target_cpl)
            select i.slug || '_' || r.code, i.name || ' ' || r.name, i.id, r.code, 10, 150, 25
            from public.industries i cross join public.regions r
            where i.slug like 'bench%%'
            """
        )
        conn.execute(
            """
            insert into public.segment_campaign_budgets
              (segment_id, customer_id, campaign_id, budget_resource_name)
            select s.id, '2234567890', (5000 + row_number() over (order by s.code))::text,
                   'customers/2234567890/campaignBudgets/'
                     || (50000 + row_number() over (order by s.code))
            from public.lead_segments s
            where s.code like 'bench%%'
            """
        )
        conn.execute(
            """
            insert into public.lead_generation_stats (
              segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
              leads_paid, revenue, ad_spend,
              ad_clicks, ad_impressions, ad_conversions, cpl, active_partners, total_capacity)
            select s.id, d::date, 10, 6, 2, 2, 5, 111, 80, 300, 9000, 5, 16, 2, 12.5
            from public.lead_segments s,
                 generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
            """,
            {"first": FIRST_DAY, "last": LAST_DAY},
        )
        conn.execute(
            """
            insert into public.lead_segment_plans (
              segment_id, day, capacity, acceptance_rate, target_leads, actual_leads)
            select s.id, d::date, 12.5, 0.75, 16.67, 10
            from public.lead_segments s,
                 generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
            """,
            {"first": FIRST_DAY, "last": LAST_DAY},
        )
        conn.execute(
            """
            insert into public.job_runs (job, day, status, triggered_by, counts, started_at,
                                         heartbeat_at, finished_at)
            select job, %(day)s, 'success', 'scheduler', '{"segments": 249}',
                   %(day)s::date + t, %(day)s::date + t + interval '2 s',
                   %(day)s::date + t + interval '2 s'
            from (values ('aggregate', time '01:00'), ('plan', time '02:00'),
                         ('orchestrate', time '03:00')) as j (job, t)
            """,
            {"day": LAST_DAY},
        )
        conn.execute(
            """
            insert into public.channel_orchestration_log (
              day, segment_id, customer_id, campaign_id, budget_resource_name, action,
              old_amount_micros, new_amount_micros, reason, mode, status, triggered_by,
              completed_at)
            select %(day)s, b.segment_id, b.customer_id, b.campaign_id, b.budget_resource_name,
                   'hold', 100000000, 100000000, 'inside dead band', 'dry_run', 'skipped',
                   'bench', now()
            from public.segment_campaign_budgets b
            """,
            {"day": LAST_DAY},
        )
        conn.execute("analyze")


def start_gunicorn(variant: Variant, workers: int, threads: int) -> None:
    """gunicorn serving the variant's API function exactly as functions-framework builds it."""
    env = {
        **variant.env,
        "DATABASE_URL": variant.url,
        "SUPABASE_JWT_SECRET": SECRET,
        "LEADFLOW_TRANSPORT": "direct",
    }
    env.pop("SUPABASE_JWKS_URL", None)
    app = 'functions_framework:create_app(target="api", source="functions/api/main.py")'
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--bind", f"127.0.0.1:{variant.port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread",
        "--keep-alive", "30",
        "--backlog", "2048",
        "--log-level", "warning",
        app,
    ]  # fmt: skip
    variant.process = subprocess.Popen(command, cwd=variant.tree, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", variant.port, timeout=2)
            conn.request("GET", "/api/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{variant.name}: gunicorn did not come up within 30 s")


def tokens() -> dict[str, str]:
    def mint(sub: str) -> str:
        claims = {"sub": sub, "role": "authenticated", "aud": "authenticated",
                  "exp": int(time.time()) + 7200}  # fmt: skip
        return jwt.encode(claims, SECRET, algorithm="HS256")

    return {"admin": mint(ADMIN), "partner": mint(PARTNER)}


# -----------------------------------------------------------------------------
# 1. One client at a time
# -----------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, token: str) -> tuple[float, int, int]:
        """(milliseconds, status, body bytes)"""
        began = time.perf_counter()
        try:
            self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = self.conn.getresponse()
            body = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return (time.perf_counter() - began) * 1000, 0, 0
        return (time.perf_counter() - began) * 1000, status, len(body)


def single_client(
    variants: list[Variant], auth: dict[str, str], requests: int, block: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per route, the variants alternate in blocks of `block` requests, `requests` each."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    clients = {v.name: Client(v.port) for v in variants}
    for name, path, who in ROUTES:
        samples: dict[str, list[float]] = {v.name: [] for v in variants}
        meta: dict[str, dict[str, Any]] = {}
        for v in variants:  # warm up: plans cached, connections made
            for _ in range(20):
                clients[v.name].get(path, auth[who])
        for _ in range(0, requests, block):
            for v in variants:
                for _ in range(block):
                    ms, status, size = clients[v.name].get(path, auth[who])
                    if status != 200:
                        raise SystemExit(f"{v.name} {name}: HTTP {status}")
                    samples[v.name].append(ms)
                    meta[v.name] = {"bytes": size}
        results[name] = {
            v.name: {
                "p50": percentile(samples[v.name], 50),
                "p90": percentile(samples[v.name], 90),
                "mean": statistics.fmean(samples[v.name]),
                **meta[v.name],
            }
            for v in variants
        }
    return results


# -----------------------------------------------------------------------------
# 2. Where a call's time goes (in process)
# -----------------------------------------------------------------------------

BREAKDOWN_ROUTES = ["health", "list 100", "stats 90 d", "status"]


def breakdown_worker(url: str, requests: int) -> None:
    """Runs in a child process whose PYTHONPATH selects the variant; prints JSON to stdout.

    Wraps by name what both variants have: the token check, the pool's getconn
    and putconn, the transport's call (and call_json), the route's view.
    """
    os.environ.update(
        {"DATABASE_URL": url, "SUPABASE_JWT_SECRET": SECRET, "LEADFLOW_TRANSPORT": "direct"}
    )
    os.environ.pop("SUPABASE_JWKS_URL", None)
    from leadflow.api import create_app
    from leadflow.api.auth import TokenVerifier
    from leadflow.api.router import Operation
    from leadflow.db.direct import DirectTransport
    from psycopg_pool import ConnectionPool

    spent: dict[str, float] = {}

    def timed(owner: Any, attr: str, key: str) -> None:
        original = getattr(owner, attr)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - began

        setattr(owner, attr, wrapper)

    timed(TokenVerifier, "caller", "auth")
    timed(ConnectionPool, "getconn", "pool")
    timed(ConnectionPool, "putconn", "pool")
    timed(DirectTransport, "call", "transport")
    if hasattr(DirectTransport, "call_json"):
        timed(DirectTransport, "call_json", "transport")
    timed(Operation, "view", "view")

    app = create_app()
    client = app.test_client()
    auth = tokens()
    out: dict[str, dict[str, float]] = {}
    for name, path, who in ROUTES:
        if name not in BREAKDOWN_ROUTES:
            continue
        headers = {"Authorization": f"Bearer {auth[who]}"}
        for _ in range(30):
            client.get(path, headers=headers)
        per_call: dict[str, list[float]] = {}
        for _ in range(requests):
            spent.clear()
            began = time.perf_counter()
            response = client.get(path, headers=headers)
            total = time.perf_counter() - began
            assert response.status_code == 200, response.get_data(as_text=True)
            parts = {
                "auth": spent.get("auth", 0.0),
                "pool": spent.get("pool", 0.0),
                "sql": spent.get("transport", 0.0) - spent.get("pool", 0.0),
                "encode": spent.get("view", 0.0)
                - spent.get("auth", 0.0)
                - spent.get("transport", 0.0),
                "flask": total - spent.get("view", 0.0),
                "total": total,
            }
            for key, value in parts.items():
                per_call.setdefault(key, []).append(value * 1000)
        # Medians per part: robust against the other work on a shared machine.
        out[name] = {key: statistics.median(values) for key, values in per_call.items()}
    print(json.dumps(out))


def breakdown(variants: list[Variant], requests: int) -> dict[str, dict[str, dict[str, float]]]:
    """Each variant's breakdown, from a child process running that variant's package."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for v in variants:
        done = subprocess.run(
            [sys.executable, __file__, "--breakdown-worker", v.url, "--requests", str(requests)],
            env=v.env,
            cwd=v.tree,
            check=True,
            capture_output=True,
            text=True,
        )
        result[v.name] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -----------------------------------------------------------------------------
# 3. Closed loop: N clients that never pause
# -----------------------------------------------------------------------------


@dataclass
class Closed:
    variant: str
    route: str
    clients: int
    latencies_ms: list[float]
    errors: int
    wall: float
    load: str

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.wall


def closed_loop(
    variant: Variant, route: str, path: str, token: str, clients: int, requests: int
) -> Closed:
    per_client = requests // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    load = load_average()

    def run(index: int) -> None:
        client = Client(variant.port)
        start.wait()
        for _ in range(per_client):
            ms, status, _ = client.get(path, token)
            latencies[index].append(ms)
            if status != 200:
                errors[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return Closed(
        variant.name, route, clients, [x for xs in latencies for x in xs], sum(errors), wall, load
    )


# -----------------------------------------------------------------------------
# 4. Open loop: requests arrive at a constant rate
# -----------------------------------------------------------------------------


@dataclass
class Open:
    variant: str
    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    connections: int = 0
    load: str = "?"

    @property
    def ok(self) -> bool:
        return self.errors == 0 and percentile(self.latencies_ms, 99) <= P99_BUDGET_MS


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer


async def _request(conn: _Conn, raw: bytes) -> int:
    conn.writer.write(raw)
    head = await conn.reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await conn.reader.readexactly(length)
    return status


async def _open_loop(
    port: int, rate: float, seconds: float, requests: list[bytes], max_connections: int
) -> tuple[list[float], int, int]:
    idle: list[_Conn] = []
    opened = 0
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(scheduled: float, raw: bytes) -> None:
        nonlocal opened, errors
        conn: _Conn | None = None
        try:
            if idle:
                conn = idle.pop()
            elif opened < max_connections:
                opened += 1
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                conn = _Conn(reader, writer)
            else:  # every connection busy: wait for one (the queue counts in latency)
                while not idle:
                    await asyncio.sleep(0.001)
                conn = idle.pop()
            status = await asyncio.wait_for(_request(conn, raw), timeout=10)
            latencies.append((loop.time() - scheduled) * 1000)
            if status != 200:
                errors += 1
            idle.append(conn)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            if conn is not None:
                conn.writer.close()
                opened -= 1

    tasks = []
    start = loop.time() + 0.05
    count = round(rate * seconds)
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, requests[i % len(requests)])))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.writer.close()
    return latencies, errors, opened


def mix_requests(auth: dict[str, str]) -> list[bytes]:
    """The dashboard mix as raw HTTP requests, interleaved (same order every run)."""
    expanded = [
        (path, who) for path, who, weight in MIX for _ in range(weight)
    ]  # 20 requests per round
    order = list(itertools.chain.from_iterable(zip(expanded[::2], expanded[1::2], strict=False)))
    order += expanded[len(order) :]
    return [
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {auth[who]}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode()
        for path, who in order
    ]


def open_loop(
    variant: Variant, rate: float, seconds: float, requests: list[bytes], max_connections: int
) -> Open:
    load = load_average()
    latencies, errors, opened = asyncio.run(
        _open_loop(variant.port, rate, seconds, requests, max_connections)
    )
    return Open(variant.name, rate, seconds, latencies, errors, round(rate * seconds), opened, load)


# -----------------------------------------------------------------------------
# Report
# -----------------------------------------------------------------------------


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    before, after = result["names"]
    lines = [
        HEADING,
        "",
        f"`.venv/bin/python bench/api_bench.py --write` (run {result['when']}). Baseline "
        f"(`before`): `{result['baseline']}`, the code and SQL where this branch left main; "
        "`after`: this tree. Both in the same run: two databases on one embedded "
        f"{result['postgres']} (identical data: 249 segments, 90 days of stats and plans each, "
        "job runs, 249 logged decisions), two gunicorn servers "
        f"({args.workers} gthread workers x {args.threads} threads each, one idle while the "
        "other is measured), direct transport, HS256 tokens, 127.0.0.1. Load generator: "
        f"Python in one process on the same machine. Machine: {machine()}; shared with other "
        f"engineers' work (load average at the start {result['load_start']}, at the end "
        f"{result['load_end']}).",
        "",
        f"### Service time, one client ({args.sequential} requests per route and variant, "
        f"alternating in blocks of {args.block})",
        "",
        "| route | before p50 ms | after p50 ms | before / health | after / health | "
        "after p90 ms | body bytes (after) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    single = result["single"]
    health = single["health"]
    for name, _, _ in ROUTES:
        row = single[name]
        lines.append(
            f"| {name} | {row[before]['p50']:.2f} | {row[after]['p50']:.2f} | "
            f"{row[before]['p50'] / health[before]['p50']:.1f}x | "
            f"{row[after]['p50'] / health[after]['p50']:.1f}x | {row[after]['p90']:.2f} | "
            f"{row[after]['bytes']:,} |"
        )
    lines += [
        "",
        f"### Per call, in process ({args.breakdown} calls each; Flask test client, no HTTP; "
        "median ms per call, each part on its own)",
        "",
        "auth = token check; pool = getconn + putconn; SQL = the transport's call minus the "
        "pool (round trips, server time, decoding); encode = the route's view minus those "
        "(input validation, response validation and encoding); flask = the rest of the "
        "request in Flask/werkzeug.",
        "",
        "| route | variant | auth | pool | SQL | encode | flask | total |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in BREAKDOWN_ROUTES:
        for variant in (before, after):
            b = result["breakdown"][variant][name]
            lines.append(
                f"| {name} | {variant} | {b['auth']:.3f} | {b['pool']:.3f} | {b['sql']:.3f} | "
                f"{b['encode']:.3f} | {b['flask']:.3f} | {b['total']:.3f} |"
            )
    lines += [
        "",
        f"### Closed loop: {args.clients} clients that never pause ({args.requests} requests "
        "in all per row)",
        "",
        "| route | variant | p50 ms | p99 ms | req/s | errors | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in result["closed"]:
        lines.append(
            f"| {c.route} | {c.variant} | {percentile(c.latencies_ms, 50):.1f} | "
            f"{percentile(c.latencies_ms, 99):.1f} | {c.throughput:.0f} | {c.errors} | {c.load} |"
        )
    lines += [
        "",
        "### Open loop: a dashboard mix at a constant arrival rate",
        "",
        "Mix per 20 requests: list 2 + 2, detail 2 + 2, stats 90 d 3 + 3, plans 90 d 2 + 2 "
        "(admin + partner), status 2 (admin). Each rate runs "
        f"{args.seconds:g} s (after a {args.warmup_seconds:g} s warm-up at that rate); "
        "latency from the scheduled send time to the last byte; at most "
        f"{args.max_connections} connections.",
        "",
        "| variant | offered req/s | requests | p50 ms | p99 ms | max ms | errors | "
        "connections | p99 <= 50 ms | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for o in result["open"]:
        lines.append(
            f"| {o.variant} | {o.rate:.0f} | {o.sent} | {percentile(o.latencies_ms, 50):.1f} | "
            f"{percentile(o.latencies_ms, 99):.1f} | {max(o.latencies_ms, default=0):.1f} | "
            f"{o.errors} | {o.connections} | {'yes' if o.ok else 'no'} | {o.load} |"
        )
    lines.append("")
    for variant in (before, after):
        lines.append(
            f"Highest rate with p99 <= 50 ms and no errors, {variant}: "
            f"**{result['highest'][variant]:.0f} req/s** (steps of {args.step} req/s)."
        )
    lines += ["", *targets(result, args)]
    return "\n".join(lines)


#: The stats saturation throughput the issue measured on main (bench/RESULTS.md, 2026-11-25).
ISSUE_STATS_REQ_S = 162


def targets(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The targets of issue #15, each met or missed, from this run's numbers."""
    before, after = result["names"]
    single = result["single"]

    def ratio(route: str, variant: str = after) -> float:
        return float(single[route][variant]["p50"] / single["health"][variant]["p50"])

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    at_200 = next(o for o in result["open"] if o.variant == after and o.rate == 200)
    closed = {(c.route, c.variant): c.throughput for c in result["closed"]}
    stats_before, stats_after = closed[("stats 90 d", before)], closed[("stats 90 d", after)]
    worst_3x = max(
        ratio(r)
        for r in ("stats 90 d", "stats 90 d (partner)", "plans 90 d", "plans 90 d (partner)")
    )
    return [
        "### Targets (issue #15)",
        "",
        f"- list of 100 segments within 2x `health`, one client (p50): "
        f"{verdict(ratio('list 100') <= 2)} for admins ({ratio('list 100'):.1f}x), "
        f"{verdict(ratio('list 100 (partner)') <= 2)} for partners "
        f"({ratio('list 100 (partner)'):.1f}x); before {ratio('list 100', before):.0f}x.",
        f"- stats and plans (90 days, admin and partner) within 3x `health`: "
        f"{verdict(worst_3x <= 3)} (at most {worst_3x:.1f}x).",
        f"- open loop, dashboard mix at 200 req/s: p99 <= 50 ms: "
        f"{verdict(at_200.ok)} (p99 {percentile(at_200.latencies_ms, 99):.1f} ms, "
        f"{at_200.errors} errors); highest passing rate {result['highest'][after]:.0f} req/s "
        f"(before: {result['highest'][before]:.0f}).",
        f"- stats saturation throughput at least 2x today's: against the {ISSUE_STATS_REQ_S} "
        f"req/s measured on main for the issue {verdict(stats_after >= 2 * ISSUE_STATS_REQ_S)} "
        f"({stats_after:.0f} req/s = {stats_after / ISSUE_STATS_REQ_S:.1f}x); against the "
        f"baseline in this same run {verdict(stats_after >= 2 * stats_before)} "
        f"({stats_after:.0f} vs {stats_before:.0f} req/s = {stats_after / stats_before:.2f}x).",
        "",
    ]


def write_section(section: str) -> None:
    """Replace (or append) the API latency section of bench/RESULTS.md, leaving others alone."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n")


@contextmanager
def servers(args: argparse.Namespace) -> Iterator[tuple[list[Variant], str]]:
    from leadflow_tools.embedded import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="leadflow-api-bench-"))
    data_dir = Path(tempfile.mkdtemp(prefix="leadflow-api-bench-pg-"))
    server = EmbeddedPostgres(data_dir)
    variants = [
        Variant("before", extract(args.baseline, work / "before")),
        Variant("after", ROOT),
    ]
    server.start()
    try:
        with psycopg.connect(server.url()) as conn:
            row = conn.execute("show server_version").fetchone()
        postgres = f"PostgreSQL {row[0] if row else '?'}"
        for v in variants:
            v.url = server.url(f"bench_{v.name}")
            prepare_database(server.url(), v.url, v.tree)
            v.port = free_port()
            start_gunicorn(v, args.workers, args.threads)
        yield variants, postgres
    finally:
        for v in variants:
            if v.process is not None:
                v.process.send_signal(signal.SIGTERM)
                v.process.wait(timeout=30)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def step(label: str) -> Callable[[], None]:
    began = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] {label} ...", file=sys.stderr, flush=True)

    def done() -> None:
        print(f"    {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)

    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git ref of `before` (default: merge-base with main)")
    parser.add_argument("--sequential", type=int, default=200, help="one-client requests per route")
    parser.add_argument("--block", type=int, default=25)
    parser.add_argument("--breakdown", type=int, default=300, help="in-process calls per route")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000, help="closed-loop requests")
    parser.add_argument("--rates", default="100,200", help="open-loop rates always run")
    parser.add_argument("--step", type=int, default=100, help="then rising by this much")
    parser.add_argument("--max-rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0, help="per open-loop rate")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--max-connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--breakdown-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.breakdown_worker:
        breakdown_worker(args.breakdown_worker, args.requests)
        return
    if not args.baseline:
        args.baseline = subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True, capture_output=True,
            text=True,
        ).stdout.strip()[:12]  # fmt: skip

    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "baseline": args.baseline,
        "load_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    done = step("databases and servers")
    with servers(args) as (variants, postgres):
        done()
        result["postgres"] = postgres
        result["names"] = [v.name for v in variants]
        auth = tokens()

        done = step("one client per route")
        result["single"] = single_client(variants, auth, args.sequential, args.block)
        done()

        done = step("in-process breakdown")
        result["breakdown"] = breakdown(variants, args.breakdown)
        done()

        done = step("closed loop")
        closed: list[Closed] = []
        for route, path in (("health", "/api/health"), ("stats 90 d", ROUTES[6][1])):
            for v in variants:
                closed_loop(v, route, path, auth["admin"], args.clients, args.clients * 4)
                closed.append(
                    closed_loop(v, route, path, auth["admin"], args.clients, args.requests)
                )
        result["closed"] = closed
        done()

        done = step("open loop")
        mix = mix_requests(auth)
        opened: list[Open] = []
        highest: dict[str, float] = {}
        fixed = [float(r) for r in args.rates.split(",")]
        for v in variants:
            highest[v.name] = 0.0
            rate = fixed[0]
            while rate <= args.max_rate:
                open_loop(v, rate, args.warmup_seconds, mix, args.max_connections)
                measured = open_loop(v, rate, args.seconds, mix, args.max_connections)
                opened.append(measured)
                print(
                    f"    {v.name} {rate:.0f}/s p50 {percentile(measured.latencies_ms, 50):.1f} "
                    f"p99 {percentile(measured.latencies_ms, 99):.1f} errors {measured.errors}",
                    file=sys.stderr,
                    flush=True,
                )
                if measured.ok:
                    highest[v.name] = rate
                elif rate >= fixed[-1]:
                    break
                rate = next((r for r in fixed if r > rate), rate + args.step)
        result["open"] = opened
        result["highest"] = highest
        done()
    result["load_end"] = Path("/proc/loadavg").read_text().split()[:3]
    result["load_start"] = " / ".join(result["load_start"])
    result["load_end"] = " / ".join(result["load_end"])
    section = report(result, args)
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
