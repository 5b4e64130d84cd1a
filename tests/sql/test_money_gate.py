"""The database keeps the money promise against the job's own key (issue 21).

Every test here acts as an attacker holding the service-role key would: through the
functions PostgREST exposes to that role, with arbitrary arguments. The database alone
decides what money may move. Each rule has a test that fails when that rule alone is
removed (see bench/mutation.py for the mutants and their kill rate).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import psycopg.errors
import pytest
from conftest import ADMIN_ID, as_user
from leadflow.db import Caller, Database, RpcError
from leadflow.db.direct import DirectTransport

SERVICE = Caller.service()
DAY = date(2026, 11, 23)
START = 50_000_000
MONEY_TABLES = [
    "public.channel_orchestration_log",
    "public.job_runs",
    "public.segment_campaign_budgets",
    "public.orchestration_settings",
    "public.orchestration_settings_history",
    "private.budget_observations",
    "private.budget_records",
    "private.budget_external_changes",
    "private.money_ledger",
]
API_ROLES = ["anon", "authenticated", "service_role", "authenticator"]


@pytest.fixture
def sql(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
        yield conn


@pytest.fixture
def db(db_url: str, sql: psycopg.Connection[Any]) -> Iterator[Database]:
    database = Database(DirectTransport(db_url, max_size=3))
    try:
        yield database
    finally:
        database.close()


def _budgets(sql: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(budget, segment id) of every mapped budget, by name."""
    return [
        (name, str(seg))
        for name, seg in sql.execute(
            "select budget_resource_name, segment_id from segment_campaign_budgets order by 1"
        )
    ]


def _observe(db: Database, amounts: dict[str, int]) -> int:
    return int(
        db.rpc(
            "record_budget_observations",
            {
                "p_observed": [
                    {"budget_resource_name": n, "amount_micros": a} for n, a in amounts.items()
                ]
            },
            caller=SERVICE,
        )
    )


def _run(db: Database, job: str = "orchestrate") -> str:
    return str(
        db.rpc(
            "start_job_run",
            {"p_job": job, "p_day": DAY.isoformat(), "p_triggered_by": "attacker"},
            caller=SERVICE,
        )
    )


def _log(
    db: Database,
    run: str,
    decisions: list[dict[str, Any]],
    *,
    kind: str = "adjust",
    mode: str = "live",
) -> list[dict[str, Any]]:
    rows = db.rpc(
        "log_budget_decisions",
        {
            "p_run_id": run,
            "p_day": DAY.isoformat(),
            "p_kind": kind,
            "p_mode": mode,
            "p_triggered_by": "attacker",
            "p_decisions": decisions,
        },
        caller=SERVICE,
    )
    return list(rows)


def _claim(db: Database, run: str, ids: list[int]) -> list[dict[str, Any]]:
    return list(db.rpc("claim_budget_decisions", {"p_run_id": run, "p_ids": ids}, caller=SERVICE))


def _complete(db: Database, run: str, ids: list[int], status: str = "success") -> int:
    return int(
        db.rpc(
            "complete_budget_decisions",
            {
                "p_run_id": run,
                "p_results": [
                    {"id": i, "status": status, "error": None if status == "success" else "x"}
                    for i in ids
                ],
            },
            caller=SERVICE,
        )
    )


def _change(name: str, new: int, gap: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "budget_resource_name": name,
        "action": "increase" if gap > 0 else "decrease",
        "new_amount_micros": new,
        "expected_gap": gap,
        "reason": "attack",
        **extra,
    }


def _send(db: Database, run: str, decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log, claim and (as the job would) complete as applied: the rows' final answers."""
    logged = _log(db, run, decisions)
    pending = [r["id"] for r in logged if r["status"] == "pending"]
    claimed = {r["id"]: r for r in _claim(db, run, pending)} if pending else {}
    sent = [i for i, r in claimed.items() if r["status"] == "sent"]
    if sent:
        _complete(db, run, sent)
    return [claimed.get(r["id"], r) for r in logged]


# --------------------------------------------------------------------------- the catalog


def test_no_api_role_may_write_a_money_table(sql: psycopg.Connection[Any]) -> None:
    for table in MONEY_TABLES:
        for role in API_ROLES:
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                (has,) = sql.execute(
                    "select has_table_privilege(%s, %s, %s)", (role, table, privilege)
                ).fetchone()
                assert not has, f"{role} may {privilege} {table}"


def test_money_is_written_only_by_definer_functions_of_the_money_owner(
    sql: psycopg.Connection[Any],
) -> None:
    owners = dict(
        sql.execute(
            "select c.oid::regclass::text, pg_get_userbyid(c.relowner) from pg_class c "
            "where c.oid = any (%s::regclass[])",
            ([t for t in MONEY_TABLES if "settings" not in t and "campaign" not in t],),
        ).fetchall()
    )
    assert set(owners.values()) == {"leadflow_money"}, owners
    (can_login,) = sql.execute(
        "select rolcanlogin from pg_roles where rolname = 'leadflow_money'"
    ).fetchone()
    assert can_login is False
    functions = sql.execute(
        "select p.oid::regprocedure::text, n.nspname, p.prosecdef, p.proconfig, p.prokind "
        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where p.proowner = 'leadflow_money'::regrole"
    ).fetchall()
    assert len(functions) > 15
    for name, schema, definer, config, kind in functions:
        # Not exposed through PostgREST, pinned search_path; triggers run as the writer.
        assert schema == "private", name
        assert config == ['search_path=""'] or config == ['search_path=""'], (name, config)
        assert definer or kind == "f", name
    public_definers = sql.execute(
        "select p.oid::regprocedure::text from pg_proc p join pg_namespace n "
        "on n.oid = p.pronamespace where n.nspname = 'public' and p.prosecdef "
        "and pg_get_userbyid(p.proowner) = 'leadflow_money'"
    ).fetchall()
    assert public_definers == []


def test_the_service_role_cannot_update_a_log_row_to_sent(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [_change(name, 55_000_000)])
    with sql.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(sql, None, "service_role")
        sql.execute(
            "update channel_orchestration_log set status = 'sent', sent_on = %s, "
            "claimed_at = now(), completed_at = null where id = %s",
            (DAY, row["id"]),
        )


# --------------------------------------------------------------------------- the numbers


def test_a_hold_is_never_sent_whatever_amount_it_carries(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [{**_change(name, 10 * START), "action": "hold"}])
    assert row["status"] == "skipped"
    stored = sql.execute(
        "select action, old_amount_micros, new_amount_micros from channel_orchestration_log "
        "where id = %s",
        (row["id"],),
    ).fetchone()
    assert stored == ("hold", START, START)  # the database kept the amount, not the caller's
    assert _claim(db, run, [row["id"]]) == []


_PENDING_HOLD = (
    "insert into channel_orchestration_log (run_id, day, segment_id, kind, customer_id, "
    "campaign_id, budget_resource_name, action, old_amount_micros, new_amount_micros, "
    "expected_gap, reason, mode, status, triggered_by) "
    "select run_id, day, segment_id, kind, customer_id, campaign_id, budget_resource_name, "
    "'hold', %s, %s, expected_gap, 'slipped in', mode, 'pending', triggered_by "
    "from channel_orchestration_log where id = %s returning id"
)


def test_only_a_sent_row_takes_google_ads_answer(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), (other, _), *_ = _budgets(sql)
    _observe(db, {name: START, other: START})
    run = _run(db)
    pending, skipped = _log(db, run, [_change(name, 55_000_000), _change(other, 90_000_000)])
    assert (pending["status"], skipped["status"]) == ("pending", "skipped")
    assert _complete(db, run, [pending["id"], skipped["id"]]) == 0  # never claimed: no answer
    stored = sql.execute(
        "select status from channel_orchestration_log where id = any(%s) order by id",
        ([pending["id"], skipped["id"]],),
    ).fetchall()
    assert stored == [("pending",), ("skipped",)]


def test_not_even_the_table_owner_logs_a_hold_to_send(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [_change(name, 55_000_000)])
    with pytest.raises(psycopg.errors.CheckViolation, match="a hold is never sent"):
        sql.execute(_PENDING_HOLD, (START, START, row["id"]))


def test_the_claim_never_sends_a_hold_even_one_found_pending(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [_change(name, 55_000_000)])
    with sql.transaction():  # past every trigger: the claim is the last line
        sql.execute("set local session_replication_role = replica")
        found = sql.execute(_PENDING_HOLD, (START, 10 * START, row["id"])).fetchone()
    assert found is not None
    [claimed] = _claim(db, run, [found[0]])
    assert (claimed["status"], claimed["error"]) == ("skipped", "a hold is never sent")


def test_the_old_amount_and_segment_are_the_databases_not_the_callers(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, seg), (_, other_seg), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(
        db,
        run,
        [_change(name, 60_000_000, old_amount_micros=120_000_000, segment_id=other_seg)],
    )
    assert row["status"] == "pending"
    stored = sql.execute(
        "select segment_id::text, old_amount_micros, change_pct from channel_orchestration_log "
        "where id = %s",
        (row["id"],),
    ).fetchone()
    assert stored == (seg, START, 20)


@pytest.mark.parametrize(
    ("new", "allowed"),
    [(60_000_000, True), (60_010_000, False), (40_000_000, True), (39_990_000, False)],
)
def test_the_daily_limit_is_exactly_twenty_percent_of_the_days_base(
    db: Database, sql: psycopg.Connection[Any], new: int, allowed: bool
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _send(db, run, [_change(name, new, gap=1 if new > START else -1)])
    assert (row["status"] == "sent") is allowed, row
    if not allowed:
        assert "is more than 20 % from today's starting budget of 50.00 euro" in row["error"]


def test_a_false_report_never_becomes_the_base(db: Database, sql: psycopg.Connection[Any]) -> None:
    """Reported at 120 euro while the record says 50: a change must be within 20 % of both,
    so nothing moves (50 -> 120, +140 %, was accepted before)."""
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    _observe(db, {name: 120_000_000})
    run = _run(db)
    for new in (120_000_000, 100_000_000, 60_000_000):
        [row] = _send(db, run, [_change(name, new)])
        assert row["status"] == "skipped", row
    assert "external change" in row["error"]
    (record,) = sql.execute(
        "select amount_micros from private.budget_records where budget_resource_name = %s",
        (name,),
    ).fetchone()
    assert record == START
    (kind,) = sql.execute(
        "select count(*) from public.alert_candidates(%s) where kind = 'external_change'", (DAY,)
    ).fetchone()
    assert kind == 1


def test_an_external_change_inside_the_limit_still_lets_money_move_within_both(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    _observe(db, {name: 55_000_000})  # someone raised it in Google Ads
    run = _run(db)
    [row] = _send(db, run, [_change(name, 60_000_000)])  # within 20 % of 50 and of 55
    assert row["status"] == "sent"


def test_only_an_admin_signed_in_as_themselves_accepts_an_external_amount(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    _observe(db, {name: 70_000_000})
    with pytest.raises(RpcError) as refused:
        db.rpc(
            "accept_budget_amount",
            {"p_budget": name, "p_amount_micros": 70_000_000},
            caller=SERVICE,
        )
    assert refused.value.status == 403
    admin = Caller(claims={"role": "authenticated", "sub": ADMIN_ID})
    assert (
        db.rpc(
            "accept_budget_amount", {"p_budget": name, "p_amount_micros": 70_000_000}, caller=admin
        )
        == 1
    )
    run = _run(db)
    [row] = _send(db, run, [_change(name, 84_000_000)])  # 20 % above the accepted 70
    assert row["status"] == "sent"


def test_an_adjustment_against_the_expected_gap_is_never_sent(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), (other, _), *_ = _budgets(sql)
    _observe(db, {name: START, other: START})
    run = _run(db)
    raised, lowered = _log(
        db, run, [_change(name, 55_000_000, gap=-1.0), _change(other, 45_000_000, gap=1.0)]
    )
    for row in (raised, lowered):
        assert row["status"] == "skipped" and "against the expected gap" in row["error"], row


def test_a_rollback_restores_only_the_amount_of_the_start_of_the_day(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    back = _run(db, "rollback")
    [row] = _log(db, back, [_change(name, 55_000_000)], kind="rollback")
    assert row["status"] == "skipped" and "a rollback restores the amount" in row["error"], row


def test_nothing_more_is_sent_for_a_budget_while_a_change_of_it_is_in_doubt(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [_change(name, 55_000_000)])
    [claimed] = _claim(db, run, [row["id"]])
    assert claimed["status"] == "sent"  # and no answer from Google Ads yet
    tomorrow = DAY + timedelta(days=1)
    sql.execute("update private.clock set today = %s", (tomorrow,))
    later = db.rpc(
        "start_job_run",
        {"p_job": "orchestrate", "p_day": tomorrow.isoformat(), "p_triggered_by": "attacker"},
        caller=SERVICE,
    )
    [next_change] = db.rpc(
        "log_budget_decisions",
        {
            "p_run_id": later,
            "p_day": tomorrow.isoformat(),
            "p_kind": "adjust",
            "p_mode": "live",
            "p_triggered_by": "attacker",
            "p_decisions": [_change(name, 58_000_000)],
        },
        caller=SERVICE,
    )
    assert next_change["status"] == "skipped", next_change
    assert "is not known yet" in next_change["error"], next_change


def test_amounts_are_whole_cents(db: Database, sql: psycopg.Connection[Any]) -> None:
    (name, _), *_ = _budgets(sql)
    with pytest.raises(RpcError, match="whole cents"):
        _observe(db, {name: 50_005_000})
    _observe(db, {name: START})
    run = _run(db)
    with pytest.raises(RpcError, match="whole cents"):
        _log(db, run, [_change(name, 55_000_001)])
    assert sql.execute("select count(*) from channel_orchestration_log").fetchone() == (0,)


def test_an_unmapped_budget_is_never_sent(db: Database, sql: psycopg.Connection[Any]) -> None:
    stranger = "customers/1234567890/campaignBudgets/999999"
    assert _observe(db, {stranger: START}) == 0  # not ours: not even kept
    run = _run(db)
    [row] = _log(db, run, [_change(stranger, 55_000_000)])
    assert row["status"] == "skipped" and "not mapped" in row["error"]


def test_a_second_change_the_same_day_is_refused_even_within_the_limit(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [first] = _send(db, run, [_change(name, 55_000_000)])
    assert first["status"] == "sent"
    [second] = _send(db, run, [_change(name, 60_000_000)])  # within 20 % of the day's 50
    assert second["status"] == "skipped" and "already changed today" in second["error"]
    other = _run(db, "rollback")
    [third] = _send(db, other, [_change(name, 58_000_000)])
    assert third["status"] == "skipped" and "already changed today" in third["error"]


# --------------------------------------------------------------------------- the gate


@pytest.mark.parametrize(
    ("between", "refusal"),
    [
        ("update lead_segments set is_active = false", "inactive"),
        ("update segment_campaign_budgets set is_active = false", "mapping is inactive"),
        ("update lead_segments set max_daily_budget = 52", "outside the segment's bounds"),
        ("delete from segment_campaign_budgets", "not mapped"),
        ("update orchestration_settings set changes_enabled = false", "kill switch"),
        (
            "update segment_campaign_budgets set segment_id = "
            "(select id from lead_segments s where s.id <> segment_campaign_budgets.segment_id "
            "order by s.id limit 1)",
            "now mapped to segment",
        ),
    ],
)
def test_the_claim_re_reads_what_changed_since_the_decision(
    db: Database, sql: psycopg.Connection[Any], between: str, refusal: str
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [_change(name, 55_000_000)])
    assert row["status"] == "pending"
    sql.execute(f"{between} where true" if "where" not in between else between)
    [claimed] = _claim(db, run, [row["id"]])
    assert claimed["status"] == "skipped" and refusal in claimed["error"], claimed


def test_a_change_logged_yesterday_is_not_sent_today(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [_change(name, 55_000_000)])
    assert row["status"] == "pending"
    sql.execute("update private.clock set today = %s", (DAY + timedelta(days=1),))
    [claimed] = _claim(db, run, [row["id"]])
    assert claimed["status"] == "skipped" and "only for today" in claimed["error"], claimed


def test_the_account_cap_is_held_at_exactly_the_cap(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    budgets = _budgets(sql)
    _observe(db, {n: START for n, _ in budgets})
    # Room for exactly one raise of 5 euro.
    sql.execute(
        "update orchestration_settings set account_daily_cap = %s",
        ((len(budgets) * START + 5_000_000) / 1e6,),
    )
    run = _run(db)
    first, second = _send(
        db, run, [_change(budgets[0][0], 55_000_000), _change(budgets[1][0], 50_010_000)]
    )
    assert first["status"] == "sent"  # total == cap: allowed
    assert second["status"] == "skipped" and "account daily cap" in second["error"]


def test_the_log_holds_the_account_cap_at_exactly_the_cap(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    budgets = _budgets(sql)
    _observe(db, {n: START for n, _ in budgets})
    sql.execute(
        "update orchestration_settings set account_daily_cap = %s",
        ((len(budgets) * START + 5_000_000) / 1e6,),
    )
    run = _run(db)
    first, second = _log(
        db, run, [_change(budgets[0][0], 55_000_000), _change(budgets[1][0], 50_010_000)]
    )
    assert first["status"] == "pending"  # the day's budgets sum to exactly the cap
    assert second["status"] == "skipped" and "account daily cap" in second["error"]  # 1 cent over


def test_the_claim_holds_the_account_cap_at_exactly_the_cap(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    budgets = _budgets(sql)
    _observe(db, {n: START for n, _ in budgets})
    sql.execute(
        "update orchestration_settings set account_daily_cap = %s",
        ((len(budgets) * START + 5_000_000) / 1e6,),
    )
    run = _run(db)
    # Logged one at a time, each fits (a pending raise is not counted until claimed); the
    # claim is the gate that counts them together.
    [first] = _log(db, run, [_change(budgets[0][0], 55_000_000)])
    [second] = _log(db, run, [_change(budgets[1][0], 50_010_000)])
    assert first["status"] == second["status"] == "pending"
    claimed = _claim(db, run, [first["id"], second["id"]])
    assert [(r["id"], r["status"]) for r in claimed] == [
        (first["id"], "sent"),  # total == cap: allowed
        (second["id"], "skipped"),  # one cent over: refused
    ]
    assert "account daily cap" in claimed[1]["error"]


def test_the_cap_counts_budgets_of_inactive_segments(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    budgets = _budgets(sql)
    _observe(db, {n: START for n, _ in budgets})
    sql.execute(
        "update orchestration_settings set account_daily_cap = %s",
        ((len(budgets) * START + 5_000_000) / 1e6,),
    )
    sql.execute("update lead_segments set is_active = false where id = %s", (budgets[-1][1],))
    run = _run(db)
    [row] = _send(db, run, [_change(budgets[0][0], 60_000_000)])  # +10: 5 over the cap
    assert row["status"] == "skipped" and "account daily cap" in row["error"]


def test_live_rollback_restores_what_it_can_and_skips_the_rest_with_a_reason(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    budgets = _budgets(sql)[:3]
    _observe(db, {n: START for n, _ in budgets})
    run = _run(db)
    rows = _send(db, run, [_change(n, 55_000_000) for n, _ in budgets])
    assert [r["status"] for r in rows] == ["sent"] * 3
    db.rpc("finish_job_run", {"p_run_id": run, "p_status": "success"}, caller=SERVICE)
    # The first segment's bounds were tightened after the change: 50 is now below its minimum.
    sql.execute("update lead_segments set min_daily_budget = 52 where id = %s", (budgets[0][1],))
    back = _run(db, "rollback")
    restored = [
        {
            "budget_resource_name": n,
            "action": "decrease",
            "new_amount_micros": START,
            "reason": "rollback",
        }
        for n, _ in budgets
    ]
    logged = _log(db, back, restored, kind="rollback")
    assert [r["status"] for r in logged] == ["skipped", "pending", "pending"]
    assert "outside the segment's bounds" in logged[0]["error"]
    claimed = _claim(db, back, [r["id"] for r in logged if r["status"] == "pending"])
    assert [r["status"] for r in claimed] == ["sent", "sent"]
    (alerts,) = sql.execute(
        "select count(*) from public.alert_candidates(%s) where kind = 'rollback_skipped'", (DAY,)
    ).fetchone()
    assert alerts == 1


def test_a_finished_or_taken_over_run_is_never_revived(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    run = _run(db)
    db.rpc(
        "finish_job_run", {"p_run_id": run, "p_status": "failed", "p_error": "x"}, caller=SERVICE
    )
    with sql.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(sql, None, "service_role")
        sql.execute("update job_runs set status = 'running', finished_at = null, error = null")
    # Not even the owner: the table only moves forward.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="never runs or changes again"):
        sql.execute(
            "update job_runs set status = 'running', finished_at = null, error = null "
            "where id = %s",
            (run,),
        )
    assert db.rpc("heartbeat_job_run", {"p_run_id": run}, caller=SERVICE) is False
    with pytest.raises(RpcError) as fenced:
        _log(db, run, [])
    assert fenced.value.code == "PT409"


def test_a_run_silent_past_its_lease_claims_nothing_even_before_a_takeover(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (name, _), *_ = _budgets(sql)
    _observe(db, {name: START})
    run = _run(db)
    [row] = _log(db, run, [_change(name, 55_000_000)])
    sql.execute(
        "update job_runs set heartbeat_at = now() - private.job_lease() - interval '1 second' "
        "where id = %s",
        (run,),
    )
    with pytest.raises(RpcError) as fenced:
        _claim(db, run, [row["id"]])
    assert fenced.value.code == "PT409" and "no heartbeat" in fenced.value.message


# --------------------------------------------------------------------------- isolation


@pytest.mark.parametrize("isolation", ["read committed", "repeatable read", "serializable"])
def test_concurrent_claims_keep_the_cap_at_every_isolation_level(
    db_url: str, db: Database, sql: psycopg.Connection[Any], isolation: str
) -> None:
    """Eight runs claim raises at once, each in its own transaction at `isolation`; a
    serialization failure (40001) is retried, as a client must. The cap holds."""
    budgets = _budgets(sql)[:8]
    everyone = _budgets(sql)
    _observe(db, {n: START for n, _ in everyone})
    cap = len(everyone) * START + 12_000_000  # room for two raises of 5 euro, not three
    sql.execute("update orchestration_settings set account_daily_cap = %s", (cap / 1e6,))
    work = []
    for index, (name, _) in enumerate(budgets):
        run = str(
            db.rpc(
                "start_job_run",
                {"p_job": "orchestrate", "p_day": f"2026-11-{10 + index}", "p_triggered_by": "t"},
                caller=SERVICE,
            )
        )
        [row] = _log(db, run, [_change(name, 55_000_000)])
        work.append((run, row["id"]))
    barrier = threading.Barrier(len(work))
    results: list[str] = []

    def claim(run: str, log_id: int) -> None:
        with psycopg.connect(db_url) as conn:
            barrier.wait()
            for _ in range(50):
                try:
                    with conn.transaction():
                        conn.execute(f"set transaction isolation level {isolation}")
                        as_user(conn, None, "service_role")
                        conn.execute("select 1")  # the snapshot is taken before the claim
                        status = conn.execute(
                            "select status from public.claim_budget_decisions(%s, %s)",
                            (run, [log_id]),
                        ).fetchone()
                    results.append(status[0] if status else "none")
                    return
                except psycopg.errors.SerializationFailure:
                    continue
            results.append("gave up")

    threads = [threading.Thread(target=claim, args=w) for w in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["sent", "sent"] + ["skipped"] * 6
    (standing,) = sql.execute(
        "select sum(amount_micros) from private.budget_standing_amounts()"
    ).fetchone()
    assert standing <= cap


# --------------------------------------------------------------------------- per channel

MICROSOFT = "accounts/5550001/budgets/777"
MICROSOFT_2 = "accounts/5550001/budgets/778"


def _map_microsoft(sql: psycopg.Connection[Any], segment: str, *names: str) -> None:
    """Map Microsoft Advertising budgets (account 5550001) to `segment`, as an admin would."""
    for name in names:
        sql.execute(
            "insert into segment_campaign_budgets"
            " (segment_id, channel, customer_id, campaign_id, budget_resource_name)"
            " values (%s, 'microsoft_ads', '5550001', %s, %s)",
            (segment, name.rsplit("/", 1)[1], name),
        )


def _set_channel(sql: psycopg.Connection[Any], change: str) -> None:
    """As the owner, in the SQL editor: a money rule of the Microsoft Advertising channel."""
    sql.execute(f"update public.ad_channels set {change} where key = 'microsoft_ads'")


def test_a_microsoft_budget_is_mapped_only_by_microsoft_names(
    sql: psycopg.Connection[Any],
) -> None:
    (_, seg), *_ = _budgets(sql)
    _map_microsoft(sql, seg, MICROSOFT)
    for channel, customer, name in [
        ("microsoft_ads", "5550001", "customers/5550001000/campaignBudgets/1"),
        ("google_ads", "5550001", "accounts/5550001/budgets/779"),
        ("microsoft_ads", "55-1", "accounts/55-1/budgets/780"),
        ("seo", "5550001", "accounts/5550001/budgets/781"),
        ("microsoft_ads", "5550002", "accounts/5550001/budgets/782"),  # another account
    ]:
        with pytest.raises(psycopg.errors.CheckViolation):
            sql.execute(
                "insert into segment_campaign_budgets"
                " (segment_id, channel, customer_id, campaign_id, budget_resource_name)"
                " values (%s, %s, %s, '1', %s)",
                (seg, channel, customer, name),
            )


def test_a_channels_kill_switch_stops_its_budgets_and_no_other(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (google, seg), *_ = _budgets(sql)
    _map_microsoft(sql, seg, MICROSOFT)
    _observe(db, {google: START, MICROSOFT: START})
    _set_channel(sql, "kill_switch = true")
    run = _run(db)
    microsoft, other = _send(db, run, [_change(MICROSOFT, 55_000_000), _change(google, 55_000_000)])
    assert microsoft["status"] == "skipped"
    assert microsoft["error"] == "the kill switch of Microsoft Advertising is on: not sent"
    assert other["status"] == "sent", other
    (channel,) = sql.execute(
        "select channel from channel_orchestration_log where id = %s", (microsoft["id"],)
    ).fetchone()
    assert channel == "microsoft_ads"
    # Off again: the channel's budget goes (the first change of its day).
    _set_channel(sql, "kill_switch = false")
    [again] = _send(db, _run(db, "rollback"), [_change(MICROSOFT, 55_000_000)])
    assert again["status"] == "sent", again


def test_the_claim_re_reads_the_channels_kill_switch(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (google, seg), *_ = _budgets(sql)
    _map_microsoft(sql, seg, MICROSOFT)
    _observe(db, {google: START, MICROSOFT: START})
    run = _run(db)
    logged = _log(db, run, [_change(MICROSOFT, 55_000_000), _change(google, 55_000_000)])
    assert [r["status"] for r in logged] == ["pending", "pending"]
    _set_channel(sql, "kill_switch = true")
    microsoft, other = _claim(db, run, [r["id"] for r in logged])
    assert microsoft["status"] == "skipped"
    assert microsoft["error"] == "the kill switch of Microsoft Advertising is on: not sent"
    assert other["status"] == "sent", other


def test_only_the_owner_flips_a_channels_kill_switch_or_cap(sql: psycopg.Connection[Any]) -> None:
    """As the global switch: set in the SQL editor, never through the API (not even by an admin)."""
    for user, role in ((None, "service_role"), (None, "anon"), (ADMIN_ID, "authenticated")):
        with sql.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_user(sql, user, role)
            _set_channel(sql, "kill_switch = false, daily_cap = null")
    _set_channel(sql, "kill_switch = true, daily_cap = 80")
    assert sql.execute(
        "select kill_switch, daily_cap from public.paid_channels() where key = 'microsoft_ads'"
    ).fetchone() == (True, 80)
    # An organic channel has no switch nor cap to set; no channel is ever deleted.
    with pytest.raises(psycopg.errors.CheckViolation):
        sql.execute("update public.ad_channels set kill_switch = true where key = 'seo'")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="cannot be deleted"):
        sql.execute("delete from public.ad_channels where key = 'microsoft_ads'")


def _cap_microsoft(sql: psycopg.Connection[Any]) -> None:
    """Room on Microsoft Advertising for exactly one raise of 5 euro (its two budgets at 50)."""
    _set_channel(sql, f"daily_cap = {(2 * START + 5_000_000) / 1e6}")


def test_the_log_holds_a_channels_cap_at_exactly_the_cap(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (google, seg), *_ = _budgets(sql)
    _map_microsoft(sql, seg, MICROSOFT, MICROSOFT_2)
    _observe(db, {google: START, MICROSOFT: START, MICROSOFT_2: START})
    _cap_microsoft(sql)
    run = _run(db)
    first, second, other = _log(
        db,
        run,
        [
            _change(MICROSOFT, 55_000_000),
            _change(MICROSOFT_2, 50_010_000),
            _change(google, 60_000_000),  # another channel: not counted against the cap
        ],
    )
    assert first["status"] == "pending"  # the channel's budgets sum to exactly its cap
    assert second["status"] == "skipped"  # one cent over
    assert "over that channel's daily cap of 105000000 micros" in second["error"], second
    assert "microsoft_ads" in second["error"]
    assert other["status"] == "pending", other


def test_the_claim_holds_a_channels_cap_at_exactly_the_cap(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (google, seg), *_ = _budgets(sql)
    _map_microsoft(sql, seg, MICROSOFT, MICROSOFT_2)
    _observe(db, {google: START, MICROSOFT: START, MICROSOFT_2: START})
    _cap_microsoft(sql)
    run = _run(db)
    # Logged one at a time, each fits; the claim counts them together.
    [first] = _log(db, run, [_change(MICROSOFT, 55_000_000)])
    [second] = _log(db, run, [_change(MICROSOFT_2, 50_010_000)])
    [other] = _log(db, run, [_change(google, 60_000_000)])
    assert first["status"] == second["status"] == other["status"] == "pending"
    claimed = _claim(db, run, [first["id"], second["id"], other["id"]])
    assert [(r["id"], r["status"]) for r in claimed] == [
        (first["id"], "sent"),  # the channel's total == its cap: allowed
        (second["id"], "skipped"),  # one cent over: refused
        (other["id"], "sent"),  # Google Ads has no channel cap
    ]
    assert "over that channel's daily cap" in claimed[1]["error"]


def test_a_channels_cap_lowered_after_the_decision_holds_at_the_claim(
    db: Database, sql: psycopg.Connection[Any]
) -> None:
    (google, seg), *_ = _budgets(sql)
    _map_microsoft(sql, seg, MICROSOFT)
    _observe(db, {google: START, MICROSOFT: START})
    run = _run(db)
    logged = _log(db, run, [_change(MICROSOFT, 55_000_000), _change(google, 55_000_000)])
    assert [r["status"] for r in logged] == ["pending", "pending"]
    _set_channel(sql, f"daily_cap = {(START + 4_990_000) / 1e6}")
    microsoft, other = _claim(db, run, [r["id"] for r in logged])
    assert microsoft["status"] == "skipped" and "channel's daily cap" in microsoft["error"]
    assert other["status"] == "sent", other
