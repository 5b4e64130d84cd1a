"""The wording of reasons: numbers as every reason's sentence shows them, never an error."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from leadflow.controller.wording import eur, leads, lower, pct, share, text, upper


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (12_345_678, "€12.35"),
        (-5_000_000, "-€5.00"),
        (4_999, "€0.00"),
        (5_000, "€0.01"),
        (1_234_567_890_000, "€1,234,567.89"),
        (D("2500000.5"), "€2.50"),
        (D("Infinity"), "€∞"),
        (D("-Infinity"), "-€∞"),
        (10**30, "€1.000E+24"),
    ],
)
def test_euros_are_shown_to_the_cent(micros: int | D, shown: str) -> None:
    assert eur(micros) == shown


def test_a_number_too_long_for_str_is_shown_in_e_notation() -> None:
    assert text(10**5000) == "1.000E+5000"
    assert text(-(10**5000)) == "-1.000E+5000"
    assert text(42) == "42"


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (D("2.50"), "2.5"),
        (D(12), "12"),
        (D("3.456"), "3.46"),
        (D("-0.001"), "-1.000E-3"),
        (D(0), "0"),
        (D("1E+20"), "1.000E+20"),
    ],
)
def test_lead_counts_have_at_most_two_decimals(count: D, shown: str) -> None:
    assert leads(count) == shown


def test_shares_and_fractions_read_as_percentages() -> None:
    assert share(D("0.25")) == "25%"
    assert pct(D("0.2")) == "20%"
    assert pct(D("0.125")) == "12.5%"


def test_a_sentence_continues_in_lower_case_and_starts_in_upper_case() -> None:
    assert lower("Under target") == "under target"
    assert upper("only 3 leads") == "Only 3 leads"
    assert lower("") == ""
