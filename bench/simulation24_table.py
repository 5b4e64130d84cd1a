"""The issue 24 tables for bench/RESULTS.md, from bench/simulation24/*.json.

Run `bench/simulation24.sh` first; then `.venv/bin/python bench/simulation24_table.py`
(or `... simulation24_table.py DIR` for the runs in another directory, e.g. the controller's
re-run in bench/simulation24b/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "simulation24"
ORDER = ("mixed", "power", "hill", "adstock", "lagged")


def _load() -> list[dict[str, Any]]:
    runs = []
    for path in sorted(HERE.glob("*.json")):
        data = json.loads(path.read_text())
        data["rows"] = {row["strategy"]: row for row in data["strategies"]}
        runs.append(data)
    return runs


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _key(run: dict[str, Any]) -> tuple[int, str, int, float]:
    market = run["market"]
    return (
        ORDER.index(market) if market in ORDER else 99,
        run["scenario"],
        run["options"]["seed"],
        run["shortfall_cost"],
    )


def main() -> None:
    runs = sorted(_load(), key=_key)
    main_runs = [r for r in runs if r["shortfall_cost"] == 0.25]
    print(
        "| market | scenario | seed | (c) margin % of (d) | (c) above floor % of (d) "
        "| (c) - cpl_rules | (b)→(d) gap closed | re-converged ≤ 7 d | over-delivery "
        "| violations (all) | fill (c) / (d) / floor | run |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in main_runs:
        c, o, m = r["rows"]["leadflow"], r["rows"]["oracle"], r["rows"]["minimum"]
        cpl = r["rows"]["cpl_rules"]
        shocked = c["shocked_segments"]
        violations = sum(row["safety_violations"] for row in r["strategies"])
        print(
            f"| {r['market']} | {r['scenario']} | {r['options']['seed']} "
            f"| {_pct(c['margin_share_of_oracle'])} | {_pct(c['above_floor_share'])} "
            f"| €{c['margin'] - cpl['margin']:+,.0f} | {_pct(c['gap_closed'], 0)} "
            f"| {c['reconverged_within_7_days']}/{shocked} | {_pct(c['over_delivery'])} "
            f"| {violations} | {_pct(c['fill_rate'])} / {_pct(o['fill_rate'])} / "
            f"{_pct(m['fill_rate'])} | {r['seconds']:.0f} s |"
        )
    print()
    print(
        "| market | scenario | seed | strategy | margin | above floor | above floor % of (d) "
        "| fill | shortfall cost | spend | over-delivery |"
    )
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in main_runs:
        for name in ("minimum", "fixed", "rules", "cpl_rules", "leadflow", "oracle"):
            row = r["rows"][name]
            print(
                f"| {r['market']} | {r['scenario']} | {r['options']['seed']} | {name} "
                f"| €{row['margin']:,.0f} | €{row['margin_above_floor']:,.0f} "
                f"| {_pct(row['above_floor_share'])} | {_pct(row['fill_rate'])} "
                f"| €{row['shortfall_cost']:,.0f} | €{row['spend']:,.0f} "
                f"| {_pct(row['over_delivery'])} |"
            )
    print()
    print(
        "| market | scenario | seed | (c) spend / (d) spend | re-converged ≤ 7 d: join / "
        "leave / competitor | pending when aggregated | build + warm-up | strategies |"
    )
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for r in main_runs:
        c, o = r["rows"]["leadflow"], r["rows"]["oracle"]
        kinds = " / ".join(
            f"{sum(1 for d in days if d is not None and d <= 7)}/{len(days)}"
            for days in c["reconverge_days"].values()
        )
        print(
            f"| {r['market']} | {r['scenario']} | {r['options']['seed']} "
            f"| {c['spend'] / o['spend']:.2f} | {kinds} | {_pct(r.get('pending_when_aggregated'))} "
            f"| {r['timings']['build and warm-up']:.0f} s | {r['timings']['strategies']:.0f} s |"
        )
    sweep = [r for r in runs if r["market"] == "mixed" and r["scenario"] == "base"]
    sweep = [r for r in sweep if r["options"]["seed"] == 7]
    if sweep:
        print()
        print(
            "| shortfall cost (x value) | (d) fill | (d) margin | (c) fill | (c) margin "
            "| (c) % of (d) | cpl_rules fill | cpl_rules margin | floor fill | floor margin |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in sorted(sweep, key=lambda r: r["shortfall_cost"]):
            c, o = r["rows"]["leadflow"], r["rows"]["oracle"]
            cpl, m = r["rows"]["cpl_rules"], r["rows"]["minimum"]
            print(
                f"| {r['shortfall_cost']:g} | {_pct(o['fill_rate'])} | €{o['margin']:,.0f} "
                f"| {_pct(c['fill_rate'])} | €{c['margin']:,.0f} "
                f"| {_pct(c['margin_share_of_oracle'])} | {_pct(cpl['fill_rate'])} "
                f"| €{cpl['margin']:,.0f} | {_pct(m['fill_rate'])} | €{m['margin']:,.0f} |"
            )


if __name__ == "__main__":
    main()
