"""orchestrate against the real Postgres and an in-memory Google Ads: safe by construction."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from leadflow.channels.google_ads import BudgetChange, BudgetResult
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.orchestrate import Mode, orchestrate, resolve_mode, rollback
from leadflow.jobs.plan import plan
from leadflow_tools.google_ads_fake import InMemoryGoogleAds

SERVICE = Caller.service()
DAY = date(2026, 11, 23)  # a Monday; the seed has leads 9..22 November
START_MICROS = 50_000_000  # €50/day; the seed's bounds are €10..€150


@pytest.fixture(autouse=True)
def today_is_day(sql: psycopg.Connection[Any]) -> None:
    """The database's today is DAY (live changes are only for today)."""
    sql.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))


@pytest.fixture
def ready(database: Database) -> Database:
    """Stats through the day before DAY and plans for the week up to DAY."""
    aggregate(database, SERVICE, date(2026, 11, 9), DAY - timedelta(days=1))
    for offset in range(6, -1, -1):
        plan(database, SERVICE, DAY - timedelta(days=offset))
    return database


@pytest.fixture
def ads(sql: psycopg.Connection[Any]) -> InMemoryGoogleAds:
    fake = InMemoryGoogleAds()
    for (name,) in sql.execute(
        "select budget_resource_name from segment_campaign_budgets order by 1"
    ):
        fake.add_budget(name, START_MICROS)
    return fake


def _log(sql: psycopg.Connection[Any], **where: Any) -> list[dict[str, Any]]:
    clauses = " and ".join(f"{k} = %s" for k in where) or "true"
    cur = sql.execute(
        f"select * from channel_orchestration_log where {clauses} order by id",
        list(where.values()),
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _changes(ads: InMemoryGoogleAds) -> list[BudgetChange]:
    return list(ads.applied)


def test_dry_run_is_the_default_and_sends_nothing(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    counts = orchestrate(ready, SERVICE, DAY, ads)
    assert counts["mode"] == "dry_run"
    assert counts["budgets"] == 9
    assert ads.applied == []
    assert not [c for c in ads.calls if c.method == "apply_budgets"]
    rows = _log(sql, day=DAY)
    assert len(rows) == 9
    assert {r["status"] for r in rows} == {"skipped"}
    assert all(r["mode"] == "dry_run" and r["reason"] for r in rows)
    # Budgets really would move: the seed's segments are under or over target.
    assert counts["increase"] + counts["decrease"] > 0


def test_each_decision_keeps_what_the_controller_saw_on_its_log_row(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    orchestrate(ready, SERVICE, DAY, ads)
    rows = _log(sql, day=DAY, kind="adjust")
    assert len(rows) == 9
    for row in rows:
        signal, settings = row["inputs"]["signal"], row["inputs"]["settings"]
        assert signal["current_budget_micros"] == START_MICROS == row["old_amount_micros"]
        assert settings["max_daily_change"] == 0.2
        # The gap the decision answered is the one its own inputs give: the row stands alone
        # (forecast for the day: the week's target and leads x the weekday/holiday factor).
        gap = (signal["target_leads"] - signal["expected_leads"]) * (signal["day_factor"] or 1)
        assert float(row["expected_gap"]) == pytest.approx(gap, abs=0.005)
    # One plan row per segment, not written by orchestrate; the view joins the decision to it.
    days = sql.execute(
        "select budgets, planned_budget_micros, budget_status from lead_segment_days"
        " where day = %s",
        (DAY,),
    ).fetchall()
    assert sum(n for n, _, _ in days) == 9
    assert {status for _, _, status in days} == {"skipped"}
    planned = {r["segment_id"]: 0 for r in rows}
    for r in rows:
        planned[r["segment_id"]] += r["new_amount_micros"]
    assert sorted(micros for _, micros, _ in days) == sorted(planned.values())
    assert sql.execute(
        "select count(*) from lead_segment_plans where day = %s and updated_at > created_at",
        (DAY,),
    ).fetchone() == (0,)


def test_live_changes_stay_within_the_daily_limit_and_bounds(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    counts = orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    applied = _changes(ads)
    assert counts["applied"] == len(applied) > 0
    for change in applied:
        assert abs(change.new_amount_micros - START_MICROS) <= START_MICROS * 0.2
        assert 10_000_000 <= change.new_amount_micros <= 150_000_000
        assert change.new_amount_micros % 10_000 == 0
        assert ads.budgets[change.budget_resource_name].amount_micros == change.new_amount_micros
    rows = _log(sql, day=DAY, mode="live")
    assert sorted(r["id"] for r in rows if r["status"] == "success") == sorted(
        c.key for c in applied
    )
    days = sql.execute(
        "select budget_status, budget_action, count(*) from lead_segment_days where day = %s"
        " group by 1, 2",
        (DAY,),
    ).fetchall()
    moved = sum(n for status, action, n in days if status == "success" and action != "hold")
    assert moved == len(applied)


def test_the_controller_steers_with_the_settings_an_admin_set(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("update orchestration_settings set max_daily_change = 0.05, dead_band = 0")
    orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    assert _changes(ads)
    for change in _changes(ads):
        assert abs(change.new_amount_micros - START_MICROS) <= START_MICROS * 0.05
    rows = _log(sql, day=DAY, kind="adjust")
    assert {r["inputs"]["settings"]["max_daily_change"] for r in rows} == {0.05}
    assert {r["inputs"]["settings"]["dead_band"] for r in rows} == {0}


def test_a_rerun_the_same_day_never_applies_a_change_twice(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    first = _changes(ads)
    counts = orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    assert _changes(ads) == first
    assert counts["applied"] == 0
    second_run = [r for r in _log(sql, day=DAY) if r["action"] != "hold"][len(first) :]
    assert second_run and all(
        r["status"] == "skipped" and "already changed today" in r["error"] for r in second_run
    )


class CrashAfterApplying(InMemoryGoogleAds):
    """Applies the changes, then dies before we hear back: the worst moment to crash."""

    def apply_budgets(self, changes: Any, *, validate_only: bool) -> list[BudgetResult]:
        super().apply_budgets(changes, validate_only=validate_only)
        raise KeyboardInterrupt("process killed")


def test_no_double_apply_after_a_crash_between_pending_and_completion(
    ready: Database, sql: psycopg.Connection[Any]
) -> None:
    crashing = CrashAfterApplying()
    for (name,) in sql.execute("select budget_resource_name from segment_campaign_budgets"):
        crashing.add_budget(name, START_MICROS)
    with pytest.raises(KeyboardInterrupt):
        orchestrate(ready, SERVICE, DAY, crashing, mode=Mode.live)
    pending = _log(sql, day=DAY, status="sent")
    applied_once = list(crashing.applied)
    assert pending and len(pending) == len(applied_once)

    # The next run (a healthy process) reconciles first: Google holds the amounts, so success.
    healthy = InMemoryGoogleAds(budgets=dict(crashing.budgets))
    counts = orchestrate(ready, SERVICE, DAY, healthy, mode=Mode.live)
    assert counts["reconciled"] == len(pending)
    assert healthy.applied == []  # nothing sent twice
    reconciled = [r for r in _log(sql, day=DAY) if r["id"] in {p["id"] for p in pending}]
    assert {r["status"] for r in reconciled} == {"success"}
    assert all(r["error"] == "reconciled: found applied" for r in reconciled)


class CrashBeforeSending(InMemoryGoogleAds):
    def apply_budgets(self, changes: Any, *, validate_only: bool) -> list[BudgetResult]:
        raise KeyboardInterrupt("process killed before the request left")


def test_a_crash_before_sending_is_reconciled_as_failed_and_decided_again(
    ready: Database, sql: psycopg.Connection[Any]
) -> None:
    crashing = CrashBeforeSending()
    for (name,) in sql.execute("select budget_resource_name from segment_campaign_budgets"):
        crashing.add_budget(name, START_MICROS)
    with pytest.raises(KeyboardInterrupt):
        orchestrate(ready, SERVICE, DAY, crashing, mode=Mode.live)
    pending_ids = {r["id"] for r in _log(sql, day=DAY, status="sent")}
    healthy = InMemoryGoogleAds(budgets=dict(crashing.budgets))
    orchestrate(ready, SERVICE, DAY, healthy, mode=Mode.live)
    assert {r["status"] for r in _log(sql, day=DAY) if r["id"] in pending_ids} == {"failed"}
    # Decided again and applied exactly once per budget.
    names = [c.budget_resource_name for c in healthy.applied]
    assert len(names) == len(pending_ids) == len(set(names))


def test_one_permanent_and_one_transient_failure_do_not_stop_the_others(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    orchestrate(ready, SERVICE, DAY, ads, mode=Mode.dry_run)
    moving = [r["budget_resource_name"] for r in _log(sql, day=DAY) if r["action"] != "hold"]
    assert len(moving) >= 3
    permanent, transient = moving[0], moving[1]
    ads.fail_permanently(permanent, "CampaignBudgetError.NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT")
    ads.fail_transiently(transient, times=1, error="InternalError.TRANSIENT_ERROR")
    counts = orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    assert counts["failed"] == 2
    applied = {c.budget_resource_name for c in ads.applied}
    assert applied == set(moving) - {permanent, transient}
    failed = {
        r["budget_resource_name"]: r["error"]
        for r in _log(sql, day=DAY, mode="live", status="failed")
    }
    assert failed == {
        permanent: "CampaignBudgetError.NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
        transient: "InternalError.TRANSIENT_ERROR",
    }
    # Rerun: the transient one now goes through, the permanent one fails again, nothing twice.
    counts = orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    assert counts["applied"] == 1
    assert [c.budget_resource_name for c in ads.applied].count(transient) == 1
    assert len(ads.applied) == len(set(c.budget_resource_name for c in ads.applied))


def test_the_kill_switch_stops_every_change(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("update orchestration_settings set changes_enabled = false")
    counts = orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    assert ads.applied == []
    assert counts["kill_switch"] is True
    assert {r["error"] for r in _log(sql, day=DAY) if r["action"] != "hold"} == {
        "kill switch is on: not sent"
    }


def test_quota_exhaustion_stops_the_run_with_a_clear_status(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    ads.exhaust_quota(after_operations=3)  # the budget read takes one; two changes get through
    with pytest.raises(LeadflowError, match="quota exhausted"):
        orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    status, error = sql.execute(
        "select status, error from job_runs where job = 'orchestrate'"
    ).fetchone()
    assert status == "failed" and "quota exhausted" in error
    rows = _log(sql, day=DAY, mode="live")
    assert len([r for r in rows if r["status"] == "success"]) == len(ads.applied) == 2
    assert all("quota exhausted" in r["error"] for r in rows if r["status"] == "failed")
    assert not [r for r in rows if r["status"] == "pending"]


def test_the_database_refuses_a_change_beyond_the_limit_or_bounds(
    ready: Database, sql: psycopg.Connection[Any]
) -> None:
    seg, name, cid, campaign = sql.execute(
        "select segment_id, budget_resource_name, customer_id, campaign_id from segment_campaign_budgets limit 1"
    ).fetchone()

    run_id = ready.rpc(
        "start_job_run",
        {"p_job": "orchestrate", "p_day": DAY.isoformat(), "p_triggered_by": "test"},
        caller=SERVICE,
    )

    def log(old: int, new: int) -> Any:
        return ready.rpc(
            "log_budget_decisions",
            {
                "p_run_id": run_id,
                "p_day": DAY.isoformat(),
                "p_kind": "adjust",
                "p_mode": "live",
                "p_triggered_by": "test",
                "p_decisions": [
                    {
                        "segment_id": str(seg),
                        "customer_id": cid,
                        "campaign_id": campaign,
                        "budget_resource_name": name,
                        "action": "increase" if new > old else "decrease",
                        "old_amount_micros": old,
                        "new_amount_micros": new,
                        "expected_gap": "1" if new > old else "-1",
                        "reason": "test",
                    }
                ],
            },
            caller=SERVICE,
        )

    ready.rpc(
        "record_budget_observations",
        {"p_observed": [{"budget_resource_name": name, "amount_micros": 50_000_000}]},
        caller=SERVICE,
    )
    for old, new, message in [
        (50_000_000, 60_010_000, "from today's starting budget"),
        (140_000_000, 151_000_000, "outside the segment's bounds"),
        (11_000_000, 9_000_000, "outside the segment's bounds"),
    ]:
        # Refused per row, with why: the old amount is the database's (50 euro), whatever is passed.
        [row] = log(old, new)
        assert row["status"] == "skipped" and message in row["error"], row
    assert log(50_000_000, 60_000_000)[0]["status"] == "pending"
    assert [r["new_amount_micros"] for r in _log(sql, day=DAY, status="pending")] == [60_000_000]


def test_shared_and_custom_period_budgets_are_held_with_a_reason(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    names = sorted(ads.budgets)
    ads.add_budget(names[0], START_MICROS, explicitly_shared=True)
    ads.add_budget(names[1], START_MICROS, period="CUSTOM_PERIOD")
    orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    touched = {c.budget_resource_name for c in ads.applied}
    assert names[0] not in touched and names[1] not in touched
    held = {
        r["budget_resource_name"]: r
        for r in _log(sql, day=DAY)
        if r["budget_resource_name"] in names[:2]
    }
    assert all(r["action"] == "hold" and r["status"] == "skipped" for r in held.values())


def test_rollback_restores_the_budgets_before_the_day_once(
    ready: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    orchestrate(ready, SERVICE, DAY, ads, mode=Mode.live)
    changed = {c.budget_resource_name for c in ads.applied}
    counts = rollback(ready, SERVICE, DAY, ads, mode=Mode.live)
    assert counts["restored"] == len(changed)
    assert all(ads.budgets[name].amount_micros == START_MICROS for name in changed)
    assert {r["kind"] for r in _log(sql, day=DAY, status="success")} == {"adjust", "rollback"}
    again = rollback(ready, SERVICE, DAY, ads, mode=Mode.live)
    assert again["restored"] == 0


@pytest.mark.parametrize(
    ("requested", "credentials", "live", "outcome"),
    [
        (Mode.dry_run, False, False, Mode.dry_run),
        (Mode.validate_only, True, False, Mode.validate_only),
        (Mode.live, True, True, Mode.live),
        (Mode.live, True, False, "LEADFLOW_ORCHESTRATOR_LIVE"),
        (Mode.live, False, True, "needs a channel's credentials"),
        (Mode.validate_only, False, False, "needs a channel's credentials"),
    ],
)
def test_live_needs_credentials_and_the_explicit_switch(
    requested: Mode, credentials: bool, live: bool, outcome: Mode | str
) -> None:
    if isinstance(outcome, Mode):
        assert (
            resolve_mode(requested, credentials_configured=credentials, live_enabled=live)
            is outcome
        )
    else:
        with pytest.raises(LeadflowError, match=outcome):
            resolve_mode(requested, credentials_configured=credentials, live_enabled=live)


def test_no_plan_means_hold(
    database: Database, ads: InMemoryGoogleAds, sql: psycopg.Connection[Any]
) -> None:
    aggregate(database, SERVICE, date(2026, 11, 9), DAY - timedelta(days=1))
    orchestrate(database, SERVICE, DAY, ads, mode=Mode.live)
    assert ads.applied == []
    assert {r["reason"] for r in _log(sql, day=DAY)} == {"no plan for this day; run plan first"}
