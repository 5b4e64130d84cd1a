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
from leadflow.settings import get_settings
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from leadflow_tools import migrations
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import LOCAL_DATABASE, database_url, ensure_database

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


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@db_app.command("migrate")
def db_migrate(as_json: JsonOption = False) -> None:
    """Apply supabase/migrations/*.sql not applied yet (DATABASE_URL, or the embedded server).

    Example: leadflow db migrate
    """
    with database_url(get_settings()) as url, psycopg.connect(url, autocommit=True) as conn:
        applied = migrations.migrate(conn)
    names = [f"{m.version}_{m.name}" for m in applied]
    if as_json:
        _emit_json({"applied": names})
    elif names:
        for name in names:
            console.print(f"applied {name}")
    else:
        console.print("database is up to date")


@db_app.command("seed")
def db_seed(as_json: JsonOption = False) -> None:
    """Load supabase/seed.sql: a small deterministic sample marketplace.

    Example: leadflow db migrate && leadflow db seed
    """
    with database_url(get_settings()) as url, psycopg.connect(url, autocommit=True) as conn:
        migrations.seed(conn)
    if as_json:
        _emit_json({"seeded": True})
    else:
        console.print("seed data loaded")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server (LEADFLOW_HOME), migrated; leave it running and print its URL.

    Example: export DATABASE_URL=$(leadflow db start)
    """
    server = EmbeddedPostgres(get_settings().home / "postgres")
    server.start()
    ensure_database(server.url(), LOCAL_DATABASE)
    with psycopg.connect(server.url(LOCAL_DATABASE), autocommit=True) as conn:
        migrations.migrate(conn)
    sys.stdout.write(server.url(LOCAL_DATABASE) + "\n")


@db_app.command("stop")
def db_stop(as_json: JsonOption = False) -> None:
    """Stop the embedded server.

    Example: leadflow db stop
    """
    EmbeddedPostgres(get_settings().home / "postgres").stop()
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
    """The local database (DATABASE_URL or embedded, migrated) as the jobs' service role."""
    with database_url(get_settings()) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn)
        database = Database(DirectTransport(url, max_size=2))
        try:
            yield database
        finally:
            database.close()


def _report(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _emit_json(summary)
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
    from leadflow.jobs.entry import default_day

    if day and (first or last):
        raise LeadflowError("give either --day or --from/--to, not both")
    if bool(first) != bool(last):
        raise LeadflowError("a backfill needs both --from and --to")
    start = (first or day or datetime.combine(default_day("aggregate"), datetime.min.time())).date()
    end = last.date() if last else start
    with (
        _service_database() as database,
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
    _report(counts, as_json)


@app.command("plan")
def plan_command(day: DayOption = None, as_json: JsonOption = False) -> None:
    """Write lead_segment_plans for a day (default: today in the Netherlands).

    Example: leadflow plan --day 2026-11-25
    """
    from leadflow.jobs.entry import default_day
    from leadflow.jobs.plan import plan

    target = day.date() if day else default_day("plan")
    with _service_database() as database:
        counts = plan(database, Caller.service(), target)
    _report({"day": target.isoformat(), **counts}, as_json)


orchestrate_app = typer.Typer(
    help="Decide and apply Google Ads budgets (dry-run unless told otherwise); roll a day back.",
    invoke_without_command=True,
)
app.add_typer(orchestrate_app, name="orchestrate")

ModeOption = Annotated[
    str,
    typer.Option(
        "--mode",
        help="dry_run (log only), validate_only (Google Ads checks, applies nothing) or live.",
    ),
]


def _live_gateway() -> Any:
    from leadflow import google_ads

    get_settings()  # loads secrets (Secrets Manager ids) into the environment first
    if not google_ads.credentials_configured():
        raise LeadflowError(
            "Google Ads credentials are not configured (GOOGLE_ADS_DEVELOPER_TOKEN, "
            "GOOGLE_ADS_CLIENT_ID, GOOGLE_ADS_CLIENT_SECRET, GOOGLE_ADS_REFRESH_TOKEN); "
            "they are needed to read the current budgets"
        )
    return google_ads.GoogleAdsApiGateway.from_env()


def _mode(value: str) -> Any:
    from leadflow.jobs.orchestrate import Mode, resolve_mode

    try:
        requested = Mode(value)
    except ValueError:
        raise LeadflowError(
            f"--mode must be dry_run, validate_only or live, not {value!r}"
        ) from None
    from leadflow import google_ads

    return resolve_mode(
        requested,
        credentials_configured=google_ads.credentials_configured(),
        live_enabled=get_settings().orchestrator_live,
    )


def _run_against_google_ads(job: Any, day: date, mode: str, as_json: bool) -> None:
    """Run orchestrate or rollback for `day`: mode checked, Google Ads and the database opened."""
    resolved = _mode(mode)
    gateway = _live_gateway()
    with _service_database() as database:
        counts = job(database, Caller.service(), day, gateway, mode=resolved)
    _report({"day": day.isoformat(), **counts}, as_json)


@orchestrate_app.callback()
def orchestrate_command(
    ctx: typer.Context,
    day: DayOption = None,
    mode: ModeOption = "dry_run",
    as_json: JsonOption = False,
) -> None:
    """Decide each mapped budget from the gap, log it, and apply it per --mode.

    Live needs Google Ads credentials and LEADFLOW_ORCHESTRATOR_LIVE=true.

    Examples: leadflow orchestrate --day 2026-11-25
              leadflow orchestrate --day 2026-11-25 --mode live
              leadflow orchestrate rollback --day 2026-11-25 --mode live
    """
    if ctx.invoked_subcommand is not None:
        return
    from leadflow.jobs.entry import default_day
    from leadflow.jobs.orchestrate import orchestrate

    _run_against_google_ads(
        orchestrate, day.date() if day else default_day("orchestrate"), mode, as_json
    )


@orchestrate_app.command("rollback")
def rollback_command(
    day: Annotated[
        datetime, typer.Option("--day", formats=["%Y-%m-%d"], help="The day whose changes to undo.")
    ],
    mode: ModeOption = "dry_run",
    as_json: JsonOption = False,
) -> None:
    """Restore the budgets the audit log says were there before a day's live changes.

    Example: leadflow orchestrate rollback --day 2026-11-25 --mode live
    """
    from leadflow.jobs.orchestrate import rollback

    _run_against_google_ads(rollback, day.date(), mode, as_json)


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
    dry_run: Annotated[
        bool | None,
        typer.Option(
            "--dry-run/--live",
            help="Only log decisions, or apply them to the simulated Google Ads (default: live).",
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
              leadflow demo --industries 3 --provinces 4 --json
    """
    from leadflow.days import today_nl
    from leadflow.jobs.orchestrate import Mode

    from leadflow_tools import demo as demo_module

    requested = {
        "seed": seed,
        "days": days,
        "end": end.date() if end else None,
        "industries": industries,
        "provinces": provinces,
        "mode": None if dry_run is None else Mode.dry_run if dry_run else Mode.live,
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
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="HTML plot to write [default: .leadflow/simulation.html]."),
    ] = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also a PNG of the plot (headless Chromium).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare fixed budgets, ±20 % rules, the Leadflow controller and an oracle on one market.

    Runs the real jobs (aggregate, plan, and for Leadflow orchestrate) day by day on
    the embedded server, in scratch databases it drops afterwards; only Google Ads
    is simulated. Prints the comparison and writes the plot.

    Examples: leadflow simulate
              leadflow simulate --scenario mixed --seed 7 --json
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
        running_server(settings.home / "postgres") as server,
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


@app.command("serve")
def serve_command(
    function: Annotated[str, typer.Argument(help="api, aggregate, plan or orchestrate.")],
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Loopback port; 0 picks a free one.")
    ] = 8080,
) -> None:
    """Serve a function on 127.0.0.1 with functions-framework, on the local database (migrated).

    The same as `functions-framework --target <name> --source functions/<name>/main.py`
    with DATABASE_URL set to DATABASE_URL or the embedded server. Jobs want POST with
    `Authorization: Bearer $LEADFLOW_SCHEDULER_SECRET`.

    Example: leadflow serve api --port 8080
    """
    import os
    import signal
    from pathlib import Path

    import functions_framework
    from werkzeug.serving import make_server

    if function not in SERVABLE:
        raise LeadflowError(f"cannot serve {function!r}: choose one of {', '.join(SERVABLE)}")
    roots = (Path.cwd(), Path(__file__).resolve().parents[2])
    candidates = (root / "functions" / function / "main.py" for root in roots)
    source = next((path for path in candidates if path.is_file()), None)
    if source is None:
        raise LeadflowError(f"functions/{function}/main.py not found; run this in the project root")
    with database_url(get_settings()) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn)
        # The served function reads its settings (as deployed) from the environment.
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        wsgi = functions_framework.create_app(target=function, source=str(source))
        server = make_server("127.0.0.1", port, wsgi, threaded=True)

        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        sys.stdout.write(f"serving {function} on http://127.0.0.1:{server.server_port}/\n")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 1."""
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted")
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except ClickException as exc:
        sys.stderr.write("error: " + " ".join(exc.format_message().split()) + "\n")
        sys.exit(exc.exit_code)
    except LeadflowError as exc:
        _fail(str(exc))
    except Exception as exc:
        if get_settings().debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"unexpected {type(exc).__name__}: {first} (set LEADFLOW_DEBUG=1 for details)")


def _fail(message: str) -> None:
    """Print one line to stderr and exit 1."""
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    sys.exit(1)


if __name__ == "__main__":
    main()
