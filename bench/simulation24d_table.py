"""Issue 24 on the final main: one row per run in bench/simulation24d/ (or the folder given).

`.venv/bin/python bench/simulation24d_table.py` prints the Markdown table of bench/RESULTS.md
("Issue 24: a run in a minute, and exploring below a bend"), each target's verdict per run
and the run time the JSON reports; then, for more than one run, how many runs met each
target.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "simulation24d"
ORDER = ("mixed", "power", "hill", "adstock", "lagged", "exponential", "capped")


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _key(data: dict[str, Any]) -> tuple[int, int]:
    market = data["market"]
    return (ORDER.index(market) if market in ORDER else 99, data["options"]["seed"])


def main() -> None:
    runs = [json.loads(p.read_text()) for p in sorted(HERE.glob("*.json"))]
    print(
        "| market | seed | margin % of oracle | above floor % of oracle | vs cpl_rules "
        "| gap closed | re-converged ≤ 7 d | over-delivery | violations (all) "
        "| fill (c) / (d) | spend (c) / (d) | targets met | run |"
    )
    print("| --- |" + " ---: |" * 12)
    for r in sorted(runs, key=_key):
        rows = {row["strategy"]: row for row in r["strategies"]}
        c, o, cpl = rows["leadflow"], rows["oracle"], rows["cpl_rules"]
        violations = sum(row["safety_violations"] for row in r["strategies"])
        met = sum(1 for t in r["targets"] if t["met"])
        print(
            f"| {r['market']} | {r['options']['seed']} | {_pct(c['margin_share_of_oracle'])} "
            f"| {_pct(c['above_floor_share'])} | €{c['margin'] - cpl['margin']:+,.0f} "
            f"| {_pct(c['gap_closed'], 0)} "
            f"| {c['reconverged_within_7_days']}/{c['shocked_segments']} "
            f"| {_pct(c['over_delivery'])} | {violations} "
            f"| {_pct(c['fill_rate'])} / {_pct(o['fill_rate'])} "
            f"| €{c['spend'] / 1000:,.0f}k / €{o['spend'] / 1000:,.0f}k "
            f"| {met}/{len(r['targets'])} | {r['seconds']:.0f} s |"
        )
    if len(runs) > 1:
        print(f"\n| target | runs met (of {len(runs)}) |\n| --- | ---: |")
        for n, target in enumerate(runs[0]["targets"]):
            met = sum(1 for r in runs if r["targets"][n]["met"])
            print(f"| {target['name']} | {met} |")


if __name__ == "__main__":
    main()
