"""The scheduler's day, wired once: which day each job runs for, which Google Ads and mode
a run steers with, and aggregate → plan → orchestrate.

The job functions (`leadflow.jobs.entry`), the CLI, the demo and the market
simulation all run their jobs through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any, Literal

from leadflow.alerts import notify_after_run
from leadflow.days import today_nl
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.google_ads import GoogleAdsGateway, gateway_from_settings
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.budget_view import StoredBudgets
from leadflow.jobs.plan import plan
from leadflow.jobs.runs import InvalidDay
from leadflow.settings import Mode, Settings

JobName = Literal["aggregate", "plan", "orchestrate"]
#: The scheduler's order: stats of yesterday, then today's plans, then today's budgets.
DAY_JOBS: tuple[JobName, ...] = ("aggregate", "plan", "orchestrate")


def default_day(job: JobName, today: date | None = None) -> date:
    """aggregate runs for yesterday (complete), plan and orchestrate for today."""
    today = today or today_nl()
    return today - timedelta(days=1) if job == "aggregate" else today


def google_ads(
    settings: Settings, db: Database, caller: Caller, *, stored_budgets: bool = False
) -> GoogleAdsGateway | None:
    """The Google Ads a run reads: the API when credentials are configured; without them,
    with `stored_budgets`, the budgets as the jobs last saw them (for dry runs and
    previews), else None."""
    gateway = gateway_from_settings(settings.google_ads)
    if gateway is None and stored_budgets:
        return StoredBudgets(db, caller)
    return gateway


def steering(
    settings: Settings, db: Database, caller: Caller, requested: Mode | None
) -> tuple[Mode, GoogleAdsGateway]:
    """The mode (requested, else configured; checked against the credentials and the live
    switch) and the Google Ads a scheduled orchestrate run steers with."""
    from leadflow.jobs.orchestrate import configured_mode  # the controller: orchestrate only

    mode = configured_mode(settings, requested)
    gateway = google_ads(settings, db, caller)
    if gateway is None:
        raise LeadflowError("orchestrate needs Google Ads credentials to read the current budgets")
    return mode, gateway


@contextlib.contextmanager
def alerting(
    db: Database, caller: Caller, day: date, *, settings: Settings | None = None
) -> Iterator[None]:
    """After a job run, success or failure, send what needs a human (never raises); not
    after a day refused at the edge (nothing ran)."""
    try:
        yield
    except InvalidDay:
        raise
    except BaseException:
        notify_after_run(db, caller, day, settings=settings)
        raise
    notify_after_run(db, caller, day, settings=settings)


def run_job(
    job: JobName,
    db: Database,
    caller: Caller,
    day: date,
    *,
    gateway: GoogleAdsGateway | None,
    mode: Mode = Mode.dry_run,
    triggered_by: str,
) -> dict[str, Any]:
    """Run one job for its own `day` (aggregate: the day measured); returns its counts.

    aggregate fetches Google Ads metrics when there is a gateway; orchestrate needs one.
    """
    if job == "aggregate":
        return aggregate(db, caller, day, gateway=gateway, triggered_by=triggered_by)
    if job == "plan":
        return plan(db, caller, day, triggered_by=triggered_by)
    if gateway is None:
        raise LeadflowError("orchestrate needs Google Ads credentials to read the current budgets")
    from leadflow.jobs.orchestrate import orchestrate  # the controller: orchestrate only

    return orchestrate(db, caller, day, gateway, mode=mode, triggered_by=triggered_by)


def run_day(
    db: Database,
    caller: Caller,
    today: date,
    gateway: GoogleAdsGateway,
    *,
    mode: Mode = Mode.dry_run,
    jobs: Sequence[JobName] = DAY_JOBS,
    triggered_by: str,
) -> dict[str, dict[str, Any]]:
    """One day as the scheduler runs it: aggregate yesterday, plan today, orchestrate today
    in `mode` (or only the `jobs` named, in that order); each job's counts by name."""
    return {
        job: run_job(
            job,
            db,
            caller,
            default_day(job, today),
            gateway=gateway,
            mode=mode,
            triggered_by=triggered_by,
        )
        for job in DAY_JOBS
        if job in jobs
    }
