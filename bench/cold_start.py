"""Cold start: how long a fresh interpreter takes to import each function's main.py.

Every `functions/**/main.py` is imported in a fresh subprocess (as the Lambda runtime
and functions-framework do: from its file, as the module `main`), side by side with a
bare interpreter (`python -c pass`) in the same run, in shuffled order, several
repetitions; the table shows medians and the ratio of each to the bare interpreter.

    .venv/bin/python bench/cold_start.py              # print the table
    .venv/bin/python bench/cold_start.py --write      # and write it into bench/RESULTS.md

No secret id is passed to the children, so nothing reaches AWS; that is also how
the import is measured (the secrets are read on Lambda, in the same init phase).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- cold-start:begin -->", "<!-- cold-start:end -->"
#: The issue's target (issue 20, item 7): at most this many times a bare interpreter.
TARGET_RATIO = 5.0

#: The child: import main.py from its file, print how long the import itself took (ms).
_CHILD = """
import importlib.util, sys, time
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["main"] = module
spec.loader.exec_module(module)
print((time.perf_counter() - started) * 1000)
"""
BARE = "(bare interpreter)"


def function_files() -> dict[str, Path]:
    """Every function's main.py by its folder under functions/ (API routes: api/<route>)."""
    files = sorted((ROOT / "functions").rglob("main.py"))
    return {str(path.parent.relative_to(ROOT / "functions")): path for path in files}


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SECRET_ID")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the bytecode exists already; nothing is written
    return env


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float | None]:
    """Wall time of the whole process (ms) and, for a function, its import time (ms)."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    out = result.stdout.strip()
    return wall, float(out) if out else None


def measure(repetitions: int, seed: int = 20) -> dict[str, dict[str, float]]:
    """Median process wall time, import time and ratio to the bare interpreter, per function."""
    env = _environment()
    files = function_files()
    runs: list[tuple[str, list[str]]] = [(BARE, [sys.executable, "-c", "pass"])]
    runs += [(name, [sys.executable, "-c", _CHILD, str(path)]) for name, path in files.items()]
    for _, argv in runs:  # warm the file cache and bytecode once, unmeasured
        _run(argv, env)
    walls: dict[str, list[float]] = {name: [] for name, _ in runs}
    imports: dict[str, list[float]] = {name: [] for name, _ in runs}
    shuffle = random.Random(seed)
    for _ in range(repetitions):
        order = list(runs)
        shuffle.shuffle(order)  # load on a shared machine drifts: spread it over every row
        for name, argv in order:
            wall, imported = _run(argv, env)
            walls[name].append(wall)
            if imported is not None:
                imports[name].append(imported)
    bare = statistics.median(walls[BARE])
    return {
        name: {
            "wall_ms": statistics.median(walls[name]),
            "import_ms": statistics.median(imports[name]) if imports[name] else 0.0,
            "ratio": statistics.median(walls[name]) / bare,
        }
        for name, _ in runs
    }


def _targeted(name: str) -> bool:
    return name == "plan" or name.startswith("api/")


def table(results: dict[str, dict[str, float]]) -> str:
    """The results as a Markdown table, the bare interpreter first."""
    lines = [
        "| function | import of main.py (ms) | whole process (ms) | ratio to bare | target <= 5x |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, row in sorted(results.items(), key=lambda item: (item[0] != BARE, item[0])):
        target = ""
        if _targeted(name):
            target = "met" if row["ratio"] <= TARGET_RATIO else "**not met**"
        imported = "-" if name == BARE else f"{row['import_ms']:.0f}"
        lines.append(
            f"| {name} | {imported} | {row['wall_ms']:.0f} | {row['ratio']:.1f}x | {target} |"
        )
    return "\n".join(lines)


def report(results: dict[str, dict[str, float]], repetitions: int) -> str:
    """The section written into bench/RESULTS.md."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            BEGIN,
            "## Cold start: import of each function's main.py",
            "",
            f"`.venv/bin/python bench/cold_start.py --repetitions {repetitions} --write` "
            f"(run {when}). Each row: a fresh `{Path(sys.executable).name}` importing "
            "`functions/<name>/main.py` as the module `main`, with no secret id set (nothing "
            "reaches AWS); medians of "
            f"{repetitions} repetitions in shuffled order, beside a bare interpreter "
            "(`python -c pass`, same venv) in the same run. *import* is the import alone, "
            "timed inside the child; *whole process* includes interpreter start-up and exit, "
            "and its ratio to the bare interpreter is the figure the target applies to. "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average at the "
            f"end {load} (other engineers' work on the same machine).",
            "",
            table(results),
            "",
            "What a function loads at import is asserted, untimed, by "
            "`tests/test_cold_start.py` (no grpc, google-ads, Flask or botocore's machinery "
            "for plan and aggregate; no google-ads for orchestrate; one route per API "
            "function).",
            END,
        ]
    )


def write(section: str) -> None:
    """Replace the cold-start section of bench/RESULTS.md (append it the first time)."""
    text = RESULTS.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=9)
    parser.add_argument("--write", action="store_true", help="write into bench/RESULTS.md")
    args = parser.parse_args()
    results = measure(args.repetitions)
    section = report(results, args.repetitions)
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
