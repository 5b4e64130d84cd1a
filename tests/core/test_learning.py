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


def _curves(sql: psycopg.Connection[Any], n: int = len(TRUE_E)) -> list[tuple[Any, str, str]]:
    rows = sql.execute(
        "select cb.segment_id, cb.customer_id, cb.campaign_id "
        "from segment_campaign_budgets cb join lead_segments s on s.id = cb.segment_id "
        "where cb.is_active and s.is_active and cb.channel = 'google_ads' "
        "order by s.code limit %s",
        (n,),
    ).fetchall()
    assert len(rows) == n
    return [(r[0], r[1], r[2]) for r in rows]


def _days(
    sql: psycopg.Connection[Any], curve: tuple[Any, str, str], days: list[tuple[float, float]]
) -> None:
    """One segment's budget-limited days, the newest first: (spend, conversions)."""
    _, customer, campaign = curve
    for back, (spend, conversions) in enumerate(days, start=1):
        sql.execute(
            "insert into ad_campaign_daily_metrics (channel, customer_id, campaign_id, day, "
            "cost_micros, conversions, search_budget_lost_impression_share) "
            "values ('google_ads', %s, %s, %s, %s, %s, 0.3)",
            (customer, campaign, DAY - timedelta(days=back), int(spend * 1e6), conversions),
        )


def _metrics(sql: psycopg.Connection[Any]) -> dict[Any, float]:
    """56 budget-limited days per segment, spend alternating €40 / €80 a day, conversions
    exactly on scale x spend ^ e (no noise: the estimator's own variance is the Poisson
    part alone)."""
    truth = {}
    for curve, e in zip(_curves(sql), TRUE_E, strict=True):
        truth[curve[0]] = e
        spends = [40.0 if back % 2 else 80.0 for back in range(1, 57)]
        _days(sql, curve, [(spend, round(30 * (spend / 40.0) ** e, 2)) for spend in spends])
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


def _own(sql: psycopg.Connection[Any], segment: Any) -> tuple[float | None, float | None, int]:
    row = sql.execute(
        "select own_elasticity, own_elasticity_sd, days_used from segment_response_estimates "
        "where day = %s and channel = 'google_ads' and segment_id = %s",
        (DAY, segment),
    ).fetchone()
    assert row is not None
    return (
        None if row[0] is None else float(row[0]),
        None if row[1] is None else float(row[1]),
        row[2],
    )


def test_the_own_estimate_is_the_poisson_maximum_likelihood_and_its_sd_the_information(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # Three spend levels, conversions exactly on 30 x (spend / 40) ^ 0.7: the maximum of the
    # Poisson likelihood is the curve's elasticity, and with demand_variance 0 the sd is
    # 1 / sqrt(Y var_w(x)), var_w the variance of the centred ln spend weighted by the fitted
    # conversions (computed here from the formula, not read back).
    sql.execute("update orchestration_settings set demand_variance = 0")
    curve = _curves(sql)[0]
    spends = [40.0, 60.0, 120.0] * 18
    days = [(s, round(30 * (s / 40.0) ** 0.7, 4)) for s in spends]
    _days(sql, curve, days)
    _estimates(database, sql)
    own, sd, used = _own(sql, curve[0])
    assert used == len(days)
    assert own == pytest.approx(0.7, abs=1e-3)
    total = sum(c for _, c in days)
    mean_x = sum(math.log(s) for s, _ in days) / len(days)
    xs = [math.log(s) - mean_x for s, _ in days]
    weights = [c / total for _, c in days]  # fitted = observed: the data lie on the curve
    m1 = sum(w * x for w, x in zip(weights, xs, strict=True))
    m2 = sum(w * x * x for w, x in zip(weights, xs, strict=True))
    assert sd == pytest.approx(1 / math.sqrt(total * (m2 - m1 * m1)), abs=1e-4)  # 4 decimals


def test_a_segment_whose_data_say_almost_nothing_stays_finite_and_near_the_pool(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # Conversions only on the high-spend days: the likelihood rises without end, the Newton
    # steps run toward the edge; the own estimate stays within -3 .. 3 with a wide sd, and the
    # elasticity the controller steers by stays within the settings' bounds.
    curves = _curves(sql)
    _days(sql, curves[0], [(80.0, 1.0) if i % 2 else (40.0, 0.0) for i in range(56)])
    # And one segment with no conversions at all: no own estimate.
    _days(sql, curves[1], [(80.0 if i % 2 else 40.0, 0.0) for i in range(56)])
    estimated = _estimates(database, sql)
    own, sd, _ = _own(sql, curves[0][0])
    assert own is not None and sd is not None
    assert -3 <= own <= 3 and sd > 0.5
    assert 0.15 <= estimated[curves[0][0]] <= 1.5
    assert _own(sql, curves[1][0])[:2] == (None, None)


# --------------------------------------------------------------------------- clicks


def _days_with_clicks(
    sql: psycopg.Connection[Any],
    curve: tuple[Any, str, str],
    days: list[tuple[float, float, int]],
) -> None:
    """One segment's budget-limited days, the newest first: (spend, conversions, clicks)."""
    _, customer, campaign = curve
    for back, (spend, conversions, clicks) in enumerate(days, start=1):
        sql.execute(
            "insert into ad_campaign_daily_metrics (channel, customer_id, campaign_id, day, "
            "cost_micros, clicks, conversions, search_budget_lost_impression_share) "
            "values ('google_ads', %s, %s, %s, %s, %s, %s, 0.3)",
            (customer, campaign, DAY - timedelta(days=back), int(spend * 1e6), clicks, conversions),
        )


SPENDS = [40.0 if back % 2 else 80.0 for back in range(1, 57)]


def _on_curves(e_clicks: float, e_conversions: float) -> list[tuple[float, float, int]]:
    """56 days at €40 / €80: clicks on 100 x (spend / 40) ^ e_clicks, conversions on
    3 x (spend / 40) ^ e_conversions (no noise): a few conversions a day, tens of clicks."""
    return [
        (s, round(3 * (s / 40) ** e_conversions, 4), round(100 * (s / 40) ** e_clicks))
        for s in SPENDS
    ]


def _conversions_sd(days: list[tuple[float, float, int]]) -> float:
    """The sd of the conversions' slope alone (demand_variance 0): 1 / sqrt(Y var_w(x))."""
    total = sum(c for _, c, _ in days)
    mean_x = sum(math.log(s) for s, _, _ in days) / len(days)
    m1 = sum(c / total * (math.log(s) - mean_x) for s, c, _ in days)
    m2 = sum(c / total * (math.log(s) - mean_x) ** 2 for s, c, _ in days)
    return 1 / math.sqrt(total * (m2 - m1 * m1))


def test_clicks_tell_the_curve_far_more_precisely_than_conversions(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # Clicks and conversions on the same curves (the conversion rate does not move with
    # spend), on nine segments: each own estimate is its curve's elasticity, its sd under
    # half of what its conversions alone allow.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curves = _curves(sql, 9)
    elasticities = [0.3 + 0.05 * i for i in range(9)]
    for curve, e in zip(curves, elasticities, strict=True):
        _days_with_clicks(sql, curve, _on_curves(e, e))
    _estimates(database, sql)
    for curve, e in zip(curves, elasticities, strict=True):
        own, sd, used = _own(sql, curve[0])
        assert used == 56
        assert own == pytest.approx(e, abs=0.01), (e, own)
        assert sd is not None and sd < 0.5 * _conversions_sd(_on_curves(e, e))


def test_a_conversion_rate_that_falls_with_spend_everywhere_is_learned(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # Every segment's extra clicks convert worse: clicks grow with e + 0.4, conversions with
    # e. The estimator measures the rate's slope (-0.4) from all segments and does not take
    # the clicks' slope for the curve.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curves = _curves(sql)
    for curve, e in zip(curves, TRUE_E[:3], strict=False):
        _days_with_clicks(sql, curve, _on_curves(e + 0.4, e))
    estimated = _estimates(database, sql)
    for curve, e in zip(curves, TRUE_E[:3], strict=False):
        own, _, _ = _own(sql, curve[0])
        assert own == pytest.approx(e, abs=0.03), (e, own)
        assert estimated[curve[0]] == pytest.approx(e, abs=0.05)


def test_a_segment_whose_conversion_rate_moves_alone_is_moved_by_its_own_data(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # Three segments convert at a rate that does not move with spend; the fourth's falls
    # steeply (clicks e 1.1, conversions e 0.5), on many conversions. The spread between the
    # segments' rate slopes is measured, and the fourth's own estimate follows its conversions.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curves = _curves(sql)
    for curve in curves[:3]:
        _days_with_clicks(sql, curve, _on_curves(0.6, 0.6))
    odd = [(s, round(60 * (s / 40) ** 0.5, 4), round(900 * (s / 40) ** 1.1)) for s in SPENDS]
    _days_with_clicks(sql, curves[3], odd)
    _estimates(database, sql)
    for curve in curves[:3]:
        assert _own(sql, curve[0])[0] == pytest.approx(0.6, abs=0.05)
    own, _, _ = _own(sql, curves[3][0])
    assert own == pytest.approx(0.5, abs=0.06), own


def test_clicks_that_scatter_more_than_a_count_widen_the_sd(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # The same nine curves, once with clicks exactly on them and once scattered ±50 % day by
    # day (independently of spend): the estimates stay near the curves, and the sds grow with
    # the clicks' dispersion.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curves = _curves(sql, 9)
    exact = _on_curves(0.7, 0.7)
    scatter = (1.5, 1.5, 0.5, 0.5)  # every spend level gets both, so the slope is unmoved
    scattered = [(s, c, round(k * scatter[i % 4])) for i, (s, c, k) in enumerate(exact)]
    sds = []
    for days in (exact, scattered):
        sql.execute("delete from ad_campaign_daily_metrics")
        for curve in curves:
            _days_with_clicks(sql, curve, days)
        _estimates(database, sql)
        own, sd, _ = _own(sql, curves[0][0])
        assert own == pytest.approx(0.7, abs=0.05)
        assert sd is not None
        sds.append(sd)
    assert sds[1] > 1.5 * sds[0], sds


def test_on_a_saturating_curve_the_slope_is_read_where_the_segment_spends_now(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # Clicks and conversions on 1 - e^(-spend / 60) (its elasticity falls from 1 as the spend
    # rises). The segments climbed: seven weeks at €20-80, the last week at €100-120. The
    # window's average slope is the lower spends'; the estimate is the slope at €110, within
    # a tenth of it and below the window's average.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curves = _curves(sql, 9)

    def clicks(spend: float) -> float:
        return 400 * -math.expm1(-spend / 60)

    earlier = [20.0, 35.0, 50.0, 65.0, 80.0, 65.0, 50.0, 35.0]  # not a week: every weekday
    spends = [100.0, 120.0, 110.0, 100.0, 120.0, 110.0, 100.0] + earlier * 6  # newest first
    days = [(s, round(clicks(s) / 30, 4), round(clicks(s))) for s in spends]
    for curve in curves:
        _days_with_clicks(sql, curve, days)
    _estimates(database, sql)
    local = 110 / 60 * math.exp(-110 / 60) / -math.expm1(-110 / 60)  # d ln clicks / d ln spend
    xs = [math.log(s) for s in spends]
    ys = [math.log(clicks(s)) for s in spends]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    average = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    own, _, _ = _own(sql, curves[0][0])
    assert own is not None
    assert own == pytest.approx(local, abs=0.1), (own, local, average)
    assert own < average - 0.1, (own, local, average)


def test_a_curve_that_bends_up_is_read_as_a_straight_line(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # ln clicks rising ever steeper with ln spend (an elasticity that grows with the spend):
    # no saturating market does this, and a bend up fitted to noise would feed itself. The
    # estimate is the straight line's slope (least squares weighted by the clicks, within the
    # weekdays), not the steeper slope at the last week's spend.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curves = _curves(sql, 9)

    def clicks(spend: float) -> float:
        x = math.log(spend / 40)
        return 60 * math.exp(0.4 * x + 0.3 * x * x)

    earlier = [20.0, 35.0, 50.0, 65.0, 80.0, 65.0, 50.0, 35.0]  # not a week: every weekday
    spends = [100.0, 120.0, 110.0, 100.0, 120.0, 110.0, 100.0] + earlier * 6  # newest first
    days = [(s, round(clicks(s) / 30, 4), round(clicks(s))) for s in spends]
    for curve in curves:
        _days_with_clicks(sql, curve, days)
    _estimates(database, sql)
    # The straight line within the weekdays (least squares weighted by the clicks, x and
    # ln clicks less their weighted means per weekday; no public holiday in the window).
    rows = [
        ((DAY - timedelta(days=back)).isoweekday(), k, math.log(s), math.log(k))
        for back, (s, _, k) in enumerate(days, start=1)
    ]
    means = {}
    for kind in {r[0] for r in rows}:
        same = [r for r in rows if r[0] == kind]
        total = sum(r[1] for r in same)
        means[kind] = (
            sum(r[1] * r[2] for r in same) / total,
            sum(r[1] * r[3] for r in same) / total,
        )
    sxy = sum(k * (x - means[d][0]) * (y - means[d][1]) for d, k, x, y in rows)
    sxx = sum(k * (x - means[d][0]) ** 2 for d, k, x, _ in rows)
    line = sxy / sxx
    steeper = 0.4 + 0.6 * math.log(110 / 40)  # the curve's own slope at €110
    own, _, _ = _own(sql, curves[0][0])
    assert own == pytest.approx(line, abs=0.02), (own, line, steeper)
    assert steeper > line + 0.2


def test_demand_that_moves_with_the_weekday_is_not_read_as_response(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # Demand D moves with the weekday and the budget follows it (more on a busy day), on top
    # of its own alternation; clicks = 100 D^(1 - e) (spend / 50)^e with e = 0.5, conversions
    # a thirtieth of them. Across days the slope reads demand as response (about 0.65);
    # within each weekday it is the curve's 0.5.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curves = _curves(sql, 9)
    demand = (1.20, 1.12, 1.05, 1.00, 0.88, 0.72, 1.03)  # Monday .. Sunday
    days = []
    for back in range(1, 57):
        d = demand[(DAY - timedelta(days=back)).weekday()]
        spend = 50 * d * (0.8 if back % 2 else 1.25)
        k = 100 * d**0.5 * (spend / 50) ** 0.5
        days.append((spend, round(k / 30, 4), round(k)))
    for curve in curves:
        _days_with_clicks(sql, curve, days)
    estimated = _estimates(database, sql)
    xs = [math.log(s) for s, _, _ in days]
    ys = [math.log(k) for _, _, k in days]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    across = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    own, _, _ = _own(sql, curves[0][0])
    assert own == pytest.approx(0.5, abs=0.03), (own, across)
    assert across > 0.6
    assert estimated[curves[0][0]] == pytest.approx(0.5, abs=0.05)


def test_a_budget_that_only_follows_the_weekday_leaves_the_curve_to_the_conversions(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    # The spend is the same on every Monday, every Tuesday, ...: within the weekdays it does
    # not vary, so the clicks cannot tell the curve apart from the weekday's demand. The own
    # estimate is the conversions' Poisson slope (as without clicks), finite.
    sql.execute("update orchestration_settings set demand_variance = 0")
    curve = _curves(sql)[0]
    pattern = (40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0)
    days = []
    for back in range(1, 57):
        spend = pattern[(DAY - timedelta(days=back)).weekday()]
        days.append((spend, round(5 * (spend / 40) ** 0.6, 4), round(100 * (spend / 40) ** 0.9)))
    _days_with_clicks(sql, curve, days)
    _estimates(database, sql)
    own, sd, _ = _own(sql, curve[0])
    assert own == pytest.approx(0.6, abs=0.01), own
    assert sd is not None and math.isfinite(sd)
