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

WITHIN_DAYS = 7


def _share(took: list[int | None]) -> str:
    met = sum(1 for t in took if t is not None and t <= WITHIN_DAYS)
    return f"{met}/{len(took)} ({met / len(took):.0%})" if took else "—"


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
        run = result.runs[strategy]

        def took(shocks: list[simulation.Shock], run: simulation.StrategyRun = run) -> list:
            return [
                simulation._reconverge(run, oracle, result.model, s, options)  # the score's
                for s in shocks
            ]

        print(f"| {strategy} | {_share(took(result.shocks))} | {_share(took(quiet))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
