"""Cold start: how long a fresh interpreter takes to import each function's main.py.

Every `functions/**/main.py` is imported in a fresh subprocess (as the Lambda runtime
and functions-framework do: from its file, as the module `main`), side by side with a
bare interpreter (`python -c pass`) in the same run, in shuffled order, several
repetitions; the table shows medians and the ratio of each to the bare interpreter.

    .venv/bin/python bench/cold_start.py              # print the table
    .venv/bin/python bench/cold_start.py --write      # and write it into bench/RESULTS.md
    .venv/bin/python bench/cold_start.py --baseline 4603fa1   # also that commit's functions

No secret id is passed to the children, so nothing reaches AWS; that is also how
the import is measured (the secrets are read on Lambda, in the same init phase).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- cold-start:begin -->", "<!-- cold-start:end -->"
#: The issue's target (issue 20, item 7): at most this many times a bare interpreter.
TARGET_RATIO = 5.0

#: The child: import main.py from its file; print how long the import itself took (ms) and
#: the third-party packages it loaded (top-level names, not the standard library's).
_CHILD = """
import importlib.util, json, sys, time
before = set(sys.modules)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["main"] = module
spec.loader.exec_module(module)
elapsed = (time.perf_counter() - started) * 1000
tops = {name.split(".")[0] for name in set(sys.modules) - before}
libraries = sorted(tops - set(sys.stdlib_module_names) - {"leadflow", "main"})
print(json.dumps({"ms": elapsed, "libraries": libraries}))
"""
#: The floor: the same third-party packages imported alone, none of our code (ms).
_LIBRARIES = """
import importlib, json, sys, time
started = time.perf_counter()
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:  # a package that only loads as part of another: counted with it
        pass
print(json.dumps({"ms": (time.perf_counter() - started) * 1000, "libraries": sys.argv[1:]}))
"""
BARE = "(bare interpreter)"
LIBS = "(its libraries alone)"


def function_files(root: Path = ROOT) -> dict[str, Path]:
    """Every function's main.py by its folder under functions/ (API routes: api/<route>)."""
    files = sorted((root / "functions").rglob("main.py"))
    return {str(path.parent.relative_to(root / "functions")): path for path in files}


def _environment(shared: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SECRET_ID")}
    if shared is not None:  # a baseline's package first (before the editable install's)
        env["PYTHONPATH"] = str(shared)
    return env


def baseline(ref: str, into: Path) -> Path:
    """The functions and shared package of commit `ref`, extracted into `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "shared", "functions"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Wall time of the whole process (ms) and what the child printed (its import time)."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    out = result.stdout.strip()
    return wall, json.loads(out.splitlines()[-1]) if out else {}


def measure(
    repetitions: int, seed: int = 20, base: tuple[str, Path] | None = None
) -> dict[str, dict[str, Any]]:
    """Per function: median process wall time, import time, the import time of its
    third-party packages alone, and the ratio of its wall time to the bare interpreter's.
    With `base` (a ref and its extracted tree), that tree's functions too, as `name @ref`."""
    env = _environment()
    runs: list[tuple[str, list[str], dict[str, str]]] = [
        (BARE, [sys.executable, "-c", "pass"], env)
    ]
    libraries: dict[str, list[str]] = {}
    trees = [("", ROOT, env)]
    if base is not None:
        trees.append((f" @{base[0]}", base[1], _environment(base[1] / "shared")))
    for suffix, root, tree_env in trees:
        for function, path in function_files(root).items():
            name = function + suffix
            argv = [sys.executable, "-c", _CHILD, str(path)]
            _, printed = _run(argv, tree_env)  # warms the file cache and bytecode, unmeasured
            libraries[name] = printed["libraries"]
            runs.append((name, argv, tree_env))
            floor = [sys.executable, "-c", _LIBRARIES, *libraries[name]]
            runs.append((f"{name} {LIBS}", floor, env))
    walls: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    imports: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    shuffle = random.Random(seed)
    for _ in range(repetitions):
        order = list(runs)
        shuffle.shuffle(order)  # load on a shared machine drifts: spread it over every row
        for name, argv, run_env in order:
            wall, printed = _run(argv, run_env)
            walls[name].append(wall)
            if "ms" in printed:
                imports[name].append(printed["ms"])
    bare = statistics.median(walls[BARE])
    results: dict[str, dict[str, Any]] = {}
    for name, _, _ in runs:
        if name.endswith(LIBS):
            continue
        row: dict[str, Any] = {
            "wall_ms": statistics.median(walls[name]),
            "import_ms": statistics.median(imports[name]) if imports[name] else 0.0,
            "ratio": statistics.median(walls[name]) / bare,
        }
        if name != BARE:
            floor = f"{name} {LIBS}"
            row["libraries_ms"] = statistics.median(imports[floor])
            row["libraries_ratio"] = statistics.median(walls[floor]) / bare
            row["libraries"] = libraries[name]
        results[name] = row
    return results


def _targeted(name: str) -> bool:
    return name == "plan" or (name.startswith("api/") and "@" not in name)


def table(results: dict[str, dict[str, Any]]) -> str:
    """The results as a Markdown table, the bare interpreter first."""
    lines = [
        "| function | import of main.py (ms) | its third-party packages alone (ms) "
        "| whole process (ms) | ratio to bare | packages alone: ratio to bare | target <= 5x |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in sorted(results.items(), key=lambda item: (item[0] != BARE, item[0])):
        target = ""
        if _targeted(name):
            target = "met" if row["ratio"] <= TARGET_RATIO else "**not met**"
        if name == BARE:
            imported = libraries = floor = "-"
        else:
            imported = f"{row['import_ms']:.0f}"
            libraries = f"{row['libraries_ms']:.0f}"
            floor = f"{row['libraries_ratio']:.1f}x"
        lines.append(
            f"| {name} | {imported} | {libraries} | {row['wall_ms']:.0f} "
            f"| {row['ratio']:.1f}x | {floor} | {target} |"
        )
    return "\n".join(lines)


def packages(results: dict[str, dict[str, Any]]) -> str:
    """Which third-party packages each function loads at import (one line per distinct set)."""
    by_set: dict[tuple[str, ...], list[str]] = {}
    for name, row in sorted(results.items()):
        if name != BARE:
            by_set.setdefault(tuple(row["libraries"]), []).append(name)
    return "\n".join(
        f"- {', '.join(names)}: {', '.join(libs) or 'none'}" for libs, names in by_set.items()
    )


def report(results: dict[str, dict[str, Any]], repetitions: int, command: str) -> str:
    """The section written into bench/RESULTS.md."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            BEGIN,
            "## Cold start: import of each function's main.py",
            "",
            f"`{command}` (run {when}). Each row: a fresh `{Path(sys.executable).name}` importing "
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
            "*Its third-party packages alone*: a fresh interpreter importing only the "
            "packages that function's import loaded (listed below), none of Leadflow's code: "
            "the floor for that function with these libraries.",
            "",
            packages(results),
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
    parser.add_argument("--baseline", metavar="REF", help="also measure this commit's functions")
    args = parser.parse_args()
    command = " ".join(["bench/cold_start.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        base = (args.baseline, baseline(args.baseline, Path(tmp))) if args.baseline else None
        results = measure(args.repetitions, base=base)
    section = report(results, args.repetitions, f".venv/bin/python {command}")
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
