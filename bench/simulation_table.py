"""The issue #11 simulation table in Markdown, from bench/simulation/<scenario>_<seed>.json
(written by bench/simulation_table.sh). Usage: .venv/bin/python bench/simulation_table.py"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCENARIOS = ("base", "account-cap", "unprofitable", "drift", "mixed")
HERE = Path(__file__).parent / "simulation"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def main() -> None:
    runs = []
    for path in sorted(HERE.glob("*.json")):
        text = path.read_text()
        if text.strip():  # a run still writing its file is left out
            runs.append(json.loads(text))
    runs.sort(key=lambda d: (SCENARIOS.index(d["scenario"]), d["options"]["seed"]))
    out = [
        "| scenario | seed | strategy | margin | spend | fill | over-delivery | € / accepted "
        "| re-converged ≤ 7 d | max cap use | safety violations |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in runs:
        for s in d["strategies"]:
            cap = "—" if s["max_cap_use"] is None else f"{s['max_cap_use']:.3f}"
            out.append(
                f"| {d['scenario']} | {d['options']['seed']} | {s['strategy']} "
                f"| €{s['margin']:,.0f} | €{s['spend']:,.0f} | {_pct(s['fill_rate'])} "
                f"| {_pct(s['over_delivery'])} | €{s['cost_per_accepted']:.2f} "
                f"| {s['reconverged_within_7_days']}/{s['shocked_segments']} | {cap} "
                f"| {s['safety_violations']} |"
            )
    out += [
        "",
        "| scenario | seed | margin ≥ 97 % of (d) | ≥ 2/3 of (b)→(d) gap closed "
        "| ≥ 90 % re-converged ≤ 7 d | over-delivery ≤ 4 % | 0 violations, cap use ≤ 1 | run |",
        "| --- | ---: | --- | --- | --- | --- | --- | ---: |",
    ]
    for d in runs:
        cells = []
        for t in d["targets"]:
            detail = t["detail"]
            if "violations" in t["name"]:
                worst = max(s["safety_violations"] for s in d["strategies"])
                uses = [s["max_cap_use"] for s in d["strategies"] if s["max_cap_use"] is not None]
                detail = f"most violations {worst}; " + (
                    f"highest cap use {max(uses):.3f}" if uses else "no cap"
                )
            if "gap" in t["name"]:
                detail = detail.split(":")[0]
            cells.append(f"{'met' if t['met'] else '**missed**'} ({detail})")
        out.append(
            f"| {d['scenario']} | {d['options']['seed']} | "
            + " | ".join(cells)
            + f" | {d['seconds']:.0f} s |"
        )
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
