"""Every paid channel behind one gateway: each budget goes to its channel's gateway.

The jobs hold one `ChannelSet`. It routes a budget by its resource name, matched against
the channels' patterns as the database keeps them (`public.paid_channels()`), so the
orchestrator reads, applies and reconciles budgets on every channel the same way, and
one channel's failure or used-up quota never stops another's changes.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from leadflow.channels.base import (
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    ChannelGateway,
    QuotaExhausted,
)


@dataclass(frozen=True)
class PaidChannel:
    """A paid channel as the database defines it."""

    key: str
    label: str
    budget_name_pattern: str

    def owns(self, resource_name: str) -> bool:
        return _compiled(self.budget_name_pattern).search(resource_name) is not None


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """A channel's pattern compiled once (a run routes every budget through it)."""
    return re.compile(pattern)


class ChannelSet:
    """One gateway per channel, behind the `ChannelGateway` protocol (budgets routed by name).

    `ChannelSet.every(gateway)` serves every channel from one gateway (the demo's and the
    simulation's market, the tests' fakes).
    """

    def __init__(
        self,
        gateways: Mapping[str, ChannelGateway],
        channels: Sequence[PaidChannel],
        *,
        shared: ChannelGateway | None = None,
    ) -> None:
        self.gateways = dict(gateways)
        self.channels = {c.key: c for c in channels}
        self._shared = shared

    @classmethod
    def every(cls, gateway: ChannelGateway, channels: Sequence[PaidChannel] = ()) -> ChannelSet:
        return cls({}, channels, shared=gateway)

    def __repr__(self) -> str:
        if self._shared is not None:
            return f"ChannelSet(every channel: {self._shared!r})"
        return f"ChannelSet({', '.join(sorted(self.gateways))})"

    def channel_of(self, resource_name: str) -> str | None:
        """The channel whose budgets look like `resource_name` (None: no channel's do)."""
        for channel in self.channels.values():
            if channel.owns(resource_name):
                return channel.key
        return None

    def gateway(self, channel: str) -> ChannelGateway | None:
        """The gateway of `channel`; None when it has none (no credentials configured)."""
        return self._shared if self._shared is not None else self.gateways.get(channel)

    def unavailable(self, channel: str) -> str | None:
        """Why budgets of `channel` cannot be read or changed now (None: they can)."""
        if self.gateway(channel) is not None:
            return None
        label = self.channels[channel].label if channel in self.channels else channel
        return f"no {label} credentials configured"

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """Only for a set serving every channel from one gateway; else `metrics(channel, ...)`."""
        if self._shared is None:
            raise TypeError("ChannelSet.daily_metrics needs a channel: use metrics(channel, ...)")
        return self._shared.daily_metrics(day, customer_ids)

    def metrics(
        self, channel: str, day: date, customer_ids: Sequence[str]
    ) -> list[CampaignMetrics]:
        """The day's metrics of `channel`'s accounts ([] when it has no gateway)."""
        gateway = self.gateway(channel)
        return gateway.daily_metrics(day, customer_ids) if gateway and customer_ids else []

    def _by_channel(self, names: Sequence[str]) -> dict[str | None, list[str]]:
        groups: dict[str | None, list[str]] = defaultdict(list)
        for name in names:
            groups[self.channel_of(name)].append(name)
        return groups

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        """The budgets that exist among `resource_names`, each read from its channel."""
        if self._shared is not None:
            return self._shared.current_budgets(resource_names)
        found: dict[str, BudgetInfo] = {}
        for channel, names in self._by_channel(resource_names).items():
            gateway = self.gateway(channel) if channel else None
            if gateway is not None:
                found.update(gateway.current_budgets(names))
        return found

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        """Each change through its channel's gateway; one result per change, in order.

        A change on a channel without a gateway fails (not sent). A used-up quota on one
        channel stops that channel only; the others go on, and `QuotaExhausted` is raised at
        the end with every result settled.
        """
        if self._shared is not None:
            return self._shared.apply_budgets(changes, validate_only=validate_only)
        groups: dict[str | None, list[BudgetChange]] = defaultdict(list)
        for change in changes:
            groups[self.channel_of(change.budget_resource_name)].append(change)
        results: dict[int, BudgetResult] = {}
        exhausted: list[str] = []
        for channel, batch in groups.items():
            gateway = self.gateway(channel) if channel else None
            if gateway is None:
                why = self.unavailable(channel) if channel else "no channel has budgets named so"
                for change in batch:
                    results[change.key] = BudgetResult(change.key, "failed", f"not sent: {why}")
                continue
            try:
                answered = gateway.apply_budgets(batch, validate_only=validate_only)
            except QuotaExhausted as exc:
                exhausted.append(f"{channel}: {exc}")
                answered = list(exc.completed)
            results.update({r.key: r for r in answered})
        ordered = [results[c.key] for c in changes if c.key in results]
        if exhausted:
            raise QuotaExhausted("; ".join(exhausted), completed=ordered)
        return ordered


def as_channel_set(gateway: ChannelGateway | ChannelSet) -> ChannelSet:
    """`gateway` as a `ChannelSet` (a plain gateway serves every channel)."""
    return gateway if isinstance(gateway, ChannelSet) else ChannelSet.every(gateway)
