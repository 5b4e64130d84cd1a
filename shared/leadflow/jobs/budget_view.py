"""The budgets as the jobs last saw them: kept on every read from Google Ads, so that a
dry run or a rollback can be previewed without Google Ads credentials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from leadflow.channels.google_ads import (
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    GoogleAdsGateway,
)
from leadflow.db import Caller, Database
from leadflow.errors import LeadflowError


class StoredBudgets:
    """A gateway that reads the budgets the database last saw and sends nothing."""

    def __init__(self, db: Database, caller: Caller) -> None:
        self.db = db
        self.caller = caller
        #: When the oldest budget read was seen; None when none was ever seen.
        self.oldest_seen: datetime | None = None
        self.requested = 0
        self.found = 0

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """No metrics without Google Ads."""
        return []

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        """The budgets as last seen (Google Ads' last report, or a later applied change)."""
        names = sorted(set(resource_names))
        rows = self.db.rpc(
            "last_seen_budgets", {"p_names": names}, caller=self.caller, read_only=True
        )
        self.requested += len(names)
        self.found += len(rows)
        budgets = {}
        for row in rows:
            seen = datetime.fromisoformat(str(row["seen_at"]))
            if self.oldest_seen is None or seen < self.oldest_seen:
                self.oldest_seen = seen
            budgets[row["budget_resource_name"]] = BudgetInfo(
                resource_name=row["budget_resource_name"],
                amount_micros=int(row["amount_micros"]),
                explicitly_shared=bool(row["explicitly_shared"]),
                reference_count=int(row["reference_count"]),
                period=str(row["period"]),
            )
        return budgets

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        """Never: a preview from stored budgets is a dry run."""
        raise LeadflowError("budgets as last seen cannot be changed; this is a dry run only")


class RecordingGateway:
    """Wraps a Google Ads gateway: every budget it reads is kept in the database."""

    def __init__(self, gateway: GoogleAdsGateway, db: Database, caller: Caller) -> None:
        self.gateway = gateway
        self.db = db
        self.caller = caller

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """As the wrapped gateway."""
        return self.gateway.daily_metrics(day, customer_ids)

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        """Read from Google Ads, and keep what it said."""
        budgets = self.gateway.current_budgets(resource_names)
        if budgets:
            observed: list[dict[str, Any]] = [
                {
                    "budget_resource_name": name,
                    "amount_micros": info.amount_micros,
                    "explicitly_shared": info.explicitly_shared,
                    "reference_count": info.reference_count,
                    "period": info.period,
                }
                for name, info in budgets.items()
            ]
            self.db.rpc("record_budget_observations", {"p_observed": observed}, caller=self.caller)
        return budgets

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        """As the wrapped gateway."""
        return self.gateway.apply_budgets(changes, validate_only=validate_only)


def remembering(gateway: GoogleAdsGateway, db: Database, caller: Caller) -> GoogleAdsGateway:
    """`gateway`, keeping what it reads; the stored view itself is not recorded again."""
    if isinstance(gateway, StoredBudgets | RecordingGateway):
        return gateway
    return RecordingGateway(gateway, db, caller)
