"""`leadflow demo` and `leadflow simulate`: the daily loop on a synthetic marketplace."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from leadflow.errors import LeadflowError
from leadflow.settings import Mode, get_settings
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from leadflow_tools.cli.app import JsonOption, console, emit_json, parse_day, parse_mode


def _demo_mode(value: str) -> Mode:
    parsed = parse_mode(value)
    if parsed is Mode.validate_only:
        raise LeadflowError("the demo runs dry_run or live (against its simulated Google Ads)")
    return parsed


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
        typer.Option("--end", parser=parse_day, help="The demo's today (default: today in NL)."),
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
        emit_json(demo_module.as_json(result, report))
    else:
        demo_module.show(console, result, report, top=top)


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
            "click of some segments rises 25 %, of others falls), mixed (all of them), or "
            "two-channel (a Microsoft Advertising budget beside every Google Ads one; adds "
            "Leadflow steering Google Ads only).",
        ),
    ] = "base",
    market: Annotated[
        str,
        typer.Option(
            "--market",
            help="classic, power, hill, adstock, lagged, mixed; held out: exponential, capped.",
        ),
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

    With --scenario two-channel every segment also has a Microsoft Advertising budget, and
    Leadflow steering Google Ads only (today's single channel) joins the comparison.

    Runs the real jobs (aggregate, plan, and for Leadflow orchestrate) day by day on
    the embedded server, in scratch databases it drops afterwards; only the ad
    channels are simulated. Prints the comparison and writes the plot.

    Examples: leadflow simulate
              leadflow simulate --scenario mixed --seed 7 --json
              leadflow simulate --market hill --shortfall-cost 0.5
              leadflow simulate --days 30 --seed 7 --json
              leadflow simulate --scenario two-channel --seed 3 --json
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
            # Piped or redirected: no bar, and no blank line where it was.
            disable=as_json or not console.is_terminal,
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
        emit_json({**result.as_json(), "plot": str(html), "png": str(png) if png else None})
        return
    console.print(simulation.table(result))
    for target in result.targets():
        mark = "[green]met[/green]" if target.met else "[red]NOT met[/red]"
        console.print(f"(c) {target.name}: {mark} — {target.detail}")
    console.print(f"Plot: [bold]{html}[/bold]" + (f", {png}" if png else ""))
    console.print(f"Took {result.seconds:.1f} s.")
