"""An in-memory paid channel (Google Ads, Microsoft Advertising) for job tests and simulations.

It keeps the real gateways' contract: the same validation (ValueError before
anything happens: a budget must be named as Google Ads or Microsoft Advertising
names it, amounts whole cents), one result per change in order, validate-only changes
nothing, QuotaExhausted carries what was settled before the quota ran out.
It does not retry: a programmed transient failure is what the real gateway
reports once its retries are used up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from leadflow.channels import google_ads, microsoft_ads
from leadflow.channels.base import validate_amounts
from leadflow.channels.google_ads import (
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    GoogleAdsGateway,
    QuotaExhausted,
)

_MICROSOFT_BUDGET = re.compile(microsoft_ads.BUDGET_NAME_PATTERN)


def budget_channel(resource_name: str) -> str:
    """The channel whose budgets are named like `resource_name` (google_ads or microsoft_ads);
    ValueError when neither names budgets so."""
    if _MICROSOFT_BUDGET.fullmatch(resource_name):
        return "microsoft_ads"
    google_ads.budget_customer_id(resource_name)  # ValueError when malformed
    return "google_ads"


def validate_changes(changes: Sequence[BudgetChange]) -> None:
    """Refuse (ValueError) what either channel would refuse: a name that is neither a Google
    Ads nor a Microsoft Advertising budget, amounts not positive whole cents, repeats."""
    for change in changes:
        try:
            budget_channel(change.budget_resource_name)
        except ValueError:
            raise ValueError(
                f"not a campaign budget resource name of Google Ads or Microsoft Advertising: "
                f"{change.budget_resource_name!r}"
            ) from None
    validate_amounts(changes)


def _account(customer_id: str) -> str:
    """An account id as both channels write it: digits (Google's dashes dropped)."""
    digits = str(customer_id).replace("-", "").strip()
    if not digits.isdigit():
        raise ValueError(f"not an account id: {customer_id!r}")
    return digits


@dataclass(frozen=True)
class Call:
    """One call made to the fake, for assertions."""

    method: str  # "daily_metrics", "current_budgets" or "apply_budgets"
    args: dict[str, Any]


@dataclass
class _Failure:
    error: str
    transient: bool
    times: int | None  # None: every time
    unknown: bool = False  # answer "unknown" (no clear result) instead of "failed"
    applied: bool = False  # with unknown: the change was applied all the same


@dataclass
class InMemoryGoogleAds:
    """A `ChannelGateway` over dicts (Google Ads and Microsoft Advertising budgets alike);
    program failures, then assert on `calls`."""

    budgets: dict[str, BudgetInfo] = field(default_factory=dict)
    metrics: dict[date, list[CampaignMetrics]] = field(default_factory=dict)
    #: Every call, in order.
    calls: list[Call] = field(default_factory=list)
    #: Every change applied for real (not validate-only), in order.
    applied: list[BudgetChange] = field(default_factory=list)
    #: Operations left today (each searched customer and each change counts); None: unlimited.
    quota_remaining: int | None = None
    _failures: dict[str, _Failure] = field(default_factory=dict, init=False, repr=False)

    # -- programming ---------------------------------------------------------

    def add_budget(
        self,
        resource_name: str,
        amount_micros: int,
        *,
        explicitly_shared: bool = False,
        reference_count: int = 1,
        period: str = "DAILY",
    ) -> BudgetInfo:
        """Create (or replace) a budget."""
        info = BudgetInfo(resource_name, amount_micros, explicitly_shared, reference_count, period)
        self.budgets[resource_name] = info
        return info

    def add_metrics(self, day: date, metrics: Iterable[CampaignMetrics]) -> None:
        """Add campaign metrics for a day."""
        self.metrics.setdefault(day, []).extend(metrics)

    def fail_permanently(self, resource_name: str, error: str = "permanent failure") -> None:
        """Every change of this budget fails (until `clear_failures`)."""
        self._failures[resource_name] = _Failure(error, transient=False, times=None)

    def fail_transiently(
        self, resource_name: str, times: int = 1, error: str = "transient failure"
    ) -> None:
        """The next `times` calls that change this budget fail as transient."""
        self._failures[resource_name] = _Failure(error, transient=True, times=times)

    def answer_unknown(
        self,
        resource_name: str,
        *,
        applied: bool,
        times: int | None = 1,
        error: str = "DeadlineExceeded: 504 Deadline Exceeded",
    ) -> None:
        """The next `times` changes of this budget get no clear answer (the outcome is
        unknown), though Google Ads did (`applied`) or did not apply them."""
        self._failures[resource_name] = _Failure(
            error, transient=True, times=times, unknown=True, applied=applied
        )

    def exhaust_quota(self, after_operations: int = 0) -> None:
        """QuotaExhausted once `after_operations` more operations have been used."""
        self.quota_remaining = after_operations

    def clear_failures(self) -> None:
        """Forget programmed failures and the quota limit."""
        self._failures.clear()
        self.quota_remaining = None

    # -- GoogleAdsGateway ----------------------------------------------------

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """The stored metrics of `day` for the given customers."""
        self.calls.append(Call("daily_metrics", {"day": day, "customer_ids": list(customer_ids)}))
        wanted = list(dict.fromkeys(_account(c) for c in customer_ids))
        self._use_quota(len(wanted))
        return [m for m in self.metrics.get(day, []) if m.customer_id in wanted]

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        """The stored budgets among `resource_names`."""
        self.calls.append(Call("current_budgets", {"resource_names": list(resource_names)}))
        if resource_names:
            self._use_quota(1)
        return {n: self.budgets[n] for n in resource_names if n in self.budgets}

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        """Apply (unless validate_only) each change, failing the programmed ones."""
        self.calls.append(
            Call("apply_budgets", {"changes": list(changes), "validate_only": validate_only})
        )
        validate_changes(changes)
        results: list[BudgetResult] = []
        for change in changes:
            try:
                self._use_quota(1)
            except QuotaExhausted as exc:
                raise QuotaExhausted(str(exc), completed=results) from None
            results.append(self._apply_one(change, validate_only))
        return results

    # -- internals -----------------------------------------------------------

    def _apply_one(self, change: BudgetChange, validate_only: bool) -> BudgetResult:
        name = change.budget_resource_name
        failure = self._failures.get(name)
        if failure is not None:
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[name]
            if failure.unknown:
                if failure.applied and not validate_only and name in self.budgets:
                    self.budgets[name] = replace(
                        self.budgets[name], amount_micros=change.new_amount_micros
                    )
                    self.applied.append(change)
                return BudgetResult(change.key, "unknown", failure.error, transient=True)
            return BudgetResult(change.key, "failed", failure.error, transient=failure.transient)
        info = self.budgets.get(name)
        if info is None:
            return BudgetResult(
                change.key, "failed", f"mutate_error.RESOURCE_NOT_FOUND: {name} does not exist"
            )
        if not validate_only:
            self.budgets[name] = replace(info, amount_micros=change.new_amount_micros)
            self.applied.append(change)
        return BudgetResult(change.key, "success")

    def _use_quota(self, operations: int) -> None:
        if self.quota_remaining is None:
            return
        if self.quota_remaining < operations:
            self.quota_remaining = 0
            raise QuotaExhausted(
                "Google Ads daily operation quota exhausted (quota_error.RESOURCE_EXHAUSTED)"
            )
        self.quota_remaining -= operations


if TYPE_CHECKING:
    _conforms: type[GoogleAdsGateway] = InMemoryGoogleAds
