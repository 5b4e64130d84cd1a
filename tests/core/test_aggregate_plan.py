"""aggregate and plan against the real Postgres: days cut in Amsterdam, capacity, targets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from leadflow.db import Caller, Database
from leadflow.jobs.aggregate import aggregate
from leadflow.jobs.plan import dutch_public_holidays, plan, sync_holidays
from leadflow.jobs.runs import JobAlreadyRunning

SERVICE = Caller.service()
SCHILDER = "00000000-0000-4000-8001-000000000001"
LOODGIETER = "00000000-0000-4000-8001-000000000002"


@pytest.fixture(autouse=True)
def far_future_today(sql: psycopg.Connection[Any]) -> None:
    """These tests compute days up to 2031: the database's today is pinned past them."""
    sql.execute("insert into private.clock (id, today) values (true, '2031-12-31')")


def _segment(sql: psycopg.Connection[Any], code: str) -> str:
    row = sql.execute("select id::text from lead_segments where code = %s", (code,)).fetchone()
    assert row is not None
    return str(row[0])


def _stats(sql: psycopg.Connection[Any], day: str) -> list[tuple[Any, ...]]:
    return sql.execute(
        "select st.*, s.code from lead_generation_stats st join lead_segments s on s.id = st.segment_id"
        " where day = %s order by s.code",
        (day,),
    ).fetchall()


def _add_lead(
    sql: psycopg.Connection[Any], industry: str, region: str, at_utc: str, **extra: Any
) -> None:
    columns = ["industry_id", "region_code", "created_at", *extra]
    values = [industry, region, at_utc, *extra.values()]
    placeholders = ", ".join(["%s"] * len(values))
    sql.execute(
        f"insert into leads ({', '.join(columns)}) values ({placeholders})",
        values,
    )


def test_aggregate_counts_every_lead_of_the_seed_once(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    aggregate(database, SERVICE, date(2026, 11, 9), date(2026, 11, 22))
    total, accepted, rejected, pending, revenue = sql.execute(
        "select sum(leads_generated), sum(leads_accepted), sum(leads_rejected), sum(leads_pending),"
        " sum(revenue) from lead_generation_stats"
    ).fetchone()
    expected = sql.execute(
        "select count(*), count(*) filter (where status = 'accepted'), count(*) filter (where status = 'rejected'),"
        " count(*) filter (where status = 'pending'), sum(price) filter (where status = 'accepted') from leads"
    ).fetchone()
    assert (total, accepted, rejected, pending, revenue) == expected
    assert total == 1400
    # 9 active segments x 14 days, a row even where no lead came in.
    assert sql.execute("select count(*) from lead_generation_stats").fetchone() == (9 * 14,)


def test_aggregate_rerun_leaves_identical_rows(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    aggregate(database, SERVICE, date(2026, 11, 9), date(2026, 11, 22))
    first = sql.execute("select * from lead_generation_stats order by segment_id, day").fetchall()
    counts = aggregate(database, SERVICE, date(2026, 11, 9), date(2026, 11, 22))
    second = sql.execute("select * from lead_generation_stats order by segment_id, day").fetchall()
    assert first == second  # computed_at included: unchanged rows are not rewritten
    assert counts["rows_written"] == 0


def test_aggregate_picks_up_a_status_change_on_rerun(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    aggregate(database, SERVICE, date(2026, 11, 10))
    before = sql.execute("select sum(leads_accepted) from lead_generation_stats").fetchone()[0]
    sql.execute(
        "update leads set status = 'accepted' where status = 'pending'"
        " and (created_at at time zone 'Europe/Amsterdam')::date = '2026-11-10'"
    )
    counts = aggregate(database, SERVICE, date(2026, 11, 10))
    after = sql.execute(
        "select sum(leads_accepted), sum(leads_pending) from lead_generation_stats"
    ).fetchone()
    assert after[0] > before
    assert after[1] == 0
    assert counts["rows_written"] > 0


@pytest.mark.parametrize(
    ("created_at_utc", "dutch_day"),
    [
        ("2026-11-30 23:30:00+00", "2026-12-01"),  # winter: UTC+1
        ("2026-11-30 22:59:59+00", "2026-11-30"),
        ("2026-07-14 22:30:00+00", "2026-07-15"),  # summer: UTC+2
        ("2026-07-14 21:59:00+00", "2026-07-14"),
        # 2026-03-29 has 23 hours (02:00 -> 03:00): it starts 03-28 23:00 UTC, ends 03-29 22:00 UTC.
        ("2026-03-28 23:00:00+00", "2026-03-29"),
        ("2026-03-29 21:59:59+00", "2026-03-29"),
        ("2026-03-29 22:00:00+00", "2026-03-30"),
        # 2026-10-25 has 25 hours (03:00 -> 02:00): it starts 10-24 22:00 UTC, ends 10-25 23:00 UTC.
        ("2026-10-24 22:00:00+00", "2026-10-25"),
        ("2026-10-25 22:59:59+00", "2026-10-25"),
        ("2026-10-25 23:00:00+00", "2026-10-26"),
    ],
)
def test_a_lead_counts_on_its_dutch_day(
    database: Database, sql: psycopg.Connection[Any], created_at_utc: str, dutch_day: str
) -> None:
    _add_lead(sql, SCHILDER, "utrecht", created_at_utc)
    day = date.fromisoformat(dutch_day)
    aggregate(
        database,
        SERVICE,
        date.fromordinal(day.toordinal() - 1),
        date.fromordinal(day.toordinal() + 1),
    )
    rows = sql.execute(
        "select day::text, leads_generated from lead_generation_stats"
        " where segment_id = %s and leads_generated > 0",
        (_segment(sql, "schilder_utrecht"),),
    ).fetchall()
    assert rows == [(dutch_day, 1)]


def test_channels_and_cpl(database: Database, sql: psycopg.Connection[Any]) -> None:
    seg = _segment(sql, "schilder_utrecht")
    cid, campaign = sql.execute(
        "select customer_id, campaign_id from segment_campaign_budgets where segment_id = %s",
        (seg,),
    ).fetchone()
    for gclid, source, medium in [
        ("g1", None, None),
        (None, "google", "cpc"),
        (None, "google", "organic"),
        (None, "microsite", "microsite"),
        (None, None, None),
        (None, "bing", "cpc"),
    ]:
        _add_lead(
            sql,
            SCHILDER,
            "utrecht",
            "2026-12-02 10:00+00",
            gclid=gclid,
            utm_source=source,
            utm_medium=medium,
        )
    database.rpc(
        "record_campaign_metrics",
        {
            "p_channel": "google_ads",
            "p_day": "2026-12-02",
            "p_metrics": [
                {
                    "customer_id": cid,
                    "campaign_id": campaign,
                    "cost_micros": 45_500_000,
                    "clicks": 30,
                    "impressions": 900,
                    "conversions": 2,
                }
            ],
        },
        caller=SERVICE,
    )
    aggregate(database, SERVICE, date(2026, 12, 2))
    row = sql.execute(
        "select leads_generated, leads_paid, ad_spend, ad_clicks, cpl"
        " from lead_generation_stats where segment_id = %s and day = '2026-12-02'",
        (seg,),
    ).fetchone()
    # Paid: the gclid, the paid Google UTMs and the paid Bing UTMs; spend only Google's.
    assert row == (6, 3, Decimal("45.50"), 30, Decimal("15.17"))
    channels = {
        channel: (leads, spend)
        for channel, leads, spend in sql.execute(
            "select channel, leads_generated, spend from lead_channel_stats"
            " where segment_id = %s and day = '2026-12-02'",
            (seg,),
        )
    }
    assert channels == {
        "google_ads": (2, Decimal("45.50")),
        "microsoft_ads": (1, Decimal("0.00")),
        "seo": (1, Decimal("0.00")),
        "microsite": (1, Decimal("0.00")),
        "other": (1, Decimal("0.00")),
    }
    # Spend without any Google Ads lead: CPL is unknown (null), never an error.
    sql.execute("delete from leads where gclid = 'g1' or utm_medium = 'cpc'")
    channels_left = sql.execute(
        "select channel from lead_channel_stats where segment_id = %s and day = '2026-12-02'"
        " order by channel",
        (seg,),
    ).fetchall()
    assert ("microsoft_ads",) in channels_left  # still there until the day is measured again
    aggregate(database, SERVICE, date(2026, 12, 2))
    cpl = sql.execute(
        "select ad_spend, cpl from lead_generation_stats where segment_id = %s and day = '2026-12-02'",
        (seg,),
    ).fetchone()
    assert cpl == (Decimal("45.50"), None)
    restated = dict(
        sql.execute(
            "select channel, leads_generated from lead_channel_stats"
            " where segment_id = %s and day = '2026-12-02'",
            (seg,),
        ).fetchall()
    )
    # The Bing lead went: its channel's row goes; Google keeps its spend, with no leads.
    assert restated == {"google_ads": 0, "seo": 1, "microsite": 1, "other": 1}


def test_capacity_spreads_quota_over_provinces_and_working_days(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    sync_holidays(database, SERVICE, 2026)
    rows = {
        (r["segment_id"], r["day"]): r
        for r in database.rpc(
            "segment_capacity", {"p_from": "2026-11-20", "p_to": "2026-11-22"}, caller=SERVICE
        )
    }
    loodgieter_utrecht = _segment(sql, "loodgieter_utrecht")
    friday = rows[(loodgieter_utrecht, "2026-11-20")]
    # 150 leads a month over 3 provinces = 50; November 2026 has 21 working days.
    assert friday["monthly_capacity"] == 50
    assert friday["working_days"] == 21
    assert friday["capacity"] == pytest.approx(2.38)
    assert rows[(loodgieter_utrecht, "2026-11-21")]["capacity"] == 0  # Saturday
    # schilder_utrecht: one partner with 90 over two provinces.
    schilder_utrecht = rows[(_segment(sql, "schilder_utrecht"), "2026-11-20")]
    assert (schilder_utrecht["monthly_capacity"], schilder_utrecht["active_partners"]) == (45, 1)
    # dakdekker_utrecht has only a paused subscription: no capacity at all.
    assert (_segment(sql, "dakdekker_utrecht"), "2026-11-20") not in rows


def test_holidays_are_not_working_days(database: Database) -> None:
    assert {"day": "2026-05-14", "name": "Hemelvaartsdag"} in dutch_public_holidays(2026)
    sync_holidays(database, SERVICE, 2026)
    rows = database.rpc(
        "segment_capacity", {"p_from": "2026-05-14", "p_to": "2026-05-15"}, caller=SERVICE
    )
    by_day = {r["day"]: r for r in rows}
    # May 2026: 21 weekdays, minus Ascension (Thu 14th) and Whit Monday (25th).
    assert by_day["2026-05-14"]["working_days"] == 19
    assert by_day["2026-05-14"]["is_working_day"] is False
    assert by_day["2026-05-14"]["capacity"] == 0
    assert by_day["2026-05-15"]["is_working_day"] is True


def test_plan_without_history_uses_the_prior_acceptance(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    counts = plan(database, SERVICE, date(2026, 11, 2))  # the first working day; no stats yet
    assert counts["plans_written"] == 9
    seg = _segment(sql, "loodgieter_utrecht")
    capacity, rate, target = sql.execute(
        "select capacity, acceptance_rate, target_leads from lead_segment_plans where segment_id = %s"
        " and day = '2026-11-02'",
        (seg,),
    ).fetchone()
    assert capacity == Decimal("2.38")
    assert rate == Decimal("0.7000")
    # Nothing delivered yet: remaining 50 over 21 working days = 2.381 accepted, / 0.7 gross.
    assert target == Decimal("3.40")


def test_plan_takes_its_parameters_from_orchestration_settings(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("update orchestration_settings set prior_acceptance = 0.5")
    plan(database, SERVICE, date(2026, 11, 2))
    seg = _segment(sql, "loodgieter_utrecht")
    rate, target = sql.execute(
        "select acceptance_rate, target_leads from lead_segment_plans where segment_id = %s"
        " and day = '2026-11-02'",
        (seg,),
    ).fetchone()
    # The same 2.381 accepted leads as with the default prior, / 0.5 gross.
    assert (rate, target) == (Decimal("0.5000"), Decimal("4.76"))


def test_plan_paces_against_what_the_month_delivered(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    aggregate(database, SERVICE, date(2026, 11, 1), date(2026, 11, 22))
    plan(database, SERVICE, date(2026, 11, 23))
    seg = _segment(sql, "schilder_noord_brabant")
    accepted, rejected, pending = sql.execute(
        "select sum(leads_accepted), sum(leads_rejected), sum(leads_pending) from lead_generation_stats"
        " where segment_id = %s and day between '2026-10-26' and '2026-11-22'",
        (seg,),
    ).fetchone()
    rate = (accepted + Decimal("0.7") * 20) / (accepted + rejected + 20)
    delivered = accepted + pending * round(rate, 10)
    # 120 a month over 21 working days; 23..30 November leaves 6 working days.
    remaining = max(Decimal(120) - delivered, Decimal(0)) / 6
    expected = min(remaining, Decimal("5.71") * Decimal("1.5")) / round(rate, 10)
    target, stored_rate = sql.execute(
        "select target_leads, acceptance_rate from lead_segment_plans where segment_id = %s and day = '2026-11-23'",
        (seg,),
    ).fetchone()
    assert stored_rate == round(rate, 4)
    assert target == pytest.approx(expected, abs=Decimal("0.02"))


def test_plan_refuses_a_year_without_holidays(database: Database) -> None:
    from leadflow.db import RpcError

    with pytest.raises(RpcError) as error:
        database.rpc("plan_lead_segments", {"p_day": "2031-03-03"}, caller=SERVICE)
    assert error.value.status == 400
    assert "no public holidays loaded" in error.value.message


def test_the_next_plan_run_fills_the_gap_once_stats_arrive(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    plan(database, SERVICE, date(2026, 11, 16))
    seg = _segment(sql, "schilder_utrecht")
    unmeasured = "select actual_leads, lead_gap from lead_segment_plans where segment_id = %s and day = '2026-11-16'"
    assert sql.execute(unmeasured, (seg,)).fetchone() == (None, None)
    aggregate(database, SERVICE, date(2026, 11, 16))
    # The aggregate job writes stats only: plans have one writer, the plan job.
    assert sql.execute(unmeasured, (seg,)).fetchone() == (None, None)
    plan(database, SERVICE, date(2026, 11, 17))
    target, actual, gap, generated = sql.execute(
        "select p.target_leads, p.actual_leads, p.lead_gap, st.leads_generated from lead_segment_plans p"
        " join lead_generation_stats st using (segment_id, day) where segment_id = %s and day = '2026-11-16'",
        (seg,),
    ).fetchone()
    assert actual == generated
    assert gap == target - actual


def test_a_second_run_of_the_same_job_and_day_is_refused(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    run_id = database.rpc(
        "start_job_run",
        {"p_job": "plan", "p_day": "2026-11-16", "p_triggered_by": "test"},
        caller=SERVICE,
    )
    with pytest.raises(JobAlreadyRunning, match="plan for 2026-11-16 is already running"):
        plan(database, SERVICE, date(2026, 11, 16))
    # Another day is fine; and once the first finishes, the same day is too.
    plan(database, SERVICE, date(2026, 11, 17))
    database.rpc("finish_job_run", {"p_run_id": run_id, "p_status": "success"}, caller=SERVICE)
    plan(database, SERVICE, date(2026, 11, 16))


def test_a_stale_run_is_recognised_and_does_not_block(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    run_id = database.rpc(
        "start_job_run",
        {"p_job": "plan", "p_day": "2026-11-16", "p_triggered_by": "test"},
        caller=SERVICE,
    )
    sql.execute(
        "update job_runs set heartbeat_at = now() - interval '2 hours' where id = %s", (run_id,)
    )
    plan(database, SERVICE, date(2026, 11, 16))
    status, error = sql.execute(
        "select status, error from job_runs where id = %s", (run_id,)
    ).fetchone()
    assert status == "failed"
    assert error.startswith("stale: no heartbeat since")


def test_a_failed_run_is_recorded_with_its_error(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    with pytest.raises(Exception, match="no public holidays"):
        # The holidays library has the year, but the plan is asked for a day whose year was never synced.
        from leadflow.jobs.runs import job_run

        with job_run(database, SERVICE, "plan", date(2031, 3, 3), "test"):
            database.rpc("plan_lead_segments", {"p_day": "2031-03-03"}, caller=SERVICE)
    status, error, finished = sql.execute(
        "select status, error, finished_at is not null from job_runs where day = '2031-03-03'"
    ).fetchone()
    assert (status, finished) == ("failed", True)
    assert "no public holidays loaded" in error


def test_plan_starting_mid_month_assumes_the_unmeasured_days_went_to_plan(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # No stats at all before the 23rd: 15 of November's 21 working days are unmeasured.
    plan(database, SERVICE, date(2026, 11, 23))
    seg = _segment(sql, "loodgieter_utrecht")
    capacity, target = sql.execute(
        "select capacity, target_leads from lead_segment_plans where segment_id = %s and day = '2026-11-23'",
        (seg,),
    ).fetchone()
    # 50 - 15 x 50/21 left over 6 working days = 50/21 a day: the plain daily capacity, / 0.7.
    assert capacity == Decimal("2.38")
    assert target == Decimal("3.40")


def test_recording_metrics_google_ads_did_not_restate_writes_nothing(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    customer, campaign = sql.execute(
        "select customer_id, campaign_id from segment_campaign_budgets limit 1"
    ).fetchone()
    metrics = {
        "customer_id": customer,
        "campaign_id": campaign,
        "cost_micros": 45_500_000,
        "clicks": 30,
        "impressions": 900,
        "conversions": 2,
    }

    def record(**changes: Any) -> int:
        written = database.rpc(
            "record_campaign_metrics",
            {
                "p_channel": "google_ads",
                "p_day": "2026-12-02",
                "p_metrics": [{**metrics, **changes}],
            },
            caller=SERVICE,
        )
        return int(written)

    assert record() == 1
    fetched = sql.execute("select fetched_at, xmax::text from ad_campaign_daily_metrics").fetchall()
    assert record() == 0  # the aggregate's next run re-fetches the day: nothing restated
    # Not even locked (the upsert locks every row it finds, a WAL record each): the row's
    # xmax is still unset.
    assert (
        sql.execute("select fetched_at, xmax::text from ad_campaign_daily_metrics").fetchall()
        == fetched
    )
    assert fetched[0][1] == "0"
    # A platform's fractional conversions are compared as the column keeps them (1.004 is
    # stored as 1.00, a lost share to four decimals): an unchanged re-fetch is not locked.
    assert record(conversions=1.004, search_budget_lost_impression_share=0.12341) == 1
    versions = "select xmin::text, xmax::text from ad_campaign_daily_metrics"
    written = sql.execute(versions).fetchall()
    assert record(conversions=0.996, search_budget_lost_impression_share=0.12339) == 0
    assert sql.execute(versions).fetchall() == written  # no new lock: the same xmax
    assert record(conversions=2) == 1
    assert record(conversions=3) == 1  # a conversion credited to the click's day later
    assert sql.execute("select sum(conversions) from ad_campaign_daily_metrics").fetchone() == (
        Decimal(3),
    )
    # numeric holds 'NaN', which compares above every number: refused, nothing changed.
    from leadflow.db import RpcError

    with pytest.raises(RpcError) as error:
        record(conversions="NaN")
    assert error.value.status == 400
    assert sql.execute("select sum(conversions) from ad_campaign_daily_metrics").fetchone() == (
        Decimal(3),
    )


def test_recording_metrics_refuses_a_campaign_given_twice_and_writes_nothing(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    from leadflow.db import RpcError

    customer, campaign = sql.execute(
        "select customer_id, campaign_id from segment_campaign_budgets limit 1"
    ).fetchone()
    row = {
        "customer_id": customer,
        "campaign_id": campaign,
        "cost_micros": 45_500_000,
        "clicks": 30,
        "impressions": 900,
        "conversions": 2,
    }

    def record(*rows: dict[str, Any]) -> int:
        return int(
            database.rpc(
                "record_campaign_metrics",
                {"p_channel": "google_ads", "p_day": "2026-12-02", "p_metrics": list(rows)},
                caller=SERVICE,
            )
        )

    assert record(row) == 1
    # The stored row and a changed one for the same campaign's day: which wins is not left
    # to chance (before, the changed one was written, as the unchanged one never reached the
    # upsert). Refused whole, with the campaign named.
    for rows in ((row, {**row, "clicks": 31}), ({**row, "clicks": 31}, {**row, "clicks": 32})):
        with pytest.raises(RpcError) as error:
            record(*rows)
        assert error.value.status == 400
        assert f"campaign {campaign} of customer {customer} is given twice" in str(error.value)
    assert sql.execute("select clicks, xmax::text from ad_campaign_daily_metrics").fetchall() == [
        (30, "0")
    ]
