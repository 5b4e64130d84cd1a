"""orchestrate(day): decide each budget, log it, then apply it — never twice.

Order of events for every budget, so that a crash at any point is safe:
1. the decision is written to `channel_orchestration_log` (pending, or skipped with why);
   the database refuses a change outside the segment's bounds, beyond the daily
   limit, a second live change of the same budget that day, or any change while
   the kill switch is on;
2. pending changes go to Google Ads in batches with partial failure on;
3. each row is completed as success or failed (with the error).
A run that died between 1 and 3 leaves pending rows; the next run of that day
reconciles them against Google Ads before deciding anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from leadflow.controller import ControllerConfig, Decision, SegmentSignal, decide
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.google_ads import BudgetChange, BudgetInfo, GoogleAdsGateway, QuotaExhausted
from leadflow.jobs.runs import job_run

log = logging.getLogger("leadflow")


class Mode(StrEnum):
    """How far a decision goes."""

    dry_run = "dry_run"  # logged only
    validate_only = "validate_only"  # sent to Google Ads for validation, not applied
    live = "live"  # applied


def resolve_mode(requested: Mode, *, credentials_configured: bool, live_enabled: bool) -> Mode:
    """The mode a run may use: live only with credentials and the explicit live switch."""
    if requested is Mode.dry_run:
        return requested
    if not credentials_configured:
        raise LeadflowError(
            f"mode {requested.value} needs Google Ads credentials; none are configured"
        )
    if requested is Mode.live and not live_enabled:
        raise LeadflowError(
            "mode live needs LEADFLOW_ORCHESTRATOR_LIVE=true; refusing to move money"
        )
    return requested


@dataclass(frozen=True)
class PlannedDecision:
    """A decision for one budget, ready for the audit log."""

    segment_id: str
    code: str
    customer_id: str
    campaign_id: str
    budget_resource_name: str
    decision: Decision

    def as_log_row(self) -> dict[str, Any]:
        """The JSON object `log_budget_decisions` takes."""
        d = self.decision
        return {
            "segment_id": self.segment_id,
            "customer_id": self.customer_id,
            "campaign_id": self.campaign_id,
            "budget_resource_name": self.budget_resource_name,
            "action": d.action,
            "old_amount_micros": d.old_budget_micros,
            "new_amount_micros": d.new_budget_micros,
            "lead_gap": None if d.gap is None else str(d.gap),
            "reason": d.reason,
        }


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _hold(old: int | None, reason: str) -> Decision:
    return Decision(
        action="hold", old_budget_micros=old, new_budget_micros=old, gap=None, reason=reason
    )


def plan_decisions(
    inputs: list[dict[str, Any]],
    budgets: dict[str, BudgetInfo],
    config: ControllerConfig,
) -> list[PlannedDecision]:
    """Turn the database's inputs and Google Ads' current budgets into decisions."""
    planned = []
    for row in inputs:
        name = row["budget_resource_name"]
        info = budgets.get(name)
        current = info.amount_micros if info else None
        if info is None:
            decision = _hold(None, "budget not found in Google Ads; nothing to change")
        elif info.skip_reason:
            decision = _hold(current, info.skip_reason)
        elif not row["has_plan"]:
            decision = _hold(current, "no plan for this day; run plan first")
        else:
            decision = decide(
                SegmentSignal(
                    current_budget_micros=current,
                    min_budget_micros=int(row["min_budget_micros"]),
                    max_budget_micros=int(row["max_budget_micros"]),
                    target_leads=_decimal(row["target_leads"]),
                    expected_leads=_decimal(row["expected_leads"]),
                    paid_leads=_decimal(row["paid_leads"]),
                    spend_micros=row["spend_micros"],
                    target_cpl_micros=row["target_cpl_micros"],
                    data_age_days=row["data_age_days"],
                    lost_impression_share_budget=row["lost_impression_share_budget"],
                ),
                config,
            )
        planned.append(
            PlannedDecision(
                segment_id=row["segment_id"],
                code=row["code"],
                customer_id=row["customer_id"],
                campaign_id=row["campaign_id"],
                budget_resource_name=name,
                decision=decision,
            )
        )
    return planned


def _reconcile(db: Database, caller: Caller, day: date, gateway: GoogleAdsGateway) -> int:
    """Complete rows a dead run left pending, from what Google Ads now holds."""
    pending = db.rpc("pending_budget_decisions", {"p_day": day.isoformat()}, caller=caller)
    if not pending:
        return 0
    current = gateway.current_budgets(sorted({row["budget_resource_name"] for row in pending}))
    results = []
    for row in pending:
        info = current.get(row["budget_resource_name"])
        if row["mode"] == "live" and info and info.amount_micros == row["new_amount_micros"]:
            results.append(
                {"id": row["id"], "status": "success", "error": "reconciled: found applied"}
            )
        else:
            results.append(
                {
                    "id": row["id"],
                    "status": "failed",
                    "error": "reconciled: the run stopped before this change was confirmed; "
                    "Google Ads does not hold it",
                }
            )
    return int(db.rpc("complete_budget_decisions", {"p_results": results}, caller=caller))


def _send(
    db: Database,
    caller: Caller,
    logged: list[dict[str, Any]],
    gateway: GoogleAdsGateway,
    planned: dict[str, PlannedDecision],
    mode: Mode,
) -> tuple[dict[int, str], str | None]:
    """Apply the pending rows; complete each. Returns status per log id and a stop reason."""
    pending = [row for row in logged if row["status"] == "pending"]
    statuses: dict[int, str] = {}
    if not pending:
        return statuses, None
    changes = [
        BudgetChange(
            key=row["id"],
            budget_resource_name=row["budget_resource_name"],
            new_amount_micros=int(
                planned[row["budget_resource_name"]].decision.new_budget_micros or 0
            ),
        )
        for row in pending
    ]
    stop = None
    try:
        results = list(gateway.apply_budgets(changes, validate_only=mode is Mode.validate_only))
        unanswered = "no result from Google Ads"
    except QuotaExhausted as exc:
        # What settled before the quota ran out counts; the rest was not applied.
        stop = unanswered = f"Google Ads daily quota exhausted: {exc}"
        results = list(exc.completed)
    for r in results:
        statuses[r.key] = r.status
    errors = {r.key: r.error or "failed without a message" for r in results if r.status == "failed"}
    for c in changes:
        if c.key not in statuses:
            statuses[c.key], errors[c.key] = "failed", unanswered
    completions = [
        {"id": key, "status": status, "error": errors.get(key)} for key, status in statuses.items()
    ]
    db.rpc("complete_budget_decisions", {"p_results": completions}, caller=caller)
    return statuses, stop


def orchestrate(
    db: Database,
    caller: Caller,
    day: date,
    gateway: GoogleAdsGateway,
    *,
    mode: Mode = Mode.dry_run,
    config: ControllerConfig | None = None,
    triggered_by: str = "cli",
) -> dict[str, Any]:
    """Decide, log and (per mode) apply every active mapped budget's change for `day`."""
    with job_run(db, caller, "orchestrate", day, triggered_by) as run:
        settings = db.rpc("orchestration_settings_get", caller=caller, read_only=True)[0]
        config = config or ControllerConfig(
            max_daily_change=min(
                Decimal(str(settings["max_daily_change"])), ControllerConfig().max_daily_change
            )
        )
        run.counts["mode"] = mode.value
        run.counts["kill_switch"] = not settings["changes_enabled"]
        run.counts["reconciled"] = _reconcile(db, caller, day, gateway)

        inputs = db.rpc("orchestration_inputs", {"p_day": day.isoformat()}, caller=caller)
        budgets = gateway.current_budgets([row["budget_resource_name"] for row in inputs])
        planned = plan_decisions(inputs, budgets, config)
        logged = db.rpc(
            "log_budget_decisions",
            {
                "p_run_id": run.id,
                "p_day": day.isoformat(),
                "p_kind": "adjust",
                "p_mode": mode.value,
                "p_triggered_by": triggered_by,
                "p_decisions": [p.as_log_row() for p in planned],
            },
            caller=caller,
        )
        by_budget = {p.budget_resource_name: p for p in planned}
        statuses, stop = _send(db, caller, logged, gateway, by_budget, mode)
        outcome = _plan_outcomes(planned, logged, statuses)
        db.rpc(
            "record_plan_orchestration",
            {"p_day": day.isoformat(), "p_outcomes": outcome},
            caller=caller,
        )
        actions = Counter(p.decision.action for p in planned)
        final = Counter(statuses.get(row["id"], row["status"]) for row in logged)
        run.counts.update(
            {
                "budgets": len(planned),
                "increase": actions["increase"],
                "decrease": actions["decrease"],
                "hold": actions["hold"],
                "applied": final["success"] if mode is Mode.live else 0,
                "validated": final["success"] if mode is Mode.validate_only else 0,
                "failed": final["failed"],
                "skipped": final["skipped"],
            }
        )
        if stop:
            raise LeadflowError(stop)
    return run.counts


def _plan_outcomes(
    planned: list[PlannedDecision], logged: list[dict[str, Any]], statuses: dict[int, str]
) -> list[dict[str, Any]]:
    status_of = {
        row["budget_resource_name"]: statuses.get(row["id"], row["status"]) for row in logged
    }
    per_segment: dict[str, dict[str, Any]] = {}
    for p in planned:
        entry = per_segment.setdefault(
            p.segment_id, {"segment_id": p.segment_id, "planned_budget_micros": 0, "statuses": []}
        )
        entry["planned_budget_micros"] += p.decision.new_budget_micros or 0
        entry["statuses"].append((p.decision.action, status_of.get(p.budget_resource_name)))
    outcomes = []
    for entry in per_segment.values():
        pairs = entry.pop("statuses")
        if any(status == "failed" for _, status in pairs):
            status = "failed"
        elif any(status == "success" for _, status in pairs):
            status = "orchestrated"
        elif all(action == "hold" for action, _ in pairs):
            status = "held"
        else:
            status = "skipped"
        outcomes.append({**entry, "status": status})
    return outcomes


def rollback(
    db: Database,
    caller: Caller,
    day: date,
    gateway: GoogleAdsGateway,
    *,
    mode: Mode = Mode.dry_run,
    triggered_by: str = "cli",
) -> dict[str, Any]:
    """Restore the budgets the log says were there before `day`'s live changes (itself logged)."""
    with job_run(db, caller, "rollback", day, triggered_by) as run:
        candidates = db.rpc("rollback_candidates", {"p_day": day.isoformat()}, caller=caller)
        current = gateway.current_budgets([c["budget_resource_name"] for c in candidates])
        planned = []
        for c in candidates:
            info = current.get(c["budget_resource_name"])
            old = info.amount_micros if info else None
            restore = int(c["restore_amount_micros"])
            if old is None:
                decision = _hold(None, "budget not found in Google Ads; cannot roll back")
            elif old == restore:
                decision = _hold(old, f"already at the amount before log #{c['log_id']}")
            else:
                decision = Decision(
                    action="increase" if restore > old else "decrease",
                    old_budget_micros=old,
                    new_budget_micros=restore,
                    gap=None,
                    reason=f"rollback of log #{c['log_id']}: restore {restore / 1e6:.2f} euro",
                )
            planned.append(
                PlannedDecision(
                    segment_id=c["segment_id"],
                    code="",
                    customer_id=c["customer_id"],
                    campaign_id=c["campaign_id"],
                    budget_resource_name=c["budget_resource_name"],
                    decision=decision,
                )
            )
        logged = db.rpc(
            "log_budget_decisions",
            {
                "p_run_id": run.id,
                "p_day": day.isoformat(),
                "p_kind": "rollback",
                "p_mode": mode.value,
                "p_triggered_by": triggered_by,
                "p_decisions": [p.as_log_row() for p in planned],
            },
            caller=caller,
        )
        statuses, stop = _send(
            db, caller, logged, gateway, {p.budget_resource_name: p for p in planned}, mode
        )
        final = Counter(statuses.get(row["id"], row["status"]) for row in logged)
        run.counts.update(
            {
                "mode": mode.value,
                "budgets": len(planned),
                "restored": final["success"],
                "failed": final["failed"],
                "skipped": final["skipped"],
            }
        )
        if stop:
            raise LeadflowError(stop)
    return run.counts
