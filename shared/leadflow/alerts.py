"""Alerts: after each job run, tell the operators what needs a human.

What needs a human is decided in the database (`alert_candidates`: failed runs,
their recoveries, capacity unreachable, unprofitable segments, external changes,
skipped rollbacks, kill-switch changes), which also keeps what was sent
(`record_alerts_sent`): each kind and subject at most once per Amsterdam calendar
day, whichever job day found it. Each alert has a severity (`SEVERITY`): one
message goes out per severity, with apprise's matching notification type (error:
failure, warning, info; a recovery: success), so a target can colour or route it.
Messages go out through apprise, one URL per target (Slack, Teams, e-mail, a
webhook), from `LEADFLOW_ALERT_URLS` (or its Secrets Manager secret). Alerting
never blocks or fails a job: it gives up after a timeout, and every error is
logged (without the URLs, which carry tokens) and swallowed.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date
from typing import Any

from leadflow.db import Caller, Database
from leadflow.log import logger as log
from leadflow.settings import Settings, get_settings

#: Longest an alert may hold up the end of a job, all targets together.
SEND_TIMEOUT_SECONDS = 10.0

#: The severity of each kind of alert (kill_switch: see `severity`).
SEVERITY = {
    "job_failed": "error",
    "capacity_unreachable": "warning",
    "unprofitable": "warning",
    "external_change": "warning",
    "rollback_skipped": "warning",
    "job_recovered": "info",
}
#: The order messages go out in, worst first.
SEVERITIES = ("error", "warning", "info")


def severity(kind: str, subject: str) -> str:
    """info, warning or error: the kill switch is a warning when on, info when off."""
    if kind == "kill_switch":
        return "warning" if subject == "on" else "info"
    return SEVERITY.get(kind, "warning")


def _notify_type(level: str, kinds: set[str]) -> Any:
    """apprise's notification type for a message of `level` holding alerts of `kinds`."""
    from apprise import NotifyType

    if level == "error":
        return NotifyType.FAILURE
    if level == "warning":
        return NotifyType.WARNING
    return NotifyType.SUCCESS if kinds == {"job_recovered"} else NotifyType.INFO


# apprise logs at INFO what it sends; its URLs carry tokens.
logging.getLogger("apprise").setLevel(logging.WARNING)


def _send(urls: str, title: str, body: str, timeout: float, notify_type: Any = None) -> bool:
    """Send to every target within `timeout`; True when all accepted it."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(urls) or len(notifier) == 0:
        log.warning("alerts: no valid target in LEADFLOW_ALERT_URLS")
        return False
    outcome: dict[str, bool] = {}

    def deliver() -> None:
        try:
            kwargs = {} if notify_type is None else {"notify_type": notify_type}
            outcome["ok"] = bool(notifier.notify(body=body, title=title, timeout=timeout, **kwargs))
        except Exception as exc:  # a plugin bug must not reach the job
            log.warning("alerts: sending failed", extra={"error": type(exc).__name__})
            outcome["ok"] = False

    worker = threading.Thread(target=deliver, name="leadflow-alerts", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        log.warning("alerts: targets did not answer in time", extra={"timeout_s": timeout})
        return False
    return outcome.get("ok", False)


def notify_after_run(
    db: Database,
    caller: Caller,
    day: date,
    *,
    settings: Settings | None = None,
    timeout: float = SEND_TIMEOUT_SECONDS,
) -> list[dict[str, Any]]:
    """Send what needs a human for `day` and was not sent yet; the alerts sent. Never raises."""
    try:
        settings = settings or get_settings()
        if settings.alert_urls is None:
            return []
        candidates = db.rpc(
            "alert_candidates", {"p_day": day.isoformat()}, caller=caller, read_only=True
        )
        if not candidates:
            return []
        urls = settings.alert_urls.get_secret_value()
        targets = len([u for u in urls.replace(",", " ").split() if u])
        sent: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout  # all messages together
        for level in SEVERITIES:
            group = [c for c in candidates if severity(c["kind"], c["subject"]) == level]
            if not group:
                continue
            title = f"Leadflow {day.isoformat()} {level}: {len(group)} thing(s) need a human"
            if {c["kind"] for c in group} == {"job_recovered"}:
                title = f"Leadflow {day.isoformat()}: recovered"
            body = "\n".join(f"- [{level}] [{c['kind']}] {c['message']}" for c in group)
            notify_type = _notify_type(level, {c["kind"] for c in group})
            left = deadline - time.monotonic()
            if left <= 0 or not _send(urls, title, body, left, notify_type):
                log.warning(
                    "alerts: not delivered; tried again after the next run",
                    extra={"day": str(day), "severity": level},
                )
                continue
            alerts = [{k: c[k] for k in ("kind", "subject", "message")} for c in group]
            db.rpc(
                "record_alerts_sent",
                {"p_day": day.isoformat(), "p_alerts": alerts, "p_targets": targets},
                caller=caller,
            )
            sent += [{**a, "severity": level} for a in alerts]
        if sent:
            log.info("alerts sent", extra={"day": str(day), "alerts": len(sent)})
        return sent
    except Exception as exc:
        log.warning("alerts: skipped after an error", extra={"error": type(exc).__name__})
        return []
