"""The demo's decision table at 80 columns (issue #23): segment codes whole, other columns
dropped or wrapped first, reasons below, numbers that add up to the legend, unprofitable
segments under "Needs attention"."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from leadflow_tools.demo import DemoOptions, DemoResult, day_numbers, show
from leadflow_tools.report import ReportResult
from rich.console import Console

CODES = ("elektricien_noord_groningen", "schilder_zuid_holland", "hovenier_utrecht")


def _decision(code: str, target: float, expected: float, factor: float) -> dict[str, Any]:
    return {
        "code": code,
        "capacity": 12.5,
        "target_leads": target,
        "expected_leads": expected,
        "expected_gap": round((target - expected) * factor, 2),
        "old_budget": 80.0,
        "new_budget": 96.0,
        "action": "increase",
        "reason": f"{code}: under target; raised by 20 % (the daily limit).",
    }


def _result(economics: dict[str, Any] | None = None) -> tuple[DemoResult, ReportResult]:
    decisions = [
        _decision(CODES[0], 10.0, 8.0, 0.85),
        _decision(CODES[1], 7.25, 7.5, 1.3),
        _decision(CODES[2], 3.0, 1.5, 1.0),
    ]
    totals = {"from": "2026-11-01", "to": "2026-11-25", "days": 25, "segments": 3}
    result = DemoResult(
        options=DemoOptions(seed=1, days=10, end=date(2026, 11, 25), industries=1, provinces=1),
        reused=True,
        summary={},
        decisions=decisions,
        total={"leads": 1000},
        before=totals,
        after=totals,
        where="the embedded database",
        built_at="2026-11-25T10:00:00+00:00",
        economics=economics or {},
    )
    report = ReportResult(Path("r.html"), date(2026, 11, 1), date(2026, 11, 25), None, 3, None, 1)
    return result, report


def _render(width: int, economics: dict[str, Any] | None = None) -> str:
    buffer = io.StringIO()
    show(Console(file=buffer, width=width, color_system=None), *_result(economics))
    return buffer.getvalue()


def test_at_80_columns_codes_stay_whole_and_reasons_go_below() -> None:
    out = _render(80)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    table = [line for line in lines if line.startswith("│")]
    for code in CODES:
        assert any(code in line for line in table), code
        # the reason is below the table, on a line that starts with the code
        assert any(line.startswith(f"{code} {code}:") for line in lines)
    assert "reason" not in lines[lines.index(next(x for x in lines if "segment" in x))]


def test_a_wide_terminal_keeps_every_column_and_the_reason() -> None:
    out = _render(200)
    header = next(line for line in out.splitlines() if "segment" in line and "┃" in line)
    for column in ("capacity", "target", "expected", "gap", "budget", "value", "reason"):
        assert column in header


def test_target_minus_expected_is_the_gap_shown_in_every_row() -> None:
    out = _render(80)
    rows = [line for line in out.splitlines() if any(code in line for code in CODES)]
    header = next(line for line in out.splitlines() if "segment" in line and "┃" in line)
    names = [cell.strip() for cell in header.strip("┃").split("┃")]
    checked = 0
    for row in rows:
        if not row.startswith("│"):
            continue
        cells = dict(zip(names, (c.strip() for c in row.strip("│").split("│")), strict=True))
        target, expected, gap = (float(cells[n]) for n in ("target", "expected", "gap"))
        assert round(target - expected, 1) == gap, cells
        checked += 1
    assert checked == 3
    assert "gap = target - expected" in " ".join(out.split())


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (_decision("a", 10.0, 8.0, 0.85), (8.5, 6.8, 1.7)),
        (_decision("b", 3.0, 1.5, 1.0), (3.0, 1.5, 1.5)),
        ({"target_leads": None, "expected_leads": 2, "expected_gap": None}, (None, 2.0, None)),
        # Cut to the leads worth buying while under the plan's target: the decision's own gap
        # and the target it steered to (expected + gap), never a positive gap beside a cut.
        ({"target_leads": 8.0, "expected_leads": 5.0, "expected_gap": -1.2}, (3.8, 5.0, -1.2)),
    ],
)
def test_day_numbers_apply_the_days_factor(
    decision: dict[str, Any], expected: tuple[float | None, ...]
) -> None:
    assert day_numbers(decision) == expected


def test_unprofitable_segments_need_attention() -> None:
    economics = {
        "segments": [
            {"code": CODES[2], "margin": 120.0, "revenue": 500.0, "spend": 380.0},
            {"code": CODES[1], "margin": -45.5, "revenue": 100.0, "spend": 145.5},
        ]
    }
    out = _render(80, economics)
    attention = out[out.index("Needs attention:") :]
    assert re.search(rf"{CODES[1]} is unprofitable: ad spend €145.50 exceeds revenue", attention)
    assert CODES[2] + " is unprofitable" not in out
    assert "Needs attention" not in _render(80, {"segments": economics["segments"][:1]})
