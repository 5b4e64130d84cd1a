"""Alerts after job runs: sent through apprise to a local HTTP endpoint, once per subject per day,
never blocking or failing the job."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from leadflow.alerts import notify_after_run
from leadflow.db import Caller, Database
from leadflow.jobs.entry import JobRequest, answer
from leadflow.settings import Settings


class Endpoint:
    """A local webhook that records every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    try:
        yield server
    finally:
        server.close()


def _today(sql: psycopg.Connection[Any]) -> date:
    row = sql.execute("select today from public.job_day_window()").fetchone()
    assert row is not None
    return row[0]


def _settings(urls: str) -> Settings:
    return Settings(LEADFLOW_ALERT_URLS=urls)


def _sent(sql: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [
        (kind, subject)
        for kind, subject in sql.execute(
            "select kind, subject from private.alerts_sent order by kind, subject"
        ).fetchall()
    ]


def test_kill_switch_and_failed_run_are_sent_once_per_day(
    database: Database, sql: psycopg.Connection[Any], endpoint: Endpoint
) -> None:
    today = _today(sql)
    sql.execute("update orchestration_settings set changes_enabled = false")
    sql.execute(
        "insert into job_runs (job, day, status, triggered_by, error, finished_at)"
        " values ('plan', %s, 'failed', 'test', 'boom', now())",
        (today,),
    )

    sent = notify_after_run(database, Caller.service(), today, settings=_settings(endpoint.url))

    assert {(a["kind"], a["subject"]) for a in sent} == {
        ("job_failed", "plan"),
        ("kill_switch", "on"),
    }
    assert len(endpoint.bodies) == 1
    body = endpoint.bodies[0]["message"]
    assert "kill switch is ON" in body and "plan for" in body and "boom" in body
    assert _sent(sql) == [("job_failed", "plan"), ("kill_switch", "on")]

    again = notify_after_run(database, Caller.service(), today, settings=_settings(endpoint.url))
    assert again == [] and len(endpoint.bodies) == 1

    sql.execute("update orchestration_settings set changes_enabled = true")
    back = notify_after_run(database, Caller.service(), today, settings=_settings(endpoint.url))
    assert [(a["kind"], a["subject"]) for a in back] == [("kill_switch", "off")]


def test_capacity_unreachable_and_unprofitable_segments(
    database: Database, sql: psycopg.Connection[Any], endpoint: Endpoint
) -> None:
    today = _today(sql)
    segment_id, max_budget = sql.execute(
        "select id, max_daily_budget from lead_segments where code = 'schilder_noord_brabant'"
    ).fetchone() or (None, None)
    sql.execute(
        "insert into lead_segment_plans (segment_id, day, target_leads) values (%s, %s, 10)",
        (segment_id, today),
    )
    sql.execute("set session_replication_role = replica")  # the log's checks are not the subject
    sql.execute(
        "insert into channel_orchestration_log (day, segment_id, budget_resource_name, action,"
        " old_amount_micros, new_amount_micros, expected_gap, reason, mode, status, triggered_by,"
        " completed_at) values (%s, %s, 'customers/1234567890/campaignBudgets/9007', 'increase',"
        " %s, %s, 3.5, 'test', 'dry_run', 'skipped', 'test', now())",
        (today, segment_id, int(max_budget * 900_000), int(max_budget * 1_000_000)),
    )
    sql.execute("set session_replication_role = origin")
    sql.execute(
        "insert into lead_generation_stats (segment_id, day, revenue, ad_spend)"
        " values (%s, %s, 10, 250)",
        (segment_id, today),
    )

    sent = notify_after_run(database, Caller.service(), today, settings=_settings(endpoint.url))

    assert {(a["kind"], a["subject"]) for a in sent} == {
        ("capacity_unreachable", "schilder_noord_brabant"),
        ("unprofitable", "schilder_noord_brabant"),
    }
    body = endpoint.bodies[0]["message"]
    assert "at its maximum budget" in body and "exceeds lead revenue" in body


def test_an_unreachable_target_neither_blocks_nor_fails_and_is_tried_again(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    today = _today(sql)
    sql.execute("update orchestration_settings set changes_enabled = false")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"json://127.0.0.1:{sock.getsockname()[1]}/x"

    sent = notify_after_run(database, Caller.service(), today, settings=_settings(dead))

    assert sent == []
    assert _sent(sql) == []  # not recorded: the next run tries again


def test_a_silent_target_is_given_up_after_the_timeout(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    today = _today(sql)
    sql.execute("update orchestration_settings set changes_enabled = false")
    with socket.socket() as sock:  # accepts connections, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"json://127.0.0.1:{sock.getsockname()[1]}/x"
        sent = notify_after_run(
            database, Caller.service(), today, settings=_settings(url), timeout=0.5
        )
    assert sent == []


def test_no_targets_configured_sends_and_records_nothing(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("update orchestration_settings set changes_enabled = false")
    assert notify_after_run(database, Caller.service(), _today(sql), settings=Settings()) == []
    assert _sent(sql) == []


def test_a_job_function_run_sends_alerts_after_the_run(
    database: Database, sql: psycopg.Connection[Any], endpoint: Endpoint
) -> None:
    sql.execute("update orchestration_settings set changes_enabled = false")
    today = _today(sql)

    summary = answer(
        "plan",
        JobRequest(day=today),
        settings=_settings(endpoint.url),
        triggered_by="test",
        database=database,
    )

    assert summary["status"] == "success"
    assert any("kill switch is ON" in b["message"] for b in endpoint.bodies)


def test_alert_urls_are_a_secret(endpoint: Endpoint) -> None:
    settings = _settings(endpoint.url + "?token=hunter2")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.alert_urls)


def test_a_cli_job_run_sends_alerts_and_a_failed_one_too(
    db_url: str, sql: psycopg.Connection[Any], endpoint: Endpoint, tmp_path: Any
) -> None:
    from conftest import run_cli as _run

    sql.execute("update orchestration_settings set changes_enabled = false")
    today = str(_today(sql))

    result = _run(
        "plan", "--day", today, db_url=db_url, home=tmp_path, LEADFLOW_ALERT_URLS=endpoint.url
    )

    assert result.returncode == 0, result.stderr
    assert any("kill switch is ON" in b["message"] for b in endpoint.bodies)
