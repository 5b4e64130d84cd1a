"""Issue 24, learning that bends: before / after side by side, from bench/simulation24c/.

`.venv/bin/python bench/learning24_table.py` prints the Markdown table in bench/RESULTS.md
("Issue 24: learning that bends"): per market and seed, the run on main ("before") and on
the branch ("after"), where both exist.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "simulation24c"
ORDER = ("mixed", "power", "hill", "adstock", "lagged")


def _load(kind: str) -> dict[tuple[str, int], dict[str, Any]]:
    runs = {}
    for path in sorted((HERE / kind).glob("*.json")):
        data = json.loads(path.read_text())
        data["rows"] = {row["strategy"]: row for row in data["strategies"]}
        runs[(data["market"], data["options"]["seed"])] = data
    return runs


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def main() -> None:
    before, after = _load("before"), _load("after")
    keys = sorted(
        set(before) | set(after),
        key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 99, k[1]),
    )
    print(
        "| market | seed | run | margin % of oracle | above floor % of oracle | vs cpl_rules "
        "| gap closed | re-converged ≤ 7 d | over-delivery | violations (all) "
        "| fill (c) / (d) | spend (c) / (d) |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in keys:
        for label, runs in (("before", before), ("after", after)):
            r = runs.get(key)
            if r is None:
                continue
            c, o, cpl = r["rows"]["leadflow"], r["rows"]["oracle"], r["rows"]["cpl_rules"]
            violations = sum(row["safety_violations"] for row in r["strategies"])
            print(
                f"| {key[0]} | {key[1]} | {label} | {_pct(c['margin_share_of_oracle'])} "
                f"| {_pct(c['above_floor_share'])} | €{c['margin'] - cpl['margin']:+,.0f} "
                f"| {_pct(c['gap_closed'], 0)} "
                f"| {c['reconverged_within_7_days']}/{c['shocked_segments']} "
                f"| {_pct(c['over_delivery'])} | {violations} "
                f"| {_pct(c['fill_rate'])} / {_pct(o['fill_rate'])} "
                f"| €{c['spend'] / 1000:,.0f}k / €{o['spend'] / 1000:,.0f}k |"
            )


if __name__ == "__main__":
    main()
