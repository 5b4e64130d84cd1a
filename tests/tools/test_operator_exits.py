"""Exits a script can trust (issue #23): Ctrl-C is 130 with one line; a command that did
nothing useful says so and exits non-zero; a bad DATABASE_URL or an impossible date is one
clear line; mistyped commands get a suggestion; --json errors are the API's envelope."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from leadflow.envelope import body
from leadflow.errors import LeadflowError
from leadflow.settings import get_settings
from test_operator import _run, _today


def _envelope(stderr: str) -> dict[str, Any]:
    """The one line of stderr, parsed; it has the API's envelope shape."""
    (line,) = stderr.strip().splitlines()
    parsed = json.loads(line)
    assert set(parsed) == set(body("x", "y"))
    assert set(parsed["error"]) == set(body("x", "y")["error"])
    return parsed["error"]


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (("agregate",), "'aggregate'"),
        (("db", "migrat"), "'migrate'"),
        (("orchestrate", "rolback"), "'rollback'"),
    ],
)
def test_a_mistyped_command_gets_a_suggestion(
    tmp_path: Path, args: tuple[str, ...], suggestion: str
) -> None:
    result = _run(*args, db_url=None, home=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"Did you mean {suggestion}" in line


@pytest.mark.parametrize(
    ("day", "words"),
    [
        ("2026-02-30", "2026-02-30 is not a date: February 2026 has 28 days"),
        ("2028-02-30", "February 2028 has 29 days"),
        ("2026-13-01", "a month is 1 to 12, not 13"),
        ("30-02-2026", "write it as YYYY-MM-DD"),
    ],
)
def test_an_impossible_date_says_what_is_wrong(tmp_path: Path, day: str, words: str) -> None:
    result = _run("plan", "--day", day, db_url=None, home=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert words in line
    assert "does not match the format" not in line


def test_a_valid_leap_day_is_accepted_as_a_date(tmp_path: Path) -> None:
    from leadflow_tools.cli.app import parse_day

    assert parse_day("2028-02-29").date().isoformat() == "2028-02-29"


def test_a_database_url_that_is_not_a_url_names_database_url(tmp_path: Path) -> None:
    result = _run("plan", db_url="notaurl", home=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: DATABASE_URL is not a Postgres URL")
    assert "unexpected" not in line

    as_json = _run("plan", "--json", db_url="notaurl", home=tmp_path)
    error = _envelope(as_json.stderr)
    assert error["code"] == "invalid_database_url"
    assert "DATABASE_URL" in error["message"]


def test_cli_json_errors_are_the_api_envelope(db_url: str, tmp_path: Path) -> None:
    result = _run("plan", "--day", "2099-01-01", "--json", db_url=db_url, home=tmp_path)
    assert result.returncode == 1
    error = _envelope(result.stderr)
    assert error["code"] == "failed" and "outside the days" in error["message"]
    assert error["details"] == []
    usage = _run("plan", "--day", "2026-02-30", "--json", db_url=db_url, home=tmp_path)
    assert usage.returncode == 2
    assert _envelope(usage.stderr)["code"] == "usage_error"


def test_backfill_on_an_unmigrated_database_says_so_and_fails(
    bare_db_url: str, tmp_path: Path
) -> None:
    result = _run("db", "backfill", db_url=bare_db_url, home=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "leadflow db migrate" in line
    assert "leads filled" not in result.stdout


def test_a_report_for_a_range_without_data_fails_and_writes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = _run(
        "report",
        "--from",
        "2099-01-01",
        "--to",
        "2099-01-31",
        "--out",
        str(out),
        db_url=db_url,
        home=tmp_path,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "no data from 2099-01-01 to 2099-01-31" in line
    assert not out.exists()


def test_aggregate_for_a_day_not_begun_says_so_and_fails(
    db_url: str, sql: psycopg.Connection[Any], tmp_path: Path
) -> None:
    from datetime import timedelta

    tomorrow = _today(sql) + timedelta(days=1)
    runs = sql.execute("select count(*) from job_runs").fetchone()
    result = _run("aggregate", "--day", str(tomorrow), db_url=db_url, home=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"nothing to aggregate: {tomorrow} has not begun" in line
    assert sql.execute("select count(*) from job_runs").fetchone() == runs


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from leadflow.log import logger

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LEADFLOW_HOME", str(tmp_path / "leadflow"))
    get_settings.cache_clear()
    level = logger.log_level  # main() quiets the core's logger; later tests need it back
    yield
    logger.setLevel(level)
    get_settings.cache_clear()


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from leadflow_tools.cli import main

    monkeypatch.setattr("sys.argv", ["leadflow", *args])
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
    finally:
        signal.signal(signal.SIGINT, previous)
    return int(exit_.value.code or 0)


def test_ctrl_c_exits_130_with_one_line(
    cli_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("not reached")

    monkeypatch.setattr("leadflow.jobs.day.run_request", interrupted)
    assert _main(monkeypatch, "aggregate", "--day", "2026-12-01") == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: interrupted (Ctrl-C)"]


def test_ctrl_c_turned_into_another_error_on_the_way_still_exits_130(
    cli_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As psycopg does: the interrupt cancels the query and surfaces as a database error.
    def cancelled(*args: Any, **kwargs: Any) -> Any:
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            raise LeadflowError("canceling statement due to user request") from None

    monkeypatch.setattr("leadflow.jobs.day.run_request", cancelled)
    assert _main(monkeypatch, "aggregate", "--day", "2026-12-01", "--json") == 130
    error = _envelope(capsys.readouterr().err)
    assert error["code"] == "interrupted"


def test_ctrl_c_swallowed_by_a_command_still_exits_130(
    cli_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def swallowed(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        return None  # as if it had finished: the command then trips over the missing result

    monkeypatch.setattr("leadflow.jobs.day.run_request", swallowed)
    assert _main(monkeypatch, "aggregate", "--day", "2026-12-01") == 130
    assert capsys.readouterr().err.strip().splitlines() == ["error: interrupted (Ctrl-C)"]
