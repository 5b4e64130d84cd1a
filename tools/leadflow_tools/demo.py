"""`leadflow demo`: Leadflow's daily loop on a synthetic marketplace, in under a minute.

What happens, in order:
1. an empty database gets a deterministic marketplace (`demo_generate_marketplace`):
   industries x provinces, partners with monthly quotas, a Google Ads budget per segment,
   and for most segments (MICROSOFT_SHARE) a Microsoft Advertising budget beside it, in a
   second account (`demo_map_microsoft_budgets`);
2. a `MarketGateway` stands in for both channels; it inserts the organic (SEO, microsite)
   leads of every day up front, and the paid leads (gclid or msclkid) day by day as
   budgets change;
3. the first `warmup_days` are the weeks before Leadflow was switched on: the
   operator's hand-set budgets run unchanged, their stats are one backfill, and
   each day is planned and orchestrated dry-run (Leadflow observing);
4. then every day as the scheduler runs it: aggregate yesterday (with the day's
   Google Ads metrics), plan today, orchestrate today in the demo's mode; then the
   day passes in the market. The last day is "today": planned and orchestrated,
   its leads still to come. A segment on two channels has its paid target split over
   them by marginal cost.

The market is simulated, so the default mode is live: budgets really change in the
simulated account and the leads respond. Nothing talks to Google.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from leadflow.days import AMSTERDAM, today_nl
from leadflow.db import Caller, Database, RpcError
from leadflow.db.direct import DirectTransport
from leadflow.db.errors import INVALID_PARAMETER
from leadflow.errors import LeadflowError
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.day import run_day as scheduled_day
from leadflow.jobs.plan import sync_holidays
from leadflow.settings import Mode, Settings
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from leadflow_tools import migrations
from leadflow_tools.embedded import running_server
from leadflow_tools.local import LOCAL_DATABASE, create_database, ensure_database
from leadflow_tools.market import (
    INDUSTRIES,
    MICROSOFT_ACCOUNT,
    PROVINCES,
    MarketGateway,
    MarketModel,
)
from leadflow_tools.report import ReportResult, default_path, write_report
from leadflow_tools.simclock import Clock, database_clock

TRIGGERED_BY = "demo"
DEFAULT_SEED = 42
DEFAULT_DAYS = 90
#: Days of dry-run observation before the demo's mode takes over (at most a third of the days).
WARMUP_DAYS = 28
#: Share of the segments with a Microsoft Advertising budget beside the Google Ads one: a
#: clear majority, so the demo shows both two-channel and single-channel segments.
MICROSOFT_SHARE = 0.8

#: Called with (task, description, done, total) as the demo advances; tasks are
#: "build", "loop" and "report".
DemoProgress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class DemoOptions:
    """What to build: the seed, the period and the size of the marketplace."""

    seed: int = DEFAULT_SEED
    days: int = DEFAULT_DAYS
    end: date = field(default_factory=today_nl)
    industries: int = len(INDUSTRIES)
    provinces: int = len(PROVINCES)
    mode: Mode = Mode.live

    def __post_init__(self) -> None:
        if not 7 <= self.days <= 366:
            raise LeadflowError(f"--days must be between 7 and 366, not {self.days}")
        if not 1 <= self.industries <= len(INDUSTRIES):
            raise LeadflowError(f"--industries must be between 1 and {len(INDUSTRIES)}")
        if not 1 <= self.provinces <= len(PROVINCES):
            raise LeadflowError(f"--provinces must be between 1 and {len(PROVINCES)}")
        if self.mode is Mode.validate_only:
            raise LeadflowError("the demo runs live (simulated) or dry_run")

    @property
    def first_day(self) -> date:
        """The first day with leads and the first day of the daily loop."""
        return self.end - timedelta(days=self.days)

    @property
    def last_lead_day(self) -> date:
        """Yesterday, seen from the demo's today."""
        return self.end - timedelta(days=1)

    @property
    def settled_day(self) -> date:
        """The last day whose leads partners have all accepted or rejected."""
        return self.pending_from - timedelta(days=1)

    @property
    def pending_from(self) -> date:
        """From this day on, some leads are still pending (two days before today)."""
        return self.end - timedelta(days=2)

    @property
    def warmup_days(self) -> int:
        """Days the orchestrator only observes (dry-run) before steering."""
        return min(WARMUP_DAYS, self.days // 3)

    @property
    def steer_from(self) -> date:
        """The first day orchestrated in the demo's mode."""
        return self.first_day + timedelta(days=self.warmup_days)

    def describe(self) -> str:
        """One line: what this demo is."""
        return (
            f"seed {self.seed}, {self.industries} industries x {self.provinces} provinces, "
            f"{self.days} days to {self.end}"
        )

    @classmethod
    def from_stored(cls, row: dict[str, Any]) -> DemoOptions:
        """The options a stored `demo_marketplace` row was built with."""
        last = date.fromisoformat(str(row["last_day"]))
        return cls(
            seed=int(row["seed"]),
            days=(last - date.fromisoformat(str(row["first_day"]))).days,
            end=last,
            industries=int(row["industries"]),
            provinces=int(row["provinces"]),
            mode=Mode(row["mode"]),
        )


@dataclass
class DemoResult:
    """What the demo did and found, for the terminal and for --json."""

    options: DemoOptions
    reused: bool
    summary: dict[str, Any]
    decisions: list[dict[str, Any]]
    total: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    built_at: str | None = None
    rebuilt: str | None = None  # why an existing demo was replaced
    where: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    #: report_economics over the steered days: per segment value, margin and curve; cap use.
    economics: dict[str, Any] = field(default_factory=dict)
    #: report_channels over the steered days: per channel leads, accepted, spend, cost per lead.
    channels: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Decisions of the last day by action."""
        counts = {"increase": 0, "decrease": 0, "hold": 0}
        for d in self.decisions:
            counts[d["action"]] = counts.get(d["action"], 0) + 1
        return counts


def resolve_options(requested: dict[str, Any], stored: DemoOptions | None) -> DemoOptions:
    """The options to use: what was asked, the rest from the stored demo (else defaults)."""
    given = {k: v for k, v in requested.items() if v is not None}
    if stored is None:
        return DemoOptions(**given)
    return replace(stored, **given)


# --------------------------------------------------------------------------- the database


@dataclass
class DemoDatabase:
    """The demo's database: its URL, and for the embedded server a way to empty it."""

    url: str
    admin_url: str | None  # None: DATABASE_URL, which the demo never drops

    @property
    def where(self) -> str:
        """For messages."""
        return "the embedded database" if self.admin_url else "the database at DATABASE_URL"

    def reset(self) -> None:
        """Drop and recreate the database, migrated; only the embedded one."""
        if self.admin_url is None:
            raise LeadflowError(
                "--fresh only resets the embedded database; with DATABASE_URL set, "
                "point it at an empty database instead"
            )
        create_database(self.admin_url, LOCAL_DATABASE, replace=True)
        _migrate(self.url)


@contextlib.contextmanager
def demo_database(settings: Settings, *, fresh: bool) -> Iterator[DemoDatabase]:
    """DATABASE_URL, or the embedded server's local database (started if needed), migrated.

    `fresh` empties the embedded database first; DATABASE_URL is never dropped.
    """
    if settings.database_url is not None:
        target = DemoDatabase(settings.database_url.get_secret_value(), None)
        if fresh:
            target.reset()
        _migrate(target.url)
        yield target
        return
    with running_server(settings.home / "postgres", port=settings.local_db_port) as server:
        ensure_database(server.url(), LOCAL_DATABASE)
        target = DemoDatabase(server.url(LOCAL_DATABASE), server.url())
        if fresh:
            target.reset()
        else:
            try:
                _migrate(target.url)
            except migrations.ChangedMigration:
                # A demo built before a migration file changed (a checkout of another
                # version): the embedded database is the demo's own, so build it anew.
                target.reset()
        yield target


def _migrate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn)


def stored_demo(db: Database, caller: Caller) -> dict[str, Any] | None:
    """The demo this database holds, or None."""
    rows = db.rpc("demo_marketplace_get", caller=caller, read_only=True)
    return rows[0] if rows else None


def install(url: str) -> None:
    """Load the demo's SQL (tools/leadflow_tools/sql/demo.sql) as the database owner.

    Like the local bootstrap, it is no migration: it exists only in a demo database.
    Idempotent.
    """
    text = resources.files("leadflow_tools").joinpath("sql/demo.sql").read_text(encoding="utf-8")
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(text)


def connect(url: str) -> Database:
    """The data seam for the demo (its SQL installed): two connections, commits not
    waiting for the disk.

    A demo makes a few thousand small transactions; `synchronous_commit=off` lets
    them return before the WAL reaches the disk (a crash may lose the last
    fraction of a second of a demo, never corrupt it).
    """
    install(url)
    separator = "&" if "?" in url else "?"
    return Database(
        DirectTransport(f"{url}{separator}options=-c%20synchronous_commit%3Doff", max_size=2)
    )


# --------------------------------------------------------------------------- the run


def build_marketplace(
    db: Database, caller: Caller, options: DemoOptions, *, microsoft_share: float = 0.0
) -> tuple[dict[str, Any], MarketModel]:
    """Generate the marketplace in SQL, map a Microsoft Advertising budget beside the Google
    Ads one for `microsoft_share` of the segments, and draw its market model; returns counts
    and model."""
    for year in range(options.first_day.year, options.end.year + 1):
        sync_holidays(db, caller, year)
    industries = [
        {"slug": i.slug, "name": i.name, "weight": i.weight, "target_cpl": i.target_cpl}
        for i in INDUSTRIES[: options.industries]
    ]
    provinces = [{"code": p.code, "population": p.population} for p in PROVINCES]
    try:
        summary = db.rpc(
            "demo_generate_marketplace",
            {
                "p_seed": options.seed,
                "p_first_day": options.first_day.isoformat(),
                "p_last_day": options.end.isoformat(),
                "p_steer_from": options.steer_from.isoformat(),
                "p_mode": options.mode.value,
                "p_industries": industries,
                "p_provinces": provinces[: options.provinces],
            },
            caller=caller,
        )
    except RpcError as exc:
        if exc.code != INVALID_PARAMETER:
            raise
        raise LeadflowError(f"{exc.message}; run `leadflow demo --fresh` to start clean") from None
    if microsoft_share > 0:
        summary = {
            **summary,
            "microsoft_budgets": db.rpc(
                "demo_map_microsoft_budgets",
                {"p_account_id": MICROSOFT_ACCOUNT, "p_share": microsoft_share},
                caller=caller,
            ),
        }
    return summary, load_model(db, caller, options.seed)


def load_model(db: Database, caller: Caller, seed: int) -> MarketModel:
    """The market model of the demo marketplace in `db`."""
    rows = db.rpc("demo_market_segments", caller=caller, read_only=True)
    return MarketModel.from_rows(seed, rows)


def play_day(
    db: Database,
    caller: Caller,
    day: date,
    gateway: MarketGateway,
    *,
    mode: Mode,
    simulate: bool = True,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """One day as the scheduler runs it: aggregate yesterday, plan and orchestrate today;
    then (with `simulate`) the day passes in the market at the budgets now in force.
    `clock` makes `day` the database's today (needed to steer live on a simulated day)."""
    if clock is not None:
        clock(day)
    counts = scheduled_day(db, caller, day, gateway, mode=mode, triggered_by=TRIGGERED_BY)
    if simulate:
        gateway.simulate(day, day)
    return counts["orchestrate"]


def run_demo(
    db: Database,
    options: DemoOptions,
    *,
    caller: Caller | None = None,
    on_progress: DemoProgress | None = None,
    clock: Clock | None = None,
) -> DemoResult:
    """Build the marketplace and run the daily loop over every day of the demo.

    `clock` pins the database's day to each simulated day (see `leadflow_tools.simclock`).
    """
    caller = caller or Caller.service()
    progress = on_progress or (lambda task, description, done, total: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    progress("build", "building the marketplace", 0, 1)
    summary, model = build_marketplace(db, caller, options, microsoft_share=MICROSOFT_SHARE)
    gateway = MarketGateway(
        model=model,
        db=db,
        caller=caller,
        last_lead_day=options.last_lead_day,
        pending_from=options.pending_from,
    )
    gateway.open_accounts()
    organic = gateway.insert_organic(options.first_day, options.last_lead_day)
    summary = {**summary, "organic_leads": organic}
    progress("build", "marketplace built", 1, 1)
    timings["build"] = time.perf_counter() - started

    # The warm-up: the weeks before Leadflow was switched on. Budgets stay as the operator
    # set them, so the market runs them in one go and their stats are one backfill; then
    # each day is planned and orchestrated dry-run, as if Leadflow had been watching.
    loop_started = time.perf_counter()
    days = [options.first_day + timedelta(days=n) for n in range(options.days + 1)]
    warmup = [day for day in days if day < options.steer_from]
    total = len(days) + 1
    if warmup:
        if clock is not None:
            clock(warmup[-1])
        progress("loop", f"backfill {warmup[0]} to {warmup[-1]}", 0, total)
        gateway.simulate(warmup[0], warmup[-1])
        aggregate(
            db,
            caller,
            warmup[0] - timedelta(days=1),
            warmup[-1] - timedelta(days=1),
            gateway=gateway,
            triggered_by=TRIGGERED_BY,
        )
    progress("loop", "backfilled", 1, total)
    for done, day in enumerate(days, start=2):
        if day < options.steer_from:
            if clock is not None:
                clock(day)
            # Yesterday's stats are in the backfill: the day's plan and a dry run.
            scheduled_day(
                db,
                caller,
                day,
                gateway,
                jobs=("plan", "orchestrate"),
                mode=Mode.dry_run,
                triggered_by=TRIGGERED_BY,
            )
            doing = "observing (dry_run)"
        else:
            play_day(
                db,
                caller,
                day,
                gateway,
                mode=options.mode,
                simulate=day < options.end,
                clock=clock,
            )
            doing = f"steering ({options.mode.value})"
        progress("loop", f"{day} {doing}", done, total)
    db.rpc("demo_marketplace_complete", caller=caller)
    if clock is not None:
        clock(None)
    timings["loop"] = time.perf_counter() - loop_started

    result = results(db, caller, options, reused=False)
    result.summary = {**result.summary, **summary}
    result.timings = timings
    result.seconds = time.perf_counter() - started
    return result


def results(db: Database, caller: Caller, options: DemoOptions, *, reused: bool) -> DemoResult:
    """Today's decisions, and totals: all days, the warm-up, and as many days before the
    last two (whose leads are partly still pending)."""
    stored = stored_demo(db, caller) or {}
    decisions = db.rpc(
        "report_decisions", {"p_day": options.end.isoformat()}, caller=caller, read_only=True
    )
    span = timedelta(days=options.warmup_days - 1)
    return DemoResult(
        options=options,
        reused=reused,
        summary=dict(stored.get("summary") or {}),
        built_at=stored.get("generated_at"),
        decisions=decisions,
        total=_totals(db, caller, options.first_day, options.last_lead_day),
        before=_totals(db, caller, options.first_day, options.first_day + span),
        after=_totals(db, caller, options.settled_day - span, options.settled_day),
        economics=db.rpc(
            "report_economics",
            {"p_from": options.steer_from.isoformat(), "p_to": options.end.isoformat()},
            caller=caller,
            read_only=True,
        ),
        channels=db.rpc(
            "report_channels",
            {"p_from": options.steer_from.isoformat(), "p_to": options.settled_day.isoformat()},
            caller=caller,
            read_only=True,
        ),
    )


def _totals(db: Database, caller: Caller, first: date, last: date) -> dict[str, Any]:
    rows = db.rpc(
        "report_totals",
        {"p_from": first.isoformat(), "p_to": last.isoformat()},
        caller=caller,
        read_only=True,
    )
    return {"from": first.isoformat(), "to": last.isoformat(), **(rows[0] if rows else {})}


# --------------------------------------------------------------------------- the command


def run(
    settings: Settings,
    requested: dict[str, Any],
    *,
    fresh: bool,
    out: Path | None,
    today: date,
    console: Console,
    quiet: bool = False,
) -> tuple[DemoResult, ReportResult]:
    """What `leadflow demo` does: reuse or build the demo, then write the report.

    `requested` holds the options given on the command line (None: not given). A
    complete demo built with the same options is reused; one built differently or
    left unfinished is rebuilt (only on the embedded database).
    """
    started = time.perf_counter()
    with (
        Progress(
            TextColumn("{task.description:<38}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        ) as bars,
        demo_database(settings, fresh=fresh) as target,
    ):
        tasks: dict[str, TaskID] = {}

        def progress(task: str, description: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bars.add_task(description, total=total)
            bars.update(tasks[task], description=description, completed=done, total=total)

        caller = Caller.service()
        clock = database_clock(target.url)
        db = connect(target.url)
        try:
            stored = stored_demo(db, caller)
            rebuilt = None
            if stored is not None:
                options = resolve_options(requested, DemoOptions.from_stored(stored))
                if stored["status"] == "complete" and options == DemoOptions.from_stored(stored):
                    result = results(db, caller, options, reused=True)
                else:
                    rebuilt = (
                        "was not finished"
                        if stored["status"] != "complete"
                        else f"was built with {DemoOptions.from_stored(stored).describe()}"
                    )
                    if target.admin_url is None:
                        raise LeadflowError(
                            f"the database at DATABASE_URL holds a demo that {rebuilt}; "
                            "point DATABASE_URL at an empty database to build another"
                        )
                    db.close()
                    target.reset()
                    db = connect(target.url)
                    result = run_demo(db, options, caller=caller, on_progress=progress, clock=clock)
            else:
                options = resolve_options({**requested, "end": requested.get("end") or today}, None)
                result = run_demo(db, options, caller=caller, on_progress=progress, clock=clock)
            result.rebuilt = rebuilt
            result.where = target.where
            path = out or default_path(settings.home, None, None, None)
            report = write_report(
                db,
                caller,
                path,
                options.first_day,
                options.end,
                on_progress=lambda step, done, total: progress(
                    "report", f"report: {step}", done, total
                ),
            )
        finally:
            db.close()
    result.seconds = time.perf_counter() - started
    return result, report


def as_json(result: DemoResult, report: ReportResult) -> dict[str, Any]:
    """`leadflow demo --json`."""
    o = result.options
    return {
        "reused": result.reused,
        "rebuilt": result.rebuilt,
        "database": result.where,
        "options": {
            "seed": o.seed,
            "days": o.days,
            "end": o.end.isoformat(),
            "industries": o.industries,
            "provinces": o.provinces,
            "mode": o.mode.value,
            "first_day": o.first_day.isoformat(),
            "steer_from": o.steer_from.isoformat(),
        },
        "marketplace": result.summary,
        "totals": result.total,
        "before": result.before,
        "after": result.after,
        "decisions": result.decisions,
        "economics": result.economics,
        "channels": result.channels,
        "report": report.as_json(),
        "seconds": round(result.seconds, 2),
    }


def show(console: Console, result: DemoResult, report: ReportResult, *, top: int = 20) -> None:
    """The demo's story in the terminal: what was built, what was decided today and why."""
    o, m = result.options, result.summary
    console.print(
        f"[bold]Leadflow demo[/bold] · {o.describe()} (today {o.end}, leads {o.first_day} to "
        f"{o.last_lead_day})"
    )
    if result.reused:
        console.print(
            f"Reusing the demo in {result.where}, built {_local_time(result.built_at)}; "
            "`leadflow demo --fresh` starts clean."
        )
    else:
        if result.rebuilt:
            console.print(f"The database held a demo that {result.rebuilt}: built it anew.")
        microsoft = m.get("microsoft_budgets")
        console.print(
            f"Built in {result.where}: {m.get('segments', 0)} segments"
            + (
                f" ({microsoft} with a Microsoft Advertising budget beside Google Ads)"
                if microsoft
                else ""
            )
            + f", {m.get('partners', 0)} partners ({m.get('multi_province_subscriptions', 0)} "
            f"covering several provinces), {result.total.get('leads', 0):,} leads."
        )
    if o.mode is Mode.live:
        console.print(
            "Mode: [bold]live[/bold] against [italic]simulated[/italic] Google Ads and Microsoft "
            "Advertising accounts — "
            "budgets really change in the simulation and the leads respond; no real money moves. "
            "(Outside the demo, orchestration is dry_run by default.)"
        )
    else:
        console.print(
            "Mode: [bold]dry_run[/bold] — decisions are logged, budgets stay as the operator "
            "set them."
        )
    console.print(
        f"Days {o.first_day} to {o.steer_from - timedelta(days=1)}: Leadflow observed (dry_run) "
        f"the operator's hand-set budgets; from {o.steer_from} it steered ({o.mode.value})."
    )

    shown = result.decisions[:top]
    curves = {r["code"]: r for r in result.economics.get("segments") or []}
    table, legend = decision_table(console, o.end, shown, len(result.decisions), curves)
    console.print(table)
    console.print(f"[dim]{escape(legend)}[/dim]")
    if not any(c.header == "reason" for c in table.columns):
        for d in shown:
            on = f" ({CHANNEL_NAMES.get(d['channel'], d['channel'])})" if d.get("channel") else ""
            console.print(f"[bold]{d['code']}{on}[/bold] [dim]{escape(d['reason'])}[/dim]")
    attention = needs_attention(result)
    if attention:
        console.print("[bold]Needs attention:[/bold]")
        for line in attention:
            console.print(f"  {escape(line)}")
    counts = result.counts()
    console.print(
        f"{len(result.decisions)} budgets today: [green]{counts['increase']} up[/green], "
        f"[red]{counts['decrease']} down[/red], {counts['hold']} hold."
    )

    b, a = result.before, result.after
    compare = Table(title="Before and with Leadflow", show_edge=False)
    compare.add_column("", overflow="fold")
    compare.add_column(
        f"hand-set budgets\n{b['from']} to {b['to']}", justify="right", no_wrap=True, min_width=14
    )
    compare.add_column(
        f"Leadflow ({o.mode.value})\n{a['from']} to {a['to']}",
        justify="right",
        no_wrap=True,
        min_width=14,
    )
    compare.add_row("fill rate (accepted / capacity)", _pct(b), _pct(a))
    compare.add_row(
        "segments filled 90-110 %",
        f"{b.get('segments_on_target', 0)} of {b.get('segments', 0)}",
        f"{a.get('segments_on_target', 0)} of {a.get('segments', 0)}",
    )
    compare.add_row("ad spend per day", _per_day(b), _per_day(a))
    compare.add_row(
        "cost per accepted lead",
        _money(b.get("cost_per_accepted")),
        _money(a.get("cost_per_accepted")),
    )
    compare.add_row(
        "margin per day (revenue - ad spend)",
        _margin_per_day(b),
        _margin_per_day(a),
    )
    console.print(compare)
    if result.channels:
        console.print(channel_table(result))
    cap = result.economics.get("account_daily_cap")
    use = result.economics.get("max_cap_use")
    console.print(
        "Account daily cap: "
        + (
            "none set (orchestration_settings.account_daily_cap)."
            if cap is None
            else f"{_money(cap)}; the highest steered day used "
            + ("—" if use is None else f"{100 * float(use):.1f} %")
            + " of it."
        )
    )
    console.print(f"Report: [bold]{report.path}[/bold]  ({report.path.resolve().as_uri()})")
    console.print(f"Took {result.seconds:.1f} s.")


#: Channel names short enough for the decision table.
CHANNEL_NAMES = {"google_ads": "Google", "microsoft_ads": "Microsoft"}


def channel_table(result: DemoResult) -> Table:
    """Leads, spend and cost per lead per channel over the steered days (report_channels)."""
    a = result.after
    table = Table(
        title=f"Per channel, {result.options.steer_from} to {a.get('to')}", show_edge=False
    )
    table.add_column("channel", overflow="fold")
    for name in ("leads", "accepted", "spend", "€ / lead", "€ / accepted"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in result.channels:
        paid = bool(row.get("is_paid"))
        table.add_row(
            str(row["label"]),
            f"{int(row['leads']):,}",
            f"{int(row['accepted']):,}",
            _money(row["spend"]) if paid else "—",
            _money(row.get("cpl")) if paid else "—",
            _money(row.get("cost_per_accepted")) if paid else "—",
        )
    return table


#: What the decision table gives up, in this order, until it fits the terminal: columns
#: dropped, then the budget wrapped at its spaces. The segment code is never cut (it stays
#: whole) and the reasons go below the table.
DROP_ORDER = ("reason", "curve e", "value", "capacity", "wrap budget", "expected", "target")


def day_numbers(d: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """Target, expected and gap for the day, as they add up: the controller compares the
    trailing week's target and expected leads x the day's weekday/holiday factor (its gap
    is in those units), so the table shows both x that factor and gap = target - expected
    of the numbers shown."""
    target, expected, gap = d.get("target_leads"), d.get("expected_leads"), d.get("expected_gap")
    if target is None or expected is None:
        return _num(target), _num(expected), _num(gap)
    factor = day_factor(d)
    t_day, e_day = round(float(target) * factor, 1), round(float(expected) * factor, 1)
    if gap is not None and float(gap) * (float(target) - float(expected)) < 0:
        # The decision steered to another target than the plan's (the leads worth buying,
        # its reason says): its own gap, and the target it steered to, so that a cut never
        # stands beside a positive gap nor a raise beside a negative one.
        e_day = round(float(expected), 1)
        t_day = round(e_day + float(gap), 1)
    return t_day, e_day, round(t_day - e_day, 1)


def day_factor(d: dict[str, Any]) -> float:
    """The day's weekday/holiday factor the controller applied (its gap / (target - expected));
    1 when it cannot be told."""
    target, expected, gap = d.get("target_leads"), d.get("expected_leads"), d.get("expected_gap")
    if target is None or expected is None or gap is None:
        return 1.0
    t, e = float(target), float(expected)
    if abs(t - e) <= 1e-9:
        return 1.0
    derived = float(gap) / (t - e)
    return derived if 0 < derived <= 10 else 1.0  # anything else: shown as it is


def day_capacity(d: dict[str, Any]) -> float | None:
    """The capacity the target is built from: the mean over the trailing steering week
    (report_decisions), the same days the target averages. Never the day's own capacity,
    which is 0 on a Sunday or holiday while the steered target is not."""
    capacity = d.get("capacity")
    return None if capacity is None else round(float(capacity), 1)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def decision_table(
    console: Console,
    day: date,
    shown: list[dict[str, Any]],
    total: int,
    curves: dict[str, dict[str, Any]],
) -> tuple[Table, str]:
    """Today's decisions, fitted to the console: columns are dropped (DROP_ORDER) until the
    table fits; the segment code and the numbers are never cut."""
    # The channel column when budgets carry one (a segment may have one on each channel).
    columns: dict[str, list[str]] = {"channel": []} if any(d.get("channel") for d in shown) else {}
    columns.update({"capacity": [], "target": [], "expected": [], "gap": []})
    columns.update({"budget": [], "value": [], "curve e": []})
    for d in shown:
        target, expected, gap = day_numbers(d)
        if "channel" in columns:
            channel = str(d.get("channel") or "")
            columns["channel"].append(CHANNEL_NAMES.get(channel, channel))
        columns["capacity"].append(_fmt(day_capacity(d)))
        columns["target"].append(_fmt(target))
        columns["expected"].append(_fmt(expected))
        columns["gap"].append(_fmt(gap, sign=True))
        columns["budget"].append(_budget(d))
        columns["value"].append(_money((curves.get(d["code"]) or {}).get("lead_value")))
        columns["curve e"].append(_curve(curves.get(d["code"]) or {}))
    keep = ["segment", *columns, "reason"]
    legend = {
        "capacity": "capacity: accepted leads/day the partners can take, the mean of the "
        "trailing week the target is built from (a Sunday or holiday has 0 of its own)",
        "target": "target and expected: leads/day for the day (the trailing week x the day's "
        "weekday/holiday factor; expected: at the current budget); gap = target - expected",
        "budget": "budget: euro/day",
        "value": "value: euro per accepted lead",
        "curve e": "curve e: elasticity of leads to spend",
    }

    def build(wrap_budget: bool = False) -> tuple[Table, int]:
        """The table with the columns in `keep`, and the width it needs at least."""
        table = Table(
            title=f"Budget decisions for {day}: the {len(shown)} budgets with the largest gap "
            f"(of {total})",
        )
        code_width = max([len("segment"), *(len(d["code"]) for d in shown)])
        table.add_column("segment", no_wrap=True, min_width=code_width)
        need = code_width
        for name, cells in columns.items():
            if name not in keep:
                continue
            plain = [Text.from_markup(c).plain for c in cells]
            if name == "channel":
                width = max([len(name), *(len(c) for c in plain)])
                table.add_column(name, no_wrap=True, min_width=width)
            elif name == "budget" and wrap_budget:
                # Wrapped at its spaces, never inside a number.
                width = max([len(name), *(len(w) for c in plain for w in c.split())])
                table.add_column(name, justify="right", min_width=width)
            else:
                width = max([len(name), *(len(c) for c in plain)])
                table.add_column(name, justify="right", no_wrap=True, min_width=width)
            need += width
        if "reason" in keep:
            table.add_column("reason", ratio=1, min_width=30)
            need += 30
        for i, d in enumerate(shown):
            cells = [columns[name][i] for name in columns if name in keep]
            table.add_row(d["code"], *cells, *([escape(d["reason"])] if "reason" in keep else []))
        # Each column has one space of padding either side and one rule between columns.
        return table, need + 3 * len(table.columns) + 1

    wrap = False
    table, need = build()
    for step in DROP_ORDER:
        if need <= console.width:
            break
        if step == "wrap budget":
            wrap = True
        else:
            keep.remove(step)
        table, need = build(wrap)
    shown_legend = [text for name, text in legend.items() if name in keep]
    if "reason" not in keep:
        shown_legend.append("each decision's reason follows")
    return table, "; ".join(shown_legend) + "."


def needs_attention(result: DemoResult) -> list[str]:
    """What an operator should look at: unprofitable segments (ad spend over revenue in the
    report's range), budgets the controller could not decide (unknown), segments at their
    maximum budget and still under target."""
    lines = []
    losing = [
        s
        for s in result.economics.get("segments") or []
        if s.get("margin") is not None and float(s["margin"]) < 0
    ]
    for s in sorted(losing, key=lambda s: float(s["margin"])):
        lines.append(
            f"{s['code']} is unprofitable: ad spend {_money(s.get('spend'))} exceeds revenue "
            f"{_money(s.get('revenue'))} (margin {_money(s['margin'])})"
        )
    unknown = [d["code"] for d in result.decisions if d.get("old_budget") is None]
    if unknown:
        lines.append(f"{len(unknown)} budget(s) unknown to Google Ads: {', '.join(unknown[:5])}")
    return lines


def _local_time(stamp: Any) -> str:
    """A database timestamp as Dutch local time, to the minute."""
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    return moment.astimezone(AMSTERDAM).strftime("%Y-%m-%d %H:%M")


def _fmt(value: Any, *, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{float(value):+.1f}" if sign else f"{float(value):.1f}"


def _budget(d: dict[str, Any]) -> str:
    old, new = d["old_budget"], d["new_budget"]
    if old is None:
        return "—"
    if d["action"] == "hold" or new == old:
        return f"{float(old):.2f}"
    arrow = "[green]↑[/green]" if d["action"] == "increase" else "[red]↓[/red]"
    return f"{float(old):.2f} → {float(new):.2f} {arrow}"


def _pct(totals: dict[str, Any]) -> str:
    rate = totals.get("fill_rate")
    return "—" if rate is None else f"{100 * float(rate):.1f} %"


def _curve(row: dict[str, Any]) -> str:
    e = row.get("elasticity")
    return "—" if e is None else f"{float(e):.2f}±{float(row['elasticity_sd']):.2f}"


def _margin_per_day(totals: dict[str, Any]) -> str:
    days = totals.get("days") or 1
    revenue, spend = totals.get("revenue"), totals.get("ad_spend")
    if revenue is None or spend is None:
        return "—"
    return _money((float(revenue) - float(spend)) / days)


def _per_day(totals: dict[str, Any]) -> str:
    days = totals.get("days") or 1
    return _money(float(totals.get("ad_spend") or 0) / days)


def _money(value: Any) -> str:
    return "—" if value is None else f"€{float(value):,.2f}"
