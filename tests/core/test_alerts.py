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

    assert {(a["kind"], a["subject"], a["severity"]) for a in sent} == {
        ("job_failed", f"plan {today}", "error"),
        ("kill_switch", "on", "warning"),
    }
    assert len(endpoint.bodies) == 2  # one message per severity, the worst first
    failure, warning = (b["message"] for b in endpoint.bodies)
    assert "plan for" in failure and "boom" in failure
    assert "kill switch is ON" in warning
    assert [b["type"] for b in endpoint.bodies] == ["failure", "warning"]
    assert _sent(sql) == [("job_failed", f"plan {today}"), ("kill_switch", "on")]

    again = notify_after_run(database, Caller.service(), today, settings=_settings(endpoint.url))
    assert again == [] and len(endpoint.bodies) == 2

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


# --------------------------------------------------------------------------- issue #23
# Through apprise's own custom-notification hook (apprise.decorators.notify): a schema of
# our own, delivered in-process, with the notify_type apprise hands every plugin.


class Inbox:
    """What apprise delivered to the `leadflowtest://` schema: (title, body, notify_type)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []

    def kinds(self) -> list[str]:
        return [notify_type for _, _, notify_type in self.messages]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    from apprise.decorators import notify

    box = Inbox()

    @notify(on="leadflowtest", name="Leadflow test inbox")
    def deliver(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
        box.messages.append((title, body, str(notify_type)))
        return True

    try:
        yield box
    finally:
        from apprise.manager_plugins import NotificationManager

        NotificationManager().remove("leadflowtest")


INBOX = _settings("leadflowtest://")


def _failed_run(sql: psycopg.Connection[Any], job: str, day: date, minutes_ago: int) -> None:
    sql.execute(
        "insert into job_runs (job, day, status, triggered_by, error, started_at, finished_at)"
        " values (%s, %s, 'failed', 'test', 'boom', now() - make_interval(mins => %s),"
        " now() - make_interval(mins => %s))",
        (job, day, minutes_ago, minutes_ago - 1),
    )


def _succeeded_run(sql: psycopg.Connection[Any], job: str, day: date, minutes_ago: int) -> None:
    sql.execute(
        "insert into job_runs (job, day, status, triggered_by, started_at, finished_at)"
        " values (%s, %s, 'success', 'test', now() - make_interval(mins => %s),"
        " now() - make_interval(mins => %s))",
        (job, day, minutes_ago, minutes_ago - 1),
    )


@pytest.mark.parametrize(
    ("kind", "subject", "level"),
    [
        ("job_failed", "plan 2026-12-06", "error"),
        ("capacity_unreachable", "x", "warning"),
        ("unprofitable", "x", "warning"),
        ("external_change", "x", "warning"),
        ("rollback_skipped", "x", "warning"),
        ("kill_switch", "on", "warning"),
        ("kill_switch", "off", "info"),
        ("job_recovered", "plan 2026-12-06", "info"),
    ],
)
def test_each_kind_has_its_severity(kind: str, subject: str, level: str) -> None:
    from leadflow.alerts import severity

    assert severity(kind, subject) == level


def test_severity_reaches_the_target_as_apprises_notify_type(
    database: Database, sql: psycopg.Connection[Any], inbox: Inbox
) -> None:
    today = _today(sql)
    _failed_run(sql, "plan", today, 5)
    sql.execute("update orchestration_settings set changes_enabled = false")

    notify_after_run(database, Caller.service(), today, settings=INBOX)
    assert inbox.kinds() == ["failure", "warning"]
    assert "[error] [job_failed]" in inbox.messages[0][1]
    assert inbox.messages[0][0].startswith(f"Leadflow {today} error")

    sql.execute("update orchestration_settings set changes_enabled = true")
    notify_after_run(database, Caller.service(), today, settings=INBOX)
    assert inbox.kinds()[2:] == ["info"]
    assert "kill switch is OFF" in inbox.messages[2][1]


def test_the_same_alert_is_sent_once_per_calendar_day_whichever_job_day_found_it(
    database: Database, sql: psycopg.Connection[Any], inbox: Inbox
) -> None:
    from datetime import timedelta

    today = _today(sql)
    yesterday = today - timedelta(days=1)
    segment_id = sql.execute(
        "select id from lead_segments where code = 'schilder_noord_brabant'"
    ).fetchone()
    assert segment_id is not None
    sql.execute(
        "insert into lead_generation_stats (segment_id, day, revenue, ad_spend)"
        " values (%s, %s, 10, 250)",
        (segment_id[0], yesterday),
    )

    # aggregate runs for yesterday, plan and orchestrate for today: three job days' checks.
    for day in (yesterday, today, today):
        notify_after_run(database, Caller.service(), day, settings=INBOX)

    unprofitable = [m for m in inbox.messages if "[unprofitable]" in m[1]]
    assert len(unprofitable) == 1
    assert _sent(sql).count(("unprofitable", "schilder_noord_brabant")) == 1
    (recorded,) = sql.execute(
        "select day from private.alerts_sent where kind = 'unprofitable'"
    ).fetchone() or (None,)
    assert recorded == today  # the calendar day of sending, not the job day


def test_a_successful_rerun_sends_no_stale_failure(
    database: Database, sql: psycopg.Connection[Any], inbox: Inbox
) -> None:
    today = _today(sql)
    _failed_run(sql, "plan", today, 10)
    _succeeded_run(sql, "plan", today, 5)  # the rerun fixed it before any alert went out

    sent = notify_after_run(database, Caller.service(), today, settings=INBOX)

    assert [a["kind"] for a in sent if a["kind"].startswith("job_")] == []
    assert not any("failed" in body for _, body, _ in inbox.messages)


def test_a_recovered_failure_sends_a_recovery_once(
    database: Database, sql: psycopg.Connection[Any], inbox: Inbox
) -> None:
    today = _today(sql)
    _failed_run(sql, "plan", today, 10)
    first = notify_after_run(database, Caller.service(), today, settings=INBOX)
    assert ("job_failed", f"plan {today}") in {(a["kind"], a["subject"]) for a in first}

    _succeeded_run(sql, "plan", today, 5)
    second = notify_after_run(database, Caller.service(), today, settings=INBOX)

    assert [(a["kind"], a["severity"]) for a in second] == [("job_recovered", "info")]
    title, body, notify_type = inbox.messages[-1]
    assert notify_type == "success" and "recovered" in title
    assert f"plan for {today} recovered" in body
    assert "boom" not in body
    assert notify_after_run(database, Caller.service(), today, settings=INBOX) == []
