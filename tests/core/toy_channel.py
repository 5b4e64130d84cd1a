"""A paid channel that exists only in the tests: one module, one registry entry, one row.

`tests/core/test_channels.py` registers it (`leadflow.channels.REGISTRY`), adds its row to
`public.ad_channels` and an attribution rule, and runs the whole loop through it. Its
budgets are named `toy/{account}/budget/{id}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from leadflow.channels.base import (
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    validate_amounts,
)

BUDGET_NAME_PATTERN = r"^toy/[0-9]+/budget/[0-9]+$"


class ToyAds:
    """An in-memory channel: budgets by name, metrics by day, every change applied."""

    def __init__(self) -> None:
        self.budgets: dict[str, int] = {}
        self.metrics: dict[date, list[CampaignMetrics]] = {}
        self.applied: list[BudgetChange] = []

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        return [m for m in self.metrics.get(day, []) if m.customer_id in customer_ids]

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        return {
            name: BudgetInfo(name, self.budgets[name])
            for name in resource_names
            if name in self.budgets
        }

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        validate_amounts(changes)
        results = []
        for change in changes:
            if change.budget_resource_name not in self.budgets:
                results.append(BudgetResult(change.key, "failed", "no such toy budget"))
                continue
            if not validate_only:
                self.budgets[change.budget_resource_name] = change.new_amount_micros
                self.applied.append(change)
            results.append(BudgetResult(change.key, "success"))
        return results


#: The one account of the tests; `gateway_for` hands it out like a configured client.
ACCOUNT = ToyAds()


def gateway_for(settings: Any) -> ToyAds:
    return ACCOUNT


def missing_settings(settings: Any) -> list[str]:
    return []


def budget_customer_id(resource_name: str) -> str:
    return resource_name.split("/")[1]


def validate_changes(changes: Sequence[BudgetChange]) -> None:
    validate_amounts(changes)
