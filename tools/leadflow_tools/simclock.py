"""The database's day, pinned for simulations and tests (database owner only).

Every money rule is cut on the Amsterdam day of the database's clock
(`private.today_nl()`): live changes only for today, the daily limit per day of
sending. A demo or simulation steers day after day in minutes, so it pins that
day in `private.clock` through a connection as the database owner; no API role
can. Production never writes the table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import psycopg

Clock = Callable[[date | None], None]


def pin_today(url: str, day: date | None) -> None:
    """Make `day` the database's today (None: back to the real clock)."""
    with psycopg.connect(url, autocommit=True) as conn:
        pin_today_on(conn, day)


def pin_today_on(conn: psycopg.Connection[Any], day: date | None) -> None:
    """`pin_today` on an open autocommit connection as the database owner (a simulation
    pins every morning: one connection for the run, not one a day)."""
    if day is None:
        conn.execute("delete from private.clock")
    else:
        conn.execute(
            "insert into private.clock (id, today) values (true, %s) "
            "on conflict (id) do update set today = excluded.today",
            (day,),
        )


def database_clock(url: str) -> Clock:
    """A clock for the daily loop of a simulated market on the database at `url`."""
    return partial(pin_today, url)
