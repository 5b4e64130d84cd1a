"""Previews that list (issue #23): orchestrate and rollback list every proposed change with
the database's verdict; a live run logs the same list, one structured line per change."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from leadflow.controller import Decision
from leadflow.db import Caller, Database
from leadflow.db.direct import DirectTransport
from leadflow.jobs import orchestrate as orchestrate_module
from leadflow.jobs.budget_view import StoredBudgets
from leadflow.jobs.orchestrate import change_list, orchestrate, rollback
from leadflow.settings import Mode
from leadflow_tools.cli import jobs as cli_jobs
from rich.text import Text

BUDGET = "customers/1234567890/campaignBudgets/9007"  # schilder_noord_brabant in seed.sql
SOURCE = {"budgets_from": "channels", "channels": ["google_ads"]}


def _orchestrate_text(job: str, day: date, counts: dict[str, Any], source: Any) -> str:
    """The CLI's text, as the terminal shows it (markup rendered)."""
    return Text.from_markup(cli_jobs._orchestrate_text(job, day, counts, source)).plain


def _today(sql: psycopg.Connection[Any]) -> date:
    row = sql.execute("select today from public.job_day_window()").fetchone()
    assert row is not None
    return row[0]


def _observe(database: Database, amount_micros: int) -> None:
    database.rpc(
        "record_budget_observations",
        {"p_observed": [{"budget_resource_name": BUDGET, "amount_micros": amount_micros}]},
        caller=Caller.service(),
    )


def _live_change_today(sql: psycopg.Connection[Any], old: int, new: int) -> int:
    """A completed live change of BUDGET today, as a live run leaves it (trigger bypassed)."""
    segment = sql.execute(
        "select segment_id from segment_campaign_budgets where budget_resource_name = %s",
        (BUDGET,),
    ).fetchone()
    assert segment is not None
    sql.execute("set session_replication_role = replica")
    row = sql.execute(
        "insert into channel_orchestration_log (day, segment_id, budget_resource_name, action,"
        " old_amount_micros, new_amount_micros, reason, mode, status, triggered_by, sent_on,"
        " claimed_at, completed_at) values (private.today_nl(), %s, %s, 'increase', %s, %s,"
        " 'test', 'live', 'success', 'test', private.today_nl(), now(),"
        " now() + interval '1 second') returning id",
        (segment[0], BUDGET, old, new),
    ).fetchone()
    sql.execute("set session_replication_role = origin")
    # A success becomes the budget's record (complete_budget_decisions does this).
    sql.execute(
        "update private.budget_records set amount_micros = %s where budget_resource_name = %s",
        (new, BUDGET),
    )
    assert row is not None
    return int(row[0])


@pytest.fixture
def propose(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The controller proposes `amount["new"]` micros for BUDGET (gap +5) and holds the rest."""
    amount: dict[str, int] = {}
    real = orchestrate_module.plan_decisions

    def fake(inputs: list[dict[str, Any]], budgets: Any, config: Any, **kw: Any) -> list[Any]:
        planned = real(inputs, budgets, config, **kw)
        out = []
        for p in planned:
            old = p.decision.old_budget_micros
            if p.budget_resource_name == BUDGET and old is not None:
                new = amount["new"]
                action = "increase" if new > old else "decrease"
                p = dataclasses.replace(
                    p, decision=Decision(action, old, new, None, "the test asks for it")
                )
                p = dataclasses.replace(
                    p,
                    decision=dataclasses.replace(
                        p.decision, expected_gap=orchestrate_module.Decimal(5 if new > old else -5)
                    ),
                )
            out.append(p)
        return out

    monkeypatch.setattr(orchestrate_module, "plan_decisions", fake)
    yield amount


def _change(result: dict[str, Any]) -> dict[str, Any]:
    (change,) = [c for c in result["changes"] if c["budget"] == BUDGET]
    return change


def test_a_dry_run_lists_each_change_with_what_the_database_would_accept(
    database: Database, sql: psycopg.Connection[Any], propose: dict[str, int]
) -> None:
    today = _today(sql)
    _observe(database, 40_000_000)
    propose["new"] = 44_000_000
    caller = Caller.service()

    result = orchestrate(database, caller, today, StoredBudgets(database, caller))

    change = _change(result)
    assert change["segment"] == "schilder_noord_brabant"
    assert change["channel"] == "google_ads"
    assert (change["old_budget_euro"], change["new_budget_euro"]) == (40.0, 44.0)
    assert change["change_pct"] == 10.0
    assert change["reason"] == "the test asks for it"
    assert change["accepted"] is True and change["refusal"] is None
    assert result["refused"] == 0
    # Every budget the run saw is in the list, holds included (accepted: None).
    assert len(result["changes"]) == result["budgets"]
    assert all(c["accepted"] is None for c in result["changes"] if c["action"] == "hold")


@pytest.mark.parametrize(
    ("new", "refusal"),
    [
        (200_000_000, "outside the segment's bounds"),
        (60_000_000, "% from today's starting budget"),
    ],
)
def test_a_dry_run_shows_the_databases_refusal(
    database: Database,
    sql: psycopg.Connection[Any],
    propose: dict[str, int],
    new: int,
    refusal: str,
) -> None:
    today = _today(sql)
    _observe(database, 40_000_000)
    propose["new"] = new
    caller = Caller.service()

    result = orchestrate(database, caller, today, StoredBudgets(database, caller))

    change = _change(result)
    assert change["accepted"] is False
    assert refusal in change["refusal"]
    assert result["refused"] == 1
    text = _orchestrate_text("orchestrate", today, result, SOURCE)
    assert "database refuses: " in text and refusal in text
    assert "1 the database would refuse" in text


def test_a_second_change_the_same_day_is_shown_refused(
    database: Database, sql: psycopg.Connection[Any], propose: dict[str, int]
) -> None:
    today = _today(sql)
    _observe(database, 40_000_000)
    log_id = _live_change_today(sql, 40_000_000, 44_000_000)
    propose["new"] = 46_000_000
    caller = Caller.service()

    change = _change(orchestrate(database, caller, today, StoredBudgets(database, caller)))

    assert change["old_budget_euro"] == 44.0
    assert change["accepted"] is False
    assert change["refusal"] == f"already changed today (log #{log_id}); not applied twice"


def test_the_kill_switch_refuses_every_change_in_the_preview(
    database: Database, sql: psycopg.Connection[Any], propose: dict[str, int]
) -> None:
    today = _today(sql)
    _observe(database, 40_000_000)
    sql.execute("update orchestration_settings set changes_enabled = false")
    propose["new"] = 44_000_000
    caller = Caller.service()

    change = _change(orchestrate(database, caller, today, StoredBudgets(database, caller)))

    assert change["accepted"] is False
    assert change["refusal"] == "kill switch is on: not sent"


def test_a_rollback_preview_lists_the_restore_with_its_verdict(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    today = _today(sql)
    _observe(database, 40_000_000)
    log_id = _live_change_today(sql, 40_000_000, 44_000_000)
    caller = Caller.service()

    result = rollback(database, caller, today, StoredBudgets(database, caller))

    change = _change(result)
    assert change["segment"] == "schilder_noord_brabant", change
    assert change["channel"] == "google_ads"
    assert (change["old_budget_euro"], change["new_budget_euro"]) == (44.0, 40.0), str(change)
    assert change["action"] == "decrease" and change["change_pct"] == pytest.approx(-9.09)
    assert f"rollback of log #{log_id}" in change["reason"]
    assert change["accepted"] is True

    sql.execute("update orchestration_settings set changes_enabled = false")
    again = _change(rollback(database, caller, today, StoredBudgets(database, caller)))
    assert again["accepted"] is False
    assert again["refusal"] == "kill switch is on: not sent"
    text = _orchestrate_text("rollback", today, {**result, "mode": "dry_run"}, SOURCE)
    assert "schilder_noord_brabant · google_ads · " + BUDGET in text
    assert "44.00 → 40.00 euro (-9.09 %)" in text


def test_a_run_logs_one_structured_line_per_change(
    database: Database,
    sql: psycopg.Connection[Any],
    propose: dict[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    today = _today(sql)
    _observe(database, 40_000_000)
    propose["new"] = 44_000_000
    caller = Caller.service()

    with caplog.at_level(logging.INFO, logger="leadflow"):
        result = orchestrate(database, caller, today, StoredBudgets(database, caller))

    lines = [r for r in caplog.records if r.getMessage() == "budget_change"]
    assert len(lines) == len(result["changes"])
    mine = [r for r in lines if getattr(r, "budget", None) == BUDGET]
    assert len(mine) == 1
    assert mine[0].__dict__["new_budget_euro"] == 44.0
    assert mine[0].__dict__["accepted"] is True
    assert mine[0].__dict__["segment"] == "schilder_noord_brabant"


def test_change_list_reads_live_rows_by_their_logged_status() -> None:
    decision = Decision("increase", 40_000_000, 44_000_000, None, "more leads needed")
    planned = orchestrate_module.PlannedDecision(
        segment_id="s1",
        code="",
        channel="google_ads",
        customer_id="1",
        campaign_id="2",
        budget_resource_name="b",
        decision=decision,
    )
    ok = change_list(
        [planned],
        [{"id": 7, "budget_resource_name": "b", "status": "pending", "error": None}],
        {7: "failed"},
        {7: "budget is removed"},
        Mode.live,
        {"s1": "code_1"},
    )
    assert ok[0]["segment"] == "code_1"
    assert ok[0]["accepted"] is True and ok[0]["status"] == "failed"
    assert ok[0]["error"] == "budget is removed"
    text = _orchestrate_text(
        "orchestrate",
        date(2026, 12, 6),
        {
            "mode": "live",
            "budgets": 1,
            "increase": 1,
            "decrease": 0,
            "hold": 0,
            "applied": 0,
            "validated": 0,
            "failed": 1,
            "changes": ok,
        },
        SOURCE,
    )
    assert "database accepted; refused by Google Ads: budget is removed" in text
    refused = change_list(
        [planned],
        [{"id": 8, "budget_resource_name": "b", "status": "skipped", "error": "kill switch"}],
        {},
        {},
        Mode.live,
    )
    assert refused[0]["accepted"] is False and refused[0]["refusal"] == "kill switch"
    assert refused[0]["segment"] == "s1"


def test_the_cli_json_lists_every_budget(
    db_url: str, sql: psycopg.Connection[Any], tmp_path: Any
) -> None:
    from test_operator import _run

    today = _today(sql)
    assert _run("plan", "--day", str(today), db_url=db_url, home=tmp_path).returncode == 0
    result = _run("orchestrate", "--day", str(today), "--json", db_url=db_url, home=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert len(summary["changes"]) == summary["budgets"] > 0
    keys = {"segment", "channel", "budget", "old_budget_euro", "new_budget_euro"}
    keys |= {"change_pct", "reason", "accepted", "refusal", "action", "status"}
    assert all(keys <= set(c) for c in summary["changes"])
    text = _run("orchestrate", "--day", str(today), db_url=db_url, home=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "Held (" in text.stdout or "Proposed changes (" in text.stdout


def test_the_demos_preview_lists_changes_on_both_channels(empty_db_url: str, tmp_path: Any) -> None:
    """`leadflow orchestrate --json` on the demo (observing, dry_run: the hand-set budgets
    stand) proposes changes on Google Ads and on Microsoft Advertising, each item naming its
    channel and a budget named as that channel names them."""
    from datetime import timedelta

    from leadflow_tools.demo import DemoOptions, install, run_demo
    from leadflow_tools.simclock import database_clock
    from test_operator import _run

    end = date(2026, 11, 25)
    options = DemoOptions(seed=7, days=10, end=end, industries=2, provinces=3, mode=Mode.dry_run)
    install(empty_db_url)
    db = Database(DirectTransport(empty_db_url, max_size=2))
    try:
        run_demo(db, options, clock=database_clock(empty_db_url))
    finally:
        db.close()

    day = end - timedelta(days=1)  # stats, plans and the budgets last seen are there
    result = _run("orchestrate", "--day", str(day), "--json", db_url=empty_db_url, home=tmp_path)
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)["changes"]
    moved = [c for c in changes if c["action"] != "hold"]
    assert {c["channel"] for c in changes} == {"google_ads", "microsoft_ads"}
    assert {c["channel"] for c in moved} == {"google_ads", "microsoft_ads"}
    for c in changes:
        prefix = "customers/" if c["channel"] == "google_ads" else "accounts/5550001/budgets/"
        assert c["budget"].startswith(prefix), c
