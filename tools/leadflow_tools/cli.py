"""The `leadflow` command line."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from leadflow.db import Caller, Database
from leadflow.db.direct import DirectTransport
from leadflow.errors import LeadflowError
from leadflow.log import logger
from leadflow.settings import get_settings
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from leadflow_tools import migrations
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import (
    LOCAL_DATABASE,
    create_database,
    database_url,
    describe,
    ensure_database,
    is_local,
)
from leadflow_tools.schema import check_current

app = typer.Typer(
    help="Leadflow: measure lead supply per segment, plan targets, steer Google Ads budgets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(
    help="The database: migrations, seed data, the embedded server.", no_args_is_help=True
)
app.add_typer(db_app, name="db")

console = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leadflow-tools")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"leadflow {_version()}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Leadflow: measure lead supply per segment, plan targets, steer Google Ads budgets."""


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _where(url: str) -> str:
    """Which database a URL is, for messages: DATABASE_URL or the embedded server."""
    if get_settings().database_url is not None:
        return f"DATABASE_URL ({describe(url)})"
    return f"the embedded server ({describe(url)}, data in {get_settings().home / 'postgres'})"


@contextlib.contextmanager
def _connect_errors(url: str) -> Iterator[None]:
    """A refused or failed connection becomes one line naming the database tried."""
    try:
        yield
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeadflowError(f"cannot reach {_where(url)}: {first}") from None


@db_app.command("migrate")
def db_migrate(as_json: JsonOption = False) -> None:
    """Apply supabase/migrations/*.sql not applied yet (DATABASE_URL, or the embedded server).

    The only command (with `demo`, on its own database) that changes a schema.

    Example: leadflow db migrate
    """
    with (
        database_url(get_settings()) as url,
        _connect_errors(url),
        psycopg.connect(url, autocommit=True) as conn,
    ):
        applied = migrations.migrate(conn)
    names = [f"{m.version}_{m.name}" for m in applied]
    if as_json:
        _emit_json({"applied": names})
    elif names:
        for name in names:
            console.print(f"applied {name}")
    else:
        console.print("database is up to date")


def _seed(url: str) -> None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.seed(conn)
    except migrations.MigrationError as exc:
        raise LeadflowError(
            f"{exc} — the seed goes into a database without other data; "
            "`leadflow db reset` empties it first"
        ) from None


@db_app.command("seed")
def db_seed(as_json: JsonOption = False) -> None:
    """Load supabase/seed.sql: a small deterministic sample marketplace.

    Example: leadflow db migrate && leadflow db seed
    """
    with database_url(get_settings()) as url, _connect_errors(url):
        check_current(url, _where(url))
        _seed(url)
    if as_json:
        _emit_json({"seeded": True})
    else:
        console.print("seed data loaded")


@db_app.command("backfill")
def db_backfill(
    batch: Annotated[
        int, typer.Option(min=1, max=50000, help="Leads per transaction.")
    ] = migrations.BACKFILL_BATCH,
    as_json: JsonOption = False,
) -> None:
    """Fill segment and source fields of leads that predate the migrations, in short batches.

    `leadflow db migrate` does this itself; run it after `supabase db push`.
    Example: leadflow db backfill --batch 5000
    """
    with database_url(get_settings()) as url, psycopg.connect(url, autocommit=True) as conn:
        changed = migrations.backfill_leads(conn, batch=batch)
    if as_json:
        _emit_json({"leads_changed": changed})
    else:
        console.print(f"{changed} leads filled")


@db_app.command("reset")
def db_reset(
    yes: Annotated[
        bool, typer.Option("--yes", help="Also reset a database that is not on this machine.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Drop the database, create it again, migrate and seed it (like `supabase db reset`).

    Refuses a database that is not on this machine unless --yes.

    Example: leadflow db reset
    """
    with database_url(get_settings()) as url, _connect_errors(url):
        if not is_local(url) and not yes:
            raise LeadflowError(
                f"{_where(url)} is not on this machine; `leadflow db reset --yes` drops it"
            )
        info = psycopg.conninfo.conninfo_to_dict(url)
        name = str(info.get("dbname") or "")
        if name in ("", "postgres", "template0", "template1"):
            raise LeadflowError(f"refusing to drop the maintenance database {name or '(none)'!r}")
        create_database(psycopg.conninfo.make_conninfo(url, dbname="postgres"), name, replace=True)
        with psycopg.connect(url, autocommit=True) as conn:
            applied = migrations.migrate(conn)
        _seed(url)
    if as_json:
        _emit_json({"database": name, "migrations": len(applied), "seeded": True})
    else:
        console.print(f"database {name} reset: {len(applied)} migrations applied, seed loaded")


def _embedded() -> EmbeddedPostgres:
    settings = get_settings()
    return EmbeddedPostgres(settings.home / "postgres", preferred_port=settings.local_db_port)


@db_app.command("start")
def db_start(as_json: JsonOption = False) -> None:
    """Start the embedded server (LEADFLOW_HOME) and print the URL of its leadflow database.

    The server keeps its port across restarts (first LEADFLOW_DB_PORT, default 54322,
    if free). It does not migrate: run `leadflow db migrate`.

    Example: export DATABASE_URL=$(leadflow db start) && leadflow db migrate
    """
    server = _embedded()
    server.start()
    ensure_database(server.url(), LOCAL_DATABASE)
    url = server.url(LOCAL_DATABASE)
    if as_json:
        _emit_json({"running": True, "url": url, "port": server.port()})
    else:
        sys.stdout.write(url + "\n")


@db_app.command("stop")
def db_stop(as_json: JsonOption = False) -> None:
    """Stop the embedded server.

    Example: leadflow db stop
    """
    _embedded().stop()
    if as_json:
        _emit_json({"running": False})
    else:
        console.print("stopped")


DayOption = Annotated[
    datetime | None,
    typer.Option("--day", formats=["%Y-%m-%d"], help="Dutch calendar day, YYYY-MM-DD."),
]


@contextlib.contextmanager
def _service_database() -> Iterator[Database]:
    """The local database (DATABASE_URL or embedded) as the jobs' service role; it must be at
    the latest migration (checked, never changed)."""
    with database_url(get_settings()) as url, _connect_errors(url):
        check_current(url, _where(url))
        database = Database(DirectTransport(url, max_size=2))
        try:
            yield database
        finally:
            database.close()


def _alerting(database: Database, day: date) -> contextlib.AbstractContextManager[None]:
    """After a job run (success or failure), send what needs a human (never raises)."""
    from leadflow.jobs.day import alerting

    return alerting(database, Caller.service(), day)


def _report(summary: dict[str, Any], as_json: bool, text: str | None = None) -> None:
    """JSON under --json; otherwise the human summary, or the counts one per line."""
    if as_json:
        _emit_json(summary)
        return
    if text is not None:
        console.print(text, soft_wrap=True)
        return
    table = Table(show_header=False, box=None)
    for key, value in summary.items():
        table.add_row(f"[bold]{key}[/bold]", str(value))
    console.print(table)


@app.command("aggregate")
def aggregate_command(
    day: DayOption = None,
    first: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day of a backfill."),
    ] = None,
    last: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day of a backfill.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute lead_generation_stats for a day (default: yesterday) or a range.

    Examples: leadflow aggregate --day 2026-11-24
              leadflow aggregate --from 2026-01-01 --to 2026-11-24   (backfill, with progress)
    """
    from leadflow.jobs.aggregate import aggregate
    from leadflow.jobs.day import default_day

    if day and (first or last):
        raise LeadflowError("give either --day or --from/--to, not both")
    if bool(first) != bool(last):
        raise LeadflowError("a backfill needs both --from and --to")
    start = (first or day or datetime.combine(default_day("aggregate"), datetime.min.time())).date()
    end = last.date() if last else start
    with (
        _service_database() as database,
        _alerting(database, end),
        Progress(
            TextColumn("aggregate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as progress,
    ):
        task = progress.add_task("aggregate", total=(end - start).days + 1)
        counts = aggregate(
            database,
            Caller.service(),
            start,
            end,
            on_progress=lambda done, total: progress.update(task, completed=done),
        )
    span = f"{start}" if start == end else f"{start} to {end} ({counts['days']} days)"
    text = f"aggregate {span}: {counts['rows_written']} segment-day rows of stats changed"
    if "campaign_days" in counts:
        text += f", {counts['campaign_days']} campaign-days of Google Ads metrics"
    text += "."
    if not counts["rows_written"]:
        text += (
            "\nNothing changed: the stats of these days were already up to date"
            " (or there are no active segments)."
        )
    _report(counts, as_json, text)


def _plan_text(day: date, counts: dict[str, Any], overview: list[dict[str, Any]]) -> str:
    planned = [row for row in overview if row["day"] is not None]
    target = sum(float(row["target_leads"] or 0) for row in planned)
    capacity = sum(float(row["capacity"] or 0) for row in planned)
    under = [row for row in planned if row["lead_gap"] is not None and float(row["lead_gap"]) > 0]
    lines = [
        f"plan {day}: {len(planned)} of {len(overview)} active segments have a plan; "
        f"target {target:,.1f} leads for a capacity of {capacity:,.1f}.",
        f"{counts['plans_written']} plans changed; {counts['holidays']} Dutch holidays "
        f"known for {day.year}.",
    ]
    if not planned:
        lines.append("Needs attention: no segment has a plan (no active segments or partners?).")
    elif under:
        lines.append(f"{len(under)} segment(s) under target so far today.")
    return "\n".join(lines)


@app.command("plan")
def plan_command(day: DayOption = None, as_json: JsonOption = False) -> None:
    """Write lead_segment_plans for a day (default: today in the Netherlands).

    Example: leadflow plan --day 2026-11-25
    """
    from leadflow.jobs.day import default_day
    from leadflow.jobs.plan import plan

    target = day.date() if day else default_day("plan")
    with _service_database() as database, _alerting(database, target):
        counts = plan(database, Caller.service(), target)
        overview = database.rpc(
            "segment_overview", {"p_day": target.isoformat()}, caller=Caller.service()
        )
    _report({"day": target.isoformat(), **counts}, as_json, _plan_text(target, counts, overview))


orchestrate_app = typer.Typer(
    help="Decide and apply Google Ads budgets (dry_run unless told otherwise); roll a day back.",
    invoke_without_command=True,
)
app.add_typer(orchestrate_app, name="orchestrate")

ModeOption = Annotated[
    str,
    typer.Option(
        "--mode",
        help="dry_run (log only), validate_only (Google Ads checks, applies nothing) or live; "
        "dry-run and validate-only are accepted too.",
    ),
]


def _parse_mode(value: str) -> Any:
    """A mode as the CLI accepts it: dry_run or dry-run, validate_only or validate-only, live."""
    from leadflow.jobs.orchestrate import Mode

    try:
        return Mode(value.strip().lower().replace("-", "_"))
    except ValueError:
        raise LeadflowError(
            f"--mode must be dry_run, validate_only or live, not {value!r}"
        ) from None


def _mode(value: str) -> Any:
    from leadflow.jobs.orchestrate import configured_mode

    return configured_mode(get_settings(), _parse_mode(value))


def _gateway(database: Database) -> Any:
    """Google Ads when credentials are configured; otherwise the budgets the database last saw
    (a dry run only: configured_mode refuses the other modes without credentials)."""
    from leadflow.jobs.day import google_ads

    return google_ads(get_settings(), database, Caller.service(), stored_budgets=True)


def _source(gateway: Any) -> dict[str, Any]:
    """Where the current budgets came from, and how old that view is."""
    from leadflow.jobs.budget_view import StoredBudgets

    if not isinstance(gateway, StoredBudgets):
        return {"budgets_from": "google_ads"}
    seen = gateway.oldest_seen
    age = None if seen is None else (datetime.now(seen.tzinfo) - seen).total_seconds() / 3600
    return {
        "budgets_from": "database",
        "budgets_seen_at": seen.isoformat() if seen else None,
        "budgets_age_hours": None if age is None else round(age, 1),
        "budgets_known": gateway.found,
        "budgets_asked": gateway.requested,
    }


def _source_text(source: dict[str, Any]) -> str:
    if source["budgets_from"] == "google_ads":
        return "Current budgets read from Google Ads."
    if source["budgets_seen_at"] is None:
        return (
            "No Google Ads credentials, and the jobs never read these budgets from Google "
            "Ads: every budget is unknown, so every decision is a hold."
        )
    return (
        "No Google Ads credentials: preview from the budgets as last seen "
        f"{source['budgets_age_hours']} h ago (oldest, {source['budgets_seen_at'][:16]} UTC); "
        f"{source['budgets_known']} of {source['budgets_asked']} known."
    )


def _orchestrate_text(job: str, day: date, counts: dict[str, Any], source: dict[str, Any]) -> str:
    mode = counts.get("mode", "dry_run")
    if job == "rollback":
        head = (
            f"rollback {day} ({mode}): {counts['budgets']} budgets to restore, "
            f"{counts['restored']} restored."
        )
    else:
        sent = {
            "live": f"{counts['applied']} applied",
            "validate_only": f"{counts['validated']} validated by Google Ads, none applied",
        }.get(mode, "nothing sent (dry run)")
        head = (
            f"orchestrate {day} ({mode}): {counts['budgets']} budgets — "
            f"{counts['increase']} up, {counts['decrease']} down, {counts['hold']} hold; {sent}."
        )
    attention = []
    if counts.get("kill_switch"):
        attention.append("the kill switch is on")
    for key, what in (("failed", "refused by Google Ads"), ("unknown", "of unknown outcome")):
        if counts.get(key):
            attention.append(f"{counts[key]} {what}")
    if mode != "dry_run" and counts.get("skipped"):
        attention.append(f"{counts['skipped']} skipped")
    lines = [head, _source_text(source)]
    if attention:
        lines.append("Needs attention: " + "; ".join(attention) + ".")
    return "\n".join(lines)


def _run_against_google_ads(job: Any, name: str, day: date, mode: str, as_json: bool) -> None:
    """Run orchestrate or rollback for `day`: mode checked, Google Ads (or, for a dry run
    without credentials, the budgets last seen) and the database opened."""
    resolved = _mode(mode)
    with _service_database() as database, _alerting(database, day):
        gateway = _gateway(database)
        counts = job(database, Caller.service(), day, gateway, mode=resolved)
    source = _source(gateway)
    _report(
        {"day": day.isoformat(), **counts, **source},
        as_json,
        _orchestrate_text(name, day, counts, source),
    )


def _preview(code: str, day: date, as_json: bool) -> None:
    from leadflow.jobs.preview import preview_segment

    with _service_database() as database:
        gateway = _gateway(database)
        result = preview_segment(database, Caller.service(), day, gateway, code)
    result.update(_source(gateway))
    if as_json:
        _emit_json(result)
        return
    console.print(f"[bold]{code}[/bold] on {day} — preview, nothing written")
    for budget in result["budgets"]:
        console.print(f"budget {budget['budget_resource_name']}")
        for section in ("inputs", "estimate", "decision"):
            table = Table(title=section, title_justify="left", show_header=False, box=None)
            table.add_column("name", no_wrap=True)
            table.add_column("value", overflow="fold")
            for key, value in budget[section].items():
                table.add_row(key, "-" if value is None else escape(str(value)))
            console.print(table)
    if result["kill_switch"]:
        console.print("Needs attention: the kill switch is on; nothing would be sent.")
    console.print(_source_text(result))


@orchestrate_app.callback()
def orchestrate_command(
    ctx: typer.Context,
    day: DayOption = None,
    mode: ModeOption = "dry_run",
    segment: Annotated[
        str | None,
        typer.Option(
            "--segment", help="Preview one segment: inputs, estimate, decision; writes nothing."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Decide each mapped budget from the gap, log it, and apply it per --mode.

    Without Google Ads credentials a dry run uses the budgets as the jobs last saw
    them (the output says how old). Live needs credentials and
    LEADFLOW_ORCHESTRATOR_LIVE=true.

    Examples: leadflow orchestrate --day 2026-11-25
              leadflow orchestrate --segment schilder_noord_brabant
              leadflow orchestrate --day 2026-11-25 --mode live
              leadflow orchestrate rollback --day 2026-11-25 --mode live
    """
    if ctx.invoked_subcommand is not None:
        return
    from leadflow.jobs.day import default_day
    from leadflow.jobs.orchestrate import orchestrate

    target = day.date() if day else default_day("orchestrate")
    if segment is not None:
        if _parse_mode(mode).value != "dry_run":
            raise LeadflowError("--segment previews only: it writes and sends nothing (dry_run)")
        _preview(segment, target, as_json)
        return
    _run_against_google_ads(orchestrate, "orchestrate", target, mode, as_json)


@orchestrate_app.command("rollback")
def rollback_command(
    day: Annotated[
        datetime, typer.Option("--day", formats=["%Y-%m-%d"], help="The day whose changes to undo.")
    ],
    mode: ModeOption = "dry_run",
    as_json: JsonOption = False,
) -> None:
    """Restore the budgets the audit log says were there before a day's live changes.

    Without Google Ads credentials a dry run uses the budgets as last seen.

    Example: leadflow orchestrate rollback --day 2026-11-25 --mode live
    """
    from leadflow.jobs.orchestrate import rollback

    _run_against_google_ads(rollback, "rollback", day.date(), mode, as_json)


def _demo_mode(value: str) -> Any:
    from leadflow.jobs.orchestrate import Mode

    parsed = _parse_mode(value)
    if parsed is Mode.validate_only:
        raise LeadflowError("the demo runs dry_run or live (against its simulated Google Ads)")
    return parsed


@app.command("demo")
def demo(
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Empty the embedded database first and build anew.")
    ] = False,
    days: Annotated[
        int | None, typer.Option("--days", help="Days of marketplace history (default: 90).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the synthetic marketplace (default: 42).")
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(
            "--end", formats=["%Y-%m-%d"], help="The demo's today (default: today in NL)."
        ),
    ] = None,
    industries: Annotated[
        int | None, typer.Option("--industries", help="Industries, 1-15 (default: 15).")
    ] = None,
    provinces: Annotated[
        int | None, typer.Option("--provinces", help="Provinces, 1-12 (default: 12).")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="dry_run (or dry-run): only log decisions; live: apply them to the simulated "
            "Google Ads (default: live).",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Segments in the table.")] = 20,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the HTML report.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run Leadflow's daily loop on a synthetic marketplace and show what it decided, and why.

    Builds ~15 industries x 12 provinces with partners and quotas, 90 days of leads,
    and a simulated Google Ads whose leads respond to budget; then runs aggregate ->
    plan -> orchestrate day by day and writes the HTML report. A second run reuses
    the database; --fresh starts clean. Nothing talks to Google.

    Examples: leadflow demo
              leadflow demo --fresh --seed 7 --days 60
              leadflow demo --industries 3 --provinces 4 --mode dry_run --json
    """
    from leadflow.days import today_nl

    from leadflow_tools import demo as demo_module

    requested = {
        "seed": seed,
        "days": days,
        "end": end.date() if end else None,
        "industries": industries,
        "provinces": provinces,
        "mode": None if mode is None else _demo_mode(mode),
    }
    try:
        result, report = demo_module.run(
            get_settings(),
            requested,
            fresh=fresh,
            out=out,
            today=today_nl(),
            console=console,
            quiet=as_json,
        )
    except KeyboardInterrupt:
        raise LeadflowError("interrupted; the next `leadflow demo` builds the demo anew") from None
    if as_json:
        _emit_json(demo_module.as_json(result, report))
    else:
        demo_module.show(console, result, report, top=top)


@app.command("simulate")
def simulate_command(
    days: Annotated[int, typer.Option("--days", help="Steered days after a 28-day warm-up.")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the market and marketplace.")] = 42,
    industries: Annotated[int, typer.Option("--industries", help="Industries, 1-15.")] = 15,
    provinces: Annotated[int, typer.Option("--provinces", help="Provinces, 1-12.")] = 12,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="base, account-cap (a cap at 80 % of filling every segment), unprofitable "
            "(some segments cost more at the margin than their leads earn), drift (cost per "
            "click of some segments rises 25 %, of others falls), or mixed (all of them).",
        ),
    ] = "base",
    market: Annotated[
        str, typer.Option("--market", help="classic, power, hill, adstock, lagged or mixed.")
    ] = "mixed",
    shortfall_cost: Annotated[
        float,
        typer.Option("--shortfall-cost", help="Cost of a lead missed within capacity, x value."),
    ] = 0.25,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="HTML plot to write [default: .leadflow/simulation.html]."),
    ] = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also a PNG of the plot (headless Chromium).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare fixed and minimum budgets, two ±20 % rules, Leadflow and an oracle on one market.

    Runs the real jobs (aggregate, plan, and for Leadflow orchestrate) day by day on
    the embedded server, in scratch databases it drops afterwards; only Google Ads
    is simulated. Prints the comparison and writes the plot.

    Examples: leadflow simulate
              leadflow simulate --scenario mixed --seed 7 --json
              leadflow simulate --market hill --shortfall-cost 0.5
              leadflow simulate --days 30 --seed 7 --json
    """
    from leadflow_tools import simulation
    from leadflow_tools.embedded import running_server

    options = simulation.SimulationOptions(
        seed=seed,
        days=days,
        industries=industries,
        provinces=provinces,
        scenario=scenario,  # type: ignore[arg-type]  # validated by SimulationOptions
        market=market,  # type: ignore[arg-type]  # validated by SimulationOptions
        shortfall_cost=shortfall_cost,
    )
    settings = get_settings()
    with (
        Progress(
            TextColumn("{task.description:<44}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bars,
        running_server(settings.home / "postgres", port=settings.local_db_port) as server,
    ):
        tasks: dict[str, Any] = {}

        def progress(task: str, description: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bars.add_task(description, total=total)
            bars.update(tasks[task], description=description, completed=done, total=total)

        result = simulation.run_simulation(server.url, options, on_progress=progress)
    html = simulation.write_plot(result, plot or settings.home / "simulation.html")
    if png is not None:
        simulation.screenshot(html, png)
    if as_json:
        _emit_json({**result.as_json(), "plot": str(html), "png": str(png) if png else None})
        return
    console.print(simulation.table(result))
    for target in result.targets():
        mark = "[green]met[/green]" if target.met else "[red]NOT met[/red]"
        console.print(f"(c) {target.name}: {mark} — {target.detail}")
    console.print(f"Plot: [bold]{html}[/bold]" + (f", {png}" if png else ""))
    console.print(f"Took {result.seconds:.1f} s.")


@app.command("report")
def report_command(
    first: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day (default: --to minus 29)."),
    ] = None,
    last: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (default: the latest plan)."),
    ] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Only this segment code.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: .leadflow/reports/…)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the operator report: one self-contained HTML file (opens without a network).

    Target vs actual leads per segment, the budget over time with every change and
    its reason, the fill rate per industry x province, the latest day's decisions.

    Examples: leadflow report
              leadflow report --from 2026-10-01 --to 2026-11-25 --out report.html
              leadflow report --segment schilder_noord_brabant
    """
    from leadflow_tools import report as report_module

    start, stop = (first.date() if first else None), (last.date() if last else None)
    if out is not None and not out.parent.is_dir():
        raise LeadflowError(f"--out: folder {out.parent} does not exist")
    path = out or report_module.default_path(get_settings().home, start, stop, segment)
    with (
        _service_database() as database,
        Progress(
            TextColumn("report  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as progress,
    ):
        task = progress.add_task("", total=3)
        result = report_module.write_report(
            database,
            Caller.service(),
            path,
            start,
            stop,
            segment,
            on_progress=lambda step, done, total: progress.update(
                task, description=step, completed=done
            ),
        )
    if as_json:
        _emit_json(result.as_json())
        return
    console.print(
        f"Report {result.first} to {result.last} ({result.segments} segments) written to "
        f"[bold]{result.path}[/bold]\nOpen it in a browser: {result.path.resolve().as_uri()}"
    )


SERVABLE = ("api", "aggregate", "plan", "orchestrate")


def _local_jwt_secret() -> tuple[str, Path, bool]:
    """The local API's JWT secret under LEADFLOW_HOME: (secret, file, made now)."""
    import secrets

    path = get_settings().home / "jwt_secret"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip(), path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret, path, True


def _jwt_secret() -> str:
    """SUPABASE_JWT_SECRET, else the local one (made if needed)."""
    configured = get_settings().jwt_secret
    if configured is not None:
        return configured.get_secret_value()
    return _local_jwt_secret()[0]


@app.command("token")
def token_command(
    email: Annotated[str, typer.Option("--email", help="A user in auth.users of the database.")],
    hours: Annotated[int, typer.Option("--hours", min=1, max=24 * 30, help="Valid for.")] = 24,
    as_json: JsonOption = False,
) -> None:
    """Print a JWT for a user of the local database, for `leadflow serve api`.

    Signed with SUPABASE_JWT_SECRET, or the local secret under LEADFLOW_HOME.

    Example: curl -H "Authorization: Bearer $(leadflow token --email admin@leadflow.example)" \\
                  http://127.0.0.1:8080/api/lead-segments
    """
    import time

    import jwt

    settings = get_settings()
    with database_url(settings) as url, _connect_errors(url):
        check_current(url, _where(url))
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "select id::text from auth.users where lower(email) = lower(%s)", (email,)
            ).fetchone()
            admins = [
                r[0]
                for r in conn.execute(
                    "select u.email from auth.users u join public.profiles p on p.id = u.id"
                    " where p.role = 'admin' order by u.email limit 3"
                )
            ]
    if row is None:
        hint = f"; admins here: {', '.join(admins)}" if admins else ""
        raise LeadflowError(f"no user with e-mail {email!r} in auth.users of {_where(url)}{hint}")
    now = int(time.time())
    claims = {
        "sub": row[0],
        "email": email,
        "role": "authenticated",
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + hours * 3600,
    }
    token = jwt.encode(claims, _jwt_secret(), algorithm="HS256")
    if as_json:
        _emit_json({"token": token, "sub": row[0], "expires_at": claims["exp"]})
    else:
        sys.stdout.write(token + "\n")


@app.command("serve")
def serve_command(
    function: Annotated[str, typer.Argument(help="api, aggregate, plan or orchestrate.")],
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Loopback port; 0 picks a free one.")
    ] = 8080,
    as_json: JsonOption = False,
) -> None:
    """Serve a function on 127.0.0.1 with functions-framework, on the local database.

    The same as `functions-framework --target <name> --source functions/<name>/main.py`
    with DATABASE_URL set to DATABASE_URL or the embedded server (at the latest
    migration). The API takes tokens signed with SUPABASE_JWT_SECRET; without one it
    makes a local secret under LEADFLOW_HOME (printed when made) and
    `leadflow token --email EMAIL` signs with it. Jobs want POST with
    `Authorization: Bearer $LEADFLOW_SCHEDULER_SECRET`.

    Example: leadflow serve api --port 8080
    """
    import os
    import signal

    import functions_framework
    from werkzeug.serving import make_server

    if function not in SERVABLE:
        raise LeadflowError(f"cannot serve {function!r}: choose one of {', '.join(SERVABLE)}")
    roots = (Path.cwd(), Path(__file__).resolve().parents[2])
    candidates = (root / "functions" / function / "main.py" for root in roots)
    source = next((path for path in candidates if path.is_file()), None)
    if source is None:
        raise LeadflowError(f"functions/{function}/main.py not found; run this in the project root")
    settings = get_settings()
    notes: dict[str, Any] = {}
    if function == "api" and settings.jwt_secret is None and not settings.jwks_url:
        secret, path, made = _local_jwt_secret()
        os.environ["SUPABASE_JWT_SECRET"] = secret
        notes["jwt_secret_file"] = str(path)
        if made:
            notes["jwt_secret"] = secret  # printed once, when made (like `supabase status`)
    with database_url(settings) as url, _connect_errors(url):
        check_current(url, _where(url))
        # The served function reads its settings (as deployed) from the environment.
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        wsgi = functions_framework.create_app(target=function, source=str(source))
        server = make_server("127.0.0.1", port, wsgi, threaded=True)

        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        address = f"http://127.0.0.1:{server.server_port}/"
        if as_json:
            sys.stdout.write(json.dumps({"function": function, "url": address, **notes}) + "\n")
        else:
            sys.stdout.write(f"serving {function} on {address}\n")
            if "jwt_secret" in notes:
                sys.stdout.write(
                    f"made a local JWT secret (kept in {notes['jwt_secret_file']}): "
                    f"{notes['jwt_secret']}\n"
                )
            elif "jwt_secret_file" in notes:
                sys.stdout.write(f"JWT secret: the local one in {notes['jwt_secret_file']}\n")
            if function == "api":
                sys.stdout.write("a token: leadflow token --email EMAIL\n")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


def main() -> None:
    """Entry point: user errors become one line on stderr (JSON under --json) and exit code 1."""
    try:
        # The core's JSON logs are for deployed functions; a CLI says what happened itself.
        if not get_settings().debug:
            logger.setLevel("CRITICAL")
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted")
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except LeadflowError as exc:
        _fail(str(exc))
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"database connection failed (DATABASE_URL or the embedded server): {first}")
    except Exception as exc:
        if get_settings().debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"unexpected {type(exc).__name__}: {first} (set LEADFLOW_DEBUG=1 for details)")


def _fail(message: str, code: int = 1) -> None:
    """Print one line to stderr (a JSON object under --json) and exit non-zero."""
    line = " ".join(message.split())
    if "--json" in sys.argv[1:]:
        sys.stderr.write(json.dumps({"error": line}) + "\n")
    else:
        sys.stderr.write("error: " + line + "\n")
    sys.exit(code or 1)


if __name__ == "__main__":
    main()
