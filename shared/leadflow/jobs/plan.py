"""plan(day): lead_segment_plans from partner capacity, acceptance and pacing."""

from __future__ import annotations

from datetime import date
from typing import Any

from leadflow.db import Caller, Database
from leadflow.jobs.runs import job_run


def dutch_public_holidays(year: int) -> list[dict[str, str]]:
    """The Dutch public holidays of `year`, from the maintained `holidays` library."""
    import holidays  # on the plan's path only, not at a function's import

    calendar = holidays.country_holidays("NL", years=year, language="nl")
    return [{"day": day.isoformat(), "name": name} for day, name in sorted(calendar.items())]


def sync_holidays(db: Database, caller: Caller, year: int) -> int:
    """Store one year's holidays in `public.public_holidays`; returns how many there are."""
    return int(
        db.rpc(
            "sync_public_holidays",
            {"p_year": year, "p_holidays": dutch_public_holidays(year)},
            caller=caller,
        )
    )


def plan(db: Database, caller: Caller, day: date, *, triggered_by: str = "cli") -> dict[str, Any]:
    """Write the plans of `day` for every active segment; returns the run's counts."""
    with job_run(db, caller, "plan", day, triggered_by) as run:
        run.counts["holidays"] = sync_holidays(db, caller, day.year)
        run.counts["plans_written"] = db.rpc(
            "plan_lead_segments", {"p_day": day.isoformat()}, caller=caller
        )
    return run.counts
