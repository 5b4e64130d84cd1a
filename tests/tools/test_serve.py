"""`leadflow serve <function>` runs the function on loopback against the local database."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "serve-test-scheduler-secret"
STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(db_url: str, home: Path) -> dict[str, str]:
    """The caller's environment without anything that would reach beyond this machine."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GOOGLE_ADS_", "SUPABASE_", "LEADFLOW_", "AWS_"))
    }
    env.update(
        DATABASE_URL=db_url,
        LEADFLOW_HOME=str(home),
        LEADFLOW_TRANSPORT="direct",
        LEADFLOW_SCHEDULER_SECRET=SECRET,
    )
    return env


def _serve(function: str, db_url: str, home: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "leadflow_tools.cli", "serve", function, "--port", str(port)],
        cwd=ROOT,
        env=_environment(db_url, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # The command says where it serves once its socket listens: wait for that line.
        assert process.stdout is not None
        with selectors.DefaultSelector() as ready:
            ready.register(process.stdout, selectors.EVENT_READ)
            if not ready.select(timeout=STARTUP_SECONDS):
                pytest.fail(f"leadflow serve {function} did not listen within {STARTUP_SECONDS}s")
        first = process.stdout.readline()
        if not first:
            _, err = process.communicate()
            pytest.fail(f"leadflow serve {function} exited early: {err[-2000:]}")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail(f"leadflow serve {function} did not stop on SIGTERM")
    assert process.returncode == 0
    assert first == f"serving {function} on {base}/\n"


@pytest.fixture
def served_plan(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`leadflow serve plan` on a free loopback port, on the seeded test database."""
    yield from _serve("plan", db_url, tmp_path)


def test_served_job_refuses_a_caller_without_the_scheduler_token(served_plan: str) -> None:
    response = httpx.post(served_plan, json={}, timeout=30)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_served_job_runs_for_the_scheduler_and_answers_a_summary(served_plan: str) -> None:
    headers = {"Authorization": f"Bearer {SECRET}"}

    response = httpx.post(served_plan, json={"day": "2026-11-20"}, headers=headers, timeout=60)

    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["job"] == "plan"
    assert summary["day"] == "2026-11-20"
    assert summary["status"] == "success"
    assert isinstance(summary["counts"], dict)


def test_served_job_refuses_malformed_input_with_a_400(served_plan: str) -> None:
    headers = {"Authorization": f"Bearer {SECRET}"}

    response = httpx.post(served_plan, content=b"{'day':", headers=headers, timeout=30)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_serve_refuses_an_unknown_function(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "leadflow_tools.cli", "serve", "nope", "--port", "0"],
        cwd=ROOT,
        env=_environment("postgresql://unused", tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "choose one of api, aggregate, plan, orchestrate" in result.stderr


def test_served_api_answers_on_loopback(db_url: str, tmp_path: Path) -> None:
    for base in _serve("api", db_url, tmp_path):
        health = httpx.get(f"{base}/api/health", timeout=30)
        segments = httpx.get(f"{base}/api/lead-segments", timeout=30)

        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert segments.status_code == 401  # no token
