"""`leadflow aggregate | plan | orchestrate`: the jobs, on the local database.

Each command reads the settings once and runs its job through `leadflow.jobs.day.run_request`,
the path of the scheduled function: with Google Ads credentials configured, `aggregate`
fetches the day's metrics exactly as the 01:00 run does. What only the CLI adds: a backfill
range with progress, and a dry run without credentials reading the budgets the jobs last saw.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer
from leadflow.days import today_nl
from leadflow.db import Caller
from leadflow.errors import LeadflowError
from leadflow.settings import Mode, Settings, get_settings
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadflow_tools.cli.app import (
    DayOption,
    JsonOption,
    ModeOption,
    console,
    emit_json,
    orchestrate_app,
    parse_day,
    parse_mode,
    service_database,
    show,
)

#: Who the job runs record as their trigger.
TRIGGERED_BY = "cli"


def aggregate_command(
    day: DayOption = None,
    first: Annotated[
        datetime | None,
        typer.Option("--from", parser=parse_day, help="First day of a backfill."),
    ] = None,
    last: Annotated[
        datetime | None, typer.Option("--to", parser=parse_day, help="Last day of a backfill.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute lead_generation_stats for a day (default: yesterday) or a range.

    With Google Ads credentials configured, each day's campaign metrics are fetched first,
    as the scheduled run does.

    Examples: leadflow aggregate --day 2026-11-24
              leadflow aggregate --from 2026-01-01 --to 2026-11-24   (backfill, with progress)
    """
    from leadflow.jobs.day import JobRequest, default_day, run_request

    if day and (first or last):
        raise LeadflowError("give either --day or --from/--to, not both")
    if bool(first) != bool(last):
        raise LeadflowError("a backfill needs both --from and --to")
    start = (first or day or datetime.combine(default_day("aggregate"), datetime.min.time())).date()
    end = last.date() if last else start
    # Tomorrow is inside the job window but holds nothing yet: say so instead of writing
    # zero rows (days further out are refused by the window itself, with its own words).
    today = today_nl()
    tomorrow = today + timedelta(days=1)
    if today < start <= tomorrow:
        raise LeadflowError(
            f"nothing to aggregate: {start} has not begun in the Netherlands (today is {today})"
        )
    if today < end <= tomorrow:
        raise LeadflowError(
            f"nothing to aggregate after today ({today}): --to {end} has not begun;"
            f" use --to {today} or earlier"
        )
    settings = get_settings()
    with (
        service_database(settings) as database,
        Progress(
            TextColumn("aggregate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            # Piped or redirected: no bar, and no blank line where it was.
            disable=as_json or not console.is_terminal,
        ) as progress,
    ):
        task = progress.add_task("aggregate", total=(end - start).days + 1)
        counts = run_request(
            "aggregate",
            JobRequest(day=start),
            settings=settings,
            triggered_by=TRIGGERED_BY,
            database=database,
            caller=Caller.service(),
            last=end,
            on_progress=lambda done, total: progress.update(task, completed=done),
        ).counts
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
    show(counts, as_json, text)


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


def plan_command(day: DayOption = None, as_json: JsonOption = False) -> None:
    """Write lead_segment_plans for a day (default: today in the Netherlands).

    Example: leadflow plan --day 2026-11-25
    """
    from leadflow.jobs.day import JobRequest, default_day, run_request

    target = day.date() if day else default_day("plan")
    settings = get_settings()
    with service_database(settings) as database:
        counts = run_request(
            "plan",
            JobRequest(day=target),
            settings=settings,
            triggered_by=TRIGGERED_BY,
            database=database,
            caller=Caller.service(),
        ).counts
        overview = database.rpc(
            "segment_overview", {"p_day": target.isoformat()}, caller=Caller.service()
        )
    show({"day": target.isoformat(), **counts}, as_json, _plan_text(target, counts, overview))


def checked_mode(settings: Settings, value: str) -> Mode:
    """The --mode a run may use (dry_run always; the others need credentials, live the
    live switch), checked before the database is opened."""
    from leadflow.jobs.orchestrate import configured_mode

    return configured_mode(settings, parse_mode(value))


def budget_source(gateway: Any) -> dict[str, Any]:
    """Where the current budgets came from, and how old that view is."""
    from leadflow.jobs.budget_view import StoredBudgets

    if not isinstance(gateway, StoredBudgets):
        from leadflow.channels.router import ChannelSet

        read = sorted(gateway.gateways) if isinstance(gateway, ChannelSet) else []
        return {"budgets_from": "channels", "channels": read}
    seen = gateway.oldest_seen
    age = None if seen is None else (datetime.now(seen.tzinfo) - seen).total_seconds() / 3600
    return {
        "budgets_from": "database",
        "budgets_seen_at": seen.isoformat() if seen else None,
        "budgets_age_hours": None if age is None else round(age, 1),
        "budgets_known": gateway.found,
        "budgets_asked": gateway.requested,
    }


def source_text(source: dict[str, Any]) -> str:
    if source["budgets_from"] == "channels":
        read = ", ".join(source.get("channels") or []) or "the configured channels"
        return f"Current budgets read from {read}."
    if source["budgets_seen_at"] is None:
        return (
            "No channel credentials (Google Ads, Microsoft Advertising), and the jobs never "
            "read these budgets: every budget is unknown, so every decision is a hold."
        )
    return (
        "No channel credentials: preview from the budgets as last seen "
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
    if counts.get("refused"):
        attention.append(f"{counts['refused']} the database would refuse (see below)")
    lines = [escape(head), escape(source_text(source))]
    lines += change_lines(counts.get("changes") or [], mode)
    if attention:
        lines.append(escape("Needs attention: " + "; ".join(attention) + "."))
    return "\n".join(lines)


def _amount(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def _verdict(change: dict[str, Any], mode: str) -> str:
    """Whether the database accepts a change, in words (and what became of it when sent)."""
    if change["accepted"] is False:
        return f"database refuses: {change['refusal']}"
    if mode == "dry_run":
        return "database would accept it (dry run: not sent)"
    outcome = {
        "success": "applied" if mode == "live" else "validated by Google Ads",
        "failed": "refused by Google Ads",
        "unknown": "outcome unknown",
        "sent": "outcome unknown",
        "skipped": "not sent",
    }.get(change["status"], change["status"])
    error = f": {change['error']}" if change.get("error") else ""
    return f"database accepted; {outcome}{error}"


def change_lines(changes: list[dict[str, Any]], mode: str) -> list[str]:
    """Every proposed change, one block each (segment, channel, budget, old → new, percent,
    reason, the database's verdict); then the holds, one line each with why."""
    moves = [c for c in changes if c["action"] != "hold"]
    holds = [c for c in changes if c["action"] == "hold"]
    lines = []
    if moves:
        lines.append(f"Proposed changes ({len(moves)}):")
    for c in moves:
        pct = "" if c["change_pct"] is None else f" ({c['change_pct']:+.2f} %)"
        lines += [
            f"  [bold]{escape(c['segment'])}[/bold] · {c['channel']} · {escape(c['budget'])}",
            f"    {_amount(c['old_budget_euro'])} → {_amount(c['new_budget_euro'])} euro{pct}"
            f" — {escape(_verdict(c, mode))}",
            f"    why: {escape(c['reason'])}",
        ]
    if not moves:
        lines.append("No budget would change.")
    if holds:
        lines.append(f"Held ({len(holds)}), budget unchanged:")
        lines += [
            f"  {escape(c['segment'])} · {c['channel']} at {_amount(c['old_budget_euro'])} euro:"
            f" {escape(c['reason'])}"
            for c in holds
        ]
    return lines


def _show_run(name: str, day: date, counts: dict[str, Any], gateway: Any, as_json: bool) -> None:
    source = budget_source(gateway)
    show(
        {"day": day.isoformat(), **counts, **source},
        as_json,
        _orchestrate_text(name, day, counts, source),
    )


def _stored_or_live(settings: Settings, database: Any) -> Any:
    """Google Ads when credentials are configured; otherwise the budgets the database last saw
    (a dry run only: configured_mode refuses the other modes without credentials)."""
    from leadflow.jobs.day import channels

    return channels(settings, database, Caller.service(), stored_budgets=True)


def _preview(settings: Settings, code: str, day: date, as_json: bool) -> None:
    from leadflow.jobs.preview import preview_segment

    with service_database(settings) as database:
        gateway = _stored_or_live(settings, database)
        result = preview_segment(database, Caller.service(), day, gateway, code)
    result.update(budget_source(gateway))
    if as_json:
        emit_json(result)
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
    console.print(source_text(result))


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
    from leadflow.jobs.day import JobRequest, default_day, run_request

    target = day.date() if day else default_day("orchestrate")
    settings = get_settings()
    if segment is not None:
        if parse_mode(mode).value != "dry_run":
            raise LeadflowError("--segment previews only: it writes and sends nothing (dry_run)")
        _preview(settings, segment, target, as_json)
        return
    resolved = checked_mode(settings, mode)
    with service_database(settings) as database:
        outcome = run_request(
            "orchestrate",
            JobRequest(day=target, mode=resolved.value),
            settings=settings,
            triggered_by=TRIGGERED_BY,
            database=database,
            caller=Caller.service(),
            stored_budgets=True,
        )
    _show_run("orchestrate", target, outcome.counts, outcome.gateway, as_json)


@orchestrate_app.command("rollback")
def rollback_command(
    day: Annotated[
        datetime, typer.Option("--day", parser=parse_day, help="The day whose changes to undo.")
    ],
    mode: ModeOption = "dry_run",
    as_json: JsonOption = False,
) -> None:
    """Restore the budgets the audit log says were there before a day's live changes.

    Without Google Ads credentials a dry run uses the budgets as last seen.

    Example: leadflow orchestrate rollback --day 2026-11-25 --mode live
    """
    from leadflow.jobs.day import alerting
    from leadflow.jobs.orchestrate import rollback

    settings = get_settings()
    resolved = checked_mode(settings, mode)
    with (
        service_database(settings) as database,
        alerting(database, Caller.service(), day.date(), settings=settings),
    ):
        gateway = _stored_or_live(settings, database)
        counts = rollback(
            database,
            Caller.service(),
            day.date(),
            gateway,
            mode=resolved,
            triggered_by=TRIGGERED_BY,
        )
    _show_run("rollback", day.date(), counts, gateway, as_json)
