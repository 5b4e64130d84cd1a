"""Dutch calendar days: every Leadflow day is cut in Europe/Amsterdam."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from leadflow import TIMEZONE

AMSTERDAM = ZoneInfo(TIMEZONE)


def today_nl(now: datetime | None = None) -> date:
    """Today in the Netherlands (`now` must be timezone-aware when given)."""
    return (now or datetime.now(AMSTERDAM)).astimezone(AMSTERDAM).date()


def days_between(first: date, last: date) -> Iterator[date]:
    """Every day from `first` to `last`, both included."""
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def chunks(first: date, last: date, size: int) -> Iterator[tuple[date, date]]:
    """(from, to) pieces of at most `size` days covering `first`..`last`."""
    start = first
    while start <= last:
        end = min(start + timedelta(days=size - 1), last)
        yield start, end
        start = end + timedelta(days=1)
