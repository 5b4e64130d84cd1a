"""`leadflow status`: where the day stands on each paid channel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from leadflow.days import today_nl
from leadflow.db import Caller
from rich.table import Table

from leadflow_tools.cli.app import JsonOption, console, emit_json, parse_day, say, service_database


def _euro(value: Any) -> str:
    return "—" if value is None else f"{float(value):,.2f}"


def status_command(
    day: Annotated[
        datetime | None,
        typer.Option("--day", parser=parse_day, help="Dutch day (default: today)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The day on each paid channel: kill switch and cap, budgets, what orchestrate decided
    (raised, lowered, held, applied, refused), the planned budget and the paid leads expected
    from it, and yesterday's spend and leads.

    Examples: leadflow status
              leadflow status --day 2026-11-23 --json
    """
    when = day.date() if day else today_nl()
    with service_database() as database:
        rows = database.rpc(
            "report_channel_status",
            {"p_day": when.isoformat()},
            caller=Caller.service(),
            read_only=True,
        )
    if as_json:
        emit_json({"day": when.isoformat(), "channels": rows})
        return
    say(f"status of {when} per paid channel")
    table = Table(box=None, pad_edge=False)
    for name, justify in (
        ("channel", "left"),
        ("budgets", "right"),
        ("up/down/hold", "right"),
        ("planned €", "right"),
        ("paid leads", "right"),
        ("spent yday €", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=name == "channel")  # type: ignore[arg-type]
    notes = []
    for r in rows:
        table.add_row(
            r["channel"],
            str(r["budgets"]),
            f"{r['increase']}/{r['decrease']}/{r['hold']}",
            _euro(r["planned_budget"]),
            "—" if r["expected_paid_leads"] is None else f"{float(r['expected_paid_leads']):.1f}",
            _euro(r["yesterday_spend"]),
        )
        cap = "none" if r["daily_cap"] is None else f"{float(r['daily_cap']):,.2f} euro"
        notes.append(
            f"{r['channel']}: kill switch {'ON' if r['kill_switch'] else 'off'}, daily cap {cap}; "
            f"{r['applied']} applied, {r['refused']} refused; {r['yesterday_leads']} leads "
            "yesterday"
        )
    console.print(table)
    for note in notes:
        console.print(note)  # wrapped at the terminal's width
