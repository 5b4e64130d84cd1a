"""The wording of reasons: amounts, lead counts and shares as a reason's sentence shows them.

Every decision carries one sentence with its numbers; these format them the same way in
every sentence, and never raise (a huge or non-finite input is shown, not an error).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from leadflow.controller.arithmetic import MICROS_PER_UNIT


def eur(micros: int | Decimal) -> str:
    """Micros as euros to the cent: 12_345_678 -> '€12.35', -5e6 -> '-€5.00'."""
    if isinstance(micros, int) and abs(micros) >= 10**24:
        micros = Decimal(micros)  # str() of a huge int raises; show it in E-notation
    if isinstance(micros, Decimal):
        if not micros.is_finite():
            return "-€∞" if micros < 0 else "€∞"
        if abs(micros) >= 10**24:
            return f"{'-' if micros < 0 else ''}€{abs(micros) / MICROS_PER_UNIT:.3E}"
        micros = int(micros.to_integral_value(ROUND_HALF_EVEN))
    sign = "-" if micros < 0 else ""
    cents = (abs(micros) + 5_000) // 10_000
    return f"{sign}€{cents // 100:,}.{cents % 100:02d}"


def text(value: object) -> str:
    """Any input value for a sentence; str() of an int over 4,300 digits would raise."""
    if isinstance(value, int) and abs(value) >= 10**21:
        return f"{Decimal(value):.3E}"
    return str(value)


def leads(value: Decimal) -> str:
    """A lead count for a sentence: up to two decimals, no trailing zeros."""
    if value != 0 and (abs(value) >= 10**15 or abs(value) < Decimal("0.01")):
        return f"{value:.3E}"
    shown = f"{value.quantize(Decimal('0.01')):f}".rstrip("0").rstrip(".")
    return "0" if shown in ("", "-0") else shown


def share(value: Decimal) -> str:
    """A share (0..1) as a percentage: 0.25 -> '25%'."""
    return f"{leads(value * 100)}%"


def pct(fraction: Decimal) -> str:
    """A fraction of a budget as a percentage: 0.2 -> '20%'."""
    return f"{leads(fraction * 100)}%"


def num(value: float) -> str:
    """A price in two decimals."""
    return f"{value:.2f}"


def lower(sentence: str) -> str:
    """A sentence continued after a comma or semicolon: its first letter in lower case."""
    return sentence[:1].lower() + sentence[1:]


def upper(sentence: str) -> str:
    """A sentence's first letter in upper case."""
    return f"{sentence[0].upper()}{sentence[1:]}"
