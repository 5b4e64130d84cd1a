"""How a lead finds its segment and channel, the backfill, and the gap between plan and actual.

All in SQL (supabase/migrations/…_segments.sql and …_stats_and_plans.sql). Each
test works in a transaction on one seeded database per module and rolls back.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from conftest import SEEDED_TEMPLATE, PgCluster
from psycopg.errors import InvalidParameterValue

# From supabase/seed.sql.
SCHILDER = "00000000-0000-4000-8001-000000000001"
LOODGIETER = "00000000-0000-4000-8001-000000000002"
SEG_SCHILDER_BRABANT = "00000000-0000-4000-8002-000000000011"
SEG_SCHILDER_UTRECHT = "00000000-0000-4000-8002-000000000012"
SEG_LOODGIETER_BRABANT = "00000000-0000-4000-8002-000000000021"
SEG_GRONINGEN = "00000000-0000-4000-8009-000000000001"  # schilder_groningen, made by tests


@pytest.fixture(scope="module")
def segments_db_url(pg_cluster: PgCluster) -> Iterator[str]:
    name = pg_cluster.create(SEEDED_TEMPLATE)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop(name)


@pytest.fixture
def conn(segments_db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser transaction on the module's database, rolled back afterwards."""
    with psycopg.connect(segments_db_url) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


def insert_lead(conn: psycopg.Connection[Any], **columns: Any) -> str:
    """Insert a lead with these columns (industry schilder, noord_brabant unless given)."""
    values = {"industry_id": SCHILDER, "region_code": "noord_brabant", **columns}
    names = ", ".join(values)
    marks = ", ".join(f"%({name})s" for name in values)
    row = conn.execute(
        f"insert into public.leads ({names}) values ({marks}) returning id", values
    ).fetchone()
    assert row is not None
    return str(row[0])


def lead(conn: psycopg.Connection[Any], lead_id: str, *columns: str) -> tuple[Any, ...]:
    row = conn.execute(
        f"select {', '.join(columns)} from public.leads where id = %s", (lead_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def segment_of(conn: psycopg.Connection[Any], lead_id: str) -> str | None:
    value = lead(conn, lead_id, "segment_id")[0]
    return None if value is None else str(value)


def create_groningen_segment(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "insert into public.lead_segments (id, code, name, industry_id, region_code, max_daily_budget)"
        " values (%s, 'schilder_groningen', 'Schilder Groningen', %s, 'groningen', 50)",
        (SEG_GRONINGEN, SCHILDER),
    )


# -----------------------------------------------------------------------------
# The trigger: segment
# -----------------------------------------------------------------------------


def test_new_lead_gets_the_segment_of_its_industry_and_region(
    conn: psycopg.Connection[Any],
) -> None:
    assert segment_of(conn, insert_lead(conn)) == SEG_SCHILDER_BRABANT


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param({"region_code": "groningen"}, id="no segment for the region"),
        pytest.param({"region_code": None}, id="no region"),
        pytest.param({"industry_id": None}, id="no industry"),
    ],
)
def test_new_lead_without_a_matching_segment_gets_none(
    conn: psycopg.Connection[Any], columns: dict[str, Any]
) -> None:
    assert segment_of(conn, insert_lead(conn, **columns)) is None


def test_a_segment_given_on_insert_is_replaced_by_the_right_one(
    conn: psycopg.Connection[Any],
) -> None:
    lead_id = insert_lead(conn, segment_id=SEG_SCHILDER_UTRECHT)
    assert segment_of(conn, lead_id) == SEG_SCHILDER_BRABANT


@pytest.mark.parametrize(
    ("change", "segment"),
    [
        pytest.param("region_code = 'utrecht'", SEG_SCHILDER_UTRECHT, id="other region"),
        pytest.param(f"industry_id = '{LOODGIETER}'", SEG_LOODGIETER_BRABANT, id="other industry"),
        pytest.param("region_code = 'groningen'", None, id="region without a segment"),
        pytest.param("industry_id = null", None, id="industry cleared"),
    ],
)
def test_changing_industry_or_region_moves_the_lead_to_that_segment(
    conn: psycopg.Connection[Any], change: str, segment: str | None
) -> None:
    lead_id = insert_lead(conn)
    conn.execute(f"update public.leads set {change} where id = %s", (lead_id,))
    assert segment_of(conn, lead_id) == segment


def test_other_changes_leave_the_segment_alone(conn: psycopg.Connection[Any]) -> None:
    lead_id = insert_lead(conn, region_code="groningen")
    # Set by hand (as the backfill does): no trigger runs for these columns.
    conn.execute(
        "update public.leads set segment_id = %s, status = 'accepted', gclid = 'abc' where id = %s",
        (SEG_SCHILDER_UTRECHT, lead_id),
    )
    assert segment_of(conn, lead_id) == SEG_SCHILDER_UTRECHT


# -----------------------------------------------------------------------------
# The trigger: source channel (private.lead_source_channel)
# -----------------------------------------------------------------------------

CHANNELS = [
    # gclid,  msclkid,  utm_source,  utm_medium,   channel
    pytest.param("Cj0KCQ", None, None, None, "google_ads", id="gclid"),
    pytest.param("Cj0KCQ", None, "microsite", "microsite", "google_ads", id="gclid wins over utm"),
    pytest.param("  ", None, None, None, "other", id="blank gclid is no click"),
    pytest.param(None, "1a2b3c", None, None, "microsoft_ads", id="msclkid"),
    pytest.param(None, "1a2b3c", "google", "organic", "microsoft_ads", id="msclkid wins over utm"),
    pytest.param("Cj0KCQ", "1a2b3c", None, None, "google_ads", id="gclid before msclkid"),
    pytest.param(None, "  ", None, None, "other", id="blank msclkid is no click"),
    pytest.param(None, None, "google", "cpc", "google_ads", id="google cpc"),
    pytest.param(None, None, "AdWords", "Paid_Search", "google_ads", id="paid google, any case"),
    pytest.param(None, None, None, "ppc", "google_ads", id="paid without source counts as google"),
    pytest.param(None, None, "bing", "cpc", "microsoft_ads", id="paid elsewhere"),
    pytest.param(None, None, "Microsoft", "PPC", "microsoft_ads", id="paid microsoft, any case"),
    pytest.param(None, None, "microsite", None, "microsite", id="microsite source"),
    pytest.param(None, None, "newsletter", "microsite", "microsite", id="microsite medium"),
    pytest.param(None, None, "google", "organic", "seo", id="organic"),
    pytest.param(None, None, "bing", "SEO", "seo", id="seo medium"),
    pytest.param(None, None, "facebook", "social", "other", id="social"),
    pytest.param(None, None, "facebook", "cpc", "other", id="paid on a channel we do not know"),
    pytest.param(None, None, None, None, "other", id="nothing known"),
]


@pytest.mark.parametrize(("gclid", "msclkid", "utm_source", "utm_medium", "channel"), CHANNELS)
def test_new_lead_gets_its_channel_from_click_ids_and_utm(
    conn: psycopg.Connection[Any],
    gclid: str | None,
    msclkid: str | None,
    utm_source: str | None,
    utm_medium: str | None,
    channel: str,
) -> None:
    lead_id = insert_lead(
        conn, gclid=gclid, msclkid=msclkid, utm_source=utm_source, utm_medium=utm_medium
    )
    assert lead(conn, lead_id, "source_channel") == (channel,)


def test_microsoft_clicks_and_paid_bing_utms_are_microsoft_ads(
    conn: psycopg.Connection[Any],
) -> None:
    clicked = insert_lead(conn, msclkid="d2f1c0ffee")
    tagged = insert_lead(conn, utm_source="bing", utm_medium="cpc")
    assert lead(conn, clicked, "source_channel") == ("microsoft_ads",)
    assert lead(conn, tagged, "source_channel") == ("microsoft_ads",)
    # A click id added later moves an organic lead to the channel too.
    organic = insert_lead(conn, utm_source="bing", utm_medium="organic")
    assert lead(conn, organic, "source_channel") == ("seo",)
    conn.execute("update public.leads set msclkid = 'd2f1c0ffee' where id = %s", (organic,))
    assert lead(conn, organic, "source_channel") == ("microsoft_ads",)


def test_a_new_channel_and_its_rule_attribute_leads_without_a_code_change(
    conn: psycopg.Connection[Any],
) -> None:
    """As the database owner: a row of ad_channels and a rule; the next lead is attributed."""
    before = insert_lead(conn, utm_source="facebook", utm_medium="cpc")
    assert lead(conn, before, "source_channel") == ("other",)
    conn.execute(
        "insert into public.ad_channels (key, label, is_paid, budget_name_pattern,"
        " account_pattern, sort_order)"
        " values ('meta_ads', 'Meta Ads', true, '^act_[0-9]+/adsets/[0-9]+$', '^[0-9]+$', 30)"
    )
    conn.execute(
        "insert into public.channel_attribution_rules"
        " (priority, channel, utm_sources, utm_mediums, note)"
        " values (45, 'meta_ads', array['facebook', 'instagram', 'meta'],"
        " array['cpc', 'paid', 'paid_social'], 'paid Meta UTMs')"
    )
    after = insert_lead(conn, utm_source="Facebook", utm_medium="paid_social")
    assert lead(conn, after, "source_channel") == ("meta_ads",)
    # The leads already there keep theirs; the earlier rules still win.
    assert lead(conn, before, "source_channel") == ("other",)
    google = insert_lead(conn, gclid="Cj0KCQ", utm_source="facebook", utm_medium="cpc")
    assert lead(conn, google, "source_channel") == ("google_ads",)
    # An organic channel the same way (no budgets, no patterns).
    conn.execute(
        "insert into public.ad_channels (key, label, is_paid) values ('newsletter', 'Newsletter', false)"
    )
    conn.execute(
        "insert into public.channel_attribution_rules (priority, channel, utm_mediums, note)"
        " values (65, 'newsletter', array['email', 'newsletter'], 'mailings')"
    )
    mailed = insert_lead(conn, utm_source="brevo", utm_medium="email")
    assert lead(conn, mailed, "source_channel") == ("newsletter",)


def test_a_lead_names_only_a_known_channel(conn: psycopg.Connection[Any]) -> None:
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="not a channel"),
        conn.transaction(),
    ):
        insert_lead(conn, source_channel="tiktok_ads")
    lead_id = insert_lead(conn, source_channel="seo")
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="not a channel"):
        conn.execute(
            "update public.leads set source_channel = 'tiktok_ads' where id = %s", (lead_id,)
        )


def test_campaign_and_keyword_come_from_utm(conn: psycopg.Connection[Any]) -> None:
    lead_id = insert_lead(conn, gclid="abc", utm_campaign="1001", utm_term="schilder offerte")
    assert lead(conn, lead_id, "source_campaign_id", "source_keyword") == (
        "1001",
        "schilder offerte",
    )


def test_source_values_given_on_insert_are_kept(conn: psycopg.Connection[Any]) -> None:
    lead_id = insert_lead(
        conn,
        gclid="abc",
        utm_campaign="1001",
        utm_term="schilder offerte",
        source_channel="seo",
        source_campaign_id="2002",
        source_keyword="verf",
    )
    assert lead(conn, lead_id, "source_channel", "source_campaign_id", "source_keyword") == (
        "seo",
        "2002",
        "verf",
    )


def test_changing_click_fields_derives_the_source_again(conn: psycopg.Connection[Any]) -> None:
    lead_id = insert_lead(conn, utm_source="google", utm_medium="organic")
    conn.execute(
        "update public.leads set gclid = 'abc', utm_campaign = '1001', utm_term = 'verf'"
        " where id = %s",
        (lead_id,),
    )
    assert lead(conn, lead_id, "source_channel", "source_campaign_id", "source_keyword") == (
        "google_ads",
        "1001",
        "verf",
    )


def test_a_source_set_in_the_same_update_is_kept(conn: psycopg.Connection[Any]) -> None:
    lead_id = insert_lead(conn, utm_source="google", utm_medium="organic")
    conn.execute(
        "update public.leads set gclid = 'abc', source_channel = 'microsite' where id = %s",
        (lead_id,),
    )
    assert lead(conn, lead_id, "source_channel") == ("microsite",)


# -----------------------------------------------------------------------------
# assign_lead_segments(from, to): the backfill, by Dutch day
# -----------------------------------------------------------------------------


def assign(conn: psycopg.Connection[Any], day_from: str, day_to: str) -> int:
    row = conn.execute("select public.assign_lead_segments(%s, %s)", (day_from, day_to)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("created_at", "dutch_day", "other_day"),
    [
        pytest.param("2026-11-20 23:30+00", "2026-11-21", "2026-11-20", id="winter 23:30 UTC"),
        pytest.param("2026-11-20 23:00+00", "2026-11-21", "2026-11-20", id="winter Dutch midnight"),
        pytest.param("2026-11-20 22:59+00", "2026-11-20", "2026-11-21", id="winter 22:59 UTC"),
        pytest.param("2026-07-20 22:30+00", "2026-07-21", "2026-07-20", id="summer 22:30 UTC"),
        pytest.param("2026-07-20 21:59+00", "2026-07-20", "2026-07-21", id="summer 21:59 UTC"),
    ],
)
def test_backfill_takes_a_lead_on_its_dutch_day(
    conn: psycopg.Connection[Any], created_at: str, dutch_day: str, other_day: str
) -> None:
    lead_id = insert_lead(conn, region_code="groningen", created_at=created_at)
    create_groningen_segment(conn)
    assert assign(conn, other_day, other_day) == 0
    assert segment_of(conn, lead_id) is None
    assert assign(conn, dutch_day, dutch_day) == 1
    assert segment_of(conn, lead_id) == SEG_GRONINGEN


def test_backfill_assigns_only_leads_without_a_segment_and_returns_the_count(
    conn: psycopg.Connection[Any],
) -> None:
    waiting = [
        insert_lead(conn, region_code="groningen", created_at=f"2026-11-{day} 12:00+00")
        for day in (18, 19, 20)
    ]
    outside = insert_lead(conn, region_code="groningen", created_at="2026-11-21 12:00+00")
    no_segment = insert_lead(conn, region_code="drenthe", created_at="2026-11-19 12:00+00")
    assigned_by_hand = insert_lead(conn, region_code="groningen", created_at="2026-11-19 12:00+00")
    conn.execute(
        "update public.leads set segment_id = %s where id = %s",
        (SEG_SCHILDER_UTRECHT, assigned_by_hand),
    )
    create_groningen_segment(conn)

    assert assign(conn, "2026-11-18", "2026-11-20") == 3
    assert [segment_of(conn, lead_id) for lead_id in waiting] == [SEG_GRONINGEN] * 3
    assert segment_of(conn, outside) is None
    assert segment_of(conn, no_segment) is None
    assert segment_of(conn, assigned_by_hand) == SEG_SCHILDER_UTRECHT
    assert assign(conn, "2026-11-18", "2026-11-20") == 0


def test_backfill_over_seeded_days_finds_nothing_to_do(conn: psycopg.Connection[Any]) -> None:
    assert assign(conn, "2026-11-09", "2026-11-22") == 0


@pytest.mark.parametrize(
    ("day_from", "day_to"),
    [("2026-11-21", "2026-11-20"), (None, "2026-11-20"), ("2026-11-20", None)],
    ids=["from after to", "no from", "no to"],
)
def test_backfill_refuses_a_reversed_or_open_range(
    conn: psycopg.Connection[Any], day_from: str | None, day_to: str | None
) -> None:
    with pytest.raises(InvalidParameterValue):  # 22023
        conn.execute("select public.assign_lead_segments(%s::date, %s::date)", (day_from, day_to))


# -----------------------------------------------------------------------------
# calculate_lead_gap / update_lead_gap / update_lead_gaps
# -----------------------------------------------------------------------------

DAY = "2026-11-20"


def add_plan(conn: psycopg.Connection[Any], segment: str, target: str, day: str = DAY) -> None:
    conn.execute(
        "insert into public.lead_segment_plans (segment_id, day, target_leads) values (%s, %s, %s)",
        (segment, day, target),
    )


def add_stats(conn: psycopg.Connection[Any], segment: str, leads: int, day: str = DAY) -> None:
    conn.execute(
        "insert into public.lead_generation_stats"
        " (segment_id, day, leads_generated, leads_pending)"
        " values (%s, %s, %s, %s)",
        (segment, day, leads, leads),
    )


def plan_row(conn: psycopg.Connection[Any], segment: str, day: str = DAY) -> tuple[Any, ...] | None:
    row = conn.execute(
        "select target_leads, actual_leads, lead_gap from public.lead_segment_plans"
        " where segment_id = %s and day = %s",
        (segment, day),
    ).fetchone()
    return None if row is None else tuple(row)


def scalar(conn: psycopg.Connection[Any], query: str, *args: Any) -> Any:
    row = conn.execute(query, args).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(
    ("target", "actual", "gap"),
    [
        pytest.param("10", 7, Decimal("3.00"), id="under target"),
        pytest.param("5.50", 8, Decimal("-2.50"), id="over target"),
        pytest.param("4", 0, Decimal("4.00"), id="measured day without leads"),
    ],
)
def test_gap_is_target_minus_actual_leads(
    conn: psycopg.Connection[Any], target: str, actual: int, gap: Decimal
) -> None:
    add_plan(conn, SEG_SCHILDER_BRABANT, target)
    add_stats(conn, SEG_SCHILDER_BRABANT, actual)

    calculated = scalar(conn, "select public.calculate_lead_gap(%s, %s)", SEG_SCHILDER_BRABANT, DAY)
    assert calculated == gap
    assert plan_row(conn, SEG_SCHILDER_BRABANT) == (Decimal(target), None, None)  # nothing written

    updated = scalar(conn, "select public.update_lead_gap(%s, %s)", SEG_SCHILDER_BRABANT, DAY)
    assert updated == gap
    assert plan_row(conn, SEG_SCHILDER_BRABANT) == (Decimal(target), actual, gap)


def test_no_plan_means_no_gap_and_nothing_written(conn: psycopg.Connection[Any]) -> None:
    add_stats(conn, SEG_SCHILDER_BRABANT, 7)
    assert (
        scalar(conn, "select public.calculate_lead_gap(%s, %s)", SEG_SCHILDER_BRABANT, DAY) is None
    )
    assert scalar(conn, "select public.update_lead_gap(%s, %s)", SEG_SCHILDER_BRABANT, DAY) is None
    assert plan_row(conn, SEG_SCHILDER_BRABANT) is None
    assert scalar(conn, "select count(*) from public.lead_segment_plans") == 0


def test_no_stats_means_actual_and_gap_not_measured(conn: psycopg.Connection[Any]) -> None:
    add_plan(conn, SEG_SCHILDER_BRABANT, "10")
    # Measured once, then the stats row went away (e.g. recomputed): not measured again.
    conn.execute(
        "update public.lead_segment_plans set actual_leads = 6 where segment_id = %s",
        (SEG_SCHILDER_BRABANT,),
    )
    assert (
        scalar(conn, "select public.calculate_lead_gap(%s, %s)", SEG_SCHILDER_BRABANT, DAY) is None
    )
    assert scalar(conn, "select public.update_lead_gap(%s, %s)", SEG_SCHILDER_BRABANT, DAY) is None
    assert plan_row(conn, SEG_SCHILDER_BRABANT) == (Decimal("10"), None, None)


def test_update_lead_gaps_fills_every_plan_of_the_days_and_no_other(
    conn: psycopg.Connection[Any],
) -> None:
    add_plan(conn, SEG_SCHILDER_BRABANT, "10")
    add_stats(conn, SEG_SCHILDER_BRABANT, 7)
    add_plan(conn, SEG_SCHILDER_UTRECHT, "3")  # no stats yet
    add_plan(conn, SEG_SCHILDER_BRABANT, "10", day="2026-11-19")
    add_stats(conn, SEG_SCHILDER_BRABANT, 12, day="2026-11-19")
    add_plan(conn, SEG_SCHILDER_BRABANT, "10", day="2026-11-21")
    add_stats(conn, SEG_SCHILDER_BRABANT, 2, day="2026-11-21")

    written = scalar(conn, "select public.update_lead_gaps(%s, %s)", "2026-11-19", DAY)

    assert written == 2  # the plan without stats stays unmeasured: nothing to write
    assert plan_row(conn, SEG_SCHILDER_BRABANT) == (Decimal("10"), 7, Decimal("3.00"))
    assert plan_row(conn, SEG_SCHILDER_BRABANT, "2026-11-19") == (
        Decimal("10"),
        12,
        Decimal("-2.00"),
    )
    assert plan_row(conn, SEG_SCHILDER_UTRECHT) == (Decimal("3"), None, None)
    assert plan_row(conn, SEG_SCHILDER_BRABANT, "2026-11-21") == (Decimal("10"), None, None)
    # A second run writes nothing: only changed actuals are written.
    assert scalar(conn, "select public.update_lead_gaps(%s, %s)", "2026-11-19", DAY) == 0


def test_update_lead_gaps_for_one_segment_leaves_the_others(conn: psycopg.Connection[Any]) -> None:
    add_plan(conn, SEG_SCHILDER_BRABANT, "10")
    add_stats(conn, SEG_SCHILDER_BRABANT, 7)
    add_plan(conn, SEG_SCHILDER_UTRECHT, "3")
    add_stats(conn, SEG_SCHILDER_UTRECHT, 1)

    written = scalar(
        conn, "select public.update_lead_gaps(%s, %s, %s)", DAY, DAY, SEG_SCHILDER_UTRECHT
    )
    assert written == 1
    assert plan_row(conn, SEG_SCHILDER_UTRECHT) == (Decimal("3"), 1, Decimal("2.00"))
    assert plan_row(conn, SEG_SCHILDER_BRABANT) == (Decimal("10"), None, None)


# -----------------------------------------------------------------------------
# aggregate_lead_stats: a row per channel, paid leads on the segment's day
# -----------------------------------------------------------------------------


def test_the_aggregate_counts_leads_per_channel_and_paid_ones_per_segment(
    conn: psycopg.Connection[Any],
) -> None:
    day = "2026-12-02"
    at = f"{day} 10:00+01"
    for columns in [
        {"gclid": "Cj0KCQ", "status": "accepted", "price": 20},
        {"msclkid": "d2f1c0ffee", "status": "accepted", "price": 30},
        {"utm_source": "bing", "utm_medium": "cpc"},
        {"utm_source": "google", "utm_medium": "organic"},
        {},
    ]:
        insert_lead(conn, created_at=at, **columns)
    conn.execute("select public.aggregate_lead_stats(%s, %s)", (day, day))
    rows = conn.execute(
        "select channel, leads_generated, leads_accepted, revenue from public.lead_channel_stats"
        " where segment_id = %s and day = %s order by channel",
        (SEG_SCHILDER_BRABANT, day),
    ).fetchall()
    assert rows == [
        ("google_ads", 1, 1, Decimal("20.00")),
        ("microsoft_ads", 2, 1, Decimal("30.00")),
        ("other", 1, 0, Decimal("0.00")),
        ("seo", 1, 0, Decimal("0.00")),
    ]
    assert conn.execute(
        "select leads_generated, leads_paid, leads_accepted, revenue"
        " from public.lead_generation_stats where segment_id = %s and day = %s",
        (SEG_SCHILDER_BRABANT, day),
    ).fetchone() == (5, 3, 2, Decimal("50.00"))
    # A lead moved to another channel: the restated day loses the channel's row.
    conn.execute(
        "update public.leads set source_channel = 'seo' where source_channel = 'other'"
        " and segment_id = %s and created_at = %s",
        (SEG_SCHILDER_BRABANT, at),
    )
    conn.execute("select public.aggregate_lead_stats(%s, %s)", (day, day))
    assert [
        r[0]
        for r in conn.execute(
            "select channel from public.lead_channel_stats where segment_id = %s and day = %s"
            " order by channel",
            (SEG_SCHILDER_BRABANT, day),
        )
    ] == ["google_ads", "microsoft_ads", "seo"]
