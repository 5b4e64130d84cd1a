"""`leadflow db status` (issue #23): migrations applied vs pending, the settings, the kill
switch, and how this machine is configured; exit 1 while migrations are pending."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from leadflow_tools import migrations
from test_operator import _run


def test_a_migrated_database_reports_up_to_date_and_the_kill_switch(
    db_url: str, sql: psycopg.Connection[Any], tmp_path: Path
) -> None:
    result = _run("db", "status", "--json", db_url=db_url, home=tmp_path)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    known = len(migrations.discover())
    assert status["migrations"]["applied"] == status["migrations"]["known"] == known
    assert status["migrations"]["pending"] == []
    assert status["kill_switch"] == "off"
    assert status["orchestration_settings"]["max_daily_change"] == 0.2
    assert status["configured"]["orchestrator_mode"] == "dry_run"
    assert status["configured"]["google_ads_credentials"] is False
    assert status["configured"]["microsoft_ads_credentials"] is False
    channels = {c["channel"]: c for c in status["channels"]}
    assert set(channels) == {"google_ads", "microsoft_ads"}  # the paid ones
    assert channels["google_ads"]["budgets"] > 0 and channels["microsoft_ads"]["budgets"] == 0

    sql.execute("update orchestration_settings set changes_enabled = false")
    sql.execute(
        "update ad_channels set kill_switch = true, daily_cap = 250 where key = 'microsoft_ads'"
    )
    text = _run("db", "status", db_url=db_url, home=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "kill switch: ON" in text.stdout
    assert "microsoft_ads: 0 active budgets, kill switch on, daily cap 250.00 euro" in text.stdout
    assert f"{known} of {known} applied, up to date" in text.stdout


def test_an_unmigrated_database_lists_what_is_pending_and_exits_1(
    bare_db_url: str, tmp_path: Path
) -> None:
    result = _run("db", "status", "--json", db_url=bare_db_url, home=tmp_path)
    assert result.returncode == 1
    status = json.loads(result.stdout)
    names = [f"{m.version}_{m.name}" for m in migrations.discover()]
    assert status["migrations"]["applied"] == 0
    assert status["migrations"]["pending"] == names
    assert status["kill_switch"] is None and status["orchestration_settings"] is None
    text = _run("db", "status", db_url=bare_db_url, home=tmp_path)
    assert text.returncode == 1
    assert f"0 of {len(names)} applied" in text.stdout and "leadflow db migrate" in text.stdout
