"""Leadflow: lead flow intelligence for a home-services lead marketplace."""

from __future__ import annotations

__version__ = "0.1.0"

#: Every "day" in Leadflow is a calendar day in this zone, never UTC.
TIMEZONE = "Europe/Amsterdam"
