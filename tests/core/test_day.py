"""The scheduler's day, wired once (leadflow.jobs.day): the job functions, the CLI, the demo
and the simulation all run aggregate → plan → orchestrate through it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from leadflow.channels.google_ads import CampaignMetrics
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.jobs.budget_view import StoredBudgets
from leadflow.jobs.day import JobRequest, default_day, run_day, run_job, run_request
from leadflow.jobs.entry import scheduled_entry
from leadflow.settings import Mode, Settings
from leadflow_tools.cli import app as cli_app
from leadflow_tools.google_ads_fake import InMemoryGoogleAds
from typer.testing import CliRunner

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
    with pytest.raises(LeadflowError, match="needs a channel's credentials"):
        run_job("orchestrate", database, SERVICE, DAY, gateway=None, triggered_by="test")
    assert sql.execute("select count(*) from job_runs").fetchone() == (0,)


# --------------------------------------------------------------------------- one path per job


def _metrics_for_every_budget(
    sql: psycopg.Connection[Any], ads: InMemoryGoogleAds, day: date
) -> int:
    rows = sql.execute(
        "select customer_id, campaign_id, budget_resource_name from segment_campaign_budgets"
    ).fetchall()
    ads.add_metrics(
        day,
        [
            CampaignMetrics(customer, campaign, name, 12_340_000, 40, 900, 3.0, 0.2)
            for customer, campaign, name in rows
        ],
    )
    return len(rows)


def test_the_cli_aggregate_fetches_google_ads_metrics_as_the_scheduled_run_does(
    database: Database,
    sql: psycopg.Connection[Any],
    ads: InMemoryGoogleAds,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Credentials configured: the configured gateway is (here) the fake Google Ads.
    monkeypatch.setattr("leadflow.jobs.day.gateways_from_settings", lambda s: {"google_ads": ads})
    yesterday = date(2026, 11, 22)
    campaigns = _metrics_for_every_budget(sql, ads, yesterday)

    @contextlib.contextmanager
    def local_database(settings: Any = None) -> Iterator[Database]:
        yield database

    monkeypatch.setattr("leadflow_tools.cli.jobs.service_database", local_database)
    result = CliRunner().invoke(cli_app, ["aggregate", "--day", "2026-11-22", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["campaign_days"] == campaigns > 0
    stored = sql.execute(
        "select count(*), sum(cost_micros) from ad_campaign_daily_metrics where day = %s",
        (yesterday,),
    ).fetchone()
    assert stored == (campaigns, campaigns * 12_340_000)
    scheduled = scheduled_entry("aggregate")
    monkeypatch.setattr("leadflow.jobs.day.from_settings", lambda settings: database)
    monkeypatch.setattr(database, "close", lambda: None)
    summary = scheduled({"day": "2026-11-22"})
    assert summary["counts"]["campaign_days"] == campaigns  # the same path, the same count


def test_a_request_names_a_day_and_for_orchestrate_only_a_mode(database: Database) -> None:
    with pytest.raises(LeadflowError, match="plan takes no mode"):
        run_request(
            "plan",
            JobRequest(day=DAY, mode="dry_run"),
            settings=Settings(),
            triggered_by="test",
            database=database,
            caller=SERVICE,
        )


def test_a_dry_run_without_credentials_reads_the_stored_budgets_only_when_asked(
    database: Database, ads: InMemoryGoogleAds
) -> None:
    settings = Settings()
    assert settings.google_ads.missing()
    request = JobRequest(day=DAY, mode="dry_run")
    with pytest.raises(LeadflowError, match="needs a channel's credentials"):
        run_request(
            "orchestrate",
            request,
            settings=settings,
            triggered_by="test",
            database=database,
            caller=SERVICE,
        )
    outcome = run_request(
        "orchestrate",
        request,
        settings=settings,
        triggered_by="test",
        database=database,
        caller=SERVICE,
        stored_budgets=True,
    )
    assert isinstance(outcome.gateway, StoredBudgets)
    assert outcome.summary()["counts"]["mode"] == "dry_run"
    assert outcome.summary()["day"] == DAY.isoformat()


# --------------------------------------------------------------------------- data that settles late


def _accepted_pending(sql: psycopg.Connection[Any], day: date) -> tuple[int, int, float]:
    row = sql.execute(
        "select sum(leads_accepted), sum(leads_pending), sum(ad_conversions)"
        " from lead_generation_stats where day = %s",
        (day,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2])


def test_a_lead_accepted_two_days_late_reaches_its_days_stats_on_the_next_run(
    database: Database, sql: psycopg.Connection[Any], ads: InMemoryGoogleAds
) -> None:
    day = date(2026, 11, 18)
    counts = run_job("aggregate", database, SERVICE, day, gateway=ads, triggered_by="test")
    # The scheduled run measures the trailing restate_window_days (7) up to its day.
    assert (counts["from"], counts["to"], counts["days"]) == ("2026-11-12", "2026-11-18", 7)
    accepted, pending, conversions = _accepted_pending(sql, day)
    assert pending > 0 and conversions == 0
    # Two days later the partners decide on that day's pending leads, and Google Ads
    # restates the day's cost and conversions (credited to the click's day).
    sql.execute(
        "update leads set status = 'accepted' where status = 'pending'"
        " and (created_at at time zone 'Europe/Amsterdam')::date = %s",
        (day,),
    )
    campaigns = _metrics_for_every_budget(sql, ads, day)
    later = run_job(
        "aggregate", database, SERVICE, date(2026, 11, 20), gateway=ads, triggered_by="test"
    )
    assert (later["from"], later["to"]) == ("2026-11-14", "2026-11-20")
    assert later["campaign_days"] == campaigns
    assert _accepted_pending(sql, day) == (accepted + pending, 0, campaigns * 3.0)
    asked = [c.args["day"] for c in ads.calls if c.method == "daily_metrics"]
    assert asked[-7:] == [date(2026, 11, 14 + i) for i in range(7)]
    # Idempotent: nothing changed since, so the next run over the same days writes nothing.
    again = run_job(
        "aggregate", database, SERVICE, date(2026, 11, 20), gateway=ads, triggered_by="test"
    )
    assert again["rows_written"] == 0


def test_a_restate_window_of_one_day_measures_only_the_day(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("update orchestration_settings set restate_window_days = 1")
    counts = run_job(
        "aggregate", database, SERVICE, date(2026, 11, 18), gateway=None, triggered_by="test"
    )
    assert (counts["from"], counts["to"], counts["days"]) == ("2026-11-18", "2026-11-18", 1)
    # An explicit range (a backfill) is measured as asked.
    ranged = run_job(
        "aggregate",
        database,
        SERVICE,
        date(2026, 11, 10),
        gateway=None,
        triggered_by="test",
        last=date(2026, 11, 12),
    )
    assert ranged["days"] == 3


def test_restate_window_days_is_checked(sql: psycopg.Connection[Any]) -> None:
    for bad in (0, 61):
        with pytest.raises(psycopg.errors.CheckViolation):
            sql.execute("update orchestration_settings set restate_window_days = %s", (bad,))
