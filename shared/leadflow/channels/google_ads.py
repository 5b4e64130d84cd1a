"""Google Ads: read campaign metrics and budgets, change budget amounts.

The jobs code against `GoogleAdsGateway`, which speaks in plain dataclasses.
`GoogleAdsApiGateway` is the real adapter over the google-ads library;
`leadflow_tools.google_ads_fake.InMemoryGoogleAds` (a tool) is the fake for tests and simulations.

Failure policy of the real adapter: transient errors are retried with bounded
exponential backoff; a used-up daily operation quota raises `QuotaExhausted` at
once (retrying only burns more quota); anything else is permanent. A budget
change never fails another: requests use partial failure, and a request that
fails as a whole fails only its own changes.

`GoogleAdsApiGateway` lives in `leadflow.channels.google_ads_api` with the google-ads library,
grpc and protobuf; this module (the seam) imports none of them, so that a job that never
talks to Google Ads (plan) never loads them. Its names are still reachable from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from leadflow.channels.base import (
    MICROS_PER_CENT,
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    ChannelGateway,
    ChannelRequestError,
    QuotaExhausted,
    validate_amounts,
)
from leadflow.settings import GoogleAdsSettings, Settings, normalize_customer_id

if TYPE_CHECKING:
    from leadflow.channels.google_ads_api import (
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
#: Resource names per `IN (...)` list, to keep each GAQL query short.
NAMES_PER_QUERY = 500

_BUDGET_NAME = re.compile(r"customers/(\d+)/campaignBudgets/(\d+)")

#: Names defined by the real adapter's module, loaded on first use (PEP 562).
_API_NAMES = frozenset({"GoogleAdsApiGateway", "RetryPolicy", "client_from_settings"})


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from leadflow.channels import google_ads_api

        return getattr(google_ads_api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The gateway protocol under its old name.
GoogleAdsGateway = ChannelGateway
#: A failed read, under its old name.
GoogleAdsRequestError = ChannelRequestError


def budget_customer_id(resource_name: str) -> str:
    """The customer id in `customers/{cid}/campaignBudgets/{id}`; ValueError if malformed."""
    match = _BUDGET_NAME.fullmatch(resource_name)
    if not match:
        raise ValueError(f"not a campaign budget resource name: {resource_name!r}")
    return match.group(1)


def validate_changes(changes: Sequence[BudgetChange]) -> None:
    """Refuse (ValueError) what Google would refuse or what makes results ambiguous.

    Budgets must be Google Ads resource names; amounts positive whole cents; keys and
    budgets unique.
    """
    for change in changes:
        budget_customer_id(change.budget_resource_name)
    validate_amounts(changes)


def gateway_from_settings(
    settings: GoogleAdsSettings, **options: Any
) -> GoogleAdsApiGateway | None:
    """The real adapter when `settings` hold a complete set of credentials, else None."""
    if settings.missing():
        return None
    from leadflow.channels.google_ads_api import GoogleAdsApiGateway, client_from_settings

    return GoogleAdsApiGateway(client_from_settings(settings), **options)


def gateway_for(settings: Settings) -> GoogleAdsApiGateway | None:
    """The registry's factory (`leadflow.channels.REGISTRY`): from the whole `Settings`."""
    return gateway_from_settings(settings.google_ads)


def missing_settings(settings: Settings) -> list[str]:
    """The registry's check: the `GOOGLE_ADS_*` variables still needed."""
    return settings.google_ads.missing()
