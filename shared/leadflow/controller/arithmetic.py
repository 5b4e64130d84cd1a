"""Exact arithmetic on amounts and inputs: the decimal context, billable units, the daily step.

Every input is checked to be a finite number of the right type before any arithmetic;
the context has wide exponents and no traps, so huge or tiny inputs give Infinity or 0,
never an exception.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal

MICROS_PER_UNIT = 1_000_000

CONTEXT = Context(
    prec=34, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[], flags=[]
)


def is_int(value: object) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def as_decimal(value: object) -> Decimal | None:
    """A finite Decimal, or None for anything else (None, NaN, Infinity, wrong type)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = Decimal(value)  # exact; a float NaN becomes a Decimal NaN
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def as_share(value: object) -> Decimal | None:
    """A finite Decimal between 0 and 1, else None."""
    share = as_decimal(value)
    return share if share is not None and 0 <= share <= 1 else None


def max_step(old: int, fraction: Decimal) -> int:
    """floor(old * fraction), exactly."""
    numerator, denominator = fraction.as_integer_ratio()
    return old * numerator // denominator


def floor_unit(micros: int, unit: int) -> int:
    """The largest whole multiple of `unit` at or below `micros`."""
    return micros // unit * unit


def ceil_unit(micros: int, unit: int) -> int:
    """The smallest whole multiple of `unit` at or above `micros`."""
    return -(-micros // unit) * unit
