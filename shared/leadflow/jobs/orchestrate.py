"""orchestrate(day): decide each budget, log it, then apply it — never twice.

Order of events for every budget, so that a crash or a takeover at any point is safe:
0. the run holds a lease (`job_runs`); every write below renews it, and once another
   run has taken it over the database refuses them all (the fencing);
1. rows that ended runs left open are reconciled against what each channel holds;
2. the decision is written to `channel_orchestration_log` (pending, or skipped with why);
   the database refuses a change outside the segment's bounds, beyond the daily
   limit of today's starting budget, against the gap, or a live change for another day;
3. per batch, pending rows are claimed (`sent`) in a transaction that re-reads the
   kill switches, the limit and the budgets in doubt; only claimed rows go to their
   channel (Google Ads, Microsoft Advertising, ...), within the send window of their claim;
4. each is completed as success, failed (refused) or unknown (no clear answer: the
   budget stays blocked until a later run reconciles it).
See docs/MONEY_SAFETY.md for what the database guarantees.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from leadflow.channels import (
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    ChannelGateway,
    QuotaExhausted,
    any_configured,
)
from leadflow.channels.router import as_channel_set
from leadflow.controller import (
    MICROS_PER_UNIT,
    ControllerConfig,
    Decision,
    SegmentSignal,
    decide,
    fit_account_cap,
)
from leadflow.controller.allocation import allocate, describe
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError
from leadflow.jobs.budget_view import remembering
from leadflow.jobs.runs import JobRun, check_live_day, fenced, job_run
from leadflow.log import logger
from leadflow.settings import Mode, Settings

#: What `log_budget_decisions` says of a dry-run row it would have accepted.
DRY_RUN_NOTE = "dry run: not sent to Google Ads"
#: How the database words a hold (`log_budget_decisions`): "hold: <reason>".
HOLD_PREFIX = "hold: "

#: Rows claimed and sent per batch: the kill switch and the lease are re-checked between.
SEND_BATCH = 200
#: Decisions logged per call: each row is judged by the database's rules (about 1-3 ms), so
#: a call stays well inside the 8 s statement timeout of Supabase's API roles at any size.
LOG_BATCH = 500
#: A claimed batch goes out within this of its claim, or not at all: with the gateway's retries
#: it then reaches Google Ads inside the database's send window (25 minutes, under the lease).
SEND_WITHIN_SECONDS = 60.0


def resolve_mode(requested: Mode, *, credentials_configured: bool, live_enabled: bool) -> Mode:
    """The mode a run may use: live only with credentials and the explicit live switch."""
    if requested is Mode.dry_run:
        return requested
    if not credentials_configured:
        raise LeadflowError(
            f"mode {requested.value} needs a channel's credentials (Google Ads or Microsoft "
            "Advertising); none are configured"
        )
    if requested is Mode.live and not live_enabled:
        raise LeadflowError(
            "mode live needs LEADFLOW_ORCHESTRATOR_LIVE=true; refusing to move money"
        )
    return requested


def configured_mode(settings: Settings, requested: Mode | None = None) -> Mode:
    """The mode a run may use: the requested one or the configured default, checked against
    the channels' credentials and the live switch of the one `Settings`."""
    return resolve_mode(
        requested or settings.orchestrator_mode,
        credentials_configured=any_configured(settings),
        live_enabled=settings.orchestrator_live,
    )


@dataclass(frozen=True)
class PlannedDecision:
    """A decision for one budget, ready for the audit log."""

    segment_id: str
    code: str
    channel: str
    customer_id: str
    campaign_id: str
    budget_resource_name: str
    decision: Decision
    inputs: dict[str, Any] | None = None
    """What the controller saw (signal and settings), kept on the log row; None: nothing."""

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
            "expected_gap": None if d.expected_gap is None else str(d.expected_gap),
            "inputs": self.inputs,
            "reason": d.reason,
        }


def _plain(value: Any) -> Any:
    """A JSON value for the audit: decimals as numbers (text when not finite)."""
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    return value


def _flat(value: SegmentSignal | ControllerConfig) -> dict[str, Any]:
    """A flat dataclass's fields as JSON values (what `dataclasses.asdict` gives, without its
    deep copies: 1 s of a 10,000-budget run)."""
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}


def decision_inputs(
    signal: SegmentSignal, settings: dict[str, Any], account_daily_cap_micros: int | None
) -> dict[str, Any]:
    """What the controller saw for one budget: its signal, the settings it decided with
    (the run's `ControllerConfig`, flattened once) and the account cap."""
    return {
        "signal": _flat(signal),
        "settings": settings,
        "account_daily_cap_micros": account_daily_cap_micros,
    }


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def plan_decisions(
    inputs: list[dict[str, Any]],
    budgets: dict[str, BudgetInfo],
    config: ControllerConfig,
    *,
    labels: dict[str, str] | None = None,
    unavailable: dict[str, str] | None = None,
) -> list[PlannedDecision]:
    """Turn the database's inputs and the channels' current budgets into decisions; with an
    account daily cap (`account_daily_cap_micros`), the raises are fitted under it.

    A segment with budgets on more than one channel first has its paid target split over
    them by marginal cost (`leadflow.controller.allocation`); each reason then says how.
    `labels` names the channels in reasons; `unavailable` says, per channel, why its
    budgets cannot be read (no credentials)."""
    planned = []
    signals: list[SegmentSignal] = []
    settings = _flat(config)
    labels = labels or {}
    inputs, shares = allocate(inputs, float(config.saturation_lost_share))
    for row in inputs:
        name = row["budget_resource_name"]
        channel = str(row.get("channel") or "google_ads")
        label = labels.get(channel, channel)
        info = budgets.get(name)
        current = info.amount_micros if info else None
        if info is None and (unavailable or {}).get(channel):
            decision = Decision.hold(None, f"{(unavailable or {})[channel]}; nothing to change")
        elif info is None:
            decision = Decision.hold(None, f"budget not found in {label}; nothing to change")
        elif info.skip_reason:
            decision = Decision.hold(current, info.skip_reason)
        elif not row["has_plan"]:
            decision = Decision.hold(current, "no plan for this day; run plan first")
        signal = SegmentSignal(
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
            lead_value_micros=row.get("lead_value_micros"),
            acceptance_rate=_decimal(row.get("acceptance_rate")),
            min_margin=_decimal(row.get("min_margin")),
            lead_elasticity=_decimal(row.get("lead_elasticity")),
            lead_elasticity_sd=_decimal(row.get("lead_elasticity_sd")),
            day_factor=_decimal(row.get("day_factor")),
            organic_leads=_decimal(row.get("organic_leads")),
        )
        audit = decision_inputs(signal, settings, row.get("account_daily_cap_micros"))
        if info is not None and not info.skip_reason and row["has_plan"]:
            decision = decide(signal, config)
            split_ = shares.get(str(row["segment_id"]))
            if split_ is not None:
                why = describe(channel, split_, labels)
                decision = dataclasses.replace(decision, reason=f"{decision.reason} {why}")
        if row.get("channel_target_paid_leads") is not None:
            audit["channel_target_paid_leads"] = row["channel_target_paid_leads"]
        elif row.get("expected_paid_leads") is not None and row.get("target_leads") is not None:
            # One channel: it carries the segment's whole paid target.
            audit["channel_target_paid_leads"] = _plain(
                max(
                    Decimal(0),
                    Decimal(str(row["target_leads"]))
                    - Decimal(str(row["expected_leads"]))
                    + Decimal(str(row["expected_paid_leads"])),
                )
            )
        signals.append(signal)
        planned.append(
            PlannedDecision(
                segment_id=row["segment_id"],
                code=row["code"],
                channel=channel,
                customer_id=row["customer_id"],
                campaign_id=row["campaign_id"],
                budget_resource_name=name,
                decision=decision,
                inputs=audit,
            )
        )
    caps = [
        int(row["account_daily_cap_micros"])
        for row in inputs
        if row.get("account_daily_cap_micros")
    ]
    if caps:
        fitted = fit_account_cap(signals, [p.decision for p in planned], min(caps), config)
        planned = [dataclasses.replace(p, decision=d) for p, d in zip(planned, fitted, strict=True)]
    return planned


@dataclass(frozen=True)
class RunSettings:
    """The orchestration settings of one run, read once: the row and the controller's config."""

    row: dict[str, Any]
    config: ControllerConfig

    @property
    def changes_enabled(self) -> bool:
        """False while the kill switch is on."""
        return bool(self.row["changes_enabled"])


def run_settings(db: Database, caller: Caller) -> RunSettings:
    """The settings row from its one home, `public.orchestration_settings`, and the
    `ControllerConfig` built from it (the one place it is built from the database)."""
    row = db.rpc("orchestration_settings_get", caller=caller, read_only=True)
    return RunSettings(row, ControllerConfig.from_settings(row))


def controller_config(db: Database, caller: Caller) -> ControllerConfig:
    """The controller's parameters (`run_settings(...).config`)."""
    return run_settings(db, caller).config


def _reconcile(db: Database, caller: Caller, run: JobRun, gateway: ChannelGateway) -> int:
    """Settle rows that ended runs left open, from what each channel holds now."""
    open_rows = db.rpc("open_budget_decisions", caller=caller, read_only=True)
    reconcilable = [row for row in open_rows if row["reconcilable"]]
    if not reconcilable:
        return 0
    names = sorted({row["budget_resource_name"] for row in reconcilable})
    current = gateway.current_budgets(names)
    observed = [
        {"budget_resource_name": name, "amount_micros": info.amount_micros}
        for name, info in current.items()
    ]
    return int(
        db.rpc(
            "reconcile_budget_decisions",
            {"p_run_id": run.id, "p_observed": observed},
            caller=caller,
        )
    )


def _send(
    db: Database,
    caller: Caller,
    run: JobRun,
    logged: list[dict[str, Any]],
    gateway: ChannelGateway,
    mode: Mode,
    errors: dict[int, str | None] | None = None,
) -> tuple[dict[int, str], str | None]:
    """Claim, apply and complete the pending rows batch by batch.

    Returns the final status per log id of the rows it handled, and a stop reason; the
    error of each (the claim's refusal, Google Ads' answer) goes into `errors` when given.
    """
    statuses: dict[int, str] = {}
    errors = {} if errors is None else errors
    pending = [int(row["id"]) for row in logged if row["status"] == "pending"]
    for start in range(0, len(pending), SEND_BATCH):
        with fenced():
            claimed = db.rpc(
                "claim_budget_decisions",
                {"p_run_id": run.id, "p_ids": pending[start : start + SEND_BATCH]},
                caller=caller,
            )
        claimed_at = time.monotonic()
        for row in claimed:
            statuses[row["id"]] = row["status"]
            errors[row["id"]] = row.get("error")
        to_send = [row for row in claimed if row["status"] == "sent"]
        if not to_send:
            continue
        changes = [
            BudgetChange(
                key=row["id"],
                budget_resource_name=row["budget_resource_name"],
                new_amount_micros=int(row["new_amount_micros"]),
            )
            for row in to_send
        ]
        if time.monotonic() - claimed_at > SEND_WITHIN_SECONDS:
            # Too late to send: the database may already treat the claim as abandoned.
            results: list[BudgetResult] = []
            stop = unanswered = (
                "the claimed changes were not sent in time; a later run settles them"
            )
        else:
            stop = None
            try:
                results = list(
                    gateway.apply_budgets(changes, validate_only=mode is Mode.validate_only)
                )
                unanswered = "no result from Google Ads"
            except QuotaExhausted as exc:
                # What settled before the quota ran out counts; the rest is of unknown outcome.
                stop = unanswered = f"Google Ads daily quota exhausted: {exc}"
                results = list(exc.completed)
        answers = {r.key: r for r in results}
        completions = []
        for change in changes:
            result = answers.get(change.key)
            status = result.status if result else "unknown"
            error = (result.error if result else None) or (
                None if status == "success" else unanswered
            )
            completions.append({"id": change.key, "status": status, "error": error})
            statuses[change.key] = status
            errors[change.key] = error
        with fenced():
            db.rpc(
                "complete_budget_decisions",
                {"p_run_id": run.id, "p_results": completions},
                caller=caller,
            )
        if stop:
            return statuses, stop
    return statuses, None


def _settled(final: Counter[str]) -> dict[str, int]:
    """How the logged rows ended: refused, of unknown outcome (blocking), never sent."""
    return {
        "failed": final["failed"],
        "unknown": final["unknown"] + final["sent"],
        "skipped": final["skipped"],
    }


def _log_and_send(
    db: Database,
    caller: Caller,
    run: JobRun,
    kind: str,
    planned: list[PlannedDecision],
    gateway: ChannelGateway,
    mode: Mode,
    triggered_by: str,
    errors: dict[int, str | None] | None = None,
) -> tuple[list[dict[str, Any]], dict[int, str], str | None]:
    """Write the decisions to the audit log, then claim, send and complete what may go."""
    logged: list[dict[str, Any]] = []
    for start in range(0, len(planned), LOG_BATCH):
        logged += db.rpc(
            "log_budget_decisions",
            {
                "p_run_id": run.id,
                "p_day": run.day.isoformat(),
                "p_kind": kind,
                "p_mode": mode.value,
                "p_triggered_by": triggered_by,
                "p_decisions": [p.as_log_row() for p in planned[start : start + LOG_BATCH]],
            },
            caller=caller,
        )
    # Decreases go out in batches of their own, first: the account daily cap counts a
    # decrease only once Google Ads confirmed it, so the raises' claims see the room it made.
    lowered = {p.budget_resource_name for p in planned if p.decision.action == "decrease"}
    statuses, stop = _send(
        db,
        caller,
        run,
        [r for r in logged if r["budget_resource_name"] in lowered],
        gateway,
        mode,
        errors,
    )
    if stop is None:
        more, stop = _send(
            db,
            caller,
            run,
            [r for r in logged if r["budget_resource_name"] not in lowered],
            gateway,
            mode,
            errors,
        )
        statuses.update(more)
    return logged, statuses, stop


def _euro(micros: int | None) -> float | None:
    return None if micros is None else round(micros / MICROS_PER_UNIT, 2)


def change_list(
    planned: list[PlannedDecision],
    logged: list[dict[str, Any]],
    statuses: dict[int, str],
    errors: dict[int, str | None],
    mode: Mode,
    codes: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every proposed change of a run, as the database judged it: segment, channel, budget,
    old → new (euro, cents), percent, the reason in plain words, and whether the database
    accepts it (`accepted`; None for a hold) with its refusal's words when it does not.

    `logged` is what `log_budget_decisions` returned, one row per decision in order.
    """
    changes = []
    for p, row in zip(planned, logged, strict=True):
        d = p.decision
        note = row.get("error")
        hold = d.action == "hold" or (note or "").startswith(HOLD_PREFIX)
        if hold:
            accepted: bool | None = None
        elif mode is Mode.dry_run:
            accepted = note == DRY_RUN_NOTE
        else:
            accepted = row["status"] == "pending"
        log_id = int(row["id"])
        status = statuses.get(log_id, row["status"])
        changes.append(
            {
                "log_id": log_id,
                "segment": p.code or (codes or {}).get(p.segment_id) or p.segment_id,
                "channel": p.channel,
                "budget": p.budget_resource_name,
                "action": "hold" if hold else d.action,
                "old_budget_euro": _euro(d.old_budget_micros),
                "new_budget_euro": _euro(d.old_budget_micros if hold else d.new_budget_micros),
                "change_pct": None if hold or d.change_pct is None else float(d.change_pct),
                "reason": d.reason,
                "accepted": accepted,
                "refusal": None if accepted or hold else note,
                "status": status,
                # What the claim or Google Ads said when it was sent (None: nothing).
                "error": errors.get(log_id),
            }
        )
    return changes


def log_changes(kind: str, mode: Mode, changes: list[dict[str, Any]]) -> None:
    """One structured log line per proposed change: what a live run leaves in the logs is
    the list its preview showed."""
    for change in changes:
        logger.info("budget_change", extra={"kind": kind, "mode": mode.value, **change})


def orchestrate(
    db: Database,
    caller: Caller,
    day: date,
    gateway: ChannelGateway,
    *,
    mode: Mode = Mode.dry_run,
    triggered_by: str = "cli",
) -> dict[str, Any]:
    """Decide, log and (per mode) apply every active mapped budget's change for `day`."""
    if mode is Mode.live:
        check_live_day(db, caller, day)
    channels = as_channel_set(gateway)
    gateway = remembering(gateway, db, caller)  # keeps the budgets it reads, for previews
    with job_run(db, caller, "orchestrate", day, triggered_by) as run:
        settings = run_settings(db, caller)
        run.counts["mode"] = mode.value
        run.counts["kill_switch"] = not settings.changes_enabled
        run.counts["reconciled"] = _reconcile(db, caller, run, gateway)

        run.counts["estimated"] = db.rpc(
            "estimate_segment_responses", {"p_day": day.isoformat()}, caller=caller
        )
        inputs = db.rpc("orchestration_inputs", {"p_day": day.isoformat()}, caller=caller)
        budgets = gateway.current_budgets([row["budget_resource_name"] for row in inputs])
        run.heartbeat()
        paid = {c.key: c.label for c in channels.channels.values()} or _labels(db, caller)
        planned = plan_decisions(
            inputs,
            budgets,
            settings.config,
            labels=paid,
            unavailable={c: why for c in paid if (why := channels.unavailable(c))},
        )
        errors: dict[int, str | None] = {}
        logged, statuses, stop = _log_and_send(
            db, caller, run, "adjust", planned, gateway, mode, triggered_by, errors
        )
        changes = change_list(planned, logged, statuses, errors, mode)
        log_changes("adjust", mode, changes)
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
                **_settled(final),
                "refused": sum(c["accepted"] is False for c in changes),
            }
        )
        if stop:
            raise LeadflowError(stop)
    return {**run.counts, "changes": changes}


def _labels(db: Database, caller: Caller) -> dict[str, str]:
    """Each paid channel's name for reasons, from the database."""
    return {r["key"]: r["label"] for r in db.rpc("paid_channels", caller=caller, read_only=True)}


def rollback(
    db: Database,
    caller: Caller,
    day: date,
    gateway: ChannelGateway,
    *,
    mode: Mode = Mode.dry_run,
    triggered_by: str = "cli",
) -> dict[str, Any]:
    """Restore the budgets to what they were when `day` began (itself logged; live: today only)."""
    if mode is Mode.live:
        check_live_day(db, caller, day)
    gateway = remembering(gateway, db, caller)  # keeps the budgets it reads, for previews
    with job_run(db, caller, "rollback", day, triggered_by) as run:
        run.counts["reconciled"] = _reconcile(db, caller, run, gateway)
        candidates = db.rpc("rollback_candidates", {"p_day": day.isoformat()}, caller=caller)
        current = gateway.current_budgets([c["budget_resource_name"] for c in candidates])
        planned = []
        for c in candidates:
            info = current.get(c["budget_resource_name"])
            old = info.amount_micros if info else None
            restore = int(c["restore_amount_micros"])
            if old is None:
                decision = Decision.hold(None, "budget not found in Google Ads; cannot roll back")
            elif old == restore:
                decision = Decision.hold(old, f"already at the amount before log #{c['log_id']}")
            else:
                decision = Decision(
                    action="increase" if restore > old else "decrease",
                    old_budget_micros=old,
                    new_budget_micros=restore,
                    expected_gap=None,
                    reason=(
                        f"rollback of log #{c['log_id']}: "
                        f"restore {restore / MICROS_PER_UNIT:.2f} euro"
                    ),
                )
            planned.append(
                PlannedDecision(
                    segment_id=c["segment_id"],
                    code="",
                    channel=str(c.get("channel") or "google_ads"),
                    customer_id=c["customer_id"],
                    campaign_id=c["campaign_id"],
                    budget_resource_name=c["budget_resource_name"],
                    decision=decision,
                    inputs={
                        "rollback_of_log_id": c["log_id"],
                        "restore_amount_micros": restore,
                        "current_amount_micros": old,
                    },
                )
            )
        errors: dict[int, str | None] = {}
        logged, statuses, stop = _log_and_send(
            db, caller, run, "rollback", planned, gateway, mode, triggered_by, errors
        )
        codes = {
            row["segment_id"]: row["code"]
            for row in db.rpc("segment_overview", caller=caller, read_only=True)
        }
        changes = change_list(planned, logged, statuses, errors, mode, codes)
        log_changes("rollback", mode, changes)
        final = Counter(statuses.get(row["id"], row["status"]) for row in logged)
        run.counts.update(
            {
                "mode": mode.value,
                "budgets": len(planned),
                "restored": final["success"],
                **_settled(final),
                "refused": sum(c["accepted"] is False for c in changes),
            }
        )
        if stop:
            raise LeadflowError(stop)
    return {**run.counts, "changes": changes}
