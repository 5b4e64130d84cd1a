"""The default `leadflow simulate --json` once, in this checkout: its wall time, the Python
process's CPU and the embedded PostgreSQL's (the postmaster and its reaped backends, read from
/proc around the run; Linux only).

    .venv/bin/python bench/simulation_cpu.py

Wall times on a shared machine moved by a third between runs of one commit (bench/RESULTS.md,
"Issue 24, round 4"); the CPU columns compare commits: check each out in turn and run this.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from leadflow.settings import get_settings
from leadflow_tools.embedded import running_server

ROOT = Path(__file__).resolve().parent.parent


def postgres_cpu(pid: int) -> float:
    """CPU seconds of process `pid` and of its children it has reaped (its exited backends)."""
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / tick  # utime, stime, cutime, cstime


def main() -> int:
    settings = get_settings()
    with running_server(settings.home / "postgres", port=settings.local_db_port):
        pid = int((settings.home / "postgres" / "pgdata" / "postmaster.pid").read_text().split()[0])
        before, started = postgres_cpu(pid), time.perf_counter()
        run = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "leadflow"), "simulate", "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        wall, after = time.perf_counter() - started, postgres_cpu(pid)
    if run.returncode != 0:
        print(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "simulate failed")
        return 1
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    margin = {r["strategy"]: r["margin"] for r in json.loads(run.stdout)["strategies"]}["leadflow"]
    print(
        f"wall {wall:.1f} s, Python CPU {child.ru_utime + child.ru_stime:.1f} s, "
        f"PostgreSQL CPU {after - before:.1f} s, Leadflow margin €{margin:,.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
