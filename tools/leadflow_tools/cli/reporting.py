"""`leadflow report`: the operator report, one self-contained HTML file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from leadflow.db import Caller
from leadflow.errors import LeadflowError
from leadflow.settings import get_settings
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from leadflow_tools.cli.app import JsonOption, console, emit_json, parse_day, service_database


def report_command(
    first: Annotated[
        datetime | None,
        typer.Option("--from", parser=parse_day, help="First day (default: --to minus 29)."),
    ] = None,
    last: Annotated[
        datetime | None,
        typer.Option("--to", parser=parse_day, help="Last day (default: the latest plan)."),
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
        service_database() as database,
        Progress(
            TextColumn("report  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            # Piped or redirected: no bar, and no blank line where it was.
            disable=as_json or not console.is_terminal,
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
        emit_json(result.as_json())
        return
    console.print(
        f"Report {result.first} to {result.last} ({result.segments} segments) written to "
        f"[bold]{result.path}[/bold]\nOpen it in a browser: {result.path.resolve().as_uri()}"
    )
