"""A per-segment preview of orchestrate: the inputs, the estimate and the decision, written
nowhere."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from leadflow.channels.google_ads import GoogleAdsGateway
from leadflow.controller import MICROS_PER_UNIT
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.jobs.orchestrate import plan_decisions, run_settings


def _euro(micros: Any) -> float | None:
    return None if micros is None else round(int(micros) / MICROS_PER_UNIT, 2)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _two_decimals(value: Decimal | None) -> Decimal | None:
    return value.quantize(Decimal("0.01")) if value is not None and value.is_finite() else value


def preview_segment(
    db: Database, caller: Caller, day: date, gateway: GoogleAdsGateway, code: str
) -> dict[str, Any]:
    """What orchestrate would decide today for segment `code`, budget by budget, and why."""
    inputs = [
        row
        for row in db.rpc(
            "orchestration_inputs", {"p_day": day.isoformat()}, caller=caller, read_only=True
        )
        if row["code"] == code
    ]
    if not inputs:
        raise LeadflowError(
            f"segment {code!r} is unknown, inactive or has no active budget on a paid channel"
        )
    settings = run_settings(db, caller)
    budgets = gateway.current_budgets([row["budget_resource_name"] for row in inputs])
    budgets_out = []
    for row, planned in zip(inputs, plan_decisions(inputs, budgets, settings.config), strict=True):
        decision = planned.decision
        paid, spend = row["paid_leads"], row["spend_micros"]
        cpl = (
            round(int(spend) / float(paid) / MICROS_PER_UNIT, 2)
            if paid not in (None, 0) and spend is not None and float(paid) > 0
            else None
        )
        budgets_out.append(
            {
                "budget_resource_name": row["budget_resource_name"],
                "inputs": {
                    "has_plan": row["has_plan"],
                    "target_leads": _number(row["target_leads"]),
                    "expected_leads": _number(row["expected_leads"]),
                    "paid_leads": _number(paid),
                    "spend_euro": _euro(spend),
                    "data_age_days": row["data_age_days"],
                    "lost_impression_share_budget": _number(row["lost_impression_share_budget"]),
                    "min_budget_euro": _euro(row["min_budget_micros"]),
                    "max_budget_euro": _euro(row["max_budget_micros"]),
                    "target_cpl_euro": _euro(row["target_cpl_micros"]),
                    "current_budget_euro": _euro(decision.old_budget_micros),
                },
                "estimate": {
                    # Two decimals, as the audit log keeps it.
                    "expected_gap": _number(_two_decimals(decision.expected_gap)),
                    "recent_cpl_euro": cpl,
                },
                "decision": {
                    "action": decision.action,
                    "old_budget_euro": _euro(decision.old_budget_micros),
                    "new_budget_euro": _euro(decision.new_budget_micros),
                    "change_pct": _number(decision.change_pct),
                    "reason": decision.reason,
                },
            }
        )
    return {
        "segment": code,
        "day": day.isoformat(),
        "kill_switch": not settings.changes_enabled,
        "budgets": budgets_out,
    }
