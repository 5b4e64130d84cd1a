"""The scheduler's day, wired once: which day each job runs for, which Google Ads and mode
a run steers with, and aggregate → plan → orchestrate.

`run_request` is the one path of a configured run: the job functions' HTTP target and
scheduled handler (`leadflow.jobs.entry`) and the CLI call it with the run's settings, read
once. The demo and the market simulation bring their own Google Ads and call `run_day`;
all of them end in `run_job`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from leadflow.alerts import notify_after_run
from leadflow.channels.google_ads import GoogleAdsGateway, gateway_from_settings
from leadflow.days import today_nl
from leadflow.db import Caller, Database, from_settings, service_caller
from leadflow.errors import LeadflowError
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
    last: date | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run one job for its own `day` (aggregate: the day measured, or `day`..`last`);
    returns its counts.

    aggregate fetches Google Ads metrics when there is a gateway; for one day it measures
    again the trailing `restate_window_days` up to it (late acceptances, restated Google
    Ads metrics). orchestrate needs a gateway.
    """
    if job == "aggregate":
        return aggregate(
            db,
            caller,
            day,
            last,
            gateway=gateway,
            triggered_by=triggered_by,
            on_progress=on_progress,
            restate=last is None,
        )
    if last is not None and last != day:
        raise LeadflowError(f"{job} runs for one day, not a range")
    if job == "plan":
        return plan(db, caller, day, triggered_by=triggered_by)
    if gateway is None:
        raise LeadflowError("orchestrate needs Google Ads credentials to read the current budgets")
    # The controller loads when orchestrate runs, not when a job function is imported.
    from leadflow.jobs.orchestrate import orchestrate

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


class JobRequest(BaseModel):
    """What a trigger may say: the Dutch day (default: the job's usual day) and, for
    orchestrate, the mode (default: the configured mode, itself dry-run by default)."""

    model_config = ConfigDict(extra="forbid")

    day: date | None = None
    mode: Literal["dry_run", "validate_only", "live"] | None = None


@dataclass(frozen=True)
class JobOutcome:
    """A finished run: its job, day, counts, and the Google Ads it read (None: none)."""

    job: JobName
    day: date
    counts: dict[str, Any]
    gateway: GoogleAdsGateway | None

    def summary(self) -> dict[str, Any]:
        """What a trigger answers."""
        return {
            "job": self.job,
            "day": self.day.isoformat(),
            "status": "success",
            "counts": self.counts,
        }


def run_request(
    job: JobName,
    request: JobRequest,
    *,
    settings: Settings,
    triggered_by: str,
    database: Database | None = None,
    caller: Caller | None = None,
    last: date | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    stored_budgets: bool = False,
) -> JobOutcome:
    """Run one job for the request's day with the configured database and Google Ads, then
    send the alerts: the one path of the scheduled handler, the HTTP target and the CLI.

    Google Ads comes from `settings` (so aggregate fetches the day's metrics whenever
    credentials are configured). Only the CLI asks for more: a backfill range (`last`,
    with `on_progress`), and with `stored_budgets` a dry run without credentials reads the
    budgets the jobs last saw instead of refusing.
    """
    if request.mode is not None and job != "orchestrate":
        raise LeadflowError(f"{job} takes no mode")
    day = request.day or default_day(job)
    db = database or from_settings(settings)
    caller = caller or service_caller(settings)
    try:
        with alerting(db, caller, last or day, settings=settings):
            gateway: GoogleAdsGateway | None
            if job == "orchestrate":
                from leadflow.jobs.orchestrate import configured_mode

                mode = configured_mode(settings, Mode(request.mode) if request.mode else None)
                gateway = google_ads(
                    settings, db, caller, stored_budgets=stored_budgets and mode is Mode.dry_run
                )
            else:
                mode, gateway = Mode.dry_run, google_ads(settings, db, caller)
            counts = run_job(
                job,
                db,
                caller,
                day,
                gateway=gateway,
                mode=mode,
                triggered_by=triggered_by,
                last=last,
                on_progress=on_progress,
            )
    finally:
        if database is None:
            db.close()
    return JobOutcome(job, day, counts, gateway)
