"""Learning that bends (issue 24): the estimator leaves the prior where the data say so,
also above an elasticity of 1 (a convex curve below the bend of an S-shaped one)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from leadflow.db import Caller, Database

SERVICE = Caller.service()
DAY = date(2026, 11, 23)
#: True local elasticities of four segments: spread far wider than the prior's 0.15.
TRUE_E = (0.30, 0.55, 0.90, 1.40)


def _curves(sql: psycopg.Connection[Any]) -> list[tuple[Any, str, str]]:
    rows = sql.execute(
        "select cb.segment_id, cb.customer_id, cb.campaign_id "
        "from segment_campaign_budgets cb join lead_segments s on s.id = cb.segment_id "
        "where cb.is_active and s.is_active and cb.channel = 'google_ads' "
        "order by s.code limit %s",
        (len(TRUE_E),),
    ).fetchall()
    assert len(rows) == len(TRUE_E)
    return [(r[0], r[1], r[2]) for r in rows]


def _metrics(sql: psycopg.Connection[Any]) -> dict[Any, float]:
    """56 budget-limited days per segment, spend alternating €40 / €80 a day, conversions
    exactly on scale x spend ^ e (no noise: the estimator's own variance is the Poisson
    part alone)."""
    truth = {}
    for (segment, customer, campaign), e in zip(_curves(sql), TRUE_E, strict=True):
        truth[segment] = e
        for back in range(1, 57):
            spend = 40.0 if back % 2 else 80.0
            conversions = round(30 * (spend / 40.0) ** e, 2)
            sql.execute(
                "insert into ad_campaign_daily_metrics (channel, customer_id, campaign_id, day, "
                "cost_micros, conversions, search_budget_lost_impression_share) "
                "values ('google_ads', %s, %s, %s, %s, %s, 0.3)",
                (customer, campaign, DAY - timedelta(days=back), int(spend * 1e6), conversions),
            )
    return truth


def _estimates(database: Database, sql: psycopg.Connection[Any]) -> dict[Any, float]:
    database.rpc("estimate_segment_responses", {"p_day": DAY.isoformat()}, caller=SERVICE)
    return {
        row[0]: float(row[1])
        for row in sql.execute(
            "select segment_id, elasticity from segment_response_estimates "
            "where day = %s and channel = 'google_ads'",
            (DAY,),
        )
    }


def test_the_estimator_recovers_a_convex_local_elasticity_when_the_data_are_informative(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("update orchestration_settings set demand_variance = 0")
    truth = _metrics(sql)
    estimated = _estimates(database, sql)
    for segment, e in truth.items():
        # The segments differ far more than τ = 0.15 says: the spread comes from their own
        # estimates, and each stays near its truth, also above 1.
        assert estimated[segment] == pytest.approx(e, abs=0.05), (e, estimated[segment])
    convex = max(truth, key=lambda s: truth[s])
    assert estimated[convex] > 1.3


def test_with_a_fixed_spread_the_prior_pulls_the_convex_segment_back(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # The counter-check: τ held at 0.15 (the old estimator) pulls e = 1.4 well below its truth.
    sql.execute(
        "update orchestration_settings set demand_variance = 0.03, "
        "elasticity_spread = 0.15, elasticity_spread_max = 0.15"
    )
    truth = _metrics(sql)
    fixed = _estimates(database, sql)
    sql.execute("update orchestration_settings set elasticity_spread_max = 0.5")
    learned = _estimates(database, sql)
    convex = max(truth, key=lambda s: truth[s])
    assert fixed[convex] < 1.3 < learned[convex] <= 1.5
    assert math.isclose(learned[convex], 1.4, abs_tol=0.08)
