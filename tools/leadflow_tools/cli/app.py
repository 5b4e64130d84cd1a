"""The `leadflow` command line: its apps, shared options, and how a command answers."""

from __future__ import annotations

import calendar
import contextlib
import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import psycopg
import typer
from leadflow.db import Database
from leadflow.db.direct import DirectTransport
from leadflow.errors import LeadflowError
from leadflow.settings import Mode, Settings, get_settings
from rich.console import Console
from rich.table import Table

from leadflow_tools.local import database_url, describe
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


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def where(url: str) -> str:
    """Which database a URL is, for messages: DATABASE_URL or the embedded server."""
    if get_settings().database_url is not None:
        return f"DATABASE_URL ({describe(url)})"
    return f"the embedded server ({describe(url)}, data in {get_settings().home / 'postgres'})"


class InvalidDatabaseUrl(LeadflowError):
    """DATABASE_URL cannot be parsed as a connection string."""

    cli_code = "invalid_database_url"


def bad_database_url(exc: psycopg.ProgrammingError) -> LeadflowError | None:
    """An unparsable DATABASE_URL (psycopg's "invalid dsn") as one line naming it."""
    text = str(exc).strip()
    if "connection info string" not in text and "invalid dsn" not in text.lower():
        return None
    first = text.splitlines()[0] if text else type(exc).__name__
    return InvalidDatabaseUrl(
        "DATABASE_URL is not a Postgres URL (postgresql://user:password@host:5432/dbname): " + first
    )


@contextlib.contextmanager
def connect_errors(url: str) -> Iterator[None]:
    """A refused or failed connection becomes one line naming the database tried."""
    try:
        yield
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeadflowError(f"cannot reach {where(url)}: {first}") from None
    except psycopg.ProgrammingError as exc:
        error = bad_database_url(exc)
        if error is None:
            raise
        raise error from None


def parse_day(value: str | datetime) -> datetime:
    """A Dutch calendar day as YYYY-MM-DD; an impossible one (2026-02-30) says why."""
    if isinstance(value, datetime):
        return value
    found = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", value.strip())
    if not found:
        raise typer.BadParameter(f"{value!r} is not a day: write it as YYYY-MM-DD (2026-11-25)")
    year, month, day = (int(part) for part in found.groups())
    if not 1 <= month <= 12:
        raise typer.BadParameter(f"{value} is not a date: a month is 1 to 12, not {month}")
    days = calendar.monthrange(year, month)[1] if year >= 1 else 31
    if not 1 <= day <= days:
        raise typer.BadParameter(
            f"{value} is not a date: {calendar.month_name[month]} {year} has {days} days"
        )
    return datetime(year, month, day)


DayOption = Annotated[
    datetime | None,
    typer.Option("--day", parser=parse_day, help="Dutch calendar day, YYYY-MM-DD."),
]

ModeOption = Annotated[
    str,
    typer.Option(
        "--mode",
        help="dry_run (log only), validate_only (Google Ads checks, applies nothing) or live; "
        "dry-run and validate-only are accepted too.",
    ),
]

orchestrate_app = typer.Typer(
    help="Decide and apply Google Ads budgets (dry_run unless told otherwise); roll a day back.",
    invoke_without_command=True,
)
app.add_typer(orchestrate_app, name="orchestrate")


@contextlib.contextmanager
def service_database(settings: Settings | None = None) -> Iterator[Database]:
    """The local database (DATABASE_URL or embedded) as the jobs' service role; it must be at
    the latest migration (checked, never changed)."""
    settings = settings or get_settings()
    with database_url(settings) as url, connect_errors(url):
        check_current(url, where(url))
        database = Database(DirectTransport(url, max_size=2))
        try:
            yield database
        finally:
            database.close()


def say(text: str) -> None:
    """The CLI's own words: on a terminal, wrapped at word boundaries to its width (80
    columns read as sentences, not cut mid-word); piped or redirected, each line as written,
    so that it can be searched and copied whole."""
    console.print(text, soft_wrap=not console.is_terminal)


def show(summary: dict[str, Any], as_json: bool, text: str | None = None) -> None:
    """JSON under --json; otherwise the human summary, or the counts one per line."""
    if as_json:
        emit_json(summary)
        return
    if text is not None:
        say(text)
        return
    table = Table(show_header=False, box=None)
    for key, value in summary.items():
        table.add_row(f"[bold]{key}[/bold]", str(value))
    console.print(table)


def parse_mode(value: str) -> Mode:
    """A mode as the CLI accepts it: dry_run or dry-run, validate_only or validate-only, live."""
    try:
        return Mode(value.strip().lower().replace("-", "_"))
    except ValueError:
        raise LeadflowError(
            f"--mode must be dry_run, validate_only or live, not {value!r}"
        ) from None
