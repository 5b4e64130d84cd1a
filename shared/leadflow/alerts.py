"""Alerts: after each job run, tell the operators what needs a human.

What needs a human is decided in the database (`alert_candidates`: failed runs,
capacity unreachable, unprofitable segments, kill-switch changes), which also keeps
what was sent (`record_alerts_sent`): each kind and subject at most once a day.
Messages go out through apprise, one URL per target (Slack, Teams, e-mail, a
webhook), from `LEADFLOW_ALERT_URLS` (or its Secrets Manager secret). Alerting
never blocks or fails a job: it gives up after a timeout, and every error is
logged (without the URLs, which carry tokens) and swallowed.
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from typing import Any

from leadflow.db import Caller, Database
from leadflow.log import logger as log
from leadflow.settings import Settings, get_settings

#: Longest an alert may hold up the end of a job, all targets together.
SEND_TIMEOUT_SECONDS = 10.0

# apprise logs at INFO what it sends; its URLs carry tokens.
logging.getLogger("apprise").setLevel(logging.WARNING)


def _send(urls: str, title: str, body: str, timeout: float) -> bool:
    """Send to every target within `timeout`; True when all accepted it."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(urls) or len(notifier) == 0:
        log.warning("alerts: no valid target in LEADFLOW_ALERT_URLS")
        return False
    outcome: dict[str, bool] = {}

    def deliver() -> None:
        try:
            outcome["ok"] = bool(notifier.notify(body=body, title=title, timeout=timeout))
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
        title = f"Leadflow {day.isoformat()}: {len(candidates)} thing(s) need a human"
        body = "\n".join(f"- [{c['kind']}] {c['message']}" for c in candidates)
        urls = settings.alert_urls.get_secret_value()
        if not _send(urls, title, body, timeout):
            log.warning("alerts: not delivered; tried again after the next run", extra={"day": day})
            return []
        alerts = [{k: c[k] for k in ("kind", "subject", "message")} for c in candidates]
        targets = len([u for u in urls.replace(",", " ").split() if u])
        db.rpc(
            "record_alerts_sent",
            {"p_day": day.isoformat(), "p_alerts": alerts, "p_targets": targets},
            caller=caller,
        )
        log.info("alerts sent", extra={"day": str(day), "alerts": len(alerts)})
        return alerts
    except Exception as exc:
        log.warning("alerts: skipped after an error", extra={"error": type(exc).__name__})
        return []
