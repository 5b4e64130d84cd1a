"""What every paid channel gives the jobs: budgets, daily metrics, budget changes.

A channel is a key (`google_ads`, `microsoft_ads`, ...): a row of `public.ad_channels`
in the database, one module here, one entry in `leadflow.channels.REGISTRY`. The jobs
speak only this module's plain dataclasses and the `ChannelGateway` protocol.

Names are the database's: a budget is addressed by its `budget_resource_name`, the
channel's own path to it (`customers/{cid}/campaignBudgets/{id}` on Google Ads,
`accounts/{aid}/budgets/{id}` or `accounts/{aid}/campaigns/{cid}/budget` on Microsoft
Advertising), and `customer_id` is the account that holds it. Amounts are micros of the
account's currency on every channel (1,000,000 = 1 euro); a channel that speaks
currency units converts at its edge.

Semantics every gateway keeps:

- `apply_budgets` sets absolute amounts (a resend is harmless), returns one result per
  change in order, and never lets one change fail another.
- A result is `success` (applied, or valid under `validate_only`), `failed` (refused, so
  not applied; `transient` when a later run may retry) or `unknown` (no clear answer: it
  may have been applied). The orchestrator reconciles unknown rows against a later read.
- A used-up quota raises `QuotaExhausted` with the results settled before it.
- A failed read raises `ChannelRequestError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from leadflow.errors import LeadflowError

__all__ = [
    "MICROS_PER_CENT",
    "BudgetChange",
    "BudgetInfo",
    "BudgetResult",
    "CampaignMetrics",
    "ChannelGateway",
    "ChannelRequestError",
    "QuotaExhausted",
    "validate_amounts",
]

#: Budgets are set in whole cents (EUR's billable unit) on every channel.
MICROS_PER_CENT = 10_000


@dataclass(frozen=True)
class CampaignMetrics:
    """One campaign on one day (the day in the account's time zone)."""

    customer_id: str
    campaign_id: str
    budget_resource_name: str
    cost_micros: int
    clicks: int
    impressions: int
    conversions: float
    #: Share of impressions lost to a too small budget (0..1); None when the channel reports none.
    search_budget_lost_impression_share: float | None

    def as_row(self) -> dict[str, Any]:
        """The fields as one row of `record_campaign_metrics`' JSON (the same keys as
        `dataclasses.asdict`, without its deep copy: every field is a scalar)."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class BudgetInfo:
    """The current state of one budget."""

    resource_name: str
    amount_micros: int
    explicitly_shared: bool = False
    reference_count: int = 1
    period: str = "DAILY"  # "DAILY", "CUSTOM_PERIOD", "MONTHLY", ...

    @property
    def skip_reason(self) -> str | None:
        """Why this budget must not be changed, or None when it may be."""
        if self.explicitly_shared:
            return "shared budget: changing it would move every campaign that uses it"
        if self.reference_count > 1:
            return (
                f"budget used by {self.reference_count} campaigns: "
                "changing it would move all of them"
            )
        if self.period != "DAILY":
            return f"budget period is {self.period}, not DAILY"
        return None


@dataclass(frozen=True)
class BudgetChange:
    """Set one budget to an absolute daily amount (absolute, so a resend is safe)."""

    key: int  # our audit-log row id, echoed back in the result
    budget_resource_name: str
    new_amount_micros: int


@dataclass(frozen=True)
class BudgetResult:
    """What became of one `BudgetChange`."""

    key: int
    #: success: applied (or valid, validate-only); failed: the channel refused it, so it was
    #: not applied; unknown: no clear answer (e.g. a timeout), it may have been applied.
    status: Literal["success", "failed", "unknown"]
    error: str | None = None
    transient: bool = False  # failed for a reason that may pass; a later run may retry


class QuotaExhausted(LeadflowError):
    """The channel's operation quota is used up: stop the run, don't spin.

    `completed` holds the results of the changes that were settled before the
    quota ran out (the rest are unknown: treat them as not applied).
    """

    def __init__(self, message: str, *, completed: Sequence[BudgetResult] = ()) -> None:
        super().__init__(message)
        self.completed: tuple[BudgetResult, ...] = tuple(completed)


class ChannelRequestError(LeadflowError):
    """A read from a channel failed (after retries, when the error was transient)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ChannelGateway(Protocol):
    """What the jobs need from one paid channel."""

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """Every campaign with activity on `day` in the given accounts."""
        ...

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        """The budgets that exist among `resource_names`, by resource name."""
        ...

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        """Apply (or only validate) the changes; one result per change, in order."""
        ...


def validate_amounts(changes: Sequence[BudgetChange]) -> None:
    """Refuse (ValueError) what makes results ambiguous or is not a whole-cent amount.

    Amounts must be positive whole cents; keys and budgets must be unique.
    """
    keys: set[int] = set()
    budgets: set[str] = set()
    for change in changes:
        amount = change.new_amount_micros
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError(f"change {change.key}: amount must be a positive int, got {amount!r}")
        if amount % MICROS_PER_CENT:
            raise ValueError(
                f"change {change.key}: {amount} micros is not a whole cent "
                f"(a multiple of {MICROS_PER_CENT})"
            )
        if change.key in keys:
            raise ValueError(f"change key {change.key} appears twice")
        if change.budget_resource_name in budgets:
            raise ValueError(f"budget {change.budget_resource_name} is changed twice")
        keys.add(change.key)
        budgets.add(change.budget_resource_name)
