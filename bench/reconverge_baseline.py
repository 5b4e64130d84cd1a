"""What the re-convergence target measures: the score's own test (`simulation._reconverge`:
within RECONVERGED_WITHIN of the oracle's weekly noise-free leads for a week, from at most 7
days after the day) on the shocked segments, and on every segment nothing happened to, from
the same days.

    .venv/bin/python bench/reconverge_baseline.py [MARKET [SEED]]      (default: mixed 42)

A segment without a shock has nothing to re-converge from: where it is not within the
tolerance for a week it is because its steady state differs from the oracle's by more than
the tolerance. If the unshocked segments pass about as often as the shocked ones, the target
measures how close the steady state is, not how fast a shock is followed. Prints one line per
strategy. Used for bench/RESULTS.md ("Issue 24, round 11").
"""

from __future__ import annotations

import sys

from leadflow.settings import get_settings
from leadflow_tools import simulation
from leadflow_tools.embedded import running_server

WITHIN_DAYS = 7  # the score's


def _share(met: int, of: int) -> str:
    return f"{met}/{of} ({met / of:.0%})" if of else "—"


def main() -> int:
    options = simulation.market_and_seed(sys.argv[1:], "reconverge_baseline.py", "mixed", 42)
    if options is None:
        return 2
    settings = get_settings()
    with running_server(settings.home / "postgres", port=settings.local_db_port) as server:
        result = simulation.run_simulation(server.url, options)
    shocked = {s.code for s in result.shocks}
    days = sorted({s.day for s in result.shocks})
    quiet = [
        simulation.Shock("join", s.segment_id, s.code, day, 0)
        for s in result.model.segments
        if s.code not in shocked
        for day in days
    ]
    oracle = result.runs["oracle"]
    print(
        f"{options.market}/{options.seed}: shock days {', '.join(map(str, days))}; "
        f"{len(result.shocks)} shocks, {len(quiet)} unshocked segment-days"
    )
    print("| strategy | shocked, re-converged <= 7 d | unshocked, the same test |")
    print("| --- | ---: | ---: |")
    for strategy in ("leadflow", "cpl_rules", "rules"):
        scored = result.metrics[strategy]  # the shocked segments, as the score counted them
        took = [  # the score's own test on the others
            simulation._reconverge(result.runs[strategy], oracle, result.model, s, options)
            for s in quiet
        ]
        shocked = _share(scored.reconverged_within(WITHIN_DAYS), len(scored.reconverge))
        unshocked = _share(simulation.reconverged_count(took, WITHIN_DAYS), len(took))
        print(f"| {strategy} | {shocked} | {unshocked} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
