"""`leadflow status`: the day on each paid channel (issue 22)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from leadflow.db import Caller, Database
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.orchestrate import Mode, orchestrate
from leadflow.jobs.plan import plan
from leadflow_tools.google_ads_fake import InMemoryGoogleAds
from test_operator import _run

SERVICE = Caller.service()
DAY = date(2026, 11, 23)


def test_status_shows_each_paid_channel_with_the_days_decisions(
    db_url: str, database: Database, sql: psycopg.Connection[Any], tmp_path: Path
) -> None:
    sql.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
    aggregate(database, SERVICE, date(2026, 11, 9), DAY - timedelta(days=1))
    for offset in range(6, -1, -1):
        plan(database, SERVICE, DAY - timedelta(days=offset))
    ads = InMemoryGoogleAds()
    for (name,) in sql.execute("select budget_resource_name from segment_campaign_budgets"):
        ads.add_budget(name, 50_000_000)
    counts = orchestrate(database, SERVICE, DAY, ads, mode=Mode.dry_run)
    sql.execute("update ad_channels set kill_switch = true where key = 'microsoft_ads'")

    result = _run("status", "--day", DAY.isoformat(), "--json", db_url=db_url, home=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {r["channel"]: r for r in json.loads(result.stdout)["channels"]}
    assert set(rows) == {"google_ads", "microsoft_ads"}
    google = rows["google_ads"]
    assert google["decided"] == counts["budgets"]
    assert google["increase"] + google["decrease"] + google["hold"] == counts["budgets"]
    assert (google["increase"], google["decrease"]) == (counts["increase"], counts["decrease"])
    assert rows["microsoft_ads"]["kill_switch"] is True and rows["microsoft_ads"]["decided"] == 0

    text = _run("status", "--day", DAY.isoformat(), db_url=db_url, home=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "microsoft_ads: kill switch ON" in text.stdout
    assert all(len(line) <= 80 for line in text.stdout.splitlines()), text.stdout
