"""The base of errors that a user can act on: shown as one line, never a traceback."""

from __future__ import annotations


class LeadflowError(Exception):
    """An error whose message is fit to show a user as it is."""
