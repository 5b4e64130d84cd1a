"""The scheduler's day, wired once (leadflow.jobs.day): the job functions, the CLI, the demo
and the simulation all run aggregate → plan → orchestrate through it."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.jobs.day import default_day, run_day, run_job
from leadflow.settings import Mode
from leadflow_tools.google_ads_fake import InMemoryGoogleAds

SERVICE = Caller.service()
DAY = date(2026, 11, 23)  # a Monday; the seed has leads 9..22 November


@pytest.fixture
def ads(sql: psycopg.Connection[Any]) -> InMemoryGoogleAds:
    sql.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
    fake = InMemoryGoogleAds()
    for (name,) in sql.execute("select budget_resource_name from segment_campaign_budgets"):
        fake.add_budget(name, 50_000_000)
    return fake


def test_aggregate_measures_yesterday_while_plan_and_orchestrate_steer_today() -> None:
    assert default_day("aggregate", DAY) == date(2026, 11, 22)
    assert default_day("plan", DAY) == default_day("orchestrate", DAY) == DAY


def test_a_day_runs_aggregate_plan_orchestrate_in_order_each_for_its_own_day(
    database: Database, sql: psycopg.Connection[Any], ads: InMemoryGoogleAds
) -> None:
    counts = run_day(database, SERVICE, DAY, ads, mode=Mode.dry_run, triggered_by="test")

    assert list(counts) == ["aggregate", "plan", "orchestrate"]
    runs = sql.execute("select job, day from job_runs order by started_at, id").fetchall()
    assert runs == [
        ("aggregate", date(2026, 11, 22)),
        ("plan", DAY),
        ("orchestrate", DAY),
    ]
    assert counts["orchestrate"]["mode"] == "dry_run"
    assert ads.applied == []  # a dry run sends nothing


def test_a_day_runs_only_the_jobs_named_in_the_schedules_order(
    database: Database, sql: psycopg.Connection[Any], ads: InMemoryGoogleAds
) -> None:
    counts = run_day(database, SERVICE, DAY, ads, jobs=("plan", "aggregate"), triggered_by="test")

    assert list(counts) == ["aggregate", "plan"]
    assert sql.execute("select count(*) from job_runs where job = 'orchestrate'").fetchone() == (0,)


def test_orchestrate_without_google_ads_is_refused_before_it_runs(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    with pytest.raises(LeadflowError, match="needs Google Ads credentials"):
        run_job("orchestrate", database, SERVICE, DAY, gateway=None, triggered_by="test")
    assert sql.execute("select count(*) from job_runs").fetchone() == (0,)
