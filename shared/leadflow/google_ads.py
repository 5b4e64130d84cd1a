"""Google Ads: read campaign metrics and budgets, change budget amounts.

The jobs code against `GoogleAdsGateway`, which speaks in plain dataclasses.
`GoogleAdsApiGateway` is the real adapter over the google-ads library;
`leadflow_tools.google_ads_fake.InMemoryGoogleAds` (a tool) is the fake for tests and simulations.

Failure policy of the real adapter: transient errors are retried with bounded
exponential backoff; a used-up daily operation quota raises `QuotaExhausted` at
once (retrying only burns more quota); anything else is permanent. A budget
change never fails another: requests use partial failure, and a request that
fails as a whole fails only its own changes.

`GoogleAdsApiGateway` lives in `leadflow.google_ads_api` with the google-ads library,
grpc and protobuf; this module (the seam) imports none of them, so that a job that never
talks to Google Ads (plan) never loads them. Its names are still reachable from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Protocol

from leadflow.errors import LeadflowError
from leadflow.settings import GoogleAdsSettings, normalize_customer_id

if TYPE_CHECKING:
    from leadflow.google_ads_api import (
        GoogleAdsApiGateway,
        RetryPolicy,
        client_from_settings,
    )

__all__ = [
    "API_VERSION",
    "MAX_OPERATIONS_PER_REQUEST",
    "MICROS_PER_CENT",
    "NAMES_PER_QUERY",
    "BudgetChange",
    "BudgetInfo",
    "BudgetResult",
    "CampaignMetrics",
    "GoogleAdsApiGateway",
    "GoogleAdsGateway",
    "GoogleAdsRequestError",
    "GoogleAdsSettings",
    "QuotaExhausted",
    "RetryPolicy",
    "budget_customer_id",
    "client_from_settings",
    "gateway_from_settings",
    "normalize_customer_id",
    "validate_changes",
]


#: The API version this module is written and tested against.
API_VERSION = "v26"
#: Google's limit of operations in one mutate request.
MAX_OPERATIONS_PER_REQUEST = 10_000

#: The hard deadline of one call to Google Ads, retries and their waits included: no
#: attempt starts that could end after it. With the orchestrator's minute from claim to
#: send (SEND_WITHIN_SECONDS) it stays inside the database's send window (25 minutes,
#: private.send_window()), itself inside the 30-minute lease (private.job_lease()): a run
#: taken over has sent all it ever will before another run may reconcile its rows.
SEND_DEADLINE_SECONDS = 20 * 60
#: Budgets are set in whole cents (EUR's billable unit); Google refuses anything else.
MICROS_PER_CENT = 10_000
#: Resource names per `IN (...)` list, to keep each GAQL query short.
NAMES_PER_QUERY = 500

_BUDGET_NAME = re.compile(r"customers/(\d+)/campaignBudgets/(\d+)")

_BUDGET_NAME = re.compile(r"customers/(\d+)/campaignBudgets/(\d+)")

#: Names defined by the real adapter's module, loaded on first use (PEP 562).
_API_NAMES = frozenset({"GoogleAdsApiGateway", "RetryPolicy", "client_from_settings"})


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from leadflow import google_ads_api

        return getattr(google_ads_api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------
# The seam: plain data and the gateway protocol
# ---------------------------------------------------------------------------


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
    #: Share of impressions lost to a too small budget (0..1); None when Google reports none.
    search_budget_lost_impression_share: float | None


@dataclass(frozen=True)
class BudgetInfo:
    """The current state of one campaign budget."""

    resource_name: str
    amount_micros: int
    explicitly_shared: bool
    reference_count: int
    period: str  # "DAILY", "CUSTOM_PERIOD", ...

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
    budget_resource_name: str  # customers/{cid}/campaignBudgets/{id}
    new_amount_micros: int


@dataclass(frozen=True)
class BudgetResult:
    """What became of one `BudgetChange`."""

    key: int
    #: success: applied (or valid, validate-only); failed: Google Ads refused it, so it was
    #: not applied; unknown: no clear answer (e.g. DEADLINE_EXCEEDED), it may have been applied.
    status: Literal["success", "failed", "unknown"]
    error: str | None = None
    transient: bool = False  # failed for a reason that may pass; a later run may retry


class QuotaExhausted(LeadflowError):
    """The daily operation quota is used up: stop the run, don't spin.

    `completed` holds the results of the changes that were settled before the
    quota ran out (the rest are unknown: treat them as not applied).
    """

    def __init__(self, message: str, *, completed: Sequence[BudgetResult] = ()) -> None:
        super().__init__(message)
        self.completed: tuple[BudgetResult, ...] = tuple(completed)


class GoogleAdsRequestError(LeadflowError):
    """A read from Google Ads failed (after retries, when the error was transient)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class GoogleAdsGateway(Protocol):
    """What the jobs need from Google Ads."""

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


def budget_customer_id(resource_name: str) -> str:
    """The customer id in `customers/{cid}/campaignBudgets/{id}`; ValueError if malformed."""
    match = _BUDGET_NAME.fullmatch(resource_name)
    if not match:
        raise ValueError(f"not a campaign budget resource name: {resource_name!r}")
    return match.group(1)


def validate_changes(changes: Sequence[BudgetChange]) -> None:
    """Refuse (ValueError) what Google would refuse or what makes results ambiguous.

    Amounts must be positive whole cents; keys and budgets must be unique.
    """
    keys: set[int] = set()
    budgets: set[str] = set()
    for change in changes:
        budget_customer_id(change.budget_resource_name)
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


def gateway_from_settings(
    settings: GoogleAdsSettings, **options: Any
) -> GoogleAdsApiGateway | None:
    """The real adapter when `settings` hold a complete set of credentials, else None."""
    if settings.missing():
        return None
    from leadflow.google_ads_api import GoogleAdsApiGateway, client_from_settings

    return GoogleAdsApiGateway(client_from_settings(settings), **options)
