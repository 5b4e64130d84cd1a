"""One simulation with controller settings overridden: how a setting moves the results.

    .venv/bin/python bench/settings_variant.py MARKET SEED [COLUMN=VALUE ...]
    .venv/bin/python bench/settings_variant.py hill 3 explore_sd=0
    .venv/bin/python bench/settings_variant.py mixed 5 probe_step=0

Runs `leadflow simulate --market MARKET --seed SEED` with each COLUMN of
`orchestration_settings` set to VALUE in the base database before the strategies' copies
are made (so every strategy reads it, as `--shortfall-cost` is given), and prints one JSON
line: Leadflow's share of the oracle's margin and above the floor, its margin against the
cost-aware rules, re-converged shocks, over-delivery, fill and spend beside the oracle's,
and how many of its decisions were exploring and probing. Used for the explore_sd and
probe_step rows of bench/RESULTS.md ("a run in about a minute, and exploring below a bend").
"""

from __future__ import annotations

import json
import re
import sys

import psycopg
from leadflow.settings import get_settings
from leadflow_tools import simulation
from leadflow_tools.embedded import running_server

ASSIGNMENT = re.compile(r"^([a-z_]+)=([0-9.]+)$")


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    market, seed = sys.argv[1], int(sys.argv[2])
    overrides = []
    for arg in sys.argv[3:]:
        match = ASSIGNMENT.match(arg)
        if match is None:
            print(f"not COLUMN=NUMBER: {arg}", file=sys.stderr)
            return 2
        overrides.append((match[1], match[2]))
    give = simulation._give_controller

    def give_and_override(url: str, shortfall_cost: float) -> float | str:
        held = give(url, shortfall_cost)
        if overrides:
            with psycopg.connect(url, autocommit=True) as conn:
                sets = ", ".join(f"{column} = {value}" for column, value in overrides)
                conn.execute(f"update public.orchestration_settings set {sets}".encode())
        return held

    simulation._give_controller = give_and_override
    options = simulation.SimulationOptions(seed=seed, market=market)  # type: ignore[arg-type]
    settings = get_settings()
    with running_server(settings.home / "postgres", port=settings.local_db_port) as server:
        result = simulation.run_simulation(server.url, options)
    rows = {row["strategy"]: row for row in result.as_json()["strategies"]}
    c, d = rows["leadflow"], rows["oracle"]
    reasons = [str(x.get("reason", "")) for x in result.runs["leadflow"].decisions]
    print(
        json.dumps(
            {
                "market": market,
                "seed": seed,
                "settings": dict(overrides),
                "seconds": round(result.seconds),
                "margin_share_of_oracle": c["margin_share_of_oracle"],
                "above_floor_share": c["above_floor_share"],
                "vs_cpl_rules": round(c["margin"] - rows["cpl_rules"]["margin"]),
                "gap_closed": c["gap_closed"],
                "reconverged": f"{c['reconverged_within_7_days']}/{c['shocked_segments']}",
                "over_delivery": c["over_delivery"],
                "fill": [c["fill_rate"], d["fill_rate"]],
                "spend": [round(c["spend"]), round(d["spend"])],
                "decisions": len(reasons),
                "exploring": sum(r.startswith("Exploring") for r in reasons),
                "probing": sum(r.startswith("Probing") for r in reasons),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
