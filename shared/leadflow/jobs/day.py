"""The scheduler's day, wired once: which day each job runs for, which channels and mode
a run steers with, and aggregate → plan → orchestrate.

`run_request` is the one path of a configured run: the job functions' HTTP target and
scheduled handler (`leadflow.jobs.entry`) and the CLI call it with the run's settings, read
once. The demo and the market simulation bring their own channels and call `run_day`;
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
from leadflow.channels import ChannelGateway, gateways_from_settings
from leadflow.channels.router import ChannelSet, PaidChannel
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


def paid_channels(db: Database, caller: Caller) -> list[PaidChannel]:
    """The paid channels as the database defines them (`public.paid_channels()`)."""
    rows = db.rpc("paid_channels", caller=caller, read_only=True)
    return [PaidChannel(r["key"], r["label"], r["budget_name_pattern"]) for r in rows]


def channels(
    settings: Settings, db: Database, caller: Caller, *, stored_budgets: bool = False
) -> ChannelGateway | None:
    """The channels a run reads: the API of every channel whose credentials are configured,
    each budget routed to its channel; without any, with `stored_budgets`, the budgets as the
    jobs last saw them (for dry runs and previews), else None."""
    gateways = gateways_from_settings(settings)
    if gateways:
        return ChannelSet(gateways, paid_channels(db, caller))
    if stored_budgets:
        return StoredBudgets(db, caller)
    return None


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
    gateway: ChannelGateway | None,
    mode: Mode = Mode.dry_run,
    triggered_by: str,
    last: date | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run one job for its own `day` (aggregate: the day measured, or `day`..`last`);
    returns its counts.

    aggregate fetches each channel's metrics when there is a gateway; for one day it
    measures again the trailing `restate_window_days` up to it (late acceptances, restated
    ad metrics). orchestrate needs a gateway.
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
        raise LeadflowError(
            "orchestrate needs a channel's credentials (Google Ads or Microsoft Advertising) to "
            "read the current budgets"
        )
    # The controller loads when orchestrate runs, not when a job function is imported.
    from leadflow.jobs.orchestrate import orchestrate

    return orchestrate(db, caller, day, gateway, mode=mode, triggered_by=triggered_by)


def run_day(
    db: Database,
    caller: Caller,
    today: date,
    gateway: ChannelGateway,
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
    """A finished run: its job, day, counts, and the channels it read (None: none)."""

    job: JobName
    day: date
    counts: dict[str, Any]
    gateway: ChannelGateway | None

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
    """Run one job for the request's day with the configured database and channels, then
    send the alerts: the one path of the scheduled handler, the HTTP target and the CLI.

    The channels come from `settings` (so aggregate fetches the day's metrics of every
    channel whose credentials are configured). Only the CLI asks for more: a backfill range (`last`,
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
            gateway: ChannelGateway | None
            if job == "orchestrate":
                from leadflow.jobs.orchestrate import configured_mode

                mode = configured_mode(settings, Mode(request.mode) if request.mode else None)
                gateway = channels(
                    settings, db, caller, stored_budgets=stored_budgets and mode is Mode.dry_run
                )
            else:
                mode, gateway = Mode.dry_run, channels(settings, db, caller)
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
