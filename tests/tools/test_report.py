"""`leadflow report`: the numbers in the HTML page are the database's numbers."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import EMPTY_TEMPLATE, PgCluster
from leadflow.db import Caller, Database
from leadflow.db.direct import DirectTransport
from leadflow.errors import LeadflowError
from leadflow_tools import report
from leadflow_tools.demo import DemoOptions, install, run_demo
from leadflow_tools.simclock import database_clock
from plotly.offline import get_plotlyjs

OPTIONS = DemoOptions(seed=11, days=12, end=date(2026, 11, 25), industries=2, provinces=3)
FIRST, LAST = OPTIONS.first_day, OPTIONS.end


@pytest.fixture(scope="module")
def demo_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A small demo, built once for this module's tests (which only read it)."""
    name = pg_cluster.create(EMPTY_TEMPLATE)
    url = pg_cluster.url(name)
    install(url)
    db = Database(DirectTransport(url, max_size=2))
    try:
        run_demo(db, OPTIONS, clock=database_clock(url))
        yield url
    finally:
        db.close()
        pg_cluster.drop(name)


@pytest.fixture(scope="module")
def page(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report of the whole demo, as written to disk."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    db = Database(DirectTransport(demo_url, max_size=1))
    try:
        report.write_report(db, Caller.service(), out, FIRST, LAST)
    finally:
        db.close()
    return out.read_text(encoding="utf-8")


def _embedded(page: str, element_id: str) -> Any:
    return report.embedded(page, element_id)


def _n(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_daily_series_equal_the_plans_stats_and_audit_log(page: str, demo_url: str) -> None:
    data = _embedded(page, report.DATA_ELEMENT_ID)
    days = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    assert data["days"] == [d.isoformat() for d in days]
    series = {s["code"]: s for s in data["series"]}
    codes = [r[0] for r in _rows(demo_url, "select code from lead_segments order by code")]
    assert sorted(series) == codes

    expected: dict[tuple[str, str], dict[str, float | None]] = {}
    for code, day, capacity, target in _rows(
        demo_url,
        "select s.code, p.day, p.capacity, p.target_leads from lead_segment_plans p "
        "join lead_segments s on s.id = p.segment_id where p.day between %s and %s",
        FIRST,
        LAST,
    ):
        expected.setdefault((code, day.isoformat()), {}).update(
            capacity=_n(capacity), target=_n(target)
        )
    for code, day, generated, accepted, paid, spend in _rows(
        demo_url,
        "select s.code, st.day, st.leads_generated, st.leads_accepted, st.leads_paid, "
        "st.ad_spend from lead_generation_stats st join lead_segments s on s.id = st.segment_id "
        "where st.day between %s and %s",
        FIRST,
        LAST,
    ):
        expected.setdefault((code, day.isoformat()), {}).update(
            actual=_n(generated), accepted=_n(accepted), paid=_n(paid), spend=_n(spend)
        )
    # The budget in effect: per budget (Google Ads and Microsoft Advertising) the day's last
    # decision, its new amount only if applied live; summed over the segment's budgets.
    for code, day, micros in _rows(
        demo_url,
        """
        select code, day, sum(micros) from (
          select distinct on (l.segment_id, l.budget_resource_name, l.day) s.code, l.day,
                 case when l.mode = 'live' and l.status = 'success'
                      then l.new_amount_micros else l.old_amount_micros end as micros
          from channel_orchestration_log l join lead_segments s on s.id = l.segment_id
          where l.day between %s and %s
          order by l.segment_id, l.budget_resource_name, l.day, l.id desc
        ) b group by code, day
        """,
        FIRST,
        LAST,
    ):
        expected.setdefault((code, day.isoformat()), {})["budget"] = _n(Decimal(micros) / 10**6)

    measures = ("capacity", "target", "actual", "accepted", "paid", "spend", "budget")
    checked = 0
    for code, s in series.items():
        for i, day in enumerate(data["days"]):
            want = expected.get((code, day), {})
            got = {m: _n(s[m][i]) for m in measures}
            assert got == {m: want.get(m) for m in measures}, (code, day)
            checked += sum(v is not None for v in got.values())
    assert checked > 6 * 12 * 6


def test_totals_fill_rates_changes_and_decisions_equal_the_database(
    page: str, demo_url: str
) -> None:
    data = _embedded(page, report.DATA_ELEMENT_ID)
    [(leads, accepted, capacity, spend)] = _rows(
        demo_url,
        "select sum(leads_generated), sum(leads_accepted), sum(total_capacity), sum(ad_spend) "
        "from lead_generation_stats where day between %s and %s",
        FIRST,
        LAST,
    )
    totals = data["totals"]
    assert (totals["leads"], totals["accepted"]) == (leads, accepted)
    assert (_n(totals["capacity"]), _n(totals["ad_spend"])) == (_n(capacity), _n(spend))
    assert totals["fill_rate"] == pytest.approx(float(accepted / capacity), abs=1e-4)

    fill = {
        code: (acc, _n(cap))
        for code, acc, cap in _rows(
            demo_url,
            "select s.code, sum(st.leads_accepted), sum(st.total_capacity) "
            "from lead_generation_stats st join lead_segments s on s.id = st.segment_id "
            "where st.day between %s and %s group by s.code",
            FIRST,
            LAST,
        )
    }
    assert {f["code"]: (f["accepted"], _n(f["capacity"])) for f in data["fill"]} == fill

    changes = _rows(
        demo_url,
        "select s.code, l.day::text, l.action, l.new_amount_micros, l.mode, l.status, l.reason "
        "from channel_orchestration_log l join lead_segments s on s.id = l.segment_id "
        "where l.action <> 'hold' and l.day between %s and %s order by l.day, s.code, l.id",
        FIRST,
        LAST,
    )
    keys = ("code", "day", "action", "new_budget", "mode", "status", "reason")
    embedded = [tuple(c[k] for k in keys) for c in data["changes"]]
    assert [(*c[:3], round(c[3] * 10**6), *c[4:]) for c in embedded] == [
        tuple(row) for row in changes
    ]
    assert any(c["mode"] == "live" and c["status"] == "success" for c in data["changes"])

    assert data["latest_decision_day"] == LAST.isoformat()
    decisions = _rows(
        demo_url,
        "select s.code, l.action, l.old_amount_micros, l.new_amount_micros, l.expected_gap, l.reason "
        "from channel_orchestration_log l join lead_segments s on s.id = l.segment_id "
        "where l.day = %s and l.kind = 'adjust' order by s.code",
        LAST,
    )
    assert sorted(
        (
            d["code"],
            d["action"],
            round(d["old_budget"] * 10**6),
            round(d["new_budget"] * 10**6),
            _n(d["expected_gap"]),
            d["reason"],
        )
        for d in data["decisions"]
    ) == sorted((c, a, o, n, _n(g), r) for c, a, o, n, g, r in decisions)
    for d in data["decisions"]:
        assert html.escape(d["reason"]) in page  # the table shows every reason, escaped


def test_the_charts_draw_the_embedded_numbers(page: str) -> None:
    data = _embedded(page, report.DATA_ELEMENT_ID)
    targets = _embedded(page, "figure-targets")
    actual = next(t for t in targets["data"] if t["name"] == "actual leads")
    target = next(t for t in targets["data"] if t["name"].startswith("target leads"))
    for i, _ in enumerate(data["days"]):
        column = [s["actual"][i] for s in data["series"] if s["actual"][i] is not None]
        assert actual["y"][i] == (pytest.approx(sum(column)) if column else None)
        planned = [s["target"][i] for s in data["series"] if s["target"][i] is not None]
        assert target["y"][i] == (pytest.approx(sum(planned)) if planned else None)

    heatmap = _embedded(page, "figure-fill")["data"][0]
    rates = [v for row in heatmap["z"] for v in row if v is not None]
    assert sorted(rates) == sorted(
        round(100 * f["fill_rate"], 1) for f in data["fill"] if f["fill_rate"] is not None
    )

    budgets = _embedded(page, "figure-budgets")
    marked = sum(len(t["x"]) for t in budgets["data"] if t["mode"] == "markers")
    assert marked == len(
        {(c["day"], c["action"] if c["status"] == "success" else "p") for c in data["changes"]}
    )


def test_the_page_needs_no_network(page: str) -> None:
    # plotly.js itself is inlined (packed); no element loads anything.
    assert not re.search(r"<(script|link|img|iframe)[^>]*\b(src|href)=", page)
    assert "Plotly.newPlot" in page
    plotly = report.embedded_text(page, "plotly-js")
    assert plotly == get_plotlyjs()


def test_the_page_is_small_because_its_large_parts_are_packed(page: str) -> None:
    """plotly.js alone is 4.8 MB; packed, the whole page of this small demo is under 2.2 MB
    (the 90-day demo of 180 segments: 2.9 MB, bench/RESULTS.md; it was 13.8 MB)."""
    size = len(page.encode("utf-8"))
    assert size < 2_200_000, size
    assert len(get_plotlyjs()) > 4_000_000
    for element in re.findall(r'<script type="([^"]+)" id="([^"]+)">', page):
        assert element[0] == report.PACKED, element
    # nothing inside a packed element can end or confuse its <script>
    for body in re.findall(r'<script type="application/gzip\+base85"[^>]*>(.*?)</script>', page):
        assert not set("<>&") & set(body)


def test_one_segment_report_holds_only_that_segment(demo_url: str, tmp_path: Path) -> None:
    db = Database(DirectTransport(demo_url, max_size=1))
    try:
        data = report.fetch(db, Caller.service(), FIRST, LAST, "schilder_drenthe")
        with pytest.raises(LeadflowError, match="unknown segment nope"):
            report.fetch(db, Caller.service(), FIRST, LAST, "nope")
        with pytest.raises(LeadflowError, match="from <= to"):
            report.fetch(db, Caller.service(), LAST, FIRST)
        defaults = report.fetch(db, Caller.service())
    finally:
        db.close()
    assert [s["code"] for s in data["series"]] == ["schilder_drenthe"]
    assert {c["code"] for c in data["changes"]} <= {"schilder_drenthe"}
    # One decision per budget of the segment: Google Ads, and Microsoft Advertising beside it.
    assert {d["code"] for d in data["decisions"]} == {"schilder_drenthe"}
    assert 1 <= len(data["decisions"]) <= 2
    assert (defaults["from"], defaults["to"]) == (
        (LAST - timedelta(days=29)).isoformat(),
        LAST.isoformat(),
    )


def test_cli_report_writes_the_file_and_refuses_bad_input_in_one_line(
    demo_url: str, tmp_path: Path
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "leadflow_tools.cli", "report", *args],
            capture_output=True,
            text=True,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(tmp_path),
                "LEADFLOW_HOME": str(tmp_path / "home"),
                "DATABASE_URL": demo_url,
            },
            check=False,
            timeout=120,
        )

    out = tmp_path / "one.html"
    written = cli("--segment", "loodgieter_friesland", "--out", str(out), "--json")
    assert written.returncode == 0, written.stderr
    assert json.loads(written.stdout)["segments"] == 1 and out.is_file()
    refused = cli("--segment", "nope")
    assert refused.returncode == 1
    assert refused.stderr == "error: unknown segment nope\n"


def test_the_economics_section_shows_value_margin_curve_and_cap(page: str, demo_url: str) -> None:
    data = _embedded(page, report.DATA_ELEMENT_ID)
    economics = data["economics"]
    (margin,) = _rows(
        demo_url,
        "select sum(st.revenue) - sum(st.ad_spend) from lead_generation_stats st "
        "join lead_segments s on s.id = st.segment_id and s.is_active "
        "where st.day between %s and %s",
        FIRST,
        LAST,
    )[0]
    assert sum(Decimal(str(r["margin"])) for r in economics["segments"]) == margin
    estimated = [r for r in economics["segments"] if r["elasticity"] is not None]
    assert estimated and all(0 < r["elasticity"] <= 1 for r in estimated)
    assert "Economics: value, margin and each segment" in page
    assert f"€{float(margin):,.2f}" in page  # the margin tile
    assert economics["account_daily_cap"] is None and "Account daily cap: none" in page


def test_the_channels_section_shows_leads_and_spend_per_channel(page: str, demo_url: str) -> None:
    data = _embedded(page, report.DATA_ELEMENT_ID)
    shown = {r["channel"]: r for r in data["channels"]}
    stored = {
        channel: (leads, spend)
        for channel, leads, spend in _rows(
            demo_url,
            "select channel, sum(leads_generated), sum(spend) from lead_channel_stats"
            " where day between %s and %s group by channel",
            FIRST,
            LAST,
        )
    }
    assert set(shown) == set(stored) and "google_ads" in shown and "seo" in shown
    for channel, (leads, spend) in stored.items():
        assert shown[channel]["leads"] == leads
        assert Decimal(str(shown[channel]["spend"])) == spend
    assert "<h3>Per channel</h3>" in page
    google = shown["google_ads"]
    assert f"<td>Google Ads</td><td>paid</td><td>{google['leads']:,}</td>" in page
    assert sum(r["leads"] for r in shown.values()) == sum(
        r[0]
        for r in _rows(
            demo_url,
            "select sum(leads_generated) from lead_generation_stats where day between %s and %s",
            FIRST,
            LAST,
        )
    )
