"""The `leadflow` command line: real runs against the test database, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest


def _run(*args: str, db_url: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LEADFLOW_HOME": "/nonexistent/leadflow-must-not-be-used",
        **env,
    }
    if db_url:
        environment["DATABASE_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )


def test_backfill_and_plan_write_the_tables(db_url: str, sql: psycopg.Connection[Any]) -> None:
    result = _run(
        "aggregate", "--from", "2026-11-09", "--to", "2026-11-22", "--json", db_url=db_url
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["days"] == 14
    result = _run("plan", "--day", "2026-11-23", "--json", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["plans_written"] == 9
    assert sql.execute("select count(*) from lead_generation_stats").fetchone() == (9 * 14,)


def test_a_rerun_of_aggregate_says_the_stats_were_already_up_to_date(db_url: str) -> None:
    first = _run("aggregate", "--day", "2026-11-20", db_url=db_url)
    assert first.returncode == 0, first.stderr
    assert "9 segment-day rows of stats changed" in first.stdout
    # Piped (not a terminal): no progress bar, so no blank line it leaves behind.
    assert first.stdout.startswith("aggregate 2026-11-20: ")
    again = _run("aggregate", "--day", "2026-11-20", db_url=db_url)
    assert again.returncode == 0, again.stderr
    assert "0 segment-day rows of stats changed" in again.stdout
    assert "already up to date" in again.stdout


def test_db_migrate_on_an_up_to_date_database_applies_nothing(db_url: str) -> None:
    result = _run("db", "migrate", "--json", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"applied": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan", "--day", "2026-13-01"), "Invalid value for '--day'"),
        (("aggregate", "--from", "2026-11-01"), "a backfill needs both --from and --to"),
        (
            ("aggregate", "--day", "2026-11-01", "--from", "2026-11-01", "--to", "2026-11-02"),
            "either --day",
        ),
        (("aggregate", "--from", "2026-11-05", "--to", "2026-11-01"), "is after to"),
        (("aggregate", "--day", "9999-12-31"), "outside the days a job may run for"),
        (("plan", "--day", "2099-01-01"), "outside the days a job may run for"),
        (("orchestrate", "--day", "2099-01-01"), "outside the days a job may run for"),
        (("orchestrate", "--mode", "dry-run", "--segment", "nope"), "segment 'nope' is unknown"),
        (("report", "--out", "/nonexistent/dir/x.html"), "folder /nonexistent/dir does not exist"),
        (("orchestrate", "--mode", "yolo"), "--mode must be dry_run, validate_only or live"),
        (("orchestrate", "--mode", "live"), "needs a channel's credentials"),
        (("orchestrate", "rollback"), "Missing option '--day'"),
        (("no-such-command",), "No such command"),
    ],
)
def test_bad_input_is_one_readable_line_and_a_non_zero_exit(
    db_url: str, args: tuple[str, ...], message: str
) -> None:
    result = _run(*args, db_url=db_url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # the error is the one line, nothing beside it


def test_an_unreachable_database_is_one_line_without_secrets() -> None:
    result = _run("plan", db_url="postgresql://leadflow:hunter2@127.0.0.1:1/none")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2" not in result.stderr


def test_simulate_refuses_an_unknown_scenario_in_one_line() -> None:
    result = _run("simulate", "--scenario", "cheap", "--json")
    assert result.returncode == 1
    assert json.loads(result.stderr) == {  # under --json the one line is the API's envelope
        "error": {
            "code": "failed",
            "message": "--scenario must be one of base, account-cap, unprofitable, drift, mixed,"
            " two-channel,"
            " not cheap",
            "details": [],
        }
    }
    assert result.stdout == ""


@pytest.mark.parametrize("terminal", [True, False])
def test_the_cli_wraps_its_words_on_a_terminal_and_keeps_lines_whole_when_piped(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    import importlib
    import io

    from rich.console import Console

    cli_app = importlib.import_module("leadflow_tools.cli.app")  # the module, not the Typer app

    out = io.StringIO()
    monkeypatch.setattr(
        cli_app, "console", Console(file=out, force_terminal=terminal, width=40, color_system=None)
    )
    text = "Nothing changed: the stats of these days were already up to date (or none)."
    cli_app.say(text)
    lines = out.getvalue().splitlines()
    if terminal:  # at word boundaries, within the width, nothing lost
        assert len(lines) > 1 and all(len(line) <= 40 for line in lines)
        assert " ".join(line.strip() for line in lines) == text
    else:  # piped: the line as written, to be searched and copied whole
        assert lines == [text]
