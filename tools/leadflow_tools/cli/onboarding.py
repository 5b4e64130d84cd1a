"""Onboarding from zero: `admin create` (the first admin of a Supabase project) and
`segments import` (segments and their campaign budgets from a CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from leadflow.errors import LeadflowError
from leadflow.settings import get_settings

from leadflow_tools.cli.app import JsonOption, app, connect_errors, console, emit_json, say, where
from leadflow_tools.local import database_url
from leadflow_tools.schema import check_current

admin_app = typer.Typer(
    help="Admins of a Supabase project (needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY).",
    no_args_is_help=True,
)
segments_app = typer.Typer(
    help="Segments and their campaign budgets: onboarding a real account.", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")
app.add_typer(segments_app, name="segments")


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Argument(help="The e-mail address to invite as the admin.")],
    redirect_to: Annotated[
        str | None,
        typer.Option("--redirect-to", help="Where the invitation link leads (the dashboard)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Invite EMAIL and make that user the project's first admin (profiles.role = admin).

    Supabase Auth sends the invitation; refused when the project has an admin already
    (admins promote admins). Reads SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY.

    Example: leadflow admin create ops@example.com --redirect-to https://ops.example.com
    """
    from leadflow_tools.admin import create_first_admin

    settings = get_settings()
    missing = [
        name
        for name, value in (
            ("SUPABASE_URL", settings.supabase_url),
            ("SUPABASE_SERVICE_ROLE_KEY", settings.supabase_service_role_key),
        )
        if not value
    ]
    if missing:
        raise LeadflowError(
            f"set {' and '.join(missing)} (the project's API URL and service-role key, "
            "Project Settings > API) to create the first admin"
        )
    key = settings.supabase_service_role_key
    assert settings.supabase_url is not None and key is not None
    user_id = create_first_admin(
        settings.supabase_url.rstrip("/"), key.get_secret_value(), email, redirect_to=redirect_to
    )
    if as_json:
        emit_json({"email": email, "user_id": user_id, "role": "admin", "invited": True})
    else:
        console.print(
            f"{email} is invited (user {user_id}) and is the project's admin; "
            "the invitation link sets the password."
        )


@segments_app.command("import")
def segments_import(
    file: Annotated[Path, typer.Argument(help="The CSV file, one row per campaign budget.")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the changes (default: a dry run).")
    ] = False,
    require_account_check: Annotated[
        bool,
        typer.Option(
            "--require-account-check",
            help="Refuse when a channel's budgets cannot be checked (no credentials).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or update segments and map them to their campaign budgets, from FILE.csv.

    Columns: industry (slug or id), region (province code), channel (default
    google_ads), customer_id, campaign_id, budget_resource_name (Google Ads:
    customers/{customer_id}/campaignBudgets/{id}), min_daily_budget, max_daily_budget
    (euro, whole cents). Every row is checked, then every budget against its account
    (it must exist and not be shared; skipped, and said, without the channel's
    credentials), before anything is written. A dry run by default: it prints what would
    change; --apply writes it all in one transaction. Connects with DATABASE_URL (or the
    embedded server), as `leadflow db migrate` does.

    Example: leadflow segments import segments.csv --apply
    """
    from leadflow_tools import segment_import as imp

    records = imp.read_rows(file)
    settings = get_settings()
    with database_url(settings) as url, connect_errors(url):
        check_current(url, where(url))
        with psycopg.connect(url) as conn:
            reference = imp.load_reference(conn)
            rows = imp.check_rows(records, reference)
            changes = imp.plan_changes(conn, rows)
            gateways, missing = imp.gateways_for(rows, settings)
            check = imp.check_accounts(rows, gateways, missing)
            if require_account_check and check.skipped:
                raise LeadflowError(
                    "nothing was written: --require-account-check, and "
                    + "; ".join(check.lines()[len(check.checked) :])
                )
            assigned = imp.apply_plan(conn, changes) if apply else 0
    _report(changes, check, apply=apply, assigned=assigned, rows=len(rows), as_json=as_json)


def _report(
    changes: list[Any], check: Any, *, apply: bool, assigned: int, rows: int, as_json: bool
) -> None:
    if as_json:
        emit_json(
            {
                "applied": apply,
                "rows": rows,
                "segments": [change.as_dict() for change in changes],
                "account_check": {"checked": check.checked, "skipped": check.skipped},
                "leads_assigned": assigned,
            }
        )
        return
    verb = "" if apply else "would "
    for change in changes:
        bounds = f"{change.min_daily_budget}..{change.max_daily_budget} euro/day"
        if change.action == "update" and change.before is not None:
            bounds = f"{change.before[0]}..{change.before[1]} -> {bounds}"
        what = change.action if change.action == "unchanged" else verb + change.action
        say(f"{change.code}: {what} ({bounds})")
        for name in change.added:
            say(f"  + {name}")
        for name in change.removed:
            say(f"  - {name}")
    for line in check.lines():
        say(line)
    if apply:
        console.print(
            f"Applied: {len(changes)} segment(s) from {rows} row(s) in one transaction"
            + (f"; {assigned} existing lead(s) assigned." if assigned else ".")
        )
    else:
        console.print("Dry run: nothing written. Run again with --apply to write these changes.")
