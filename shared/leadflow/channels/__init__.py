"""The paid channels Leadflow steers, by key.

Adding a channel is one module here (a `ChannelGateway` and its settings), one entry in
`REGISTRY`, and one row of `public.ad_channels` (a migration). The database holds the
channel's key pattern, cap and kill switch; this registry says where its code lives.

A channel's module is imported only when that channel is used: the Microsoft
Advertising SDK alone takes most of a second to load, and a job that never talks to
a channel never pays for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
)

if TYPE_CHECKING:
    from leadflow.settings import Settings

__all__ = [
    "MICROS_PER_CENT",
    "REGISTRY",
    "BudgetChange",
    "BudgetInfo",
    "BudgetResult",
    "CampaignMetrics",
    "ChannelEntry",
    "ChannelGateway",
    "ChannelRequestError",
    "QuotaExhausted",
    "any_configured",
    "entry",
    "gateways_from_settings",
]


@dataclass(frozen=True)
class ChannelEntry:
    """Where a channel's code lives and how its credentials are found in `Settings`.

    `module` defines `gateway_for(settings) -> ChannelGateway | None` (None when its
    credentials are incomplete), `missing_settings(settings)`,
    `budget_customer_id(resource_name) -> str` and `validate_changes(changes)`.
    `settings_field` names its credentials in `Settings` (e.g. `google_ads`), read
    without importing the module.
    """

    key: str
    label: str
    module: str
    settings_field: str | None = None

    def configured(self, settings: Settings) -> bool:
        """Whether this channel's credentials are complete (without `settings_field`, its
        module is asked)."""
        if self.settings_field is None:
            return not self.missing(settings)
        credentials = getattr(settings, self.settings_field, None)
        return credentials is not None and not credentials.missing()

    def load(self) -> Any:
        return importlib.import_module(self.module)

    def gateway(self, settings: Settings) -> ChannelGateway | None:
        """The real gateway for this channel when its credentials are complete, else None."""
        factory: Callable[[Settings], ChannelGateway | None] = self.load().gateway_for
        return factory(settings)

    def missing(self, settings: Settings) -> list[str]:
        """The environment variables still needed for this channel (names only)."""
        result: list[str] = self.load().missing_settings(settings)
        return result


#: Every channel the code knows. The database's `public.ad_channels` says which exist in
#: a deployment; a channel there without an entry here is refused by the jobs, by name.
REGISTRY: dict[str, ChannelEntry] = {
    "google_ads": ChannelEntry(
        "google_ads", "Google Ads", "leadflow.channels.google_ads", "google_ads"
    ),
    "microsoft_ads": ChannelEntry(
        "microsoft_ads", "Microsoft Advertising", "leadflow.channels.microsoft_ads", "microsoft_ads"
    ),
}


def entry(channel: str) -> ChannelEntry:
    """The registry entry of `channel`; LookupError naming the known channels otherwise."""
    try:
        return REGISTRY[channel]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise LookupError(f"unknown channel {channel!r} (known: {known})") from None


def gateways_from_settings(
    settings: Settings, channels: Mapping[str, ChannelEntry] | None = None
) -> dict[str, ChannelGateway]:
    """The real gateway of every channel whose credentials are complete, by key (a channel
    without credentials is not even imported)."""
    result: dict[str, ChannelGateway] = {}
    for key, item in (channels or REGISTRY).items():
        if not item.configured(settings):
            continue
        gateway = item.gateway(settings)
        if gateway is not None:
            result[key] = gateway
    return result


def any_configured(settings: Settings) -> bool:
    """Whether some channel has complete credentials (what a run that sends needs)."""
    return any(item.configured(settings) for item in REGISTRY.values())
