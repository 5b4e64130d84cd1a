"""Channels are a key: a channel that exists only in the tests goes through the whole loop
(aggregate → plan → orchestrate → rollback → API), and a segment's paid target is split
over its channels by marginal cost."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import toy_channel
from conftest import ADMIN_ID, as_user
from leadflow.channels import REGISTRY, ChannelEntry
from leadflow.channels.base import BudgetChange, BudgetInfo, BudgetResult, CampaignMetrics
from leadflow.channels.router import ChannelSet, PaidChannel
from leadflow.controller.allocation import allocate, split
from leadflow.db import Caller, Database
from leadflow.jobs.day import channels, run_job
from leadflow.jobs.orchestrate import rollback
from leadflow.settings import Mode, Settings

SERVICE = Caller.service()
DAY = date(2026, 11, 23)  # a Monday; the seed has leads 9..22 November
TOY_BUDGET = "toy/4242/budget/1"


@pytest.fixture
def toy(sql: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> toy_channel.ToyAds:
    """The test channel: its registry entry, its row and attribution rule (the migration a
    real channel would add), one mapped budget on the first segment, 14 days of its leads
    and metrics."""
    for name in ("GOOGLE_ADS_DEVELOPER_TOKEN", "MICROSOFT_ADS_DEVELOPER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(REGISTRY, "toy_ads", ChannelEntry("toy_ads", "Toy Ads", "toy_channel"))
    account = toy_channel.ToyAds()
    monkeypatch.setattr(toy_channel, "ACCOUNT", account)
    sql.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
    sql.execute(
        "insert into ad_channels (key, label, is_paid, budget_name_pattern, account_pattern,"
        " sort_order) values ('toy_ads', 'Toy Ads', true, %s, '^[0-9]+$', 30)",
        (toy_channel.BUDGET_NAME_PATTERN,),
    )
    sql.execute(
        "insert into channel_attribution_rules (priority, channel, utm_sources, utm_mediums)"
        " values (35, 'toy_ads', array['toyads'], array['cpc'])"
    )
    segment, industry, region = sql.execute(
        "select s.id, s.industry_id, s.region_code from lead_segments s"
        " join segment_campaign_budgets b on b.segment_id = s.id order by s.code limit 1"
    ).fetchone()
    sql.execute(
        "insert into segment_campaign_budgets"
        " (segment_id, channel, customer_id, campaign_id, budget_resource_name)"
        " values (%s, 'toy_ads', '4242', '77', %s)",
        (segment, TOY_BUDGET),
    )
    account.budgets[TOY_BUDGET] = 30_000_000
    for offset in range(14):
        day = date(2026, 11, 9) + timedelta(days=offset)
        for n in range(2 + offset % 3):
            sql.execute(
                "insert into leads (industry_id, region_code, created_at, status, price,"
                " utm_source, utm_medium) values (%s, %s, %s, 'accepted', 40, 'toyads', 'cpc')",
                (industry, region, datetime(day.year, day.month, day.day, 10 + n, 0).isoformat()),
            )
        account.metrics[day] = [
            CampaignMetrics(
                "4242", "77", TOY_BUDGET, 24_000_000 + offset * 1_000_000, 50, 900, 3.0, 0.3
            )
        ]
    return account


def test_a_channel_that_exists_only_in_the_tests_goes_through_the_whole_loop(
    database: Database,
    sql: psycopg.Connection[Any],
    toy: toy_channel.ToyAds,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADFLOW_ORCHESTRATOR_LIVE", "true")
    gateway = channels(Settings(), database, SERVICE)  # the configured path: the registry
    assert isinstance(gateway, ChannelSet)
    assert set(gateway.gateways) == {"toy_ads"}  # no Google or Microsoft credentials here

    # aggregate: leads attributed by the new rule, metrics fetched from the new channel.
    counts = run_job(
        "aggregate",
        database,
        SERVICE,
        date(2026, 11, 9),
        gateway=gateway,
        triggered_by="test",
        last=DAY - timedelta(days=1),
    )
    assert counts["campaign_days"] == 14
    leads, spend = sql.execute(
        "select sum(leads_generated), sum(spend) from lead_channel_stats where channel = 'toy_ads'"
    ).fetchone()
    assert leads == sum(2 + n % 3 for n in range(14)) and spend == sum(24 + n for n in range(14))
    for offset in range(6, -1, -1):
        run_job(
            "plan",
            database,
            SERVICE,
            DAY - timedelta(days=offset),
            gateway=gateway,
            triggered_by="test",
        )

    # orchestrate live: the toy budget moves; Google's budgets are held (no credentials).
    result = run_job(
        "orchestrate", database, SERVICE, DAY, gateway=gateway, mode=Mode.live, triggered_by="test"
    )
    by_channel = {c["channel"]: c for c in result["changes"] if c["budget"] == TOY_BUDGET}
    assert by_channel["toy_ads"]["status"] == "success"
    assert toy.applied and toy.applied[0].budget_resource_name == TOY_BUDGET
    moved = toy.budgets[TOY_BUDGET]
    assert moved != 30_000_000 and abs(moved - 30_000_000) <= 6_000_000  # within ±20 %
    google = [c for c in result["changes"] if c["channel"] == "google_ads"]
    assert google and all(c["action"] == "hold" for c in google)
    assert "no Google Ads credentials configured" in google[0]["reason"]
    logged = sql.execute(
        "select channel, status from channel_orchestration_log where budget_resource_name = %s",
        (TOY_BUDGET,),
    ).fetchall()
    assert logged == [("toy_ads", "success")]

    # The channel's kill switch stops it at the claim, whatever the job decides.
    sql.execute("update ad_channels set kill_switch = true where key = 'toy_ads'")
    refused = sql.execute(
        "select private.change_refusal('adjust', 'live', %s, %s, s.segment_id, %s, %s, 1, null)"
        " from segment_campaign_budgets s where s.budget_resource_name = %s",
        (DAY, TOY_BUDGET, moved, moved, TOY_BUDGET),
    ).fetchone()[0]
    assert refused is not None
    sql.execute("update ad_channels set kill_switch = false where key = 'toy_ads'")

    # rollback: back to the start of the day, on the same channel.
    restored = rollback(database, SERVICE, DAY, gateway, mode=Mode.live, triggered_by="test")
    assert restored["restored"] == 1 and toy.budgets[TOY_BUDGET] == 30_000_000
    assert {c["channel"] for c in restored["changes"]} == {"toy_ads"}

    # The API shows the channel in the segment's stats and plans.
    segment = sql.execute(
        "select segment_id from segment_campaign_budgets where budget_resource_name = %s",
        (TOY_BUDGET,),
    ).fetchone()[0]
    with sql.transaction():
        as_user(sql, ADMIN_ID)
        stats = sql.execute(
            "select public.api_segment_stats(%s::text, %s, %s)",
            (segment, DAY - timedelta(days=1), DAY - timedelta(days=1)),
        ).fetchone()[0]
        plans = sql.execute(
            "select public.api_segment_plans(%s::text, %s, %s)", (segment, DAY, DAY)
        ).fetchone()[0]
    day_stats = stats["items"][0]
    assert {c["channel"] for c in day_stats["channels"]} >= {"toy_ads"}
    toy_plan = [c for c in plans["items"][0]["channels"] if c["channel"] == "toy_ads"]
    assert toy_plan and toy_plan[0]["planned_budget"] == round(moved / 1e6, 2)
    assert json.dumps(plans)  # plain JSON, no Decimal


# --------------------------------------------------------------------------- the split


def _row(channel: str, **values: Any) -> dict[str, Any]:
    base = {
        "segment_id": "s1",
        "channel": channel,
        "target_leads": 6.0,  # per budget: the segment wants 12 a day over its 2 budgets
        "expected_leads": 5.0,  # 10 a day now: 4 organic, 3 + 3 paid
        "expected_paid_leads": 3.0,
        "paid_leads": 3.0,
        "spend_micros": 60_000_000,
        "lead_elasticity": 0.6,
        "min_budget_micros": 10_000_000,
        "max_budget_micros": 500_000_000,
    }
    return {**base, **values}


def test_a_single_channel_segment_is_left_as_it_is() -> None:
    rows = [_row("google_ads"), _row("google_ads", budget="b2")]
    assert split(rows) is None
    out, shares = allocate(rows)
    assert out == rows and shares == {}


def test_the_paid_target_goes_where_the_next_lead_is_cheaper() -> None:
    # Microsoft buys its 3 leads for €30 (half Google's €60): more of the 8 paid leads go there.
    rows = [_row("google_ads"), _row("microsoft_ads", spend_micros=30_000_000)]
    shares = split(rows)
    assert shares is not None
    total = shares["google_ads"].target_paid + shares["microsoft_ads"].target_paid
    assert total == pytest.approx(8.0, abs=1e-6)  # 12 - 4 organic
    assert shares["microsoft_ads"].target_paid > shares["google_ads"].target_paid
    # At the split the next lead costs the same on both channels.
    assert shares["google_ads"].marginal_cost == pytest.approx(
        shares["microsoft_ads"].marginal_cost, rel=1e-6
    )
    out, _ = allocate(rows)
    gaps = [float(r["target_leads"]) - r["expected_leads"] for r in out]
    assert sum(gaps) == pytest.approx(2.0, abs=1e-3)  # the segment's gap, all of it
    assert gaps[1] > gaps[0]


def test_a_channel_at_its_maximum_leaves_the_rest_to_the_other() -> None:
    # Microsoft may spend at most €31 a day: it saturates, Google takes the rest.
    rows = [
        _row("google_ads"),
        _row("microsoft_ads", spend_micros=30_000_000, max_budget_micros=31_000_000),
    ]
    shares = split(rows)
    assert shares is not None
    cap = 3.0 * (31 / 30) ** 0.6
    assert shares["microsoft_ads"].target_paid == pytest.approx(cap, rel=1e-6)
    assert shares["google_ads"].target_paid == pytest.approx(8.0 - cap, rel=1e-6)


def test_a_channel_without_a_curve_keeps_an_equal_share_of_the_gap() -> None:
    rows = [
        _row("google_ads"),
        _row("microsoft_ads", paid_leads=0, spend_micros=0, expected_paid_leads=0),
    ]
    shares = split(rows)
    assert shares is not None
    # 10 leads now, 3 of them paid (Google): 7 organic, so 5 paid wanted, a gap of 2;
    # Microsoft (no data yet) gets half of it, Google the rest of the paid target.
    assert shares["microsoft_ads"].target_paid == pytest.approx(1.0)
    assert shares["google_ads"].target_paid == pytest.approx(4.0, rel=1e-6)


# --------------------------------------------------------------------------- the router


class _Recorder:
    def __init__(self, quota: bool = False) -> None:
        self.seen: list[str] = []
        self.quota = quota

    def daily_metrics(self, day: date, customer_ids: Any) -> list[CampaignMetrics]:
        return []

    def current_budgets(self, names: Any) -> dict[str, BudgetInfo]:
        self.seen += list(names)
        return {n: BudgetInfo(n, 10_000_000) for n in names}

    def apply_budgets(self, changes: Any, *, validate_only: bool) -> list[BudgetResult]:
        from leadflow.channels.base import QuotaExhausted

        if self.quota:
            raise QuotaExhausted("used up", completed=[BudgetResult(changes[0].key, "success")])
        return [BudgetResult(c.key, "success") for c in changes]


CHANNELS = [
    PaidChannel("google_ads", "Google Ads", r"^customers/[0-9]{10}/campaignBudgets/[0-9]+$"),
    PaidChannel(
        "microsoft_ads",
        "Microsoft Advertising",
        r"^accounts/[0-9]+/(budgets/[0-9]+|campaigns/[0-9]+/budget)$",
    ),
]
G = "customers/1234567890/campaignBudgets/1"
M = "accounts/5550001/budgets/2"


def test_each_budget_goes_to_its_own_channel_and_one_quota_stops_only_its_channel() -> None:
    from leadflow.channels.base import QuotaExhausted

    google, microsoft = _Recorder(), _Recorder(quota=True)
    routed = ChannelSet({"google_ads": google, "microsoft_ads": microsoft}, CHANNELS)
    assert set(routed.current_budgets([G, M])) == {G, M}
    assert google.seen == [G] and microsoft.seen == [M]
    changes = [
        BudgetChange(1, M, 20_000_000),
        BudgetChange(2, G, 20_000_000),
        BudgetChange(3, M, 30_000_000),
    ]
    with pytest.raises(QuotaExhausted) as caught:
        routed.apply_budgets(changes, validate_only=False)
    settled = {r.key: r.status for r in caught.value.completed}
    assert settled == {1: "success", 2: "success"}  # Google's change went; Microsoft's 3 did not


def test_a_channel_without_credentials_sends_nothing_and_says_why() -> None:
    routed = ChannelSet({"google_ads": _Recorder()}, CHANNELS)
    results = routed.apply_budgets([BudgetChange(1, M, 20_000_000)], validate_only=False)
    assert results[0].status == "failed"
    assert "no Microsoft Advertising credentials configured" in (results[0].error or "")
    assert routed.current_budgets([M]) == {}


def test_a_channels_patterns_change_only_while_its_mapped_budgets_still_match(
    sql: psycopg.Connection[Any], toy: toy_channel.ToyAds
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="does not match the new patterns"):
        sql.execute(
            "update ad_channels set budget_name_pattern = '^toy/[0-9]+/pot/[0-9]+$'"
            " where key = 'toy_ads'"
        )
    with pytest.raises(psycopg.errors.CheckViolation, match="stays a paid channel"):
        sql.execute(
            "update ad_channels set is_paid = false, budget_name_pattern = null,"
            " account_pattern = null where key = 'toy_ads'"
        )
    sql.execute("update ad_channels set account_pattern = '^[0-9]{4}$' where key = 'toy_ads'")
    assert sql.execute(
        "select account_pattern from ad_channels where key = 'toy_ads'"
    ).fetchone() == ("^[0-9]{4}$",)
