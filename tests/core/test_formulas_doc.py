"""docs/FORMULAS.md lists every parameter of `orchestration_settings`, with the catalog's default.

The table is the one home of every controller and planning parameter; the document is checked
against it (the catalog's `column_default`), so neither can drift from the other.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from leadflow.controller import ControllerConfig
from leadflow.db import Caller, Database
from leadflow.jobs.orchestrate import controller_config

FORMULAS = Path(__file__).resolve().parents[2] / "docs" / "FORMULAS.md"
#: Columns of the settings row that are not parameters: the key, the kill switch, the stamp.
NOT_PARAMETERS = {"id", "changes_enabled", "updated_at", "updated_by"}
#: The ControllerConfig field whose column has another name.
CONFIG_COLUMNS = {"lead_elasticity": "prior_elasticity"}


def _documented() -> dict[str, str]:
    """Parameter -> default, from the table of the document's "Parameters" section."""
    text = FORMULAS.read_text(encoding="utf-8")
    section = text.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", section, flags=re.MULTILINE)
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a parameter is listed twice"
    return dict(rows)


def _catalog(sql: psycopg.Connection[Any]) -> dict[str, str | None]:
    """Parameter column -> its default as the catalog holds it (None: no default)."""
    rows = sql.execute(
        "select column_name, column_default from information_schema.columns "
        "where table_schema = 'public' and table_name = 'orchestration_settings'"
    ).fetchall()
    return {name: default for name, default in rows if name not in NOT_PARAMETERS}


def _number(default: str | None) -> Decimal | None:
    """The number of a documented or catalog default ('0.200', '28', "'20'::numeric"); None
    for none."""
    if default is None or default.strip().lower() in ("none", "null"):
        return None
    match = re.fullmatch(r"\(?'?(-?[\d.]+)'?\)?(::[\w ]+)?", default.strip())
    assert match, f"not a number: {default!r}"
    return Decimal(match.group(1))


def test_formulas_lists_every_settings_parameter_with_its_default(
    sql: psycopg.Connection[Any],
) -> None:
    documented, catalog = _documented(), _catalog(sql)
    assert sorted(set(catalog) - set(documented)) == [], "parameters missing from FORMULAS.md"
    assert sorted(set(documented) - set(catalog)) == [], "FORMULAS.md lists unknown parameters"
    wrong = {
        name: (documented[name], catalog[name])
        for name in catalog
        if _number(documented[name]) != _number(catalog[name])
    }
    assert wrong == {}, "FORMULAS.md states other defaults (documented, catalog)"


def test_formulas_prose_quotes_no_other_default(sql: psycopg.Connection[Any]) -> None:
    """A default quoted beside a parameter's name ("prior_elasticity (0.55)", "x (2 %)") is the
    table's; best not quoted at all."""
    catalog = _catalog(sql)
    text = FORMULAS.read_text(encoding="utf-8")
    quoted = re.findall(r"`?(\w+)`? \((-?[\d.]+)\s*(%?)\)", text)
    wrong = [
        (name, number + percent)
        for name, number, percent in quoted
        if name in catalog and Decimal(number) / (100 if percent else 1) != _number(catalog[name])
    ]
    assert wrong == []


def test_every_settings_parameter_has_a_comment(sql: psycopg.Connection[Any]) -> None:
    rows = sql.execute(
        "select a.attname from pg_attribute a "
        "where a.attrelid = 'public.orchestration_settings'::regclass and a.attnum > 0 "
        "and not a.attisdropped and col_description(a.attrelid, a.attnum) is null"
    ).fetchall()
    assert sorted(name for (name,) in rows if name not in NOT_PARAMETERS) == []


def test_the_controller_takes_every_knob_from_the_settings_row(
    database: Database, sql: psycopg.Connection[Any]
) -> None:
    config = controller_config(database, Caller.service())
    catalog = _catalog(sql)
    for field in dataclasses.fields(ControllerConfig):
        column = CONFIG_COLUMNS.get(field.name, field.name)
        assert column in catalog, f"ControllerConfig.{field.name} has no settings column"
        assert Decimal(getattr(config, field.name)) == _number(catalog[column]), field.name


def test_the_daily_limit_cannot_be_set_above_20_percent(sql: psycopg.Connection[Any]) -> None:
    sql.execute("update public.orchestration_settings set max_daily_change = 0.2")
    with pytest.raises(psycopg.errors.CheckViolation):
        sql.execute("update public.orchestration_settings set max_daily_change = 0.201")


@pytest.mark.parametrize(
    "assignment",
    [
        "steering_window_days = 10",  # not whole weeks: weekdays would count unequally
        "steering_window_days = 0",
        "scale_window_days = 10",
        "elasticity_min = 0",
        "elasticity_min = 1.5",  # not below elasticity_max
        "elasticity_max = 2.01",
        "elasticity_spread_max = 0.1",  # below elasticity_spread
        "probe_step = 0.25",  # above max_daily_change
        "probe_step = -0.01",
        "probe_min_sd = -0.01",
        "explore_sd = -0.5",
        "explore_sd = 5.5",
        "demand_variance = -0.01",
        "min_accepted_for_value = 0",
        "estimate_max_age_days = 0",
    ],
)
def test_the_estimator_and_window_parameters_are_checked(
    sql: psycopg.Connection[Any], assignment: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        sql.execute(f"update public.orchestration_settings set {assignment}")
