"""Microsoft Advertising: read campaign metrics and budgets, change budget amounts.

Two kinds of budget live on this channel, each with its resource name:

- `accounts/{account_id}/budgets/{budget_id}`: a shared `Budget` of the account's library
  (Campaign Management `GetBudgetsByIds` / `UpdateBudgets`);
- `accounts/{account_id}/campaigns/{campaign_id}/budget`: a campaign's own `DailyBudget`
  (`GetCampaignsByIds` / `UpdateCampaigns`), for a campaign without a shared budget.

Microsoft speaks currency units (12.34), Leadflow micros (12_340_000): amounts are
converted exactly (`Decimal`) at this edge, and a change that is not whole cents is refused.

`MicrosoftAdsApiGateway`, the real adapter over the `bingads` SDK, lives in
`leadflow.channels.microsoft_ads_api`; this module (the seam) does not import the SDK
(about 0.7 s and 60 MB), so that a job that never talks to Microsoft never loads it. Its
names are still reachable from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
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
from leadflow.settings import MicrosoftAdsSettings, Settings

if TYPE_CHECKING:
    from leadflow.channels.microsoft_ads_api import MicrosoftAdsApiGateway, RetryPolicy

__all__ = [
    "BUDGET_NAME_PATTERN",
    "MAX_ITEMS_PER_REQUEST",
    "MICROS_PER_CENT",
    "SEND_DEADLINE_SECONDS",
    "BudgetChange",
    "BudgetInfo",
    "BudgetRef",
    "BudgetResult",
    "CampaignMetrics",
    "ChannelRequestError",
    "MicrosoftAdsApiGateway",
    "MicrosoftAdsSettings",
    "QuotaExhausted",
    "RetryPolicy",
    "amount_to_micros",
    "budget_customer_id",
    "campaign_budget_name",
    "gateway_for",
    "gateway_from_settings",
    "micros_to_amount",
    "missing_settings",
    "parse_budget_name",
    "shared_budget_name",
    "validate_changes",
]

#: Both budget resource names of this channel; POSIX, so that Postgres's `~` reads it too.
BUDGET_NAME_PATTERN = r"^accounts/[0-9]+/(budgets/[0-9]+|campaigns/[0-9]+/budget)$"
#: Microsoft's limit of budgets or campaigns in one Get/Update request.
MAX_ITEMS_PER_REQUEST = 100
#: The hard deadline of one call, retries and waits included (as Google Ads': it keeps a
#: run inside the database's send window, itself inside the job lease).
SEND_DEADLINE_SECONDS = 20 * 60

_BUDGET_NAME = re.compile(BUDGET_NAME_PATTERN)
_MICROS_PER_UNIT = Decimal(1_000_000)
_CENT = Decimal("0.01")

#: Names defined by the real adapter's module, loaded on first use (PEP 562).
_API_NAMES = frozenset({"MicrosoftAdsApiGateway", "RetryPolicy"})


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from leadflow.channels import microsoft_ads_api

        return getattr(microsoft_ads_api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BudgetRef:
    """A parsed budget resource name: the account, and a shared budget or a campaign."""

    __slots__ = ("account_id", "budget_id", "campaign_id")

    def __init__(self, account_id: str, *, budget_id: str | None, campaign_id: str | None):
        self.account_id = account_id
        self.budget_id = budget_id
        self.campaign_id = campaign_id

    @property
    def shared(self) -> bool:
        """Whether this names a shared `Budget` (else a campaign's own budget)."""
        return self.budget_id is not None

    @property
    def name(self) -> str:
        """The resource name back."""
        if self.budget_id is not None:
            return shared_budget_name(self.account_id, self.budget_id)
        assert self.campaign_id is not None
        return campaign_budget_name(self.account_id, self.campaign_id)


def parse_budget_name(resource_name: str) -> BudgetRef:
    """The parts of a budget resource name; ValueError if malformed."""
    if not isinstance(resource_name, str) or not _BUDGET_NAME.fullmatch(resource_name):
        raise ValueError(f"not a Microsoft Advertising budget resource name: {resource_name!r}")
    parts = resource_name.split("/")
    if parts[2] == "budgets":
        return BudgetRef(parts[1], budget_id=parts[3], campaign_id=None)
    return BudgetRef(parts[1], budget_id=None, campaign_id=parts[3])


def shared_budget_name(account_id: str | int, budget_id: str | int) -> str:
    """`accounts/{account_id}/budgets/{budget_id}`."""
    return f"accounts/{account_id}/budgets/{budget_id}"


def campaign_budget_name(account_id: str | int, campaign_id: str | int) -> str:
    """`accounts/{account_id}/campaigns/{campaign_id}/budget`."""
    return f"accounts/{account_id}/campaigns/{campaign_id}/budget"


def budget_customer_id(resource_name: str) -> str:
    """The account id of a budget resource name; ValueError if malformed."""
    return parse_budget_name(resource_name).account_id


def validate_changes(changes: Sequence[BudgetChange]) -> None:
    """Refuse (ValueError) malformed names, non-whole-cent amounts, repeated keys or budgets."""
    for change in changes:
        parse_budget_name(change.budget_resource_name)
    validate_amounts(changes)


def micros_to_amount(micros: int) -> Decimal:
    """Micros as the currency amount Microsoft takes (12_340_000 → Decimal('12.34')).

    ValueError for anything that is not whole cents: Microsoft would round it silently.
    """
    if isinstance(micros, bool) or not isinstance(micros, int) or micros % MICROS_PER_CENT:
        raise ValueError(f"{micros!r} micros is not a whole cent")
    return (Decimal(micros) / _MICROS_PER_UNIT).quantize(_CENT)


def amount_to_micros(amount: Any) -> int:
    """A currency amount from Microsoft (decimal text, Decimal or float) as micros, exactly.

    A float is read by its shortest text (12.34, not 12.339999…); ValueError for what is
    not a finite amount in whole micros.
    """
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    micros = value * _MICROS_PER_UNIT
    if micros != micros.to_integral_value():
        raise ValueError(f"{amount!r} is not a whole number of micros")
    return int(micros)


def gateway_from_settings(
    settings: MicrosoftAdsSettings, **options: Any
) -> MicrosoftAdsApiGateway | None:
    """The real adapter when `settings` hold a complete set of credentials, else None."""
    if settings.missing():
        return None
    from leadflow.channels.microsoft_ads_api import MicrosoftAdsApiGateway

    return MicrosoftAdsApiGateway(settings, **options)


def gateway_for(settings: Settings) -> MicrosoftAdsApiGateway | None:
    """The registry's factory (`leadflow.channels.REGISTRY`): from the whole `Settings`."""
    return gateway_from_settings(settings.microsoft_ads)


def missing_settings(settings: Settings) -> list[str]:
    """The registry's check: the `MICROSOFT_ADS_*` variables still needed."""
    return settings.microsoft_ads.missing()


if TYPE_CHECKING:
    _conforms: type[ChannelGateway] = MicrosoftAdsApiGateway
