"""A property-based adversary: the service-role key in the wrong hands, against the money
functions, with arbitrary arguments and order (issue 21).

Hypothesis drives a state machine. The attacker (any key, any run id it can read) calls
the functions PostgREST exposes to the service role: starts, beats and finishes runs,
logs arbitrary decisions (any budget, amount, action, kind, mode, old amount, segment),
claims arbitrary rows, completes arbitrary rows with lies, reports false budgets. An
admin flips the kill switches (global and Microsoft Advertising's), sets the account
cap and the channel's cap and tightens bounds; days pass and leases run out. The budgets
are on both channels (Google Ads and Microsoft Advertising). Beside it runs an honest job whose controller may be buggy (its
decisions are arbitrary too): it reads Google Ads, logs, claims, sends exactly what its
claim returned, and reports the truth.

Google Ads is a dict here: the truth. After every step the invariants are checked
against it, not against the database:
- every amount sent on an Amsterdam day is within ±20 % of what the budget held when that
  day began, and within the segment's bounds at the moment of the claim;
- nothing is sent while the kill switch or the budget's channel's is on;
- a raise never takes the mapped budgets' sum over the account cap, nor its channel's
  budgets' sum over the channel's cap;
- no log row is sent twice; no budget gets two adjustments (or two rollbacks) in a day.

The examples are derandomized: CI runs the same ones every time
(LEADFLOW_ADVERSARY_EXAMPLES raises their number locally).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from conftest import SEEDED_TEMPLATE, PgCluster
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)
from leadflow.db import Caller, Database, RpcError
from leadflow.db.direct import DirectTransport

SERVICE = Caller.service()
DAY = date(2026, 11, 23)
START = 50_000_000
UNMAPPED = "customers/1234567890/campaignBudgets/999999"
EXAMPLES = int(os.environ.get("LEADFLOW_ADVERSARY_EXAMPLES", "30"))

cents = st.integers(0, 20_000).map(lambda c: c * 10_000)  # 0 .. 200 euro
any_micros = st.one_of(cents, cents, st.integers(0, 200_000_000))  # sometimes not cents


@dataclass
class Sent:
    """One change Google Ads applied."""

    log_id: int
    day: date
    budget: str
    kind: str
    before: int
    after: int
    day_start: int
    low: int
    high: int
    kill_switch_on: bool
    cap: int | None
    total_after: int
    channel_kill_switch_on: bool
    channel_cap: int | None
    channel_total_after: int


@pytest.fixture(scope="module")
def adversary_template(pg_cluster: PgCluster) -> Iterator[str]:
    name = pg_cluster.create(SEEDED_TEMPLATE)
    url = pg_cluster.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into private.clock (id, today) values (true, %s)", (DAY,))
        # Both channels: two Microsoft Advertising budgets (a shared one and a campaign's
        # own) beside the seed's Google Ads budgets; they sort first, so both channels are
        # among the budgets the attacker aims at.
        conn.execute(
            "insert into segment_campaign_budgets"
            " (segment_id, channel, customer_id, campaign_id, budget_resource_name)"
            " select s.id, 'microsoft_ads', '5550001', (9000 + s.n)::text, case s.n"
            "   when 1 then 'accounts/5550001/budgets/9001'"
            "   else 'accounts/5550001/campaigns/9002/budget' end"
            " from (select id, row_number() over (order by code) as n from lead_segments) s"
            " where s.n <= 2"
        )
        budgets = [
            r[0] for r in conn.execute("select budget_resource_name from segment_campaign_budgets")
        ]
    db = Database(DirectTransport(url, max_size=1))
    try:
        db.rpc(
            "record_budget_observations",
            {"p_observed": [{"budget_resource_name": b, "amount_micros": START} for b in budgets]},
            caller=SERVICE,
        )
    finally:
        db.close()
    yield name
    pg_cluster.drop(name)


def _channel(budget: str) -> str:
    return "microsoft_ads" if budget.startswith("accounts/") else "google_ads"


class Adversary(RuleBasedStateMachine):
    """See the module's docstring. One fresh database per example."""

    cluster: PgCluster
    template: str

    runs = Bundle("runs")
    honest_runs = Bundle("honest_runs")
    rows = Bundle("rows")

    @initialize()
    def fresh_database(self) -> None:
        self.name = self.cluster.create(self.template)
        self.url = self.cluster.url(self.name)
        self.sql = psycopg.connect(self.url, autocommit=True)
        self.db = Database(DirectTransport(self.url, max_size=1))
        self.today = DAY
        mapped = self.sql.execute(
            "select budget_resource_name from segment_campaign_budgets order by 1"
        ).fetchall()
        self.mapped = [r[0] for r in mapped][:4]
        self.all_mapped = [r[0] for r in mapped]
        self.google = dict.fromkeys(self.all_mapped, START)
        self.day_start: dict[tuple[date, str], int] = {}
        self.sent: list[Sent] = []
        self.honest: dict[str, list[int]] = {}  # honest run -> its logged ids

    def teardown(self) -> None:
        import sys

        sent = getattr(self, "sent", [])
        print(
            "SENT",
            len(sent),
            sum(_channel(x.budget) == "microsoft_ads" for x in sent),
            file=sys.stderr,
        )
        if hasattr(self, "db"):
            self.db.close()
            self.sql.close()
            self.cluster.drop(self.name)

    # ------------------------------------------------------------------ helpers

    def _rpc(self, name: str, args: dict[str, Any]) -> Any:
        """A call that the database may refuse: a refusal is an answer, never a failure."""
        try:
            return self.db.rpc(name, args, caller=SERVICE)
        except RpcError as exc:
            assert exc.status < 500 or exc.code in {"40001", "40P01"}, exc  # no crash
            return None

    def _budget(self, index: int) -> str:
        return [*self.mapped, UNMAPPED][index % (len(self.mapped) + 1)]

    def _decision(self, draw: tuple[Any, ...]) -> dict[str, Any]:
        index, action, amount, old, gap, segment = draw
        budget = self._budget(index)
        # An amount near the budget's edges of the day (factor), or any amount at all.
        current = self.google.get(budget, START)
        new = round(current * amount) // 10_000 * 10_000 if isinstance(amount, float) else amount
        direction = 1 if new >= current else -1
        decision: dict[str, Any] = {
            "budget_resource_name": budget,
            "action": action
            if action != "agree"
            else ("increase" if direction > 0 else "decrease"),
            "new_amount_micros": new,
            "expected_gap": {"agree": direction, "against": -direction, "none": None}[gap],
            "reason": "adversary",
        }
        if old is not None:
            decision["old_amount_micros"] = old
        if segment is not None:
            decision["segment_id"] = segment
        return decision

    # ------------------------------------------------------------------ the attacker

    @rule(
        target=runs,
        job=st.sampled_from(["orchestrate", "rollback", "plan"]),
        back=st.integers(0, 2),
    )
    def start_run(self, job: str, back: int) -> Any:
        run = self._rpc(
            "start_job_run",
            {
                "p_job": job,
                "p_day": (self.today - timedelta(days=back)).isoformat(),
                "p_triggered_by": "x",
            },
        )
        return str(run) if run else multiple()

    decisions = st.lists(
        st.tuples(
            st.integers(0, 4),
            st.sampled_from(["agree", "agree", "agree", "increase", "decrease", "hold", "bogus"]),
            st.one_of(
                st.sampled_from([0.5, 0.79, 0.8, 0.81, 0.9, 1.1, 1.19, 1.2, 1.21, 1.25, 2.0, 10.0]),
                any_micros,
            ),
            st.one_of(st.none(), cents),
            st.sampled_from(["agree", "agree", "agree", "against", "none"]),
            st.one_of(st.none(), st.just("00000000-0000-4000-8002-000000000011")),
        ),
        min_size=1,
        max_size=3,
    )

    # A buggy controller: mostly plausible steps around the day's limit, sometimes wild.
    honest_decisions = st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["agree", "agree", "agree", "agree", "hold", "increase"]),
            st.sampled_from(
                [0.7, 0.79, 0.8, 0.81, 0.9, 0.95, 1.05, 1.1, 1.19, 1.2, 1.21, 1.3, 3.0]
            ),
            st.one_of(st.none(), cents),
            st.sampled_from(["agree", "agree", "agree", "agree", "against"]),
            st.none(),
        ),
        min_size=1,
        max_size=4,
    )

    @rule(
        target=rows,
        run=runs,
        decisions=decisions,
        kind=st.sampled_from(["adjust", "adjust", "rollback"]),
        mode=st.sampled_from(["live", "live", "validate_only", "dry_run"]),
    )
    def log(self, run: str, decisions: list[Any], kind: str, mode: str) -> Any:
        logged = self._rpc(
            "log_budget_decisions",
            {
                "p_run_id": run,
                "p_day": self.today.isoformat(),
                "p_kind": kind,
                "p_mode": mode,
                "p_triggered_by": "x",
                "p_decisions": [self._decision(d) for d in decisions],
            },
        )
        return multiple(*[(run, r["id"]) for r in logged or []])

    @rule(row=rows)
    def claim_as_attacker(self, row: tuple[str, int]) -> None:
        # Claimed, but the attacker has no Google Ads credentials: nothing is applied. The
        # claim still changes what the database believes (sent, in doubt).
        self._rpc("claim_budget_decisions", {"p_run_id": row[0], "p_ids": [row[1]]})

    @rule(run=st.one_of(runs, honest_runs))
    def claim_everything_pending(self, run: str) -> None:
        """Rows are readable: the attacker claims every pending row of a run, honest or not."""
        ids = [
            r[0]
            for r in self.sql.execute(
                "select id from channel_orchestration_log where run_id = %s and status = 'pending'",
                (run,),
            )
        ]
        if ids:
            self._rpc("claim_budget_decisions", {"p_run_id": run, "p_ids": ids})

    @rule(row=rows, status=st.sampled_from(["success", "failed", "unknown"]))
    def complete_with_a_lie(self, row: tuple[str, int], status: str) -> None:
        self._rpc(
            "complete_budget_decisions",
            {"p_run_id": row[0], "p_results": [{"id": row[1], "status": status, "error": "lie"}]},
        )

    @rule(index=st.integers(0, 3), amount=cents)
    def report_a_false_budget(self, index: int, amount: int) -> None:
        self._rpc(
            "record_budget_observations",
            {"p_observed": [{"budget_resource_name": self.mapped[index], "amount_micros": amount}]},
        )

    @rule(run=st.one_of(runs, honest_runs), status=st.sampled_from(["success", "failed"]))
    def finish(self, run: str, status: str) -> None:
        self._rpc("finish_job_run", {"p_run_id": run, "p_status": status, "p_error": "x"})

    @rule(run=runs)
    def heartbeat(self, run: str) -> None:
        self._rpc("heartbeat_job_run", {"p_run_id": run})

    @rule(run=runs)
    def reconcile_with_a_lie(self, run: str) -> None:
        self._rpc(
            "reconcile_budget_decisions",
            {
                "p_run_id": run,
                "p_observed": [
                    {"budget_resource_name": b, "amount_micros": 1_230_000} for b in self.mapped
                ],
            },
        )

    # ------------------------------------------------------------------ the admin and time

    @rule(on=st.booleans())
    def kill_switch(self, on: bool) -> None:
        self.sql.execute("update orchestration_settings set changes_enabled = %s", (not on,))

    @rule(room=st.one_of(st.none(), st.integers(0, 40).map(lambda e: e * 1_000_000)))
    def account_cap(self, room: int | None) -> None:
        cap = None if room is None else (sum(self.google.values()) + room) / 1e6
        self.sql.execute("update orchestration_settings set account_daily_cap = %s", (cap,))

    @rule(on=st.booleans())
    def microsoft_kill_switch(self, on: bool) -> None:
        self.sql.execute(
            "update ad_channels set kill_switch = %s where key = 'microsoft_ads'", (on,)
        )

    @rule(room=st.one_of(st.none(), st.integers(0, 20).map(lambda e: e * 1_000_000)))
    def microsoft_cap(self, room: int | None) -> None:
        cap = None if room is None else (self._channel_total("microsoft_ads") + room) / 1e6
        self.sql.execute(
            "update ad_channels set daily_cap = %s where key = 'microsoft_ads'", (cap,)
        )

    def _channel_total(self, channel: str) -> int:
        return sum(a for b, a in self.google.items() if _channel(b) == channel)

    @rule(index=st.integers(0, 3), low=st.integers(10, 60), span=st.integers(0, 100))
    def bounds(self, index: int, low: int, span: int) -> None:
        self.sql.execute(
            "update lead_segments set min_daily_budget = %s, max_daily_budget = %s "
            "where id = (select segment_id from segment_campaign_budgets where budget_resource_name = %s)",
            (low, low + span, self.mapped[index]),
        )

    @rule()
    def next_day(self) -> None:
        self.today += timedelta(days=1)
        self.sql.execute("update private.clock set today = %s", (self.today,))

    @rule()
    def leases_run_out(self) -> None:
        with self.sql.transaction():
            self.sql.execute("set local session_replication_role = replica")
            self.sql.execute(
                "update job_runs set heartbeat_at = heartbeat_at - interval '40 minutes' "
                "where status = 'running'"
            )
            self.sql.execute(
                "update channel_orchestration_log set claimed_at = claimed_at - interval '40 minutes' "
                "where claimed_at is not null"
            )

    # ------------------------------------------------------------------ the honest job

    @rule(
        target=honest_runs, decisions=honest_decisions, kind=st.sampled_from(["adjust", "rollback"])
    )
    def honest_read_and_log(self, decisions: list[Any], kind: str) -> Any:
        """Reads Google Ads (the truth) first, as every run does, then logs its decisions."""
        run = self._rpc(
            "start_job_run",
            {
                "p_job": kind if kind == "rollback" else "orchestrate",
                "p_day": self.today.isoformat(),
                "p_triggered_by": "honest",
            },
        )
        if not run:
            return multiple()
        run = str(run)
        self._rpc(
            "record_budget_observations",
            {
                "p_observed": [
                    {"budget_resource_name": b, "amount_micros": a} for b, a in self.google.items()
                ]
            },
        )
        logged = self._rpc(
            "log_budget_decisions",
            {
                "p_run_id": run,
                "p_day": self.today.isoformat(),
                "p_kind": kind,
                "p_mode": "live",
                "p_triggered_by": "honest",
                "p_decisions": [self._decision(d) for d in decisions],
            },
        )
        self.honest[run] = [r["id"] for r in logged or [] if r["status"] == "pending"]
        return run

    @rule(decisions=honest_decisions)
    def honest_run_whole(self, decisions: list[Any]) -> None:
        """A whole honest run at once: read, log, claim, send, report."""
        run = self.honest_read_and_log(decisions, "adjust")
        if isinstance(run, str):
            self.honest_claim_and_send(run)

    @rule(run=honest_runs)
    def honest_claim_and_send(self, run: str) -> None:
        """Sends exactly what its claim returned as sent: Google Ads applies it."""
        ids = self.honest.get(run)
        if not ids:
            return
        claimed = self._rpc("claim_budget_decisions", {"p_run_id": run, "p_ids": ids}) or []
        settings_row = self.sql.execute(
            "select changes_enabled, account_daily_cap from orchestration_settings"
        ).fetchone()
        channel_rules = {
            key: (killed, cap)
            for key, killed, cap in self.sql.execute(
                "select key, kill_switch, daily_cap from ad_channels where is_paid"
            )
        }
        for row in claimed:
            if row["status"] != "sent":
                continue
            budget, after = row["budget_resource_name"], int(row["new_amount_micros"])
            kind, low, high = self.sql.execute(
                "select l.kind, round(s.min_daily_budget * 1000000)::bigint, "
                "round(s.max_daily_budget * 1000000)::bigint from channel_orchestration_log l "
                "join lead_segments s on s.id = l.segment_id where l.id = %s",
                (row["id"],),
            ).fetchone()
            before = self.google[budget]
            start = self.day_start.setdefault((self.today, budget), before)
            self.google[budget] = after
            self.sent.append(
                Sent(
                    log_id=row["id"],
                    day=self.today,
                    budget=budget,
                    kind=kind,
                    before=before,
                    after=after,
                    day_start=start,
                    low=low,
                    high=high,
                    kill_switch_on=not settings_row[0],
                    cap=None if settings_row[1] is None else round(settings_row[1] * 1_000_000),
                    total_after=sum(self.google.values()),
                    channel_kill_switch_on=channel_rules[_channel(budget)][0],
                    channel_cap=None
                    if channel_rules[_channel(budget)][1] is None
                    else round(channel_rules[_channel(budget)][1] * 1_000_000),
                    channel_total_after=self._channel_total(_channel(budget)),
                )
            )
        self.honest[run] = []
        # The truth, unless the attacker answered first.
        self._rpc(
            "complete_budget_decisions",
            {
                "p_run_id": run,
                "p_results": [
                    {"id": r["id"], "status": "success"} for r in claimed if r["status"] == "sent"
                ],
            },
        )

    # ------------------------------------------------------------------ the promises

    @invariant()
    def every_sent_amount_keeps_the_promises(self) -> None:
        for s in getattr(self, "sent", []):
            assert abs(s.after - s.day_start) <= s.day_start * 0.2, s
            assert s.low <= s.after <= s.high, s
            assert not s.kill_switch_on, s
            assert not s.channel_kill_switch_on, s
            if s.cap is not None and s.after > s.before:
                assert s.total_after <= s.cap, s
            if s.channel_cap is not None and s.after > s.before:
                assert s.channel_total_after <= s.channel_cap, s

    @invariant()
    def nothing_is_sent_twice(self) -> None:
        sent = getattr(self, "sent", [])
        assert len({s.log_id for s in sent}) == len(sent)
        per_day = [(s.day, s.budget, s.kind) for s in sent]
        assert len(set(per_day)) == len(per_day), per_day


def test_the_service_role_key_cannot_move_money_past_the_promises(
    pg_cluster: PgCluster, adversary_template: str
) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    Adversary.cluster = pg_cluster
    Adversary.template = adversary_template
    run_state_machine_as_test(
        Adversary,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
