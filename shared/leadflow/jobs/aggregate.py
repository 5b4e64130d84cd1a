"""aggregate(day or range): lead_generation_stats and lead_channel_stats from leads and
each paid channel's metrics.

Data settles late: partners accept or reject a lead hours to days after it arrives, and
the ad platforms restate a day's cost and conversions for days (a conversion is credited to
the click's day). So the scheduled run (`restate=True`) measures not only yesterday but the
trailing `orchestration_settings.restate_window_days` days up to it, each channel's metrics
of each re-fetched; `aggregate_lead_stats` upserts only the rows that changed, so a rerun
over settled days writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from leadflow.days import chunks, days_between
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.jobs.runs import job_run

if TYPE_CHECKING:
    from leadflow.channels import ChannelGateway

#: Days per SQL call in a backfill: big enough to stay set-based, small enough to show progress.
BACKFILL_CHUNK_DAYS = 31

Progress = Callable[[int, int], None]


def aggregate(
    db: Database,
    caller: Caller,
    first: date,
    last: date | None = None,
    *,
    gateway: ChannelGateway | None = None,
    triggered_by: str = "cli",
    on_progress: Progress | None = None,
    restate: bool = False,
) -> dict[str, Any]:
    """Recompute stats for the Dutch days `first`..`last` (one day when `last` is None).

    With `restate` and one day, the trailing `restate_window_days` days up to it (the
    settings') are recomputed: what settled since they were last measured is restated.
    With a gateway, each day's metrics of every paid channel with a mapped account are
    fetched and stored first.
    Returns the run's counts.
    """
    if restate and last is None:
        last = first
        # (from ordinals: a day near date.min stays a date; the job window then refuses it)
        back = restate_window_days(db, caller) - 1
        first = date.fromordinal(max(1, first.toordinal() - back))
    last = last or first
    if first > last:
        raise LeadflowError(f"aggregate: from {first} is after to {last}")
    total = (last - first).days + 1
    with job_run(db, caller, "aggregate", last, triggered_by, first=first) as run:
        run.counts.update({"from": first.isoformat(), "to": last.isoformat(), "days": total})
        if gateway is not None:
            from leadflow.channels.router import as_channel_set

            channels = as_channel_set(gateway)
            accounts: dict[str, list[str]] = defaultdict(list)
            for row in db.rpc("campaign_customer_ids", caller=caller, read_only=True):
                accounts[row["channel"]].append(row["customer_id"])
            campaigns = 0
            for day in days_between(first, last):
                for channel, customers in sorted(accounts.items()):
                    metrics = channels.metrics(channel, day, customers)
                    db.rpc(
                        "record_campaign_metrics",
                        {
                            "p_channel": channel,
                            "p_day": day.isoformat(),
                            "p_metrics": [m.as_row() for m in metrics],
                        },
                        caller=caller,
                    )
                    campaigns += len(metrics)
            run.counts["campaign_days"] = campaigns
        written = 0
        done = 0
        for chunk_from, chunk_to in chunks(first, last, BACKFILL_CHUNK_DAYS):
            written += db.rpc(
                "aggregate_lead_stats",
                {"p_from": chunk_from.isoformat(), "p_to": chunk_to.isoformat()},
                caller=caller,
            )
            done += (chunk_to - chunk_from).days + 1
            run.heartbeat()
            if on_progress:
                on_progress(done, total)
        run.counts["rows_written"] = written
    return run.counts


def restate_window_days(db: Database, caller: Caller) -> int:
    """The days the scheduled aggregate measures again, yesterday included (the settings')."""
    settings = db.rpc("orchestration_settings_get", caller=caller, read_only=True)
    return max(1, int(settings["restate_window_days"]))
