"""Every run of every job is recorded in `public.job_runs`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from leadflow.db import Caller, Database, RpcError
from leadflow.errors import LeadflowError

log = logging.getLogger("leadflow")


class JobAlreadyRunning(LeadflowError):
    """A run of the same job for the same day is in progress."""


@dataclass
class JobRun:
    """A started run: its id and the counts it will report."""

    id: str
    job: str
    day: date
    counts: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def job_run(
    db: Database, caller: Caller, job: str, day: date, triggered_by: str
) -> Iterator[JobRun]:
    """Record a run: refused while another runs; success or failed (with the error) at the end."""
    try:
        run_id = db.rpc(
            "start_job_run",
            {"p_job": job, "p_day": day.isoformat(), "p_triggered_by": triggered_by},
            caller=caller,
        )
    except RpcError as exc:
        if exc.code == "23505":
            raise JobAlreadyRunning(exc.message) from None
        raise
    run = JobRun(id=run_id, job=job, day=day)
    log.info("job started", extra={"job": job, "day": day.isoformat(), "run_id": run_id})
    try:
        yield run
    except BaseException as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        db.rpc(
            "finish_job_run",
            {"p_run_id": run_id, "p_status": "failed", "p_counts": run.counts, "p_error": message},
            caller=caller,
        )
        log.info("job failed", extra={"job": job, "run_id": run_id, "error": message})
        raise
    db.rpc(
        "finish_job_run",
        {"p_run_id": run_id, "p_status": "success", "p_counts": run.counts},
        caller=caller,
    )
    log.info("job finished", extra={"job": job, "run_id": run_id, "counts": run.counts})
