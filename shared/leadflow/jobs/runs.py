"""Every run of every job is recorded in `public.job_runs`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from leadflow.db import Caller, Database, RpcError
from leadflow.db.errors import INVALID_PARAMETER, LEASE_TAKEN_OVER, UNIQUE_VIOLATION
from leadflow.errors import LeadflowError
from leadflow.log import keys as log_keys
from leadflow.log import logger


class JobAlreadyRunning(LeadflowError):
    """A run of the same job for the same day is in progress."""


class InvalidDay(LeadflowError):
    """A job was asked for a day it may not run for (outside the window, or live not today)."""


def check_live_day(db: Database, caller: Caller, day: date) -> None:
    """Live changes are only for the database's today in Amsterdam; InvalidDay otherwise."""
    today = date.fromisoformat(str(db.rpc("job_day_window", caller=caller)[0]["today"]))
    if day != today:
        raise InvalidDay(
            f"live changes are only for today ({today}), not {day}; other days can be dry_run only"
        )


class LeaseLost(LeadflowError):
    """The run was taken over (or its lease ran out): it may write nothing more."""


@contextlib.contextmanager
def fenced() -> Iterator[None]:
    """A write under the run's lease: the database's refusal of a stale fencing token
    becomes LeaseLost."""
    try:
        yield
    except RpcError as exc:
        if exc.code == LEASE_TAKEN_OVER:
            raise LeaseLost(exc.message) from None
        raise


@dataclass
class JobRun:
    """A started run: its id and the counts it will report."""

    id: str
    job: str
    day: date
    db: Database = field(repr=False)
    caller: Caller = field(repr=False)
    counts: dict[str, Any] = field(default_factory=dict)

    def heartbeat(self) -> None:
        """Renew the run's lease; LeaseLost when another run has taken it over."""
        if not self.db.rpc("heartbeat_job_run", {"p_run_id": self.id}, caller=self.caller):
            raise LeaseLost(f"run {self.id} lost its lease (taken over); it stops here")


@contextlib.contextmanager
def job_run(
    db: Database,
    caller: Caller,
    job: str,
    day: date,
    triggered_by: str,
    *,
    first: date | None = None,
) -> Iterator[JobRun]:
    """Record a run for `day` (or `first`..`day`): refused outside the job day window and while
    another holds the lease; success or failed (with the error) at the end."""
    try:
        run_id = db.rpc(
            "start_job_run",
            {
                "p_job": job,
                "p_day": day.isoformat(),
                "p_triggered_by": triggered_by,
                "p_first": first.isoformat() if first else None,
            },
            caller=caller,
        )
    except RpcError as exc:
        if exc.code == UNIQUE_VIOLATION:
            raise JobAlreadyRunning(exc.message) from None
        if exc.code == INVALID_PARAMETER:
            raise InvalidDay(exc.message) from None
        raise
    run = JobRun(id=run_id, job=job, day=day, db=db, caller=caller)
    with log_keys(job=job, day=day.isoformat(), run_id=run_id):
        logger.info("job started")
        try:
            yield run
        except BaseException as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            try:
                db.rpc(
                    "finish_job_run",
                    {
                        "p_run_id": run_id,
                        "p_status": "failed",
                        "p_counts": run.counts,
                        "p_error": message,
                    },
                    caller=caller,
                )
            except RpcError as finish_error:
                if finish_error.code != LEASE_TAKEN_OVER:  # the new holder owns the record
                    raise
            logger.info("job failed", extra={"error": message})
            raise
        db.rpc(
            "finish_job_run",
            {"p_run_id": run_id, "p_status": "success", "p_counts": run.counts},
            caller=caller,
        )
        logger.info("job finished", extra={"counts": run.counts})
