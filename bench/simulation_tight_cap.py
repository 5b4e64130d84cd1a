"""account-cap with a cap that binds for every strategy: CAP_SHARE of the cost of filling
every segment (default 0.25 instead of 0.80), full size. Prints the --json of the run.

Usage: .venv/bin/python bench/simulation_tight_cap.py 0.25 7 > bench/simulation_tight_cap_7.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from leadflow_tools import simulation as sim
from leadflow_tools.embedded import running_server


def main() -> None:
    share = float(sys.argv[1]) if len(sys.argv) > 1 else 0.25
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    sim.CAP_SHARE = share
    options = sim.SimulationOptions(seed=seed, scenario="account-cap")
    with running_server(Path(__file__).resolve().parents[1] / ".leadflow" / "postgres") as server:
        result = sim.run_simulation(server.url, options)
    print(json.dumps({"cap_share": share, **result.as_json()}, default=str))


if __name__ == "__main__":
    main()
