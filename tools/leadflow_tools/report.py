"""The operator report: one self-contained HTML file with what Leadflow saw and decided.

Everything shown comes from one call, `report_data(from, to, segment)`, and is
embedded in the page twice: as the charts' own JSON (plotly renders it) and as
the raw data (`<script id="leadflow-report-data" type="application/json">`), so
a test or a script can check the page against the database. plotly.js is
inlined: the file opens without a network.

Sections: headline numbers; target vs actual leads per segment over time; the
daily budget over time with every change marked (its reason on hover); the fill
rate (accepted leads / partner capacity) per industry x province; the decisions
of the latest orchestrated day.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from leadflow.days import AMSTERDAM
from leadflow.db import Caller, Database, RpcError
from leadflow.db.errors import INVALID_PARAMETER
from leadflow.errors import LeadflowError
from plotly.offline import get_plotlyjs

DATA_ELEMENT_ID = "leadflow-report-data"
FIGURE_IDS = ("targets", "budgets", "fill")
ALL_SEGMENTS = "All segments"

#: Called with (step, done, total) while the report is built.
Progress = Callable[[str, int, int], None]

_COLORS = {
    "target": "#1f5fbf",
    "actual": "#9db8e0",
    "actual_mean": "#ea580c",
    "capacity": "#6b7280",
    "budget": "#111827",
    "spend": "#f59e0b",
    "increase": "#15803d",
    "decrease": "#b91c1c",
    "proposed": "#9ca3af",
}


@dataclass(frozen=True)
class ReportResult:
    """Where the report went and what it covers."""

    path: Path
    first: date
    last: date
    segment: str | None
    segments: int
    latest_decision_day: date | None
    bytes: int

    def as_json(self) -> dict[str, Any]:
        """For --json."""
        return {
            "path": str(self.path),
            "url": self.path.resolve().as_uri(),
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "segment": self.segment,
            "segments": self.segments,
            "latest_decision_day": (
                self.latest_decision_day.isoformat() if self.latest_decision_day else None
            ),
            "bytes": self.bytes,
        }


def fetch(
    db: Database,
    caller: Caller,
    first: date | None = None,
    last: date | None = None,
    segment: str | None = None,
) -> dict[str, Any]:
    """The report's data from the database (defaults: the 30 days up to the latest plan)."""
    try:
        data: dict[str, Any] = db.rpc(
            "report_data",
            {
                "p_from": first.isoformat() if first else None,
                "p_to": last.isoformat() if last else None,
                "p_segment_code": segment,
            },
            caller=caller,
            read_only=True,
        )
    except RpcError as exc:
        if exc.code == INVALID_PARAMETER:
            raise LeadflowError(exc.message) from None
        raise
    data["economics"] = db.rpc(
        "report_economics",
        {"p_from": data["from"], "p_to": data["to"]},
        caller=caller,
        read_only=True,
    )
    return data


def write_report(
    db: Database,
    caller: Caller,
    out: Path,
    first: date | None = None,
    last: date | None = None,
    segment: str | None = None,
    *,
    on_progress: Progress | None = None,
) -> ReportResult:
    """Fetch, render and write the report to `out` (its folder is created)."""
    progress = on_progress or (lambda step, done, total: None)
    progress("reading the database", 0, 3)
    data = fetch(db, caller, first, last, segment)
    totals = data.get("totals") or {}
    if not totals.get("segments") and not data.get("changes") and not data.get("decisions"):
        # An empty page is not a report: a script must notice (exit 1), nothing is written.
        which = f"segment {segment}" if segment else "any segment"
        raise LeadflowError(
            f"no data from {data['from']} to {data['to']} for {which}: no stats, plans or"
            " budget decisions in that range (run `leadflow aggregate` for those days?);"
            " no report written"
        )
    progress("drawing the charts", 1, 3)
    page = render(data)
    progress("writing the file", 2, 3)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    progress("done", 3, 3)
    latest = data.get("latest_decision_day")
    return ReportResult(
        path=out,
        first=date.fromisoformat(data["from"]),
        last=date.fromisoformat(data["to"]),
        segment=segment,
        segments=len(data["segments"]),
        latest_decision_day=date.fromisoformat(latest) if latest else None,
        bytes=len(page.encode()),
    )


def default_path(home: Path, first: date | None, last: date | None, segment: str | None) -> Path:
    """`<home>/reports/report[-<segment>][-<from>_<to>].html`."""
    name = "report"
    if segment:
        name += f"-{segment}"
    if first or last:
        name += f"-{first or 'start'}_{last or 'latest'}"
    return home / "reports" / f"{name}.html"


# --------------------------------------------------------------------------- figures


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


#: Segments offered in the charts' dropdown (largest latest gap first); --segment shows any.
DROPDOWN_SEGMENTS = 30

Values = list[float | None]


def _segment_order(data: dict[str, Any]) -> list[str]:
    """Segments with the largest latest gap first, then the rest by code."""
    gaps = {d["code"]: abs(d["expected_gap"] or 0) for d in data["decisions"]}
    return sorted((s["code"] for s in data["segments"]), key=lambda c: (-gaps.get(c, -1), c))


def _measure(data: dict[str, Any], code: str | None, name: str) -> Values:
    """One measure over the report's days: of one segment, or summed over all (None: no value)."""
    rows = [s for s in data["series"] if code is None or s["code"] == code]
    if not rows:
        return [None] * len(data["days"])
    if code is not None:
        return [_num(v) for v in rows[0][name]]
    totals: Values = []
    for i in range(len(data["days"])):
        values = [float(r[name][i]) for r in rows if r[name][i] is not None]
        totals.append(round(sum(values), 2) if values else None)
    return totals


def _choices(data: dict[str, Any]) -> tuple[str | None, list[str | None]]:
    """The segment shown first (None: all) and the dropdown's choices."""
    order = _segment_order(data)
    if len(order) == 1:
        return order[0], []
    return None, [None, *order[:DROPDOWN_SEGMENTS]]


def _dropdown(options: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """A plotly dropdown that restyles the traces per option (one option: none)."""
    if len(options) < 2:
        return []
    return [
        {
            "buttons": [
                {"label": label, "method": "restyle", "args": [restyle]}
                for label, restyle in options
            ],
            "direction": "down",
            "x": 0,
            "xanchor": "left",
            "y": 1.18,
            "yanchor": "top",
            "showactive": True,
            "active": 0,
        }
    ]


def _layout(fig: go.Figure, title: str, yaxis: str, menus: list[dict[str, Any]]) -> None:
    fig.update_layout(
        title={"text": title, "x": 0.5 if not menus else 0.35},
        template="plotly_white",
        height=430,
        margin={"l": 60, "r": 20, "t": 90, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        hovermode="x unified",
        yaxis_title=yaxis,
        updatemenus=menus,
    )


def weekly_mean(values: Values) -> Values:
    """Trailing 7-day mean (None until 7 days have values): weekends, when capacity and so
    the target are 0 by design, average out."""
    out: Values = []
    for i in range(len(values)):
        window = values[max(0, i - 6) : i + 1]
        known = [v for v in window if v is not None]
        out.append(round(sum(known) / 7, 2) if len(known) == 7 else None)
    return out


def targets_figure(data: dict[str, Any]) -> go.Figure:
    """Target vs actual leads per day (all segments summed, or one from the dropdown)."""
    days = data["days"]
    first, choices = _choices(data)

    def ys(code: str | None) -> list[Values]:
        actual, target, capacity = (
            _measure(data, code, n) for n in ("actual", "target", "capacity")
        )
        return [actual, target, weekly_mean(actual), weekly_mean(target), capacity]

    fig = go.Figure()
    fig.add_bar(name="actual leads", marker_color=_COLORS["actual"], opacity=0.7)
    fig.add_scatter(
        name="target leads (0 on weekends and holidays)",
        mode="lines",
        line={"color": _COLORS["target"], "width": 1, "shape": "hv"},
        opacity=0.5,
    )
    fig.add_scatter(
        name="actual, 7-day mean",
        mode="lines",
        line={"color": _COLORS["actual_mean"], "width": 3},
    )
    fig.add_scatter(
        name="target, 7-day mean",
        mode="lines",
        line={"color": _COLORS["target"], "width": 3},
    )
    fig.add_scatter(
        name="partner capacity (accepted leads)",
        mode="lines",
        line={"color": _COLORS["capacity"], "dash": "dot", "shape": "hv"},
    )
    for trace, y in zip(fig.data, ys(first), strict=True):
        trace.update(x=days, y=y)
    options = [(code or ALL_SEGMENTS, {"y": ys(code)}) for code in choices]
    _mark_go_live(fig, data)
    _layout(
        fig,
        "Leads per day: target vs actual" + (f" — {first}" if first else ""),
        "leads / day",
        _dropdown(options),
    )
    return fig


def _budget_traces(data: dict[str, Any], code: str | None) -> dict[str, list[Any]]:
    """x, y and hover text of the budget figure's five traces, for one segment or all."""
    days = data["days"]
    budget_y, spend_y = _measure(data, code, "budget"), _measure(data, code, "spend")
    changes = [c for c in data["changes"] if code is None or c["code"] == code]
    marks: dict[str, tuple[list[str], list[Any], list[str]]] = {}
    if code is None:
        per_day: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for c in changes:
            per_day[(c["action"] if _applied(c) else "proposed", c["day"])].append(c)
        at = dict(zip(days, budget_y, strict=True))
        for kind in ("increase", "decrease", "proposed"):
            keys = sorted(d for k, d in per_day if k == kind)
            marks[kind] = (
                keys,
                [at.get(d) for d in keys],
                [_summarise(kind, per_day[(kind, d)]) for d in keys],
            )
    else:
        for kind in ("increase", "decrease", "proposed"):
            chosen = [
                c
                for c in changes
                if (_applied(c) and c["action"] == kind) or (kind == "proposed" and not _applied(c))
            ]
            marks[kind] = (
                [c["day"] for c in chosen],
                [_num(c["new_budget"]) for c in chosen],
                [_describe(c) for c in chosen],
            )
    kinds = ("increase", "decrease", "proposed")
    return {
        "x": [days, days] + [marks[k][0] for k in kinds],
        "y": [budget_y, spend_y] + [marks[k][1] for k in kinds],
        "hovertext": [None, None] + [marks[k][2] for k in kinds],
    }


def _applied(change: dict[str, Any]) -> bool:
    return bool(change["mode"] == "live" and change["status"] == "success")


def _describe(change: dict[str, Any]) -> str:
    how = (
        "applied"
        if change["mode"] == "live" and change["status"] == "success"
        else (f"{change['mode'].replace('_', '-')}, {change['status']}")
    )
    return (
        f"<b>{html.escape(change['code'])}</b> {change['action']} "
        f"€{change['old_budget']:.2f} → €{change['new_budget']:.2f} ({how})<br>"
        + _wrap(html.escape(change["reason"]))
    )


def _summarise(kind: str, changes: list[dict[str, Any]]) -> str:
    what = {"proposed": "proposed, not applied"}.get(kind, kind + "d" if kind[-1] == "e" else kind)
    lines = [
        f"{changes[0]['day']}: {len(changes)} budget{'s' if len(changes) != 1 else ''} "
        f"{what}; largest gaps:",
        *(
            f"{html.escape(c['code'])}: €{c['old_budget']:.2f} → €{c['new_budget']:.2f}"
            for c in sorted(changes, key=lambda c: -abs(c["expected_gap"] or 0))[:5]
        ),
    ]
    return "<br>".join(lines)


def _wrap(text: str, width: int = 90) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "<br>".join(lines)


def budgets_figure(data: dict[str, Any]) -> go.Figure:
    """Daily budget in effect and ad spend, every budget change marked with its reason."""
    first, choices = _choices(data)
    traces = _budget_traces(data, first)
    fig = go.Figure()
    fig.add_scatter(
        name="daily budget in effect",
        mode="lines",
        line={"color": _COLORS["budget"], "shape": "hv", "width": 2},
        hoverinfo="x+y+name",
    )
    fig.add_scatter(name="ad spend", mode="lines", line={"color": _COLORS["spend"], "dash": "dot"})
    for kind, symbol in (
        ("increase", "triangle-up"),
        ("decrease", "triangle-down"),
        ("proposed", "circle-open"),
    ):
        fig.add_scatter(
            name={"proposed": "proposed, not applied"}.get(kind, kind),
            mode="markers",
            marker={"color": _COLORS[kind], "symbol": symbol, "size": 10},
            hoverinfo="text",
        )
    for i, trace in enumerate(fig.data):
        trace.update(x=traces["x"][i], y=traces["y"][i])
        if traces["hovertext"][i] is not None:
            trace.update(hovertext=traces["hovertext"][i])
    options = [(code or ALL_SEGMENTS, _budget_traces(data, code)) for code in choices]
    _mark_go_live(fig, data)
    _layout(
        fig,
        "Daily Google Ads budget — hover a marker for the reason"
        + (f" — {first}" if first else ""),
        "euro / day",
        _dropdown(options),
    )
    fig.update_layout(hovermode="closest")
    return fig


def fill_figure(data: dict[str, Any]) -> go.Figure:
    """Fill rate (accepted leads / partner capacity) per industry x province."""
    industries = sorted({(f["industry_name"], f["industry"]) for f in data["fill"]})
    regions = sorted({(f["region_name"], f["region"]) for f in data["fill"]})
    cell = {(f["industry"], f["region"]): f for f in data["fill"]}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for _, ind in industries:
        zr, tr, hr = [], [], []
        for _, reg in regions:
            f = cell.get((ind, reg))
            rate = None if f is None or f["fill_rate"] is None else round(100 * f["fill_rate"], 1)
            zr.append(rate)
            tr.append("—" if rate is None else f"{rate:.0f}%")
            hr.append(
                "no segment"
                if f is None
                else f"{f['code']}<br>accepted {f['accepted']} of capacity "
                f"{_num(f['capacity']) or 0:.1f}<br>fill rate "
                + ("—" if rate is None else f"{rate:.1f}%")
            )
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[name for name, _ in regions],
            y=[name for name, _ in industries],
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale="RdYlBu",
            zmin=0,
            zmid=100,
            zmax=200,
            colorbar={"title": {"text": "fill %"}},
        )
    )
    fig.update_layout(
        title={"text": "Fill rate: accepted leads / partner capacity", "x": 0.5},
        template="plotly_white",
        height=max(320, 60 + 34 * len(industries)),
        margin={"l": 150, "r": 20, "t": 60, "b": 60},
        yaxis={"autorange": "reversed"},
    )
    return fig


def _mark_go_live(fig: go.Figure, data: dict[str, Any]) -> None:
    """A vertical line on the first day a budget change was applied live."""
    live = [c["day"] for c in data["changes"] if c["mode"] == "live" and c["status"] == "success"]
    if live:
        fig.add_vline(x=min(live), line={"color": "#16a34a", "dash": "dash", "width": 1})
        fig.add_annotation(
            x=min(live),
            y=1.02,
            yref="paper",
            text=" first live change",
            xanchor="left",
            showarrow=False,
            font={"color": "#16a34a", "size": 11},
        )


# --------------------------------------------------------------------------- the page


def render(data: dict[str, Any], *, generated_at: datetime | None = None) -> str:
    """The whole HTML page for `report_data`'s result."""
    figures = {
        "targets": targets_figure(data),
        "budgets": budgets_figure(data),
        "fill": fill_figure(data),
    }
    stamp = (generated_at or datetime.now(AMSTERDAM)).strftime("%Y-%m-%d %H:%M %Z")
    scope = f"segment {data['segment']}" if data.get("segment") else "all segments"
    blocks = "\n".join(
        f'<section class="chart"><div id="fig-{name}"></div>'
        f'<script type="application/json" id="figure-{name}">{_script_json(fig.to_plotly_json())}'
        "</script></section>"
        for name, fig in figures.items()
    )
    return _PAGE.format(
        title=html.escape(f"Leadflow report {data['from']} to {data['to']}"),
        heading=html.escape(f"{data['from']} to {data['to']} · {scope}"),
        stamp=html.escape(stamp),
        tiles=_tiles(data),
        charts=blocks,
        decisions=_decisions_table(data),
        economics=_economics_table(data),
        plotly=get_plotlyjs(),
        data_id=DATA_ELEMENT_ID,
        data=_script_json(data),
        ids=json.dumps(list(FIGURE_IDS)),
    )


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element."""
    text = json.dumps(value, separators=(",", ":"), default=_json_default)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _money(value: Any) -> str:
    return "—" if value is None else f"€{float(value):,.2f}"


def _tiles(data: dict[str, Any]) -> str:
    t = data.get("totals") or {}
    fill = t.get("fill_rate")
    counts: dict[str, int] = defaultdict(int)
    for d in data["decisions"]:
        counts[d["action"]] += 1
    latest = data.get("latest_decision_day") or "—"
    tiles = [
        ("leads", f"{t.get('leads', 0):,}", f"{t.get('paid_leads', 0):,} from paid channels"),
        ("accepted", f"{t.get('accepted', 0):,}", f"{t.get('rejected', 0):,} rejected"),
        (
            "fill rate",
            "—" if fill is None else f"{100 * fill:.1f}%",
            f"of capacity {float(t.get('capacity') or 0):,.0f}",
        ),
        ("ad spend", _money(t.get("ad_spend")), f"CPL {_money(t.get('cpl'))}"),
        ("cost per accepted lead", _money(t.get("cost_per_accepted")), ""),
        (
            "margin",
            _money(_margin(data)),
            "revenue of accepted leads - ad spend",
        ),
        (
            f"decisions {latest}",
            str(sum(counts.values())),
            f"{counts['increase']} up · {counts['decrease']} down · {counts['hold']} hold",
        ),
    ]
    return "\n".join(
        f'<div class="tile"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{html.escape(value)}</div>'
        f'<div class="sub">{html.escape(sub)}</div></div>'
        for label, value, sub in tiles
    )


def _decisions_table(data: dict[str, Any]) -> str:
    rows = data["decisions"]
    if not rows:
        return "<p>No budget decisions in this period.</p>"
    head = (
        "<tr><th>segment</th><th>capacity</th><th>target/day</th><th>actual/day</th>"
        "<th>gap</th><th>budget</th><th>change</th><th>status</th><th>reason</th></tr>"
    )
    body = []
    for d in rows:
        change = "—" if d["change_pct"] is None else f"{d['change_pct']:+.1f}%"
        budget = (
            _money(d["old_budget"])
            if d["action"] == "hold"
            else f"{_money(d['old_budget'])} → {_money(d['new_budget'])}"
        )
        status = _status(d)
        body.append(
            f'<tr class="{html.escape(d["action"])}">'
            f"<td>{html.escape(d['code'])}</td>"
            f"<td>{_fmt(d['capacity'])}</td><td>{_fmt(d['target_leads'])}</td>"
            f"<td>{_fmt(d['expected_leads'])}</td><td>{_fmt(d['expected_gap'], sign=True)}</td>"
            f"<td>{html.escape(budget)}</td><td>{change}</td><td>{html.escape(status)}</td>"
            f"<td class='reason'>{html.escape(d['reason'])}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _margin(data: dict[str, Any]) -> float | None:
    rows = (data.get("economics") or {}).get("segments")
    return None if rows is None else sum(float(r["margin"]) for r in rows)


def _economics_table(data: dict[str, Any]) -> str:
    economics = data.get("economics") or {}
    cap = economics.get("account_daily_cap")
    use = economics.get("max_cap_use")
    lines = [
        "<p>Account daily cap: "
        + (
            "none"
            if cap is None
            else f"{_money(cap)}; highest day's budgets "
            + ("—" if use is None else f"{100 * float(use):.1f}% of it")
        )
        + ".</p>"
    ]
    rows = economics.get("segments") or []
    if not rows:
        return lines[0] + "<p>No economics estimated in this period.</p>"
    head = (
        "<tr><th>segment</th><th>value</th><th>min margin</th><th>revenue</th><th>spend</th>"
        "<th>margin</th><th>elasticity e</th><th>scale</th><th>days used</th>"
        "<th>estimated on</th></tr>"
    )
    body = []
    for r in rows:
        e = r.get("elasticity")
        curve = "—" if e is None else f"{float(e):.2f} ± {float(r['elasticity_sd']):.2f}"
        value = _money(r.get("lead_value"))
        if r.get("lead_value_source") not in (None, "segment", "none"):
            value += f" ({r['lead_value_source']})"
        margin = r.get("min_margin")
        scale = "—" if r.get("scale") is None else f"{float(r['scale']):.4g}"
        body.append(
            f"<tr><td>{html.escape(r['code'])}</td><td>{html.escape(value)}</td>"
            f"<td>{'—' if margin is None else f'{100 * float(margin):.0f}%'}</td>"
            f"<td>{_money(r['revenue'])}</td><td>{_money(r['spend'])}</td>"
            f"<td>{_money(r['margin'])}</td><td>{curve}</td>"
            f"<td>{scale}</td>"
            f"<td>{r.get('days_used') or 0}</td>"
            f"<td>{html.escape(str(r.get('estimated_on') or '—'))}</td></tr>"
        )
    return lines[0] + f"<table>{head}{''.join(body)}</table>"


def _status(decision: dict[str, Any]) -> str:
    """How a decision ended, in an operator's words."""
    if decision["action"] == "hold":
        return "hold"
    if decision["mode"] != "live":
        return decision["mode"].replace("_", "-")
    if decision["status"] == "success":
        return "applied"
    return f"{decision['status']}: {decision['error']}" if decision["error"] else decision["status"]


def _fmt(value: Any, *, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{float(value):+.2f}" if sign else f"{float(value):.2f}"


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
         color: #111827; background: #f9fafb; }}
  header {{ background: #111827; color: #f9fafb; padding: 18px 32px; }}
  header h1 {{ margin: 0; font-size: 22px; }}
  header p {{ margin: 4px 0 0; color: #d1d5db; font-size: 14px; }}
  main {{ padding: 20px 32px; max-width: 1400px; }}
  .tiles {{ display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; }}
  .tile {{ background: white; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px; }}
  .tile .label {{ color: #6b7280; font-size: 12px; text-transform: uppercase; }}
  .tile .value {{ font-size: 22px; font-weight: 600; margin-top: 4px; }}
  .tile .sub {{ color: #6b7280; font-size: 12px; margin-top: 2px; }}
  .chart {{ background: white; border: 1px solid #e5e7eb; border-radius: 8px; margin-top: 16px;
           padding: 6px; }}
  h2 {{ font-size: 18px; margin: 24px 0 8px; }}
  .note {{ color: #6b7280; font-size: 13px; margin: 0 0 8px; }}
  table {{ border-collapse: collapse; width: 100%; background: white; font-size: 13px; }}
  th, td {{ border-bottom: 1px solid #e5e7eb; padding: 6px 8px; text-align: right;
           vertical-align: top; }}
  th {{ background: #f3f4f6; position: sticky; top: 0; }}
  td:first-child, th:first-child, td.reason, th:last-child {{ text-align: left; }}
  td.reason {{ color: #374151; max-width: 560px; }}
  tr.increase td:first-child {{ border-left: 4px solid #15803d; }}
  tr.decrease td:first-child {{ border-left: 4px solid #b91c1c; }}
  tr.hold td:first-child {{ border-left: 4px solid #d1d5db; }}
  .tablewrap {{ max-height: 720px; overflow-y: auto; border: 1px solid #e5e7eb;
               border-radius: 8px; }}
</style>
<script>{plotly}</script>
</head>
<body>
<header>
  <h1>Leadflow — operator report</h1>
  <p>{heading} · generated {stamp}</p>
</header>
<main>
<div class="tiles">
{tiles}
</div>
{charts}
<h2>Decisions of the latest orchestrated day</h2>
<p class="note">capacity: accepted leads/day the partners can take that day; target/day
and actual/day: the last week as the controller saw them (gap = target - actual);
budget in euro/day.</p>
<div class="tablewrap">{decisions}</div>
<h2>Economics: value, margin and each segment's estimated curve</h2>
<p class="note">value: what an accepted lead earns (mean price of accepted leads);
margin: revenue of accepted leads minus ad spend over the period; curve: paid leads/day =
scale x spend<sup>e</sup> (spend in euro/day), e ± its standard deviation, estimated from
the segment's own days pooled toward its industry and province; the controller never
raises a budget while the next accepted lead costs more than value x (1 - minimum margin).</p>
<div class="tablewrap">{economics}</div>
</main>
<script type="application/json" id="{data_id}">{data}</script>
<script>
  for (const name of {ids}) {{
    const figure = JSON.parse(document.getElementById("figure-" + name).textContent);
    Plotly.newPlot("fig-" + name, figure.data, figure.layout,
                   {{responsive: true, displaylogo: false}});
  }}
</script>
</body>
</html>
"""
