"""`leadflow db …`: migrations, seed data, the embedded server."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Annotated, Any

import psycopg
import typer
from leadflow.errors import LeadflowError
from leadflow.settings import get_settings
from rich.markup import escape

from leadflow_tools import migrations
from leadflow_tools.cli.app import (
    JsonOption,
    connect_errors,
    console,
    db_app,
    emit_json,
    say,
    where,
)
from leadflow_tools.embedded import EmbeddedPostgres
from leadflow_tools.local import (
    LOCAL_DATABASE,
    create_database,
    database_url,
    ensure_database,
    is_local,
)
from leadflow_tools.schema import check_current, pending


@db_app.command("migrate")
def db_migrate(as_json: JsonOption = False) -> None:
    """Apply supabase/migrations/*.sql not applied yet (DATABASE_URL, or the embedded server).

    The only command (with `demo`, on its own database) that changes a schema.

    Example: leadflow db migrate
    """
    with (
        database_url(get_settings()) as url,
        connect_errors(url),
        psycopg.connect(url, autocommit=True) as conn,
    ):
        applied = migrations.migrate(conn)
    names = [f"{m.version}_{m.name}" for m in applied]
    if as_json:
        emit_json({"applied": names})
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
    with database_url(get_settings()) as url, connect_errors(url):
        check_current(url, where(url))
        _seed(url)
    if as_json:
        emit_json({"seeded": True})
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
    with (
        database_url(get_settings()) as url,
        connect_errors(url),
    ):
        # An unmigrated database has nothing to fill: say so (and exit 1), never "0 leads".
        check_current(url, where(url))
        with psycopg.connect(url, autocommit=True) as conn:
            changed = migrations.backfill_leads(conn, batch=batch)
    if as_json:
        emit_json({"leads_changed": changed})
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
    with database_url(get_settings()) as url, connect_errors(url):
        if not is_local(url) and not yes:
            raise LeadflowError(
                f"{where(url)} is not on this machine; `leadflow db reset --yes` drops it"
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
        emit_json({"database": name, "migrations": len(applied), "seeded": True})
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
        emit_json({"running": True, "url": url, "port": server.port()})
    else:
        sys.stdout.write(url + "\n")


@db_app.command("stop")
def db_stop(as_json: JsonOption = False) -> None:
    """Stop the embedded server.

    Example: leadflow db stop
    """
    _embedded().stop()
    if as_json:
        emit_json({"running": False})
    else:
        console.print("stopped")


@db_app.command("status")
def db_status(as_json: JsonOption = False) -> None:
    """Where the database stands: migrations applied and pending, the orchestration settings
    (kill switch, daily limit, account cap) and how this machine is configured to run.

    Exits 1 when migrations are pending (run `leadflow db migrate`), so a script notices.

    Example: leadflow db status
    """
    settings = get_settings()
    with (
        database_url(settings) as url,
        connect_errors(url),
        psycopg.connect(url, autocommit=True) as conn,
    ):
        known = [f"{m.version}_{m.name}" for m in migrations.discover()]
        missing = pending(conn)
        row = None
        found = conn.execute(
            "select to_regclass('public.orchestration_settings') is not null"
        ).fetchone()
        if found and found[0]:
            cursor = conn.execute("select * from public.orchestration_settings")
            names = [c.name for c in cursor.description or []]
            values = cursor.fetchone()
            if values:
                # Numbers as JSON numbers (numeric columns arrive as Decimal).
                row = {
                    k: float(v) if isinstance(v, Decimal) else v
                    for k, v in zip(names, values, strict=True)
                }
        paid: list[dict[str, Any]] = []
        found = conn.execute("select to_regclass('public.ad_channels') is not null").fetchone()
        if found and found[0]:
            paid = [
                {
                    "channel": key,
                    "kill_switch": "on" if killed else "off",
                    "daily_cap": None if cap is None else float(cap),
                    "budgets": budgets,
                }
                for key, killed, cap, budgets in conn.execute(
                    "select c.key, c.kill_switch, c.daily_cap,"
                    " count(b.id) filter (where b.is_active) from public.ad_channels c"
                    " left join public.segment_campaign_budgets b on b.channel = c.key"
                    " where c.is_paid group by c.key, c.kill_switch, c.daily_cap, c.sort_order"
                    " order by c.sort_order, c.key"
                )
            ]
        database = where(url)
    status = {
        "database": database,
        "migrations": {
            "applied": len(known) - len(missing),
            "known": len(known),
            "pending": missing,
            "latest": known[-1] if known else None,
        },
        "kill_switch": None if row is None else ("off" if row["changes_enabled"] else "on"),
        "orchestration_settings": None
        if row is None
        else {k: v for k, v in row.items() if k != "id"},
        "channels": paid,
        "configured": {
            "orchestrator_mode": settings.orchestrator_mode.value,
            "orchestrator_live": settings.orchestrator_live,
            "google_ads_credentials": not settings.google_ads.missing(),
            "microsoft_ads_credentials": not settings.microsoft_ads.missing(),
            "alert_urls": settings.alert_urls is not None,
        },
    }
    if as_json:
        emit_json(status)
    else:
        say(_status_text(status))
    if missing:
        raise typer.Exit(1)


def _status_text(status: dict[str, Any]) -> str:
    m = status["migrations"]
    lines = [f"database: {escape(status['database'])}"]
    if not m["pending"]:
        lines.append(f"migrations: {m['applied']} of {m['known']} applied, up to date")
    else:
        lines.append(
            f"migrations: {m['applied']} of {m['known']} applied; {len(m['pending'])} pending "
            f"({escape(m['pending'][0])} first): run `leadflow db migrate`"
        )
    row = status["orchestration_settings"]
    if row is None:
        lines.append("orchestration settings: none yet (the schema is not there)")
    else:
        switch = status["kill_switch"]
        lines.append(
            f"kill switch: {switch.upper()}"
            + (" — no budget change is sent" if switch == "on" else " — changes may be sent")
        )
        cap = row.get("account_daily_cap")
        lines.append(
            f"daily limit: {float(row['max_daily_change']) * 100:.1f} % of the day's starting "
            f"budget; account daily cap: {'none' if cap is None else f'{float(cap):,.2f} euro'}"
        )
    for channel in status["channels"]:
        cap = channel["daily_cap"]
        lines.append(
            f"{channel['channel']}: {channel['budgets']} active budgets, kill switch "
            f"{channel['kill_switch']}, daily cap "
            f"{'none' if cap is None else f'{cap:,.2f} euro'}"
        )
    c = status["configured"]
    lines.append(
        f"this machine: mode {c['orchestrator_mode']}, live switch "
        f"{'on' if c['orchestrator_live'] else 'off'}, Google Ads credentials "
        f"{'configured' if c['google_ads_credentials'] else 'missing'}, Microsoft Advertising "
        f"credentials {'configured' if c['microsoft_ads_credentials'] else 'missing'}, "
        "alert targets "
        f"{'configured' if c['alert_urls'] else 'none'}"
    )
    return "\n".join(lines)
