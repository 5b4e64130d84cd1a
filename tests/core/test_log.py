"""The one logger: JSON lines, with the run's keys while it runs, never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from leadflow.db import Caller, Database
from leadflow.jobs.plan import plan
from leadflow.log import logger


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the logger writes, formatted by its own JSON formatter as it is emitted."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_job_run_logs_json_lines_keyed_by_job_day_and_run(
    database: Database, lines: io.StringIO
) -> None:
    counts = plan(database, Caller.service(), date(2026, 11, 23))
    records = _records(lines)
    started = next(r for r in records if r["message"] == "job started")
    finished = next(r for r in records if r["message"] == "job finished")
    assert started["service"] == "leadflow"
    assert started["job"] == "plan" and started["day"] == "2026-11-23"
    assert started["run_id"] == finished["run_id"]
    assert finished["counts"] == json.loads(json.dumps(counts))


def test_the_run_keys_leave_with_the_run(database: Database, lines: io.StringIO) -> None:
    plan(database, Caller.service(), date(2026, 11, 23))
    logger.info("after the run")
    [after] = [r for r in _records(lines) if r["message"] == "after the run"]
    assert "run_id" not in after and "job" not in after
