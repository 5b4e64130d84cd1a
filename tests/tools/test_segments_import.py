"""`leadflow segments import FILE.csv`: every row and every budget checked before anything
is written; a dry run by default, `--apply` writes all in one transaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import run_cli
from leadflow_tools import segment_import as imp
from leadflow_tools.google_ads_fake import InMemoryGoogleAds

HEADER = (
    "industry,region,channel,customer_id,campaign_id,budget_resource_name,"
    "min_daily_budget,max_daily_budget"
)
NEW_BUDGET = "customers/5555555555/campaignBudgets/71"
GOOD = [
    # a new segment, two campaigns (one with the industry's id and a dashed customer id)
    f"loodgieter,limburg,google_ads,5555555555,701,{NEW_BUDGET},5,80.50",
    "00000000-0000-4000-8001-000000000002,limburg,,555-555-5555,702,"
    "customers/5555555555/campaignBudgets/72,5,80.50",
    # an existing segment: new bounds, its seeded budget kept
    "schilder,utrecht,google_ads,1234567890,1008,customers/1234567890/campaignBudgets/9008,20,200",
]


def _csv(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "segments.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _state(db_url: str) -> tuple[Any, ...]:
    with psycopg.connect(db_url) as conn:
        segments = conn.execute(
            "select code, min_daily_budget, max_daily_budget from lead_segments order by code"
        ).fetchall()
        budgets = conn.execute(
            "select s.code, b.budget_resource_name, b.customer_id, b.campaign_id "
            "from segment_campaign_budgets b join lead_segments s on s.id = b.segment_id "
            "order by 2"
        ).fetchall()
    return tuple(segments), tuple(budgets)


def test_a_good_file_dry_run_lists_the_changes_and_writes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    before = _state(db_url)
    result = run_cli("segments", "import", str(_csv(tmp_path, GOOD)), db_url=db_url, home=tmp_path)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "loodgieter_limburg: would create (5.00..80.50 euro/day)" in out
    assert f"+ {NEW_BUDGET}" in out
    assert "schilder_utrecht: would update (10.00..150.00 -> 20.00..200.00 euro/day)" in out
    assert "account check skipped for google_ads: no credentials configured" in out
    assert "Dry run: nothing written" in out
    assert _state(db_url) == before


def test_apply_writes_segments_and_budgets_in_one_go(db_url: str, tmp_path: Path) -> None:
    result = run_cli(
        "segments", "import", str(_csv(tmp_path, GOOD)), "--apply", "--json",
        db_url=db_url, home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["applied"] is True and answer["rows"] == 3
    assert answer["account_check"]["skipped"]["google_ads"].startswith("no credentials")
    assert [s["action"] for s in answer["segments"]] == ["create", "update"]
    segments, budgets = _state(db_url)
    bounds = {code: (float(low), float(high)) for code, low, high in segments}
    assert bounds["loodgieter_limburg"] == (5.0, 80.5)
    assert bounds["schilder_utrecht"] == (20.0, 200.0)
    mapped = {name: (code, customer, campaign) for code, name, customer, campaign in budgets}
    assert mapped[NEW_BUDGET] == ("loodgieter_limburg", "5555555555", "701")
    assert mapped["customers/5555555555/campaignBudgets/72"][0] == "loodgieter_limburg"
    assert mapped["customers/1234567890/campaignBudgets/9008"][0] == "schilder_utrecht"
    # a second run changes nothing more
    again = run_cli(
        "segments", "import", str(_csv(tmp_path, GOOD)), "--json", db_url=db_url, home=tmp_path
    )
    assert [s["action"] for s in json.loads(again.stdout)["segments"]] == [
        "unchanged",
        "unchanged",
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("loodgieter,limburg,,5555555555,703,customers/5555555555/campaignBudgets/73,90,80",
         "row 5: min_daily_budget 90.00 is above max_daily_budget 80.00"),
        ("timmerman,limburg,,5555555555,703,customers/5555555555/campaignBudgets/73,5,80",
         "row 5: unknown industry 'timmerman'"),
        ("loodgieter,atlantis,,5555555555,703,customers/5555555555/campaignBudgets/73,5,80",
         "row 5: unknown region 'atlantis'"),
        ("loodgieter,drenthe,,5555555555,703,customers/5555555555/budgets/73,5,80",
         "row 5: 'customers/5555555555/budgets/73' is not a google_ads budget name"),
        ("loodgieter,drenthe,,5555555555,703,customers/6666666666/campaignBudgets/73,5,80",
         "row 5: budget customers/6666666666/campaignBudgets/73 is in account 6666666666"),
        ("loodgieter,drenthe,,5555555555,70x,customers/5555555555/campaignBudgets/73,5,80",
         "row 5: campaign_id '70x' is not digits"),
        ("loodgieter,drenthe,,5555555555,703,customers/5555555555/campaignBudgets/73,5,80.505",
         "row 5: max_daily_budget '80.505' is not whole cents"),
        (f"loodgieter,drenthe,,5555555555,703,{NEW_BUDGET},5,80",
         f"row 5: budget {NEW_BUDGET} is also on row 2"),
        ("loodgieter,drenthe,bing,5555555555,703,customers/5555555555/campaignBudgets/73,5,80",
         "row 5: unknown paid channel 'bing'"),
        ("loodgieter,limburg,,5555555555,703,customers/5555555555/campaignBudgets/73,5,90",
         "row 5: loodgieter_limburg has other budget bounds on row 2"),
        ("dakdekker,limburg,,1234567890,1001,customers/1234567890/campaignBudgets/73,5,90",
         "row 5: campaign 1001 belongs to segment dakdekker_noord_brabant"),
        ("dakdekker,limburg,,1234567890,7001,customers/1234567890/campaignBudgets/9001,5,90",
         "row 5: budget customers/1234567890/campaignBudgets/9001 belongs to segment"),
    ],
)  # fmt: skip
def test_one_bad_row_refuses_the_whole_file_naming_the_row(
    db_url: str, tmp_path: Path, bad: str, message: str
) -> None:
    before = _state(db_url)
    path = _csv(tmp_path, [*GOOD, bad])
    result = run_cli("segments", "import", str(path), "--apply", db_url=db_url, home=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: nothing was written: ")
    assert message in line, line
    assert _state(db_url) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("industry,region\nschilder,utrecht\n", "missing column(s) budget_resource_name"),
        (HEADER + ",colour\n", "unknown column(s) colour"),
        (HEADER + "\n", "no rows after the header"),
    ],
)
def test_a_malformed_file_is_one_line(
    db_url: str, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content, encoding="utf-8")
    result = run_cli("segments", "import", str(path), "--json", db_url=db_url, home=tmp_path)
    assert result.returncode == 1
    error = json.loads(result.stderr)["error"]
    assert message in error["message"] and error["details"] == []


def test_require_account_check_refuses_without_credentials(db_url: str, tmp_path: Path) -> None:
    before = _state(db_url)
    result = run_cli(
        "segments", "import", str(_csv(tmp_path, GOOD)), "--apply", "--require-account-check",
        db_url=db_url, home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "account check skipped for google_ads" in result.stderr
    assert "GOOGLE_ADS_DEVELOPER_TOKEN" in result.stderr
    assert _state(db_url) == before


# --------------------------------------------------------------------------- the account


def _rows(db_url: str, tmp_path: Path) -> list[imp.Row]:
    with psycopg.connect(db_url) as conn:
        return imp.check_rows(imp.read_rows(_csv(tmp_path, GOOD)), imp.load_reference(conn))


def test_budgets_found_in_the_account_pass(db_url: str, tmp_path: Path) -> None:
    fake = InMemoryGoogleAds()
    for row in _rows(db_url, tmp_path):
        fake.add_budget(row.budget_resource_name, 50_000_000)
    check = imp.check_accounts(_rows(db_url, tmp_path), {"google_ads": fake}, {})
    assert check.checked == {"google_ads": 3} and not check.skipped
    assert check.lines() == ["account check: 3 budget(s) found on google_ads"]


def test_a_missing_or_shared_budget_in_the_account_refuses_the_file(
    db_url: str, tmp_path: Path
) -> None:
    rows = _rows(db_url, tmp_path)
    fake = InMemoryGoogleAds()
    fake.add_budget(rows[0].budget_resource_name, 50_000_000, explicitly_shared=True)
    fake.add_budget(rows[2].budget_resource_name, 50_000_000)  # row 3's budget is missing
    with pytest.raises(imp.ImportRefused) as refused:
        imp.check_accounts(rows, {"google_ads": fake}, {})
    problems = refused.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"row 2: budget {NEW_BUDGET} cannot be steered: shared budget")
    assert problems[1].startswith("row 3: budget customers/5555555555/campaignBudgets/72 does not")


def test_a_channel_the_database_knows_needs_no_change_here(db_url: str, tmp_path: Path) -> None:
    """With public.ad_channels, a channel's budget names are the database's pattern."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        reference = imp.load_reference(conn)
    assert imp.budget_account("microsoft_ads", "accounts/123/budgets/9", reference) == "123"
    assert imp.budget_account("microsoft_ads", "accounts/123/campaigns/4/budget", reference) == (
        "123"
    )
    with pytest.raises(ValueError, match="not a microsoft_ads budget name"):
        imp.budget_account("microsoft_ads", "customers/1234567890/campaignBudgets/1", reference)
    with pytest.raises(ValueError, match="unknown paid channel 'bing'"):
        imp.budget_account("bing", "accounts/1/budgets/2", reference)
