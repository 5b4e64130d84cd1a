"""Who sees segments, and why a user can never make themself an admin.

A valid token is not a partner: with sign-up on, anyone has one. Segments are
for users with a marketplace profile (partners) and admins. Admin rights come
from `profiles.role`, which the marketplace may let users update (their own
row) or insert; a trigger refuses every change of the role from an end user's
request, whatever policies and grants the marketplace has.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest
from api_fixtures import SEGMENT_OWN, bearer, insert_sample_days, mint
from conftest import ADMIN_ID, PARTNER_BRABANT_ID, PARTNER_UTRECHT_ID, as_user
from flask.testing import FlaskClient
from psycopg.errors import InsufficientPrivilege

SIGNED_UP = "00000000-0000-4000-8009-0000000000aa"  # a token, an auth user, no profile


@pytest.fixture
def signed_up(sql: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    sql.execute(
        "insert into auth.users (id, email) values (%s, 'someone@example.com')", (SIGNED_UP,)
    )
    return sql


# The policies an existing marketplace commonly has on its own profiles table.
MARKETPLACE_PROFILE_POLICIES = """
grant insert, update on table public.profiles to authenticated;
create policy "Users can create their own profile" on public.profiles
  for insert to authenticated with check (id = (select auth.uid()));
create policy "Users can update their own profile" on public.profiles
  for update to authenticated using (id = (select auth.uid()))
  with check (id = (select auth.uid()));
create policy "Admins can read any profile" on public.profiles
  for select to authenticated using ((select private.is_admin()));
create policy "Admins can update any profile" on public.profiles
  for update to authenticated using ((select private.is_admin()));
"""


def _segments_seen(conn: psycopg.Connection[Any], user: str | None) -> int:
    with conn.transaction(force_rollback=True):
        as_user(conn, user)
        row = conn.execute("select count(*) from public.lead_segments").fetchone()
    assert row is not None
    return int(row[0])


def test_a_token_without_a_profile_sees_no_segment(signed_up: psycopg.Connection[Any]) -> None:
    assert _segments_seen(signed_up, SIGNED_UP) == 0
    assert _segments_seen(signed_up, None) == 0  # authenticated, no sub at all


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("lead_segments", "id"),
        ("regions", "code"),
        ("public_holidays", "day"),
        ("lead_generation_stats", "segment_id"),
        ("lead_segment_plans", "segment_id"),
    ],
)
def test_a_token_without_a_profile_sees_nothing_of_leadflow(
    signed_up: psycopg.Connection[Any], table: str, column: str
) -> None:
    signed_up.execute(
        "insert into public.public_holidays (day, name) values ('2026-12-25', 'Kerst')"
    )
    insert_sample_days(signed_up, SEGMENT_OWN, date(2026, 11, 1), date(2026, 11, 3))
    statement = f"select count({column}) from public.{table}"
    assert _count(signed_up, PARTNER_BRABANT_ID, statement) > 0  # a partner does
    assert _count(signed_up, SIGNED_UP, statement) == 0


def _count(conn: psycopg.Connection[Any], user: str, statement: str) -> int:
    with conn.transaction(force_rollback=True):
        as_user(conn, user)
        row = conn.execute(statement).fetchone()
    assert row is not None
    return int(row[0])


def test_partners_see_active_segments_and_admins_all(sql: psycopg.Connection[Any]) -> None:
    active, total = sql.execute(
        "select count(*) filter (where is_active), count(*) from public.lead_segments"
    ).fetchone() or (0, 0)
    sql.execute("update public.lead_segments set is_active = false where code like 'dak%%'")
    active_now = sql.execute("select count(*) from public.lead_segments where is_active").fetchone()
    assert active_now is not None and 0 < active_now[0] < total
    assert _segments_seen(sql, PARTNER_UTRECHT_ID) == active_now[0]
    assert _segments_seen(sql, ADMIN_ID) == total
    assert active == total


def test_the_api_lists_no_segment_to_a_token_without_a_profile(
    api_client: FlaskClient, api_sql: psycopg.Connection[Any]
) -> None:
    api_sql.execute(
        "insert into auth.users (id, email) values (%s, 'someone@example.com')", (SIGNED_UP,)
    )
    nobody = api_client.get("/api/lead-segments", headers=bearer(mint(SIGNED_UP)))
    assert nobody.status_code == 200, nobody.get_json()
    assert nobody.get_json()["items"] == []
    partner = api_client.get("/api/lead-segments", headers=bearer(mint(PARTNER_UTRECHT_ID)))
    assert partner.status_code == 200 and len(partner.get_json()["items"]) > 0


@pytest.fixture
def permissive_marketplace(signed_up: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    signed_up.execute(MARKETPLACE_PROFILE_POLICIES)
    return signed_up


def _as(conn: psycopg.Connection[Any], user: str, statement: str, *args: Any) -> None:
    with conn.transaction():
        as_user(conn, user)
        conn.execute(statement, args)


def _role_of(conn: psycopg.Connection[Any], user: str) -> str | None:
    row = conn.execute("select role from public.profiles where id = %s", (user,)).fetchone()
    return row[0] if row else None


def test_a_partner_cannot_make_itself_admin_even_where_it_may_update_its_profile(
    permissive_marketplace: psycopg.Connection[Any],
) -> None:
    conn = permissive_marketplace
    with pytest.raises(InsufficientPrivilege, match="only an admin or the service role"):
        _as(
            conn,
            PARTNER_UTRECHT_ID,
            "update public.profiles set role = 'admin' where id = %s",
            PARTNER_UTRECHT_ID,
        )
    assert _role_of(conn, PARTNER_UTRECHT_ID) == "partner"
    # The rest of its own profile stays its to change.
    _as(
        conn,
        PARTNER_UTRECHT_ID,
        "update public.profiles set company_name = 'Nieuw' where id = %s",
        PARTNER_UTRECHT_ID,
    )
    assert _role_of(conn, PARTNER_UTRECHT_ID) == "partner"


def test_a_new_user_cannot_create_its_profile_as_admin(
    permissive_marketplace: psycopg.Connection[Any],
) -> None:
    conn = permissive_marketplace
    with pytest.raises(InsufficientPrivilege):
        _as(
            conn,
            SIGNED_UP,
            "insert into public.profiles (id, role) values (%s, 'admin')",
            SIGNED_UP,
        )
    assert _role_of(conn, SIGNED_UP) is None
    _as(conn, SIGNED_UP, "insert into public.profiles (id) values (%s)", SIGNED_UP)
    assert _role_of(conn, SIGNED_UP) == "partner"
    assert _segments_seen(conn, SIGNED_UP) > 0  # now a partner


def test_not_through_a_security_definer_function_of_the_marketplace_either(
    permissive_marketplace: psycopg.Connection[Any],
) -> None:
    conn = permissive_marketplace
    conn.execute(
        """
        create function public.update_my_profile(p_changes jsonb) returns void
        language sql security definer set search_path = '' as $$
          update public.profiles
             set role = coalesce(p_changes ->> 'role', role),
                 company_name = coalesce(p_changes ->> 'company_name', company_name)
           where id = (select auth.uid())
        $$;
        grant execute on function public.update_my_profile(jsonb) to authenticated;
        """
    )
    with pytest.raises(InsufficientPrivilege):
        _as(conn, PARTNER_UTRECHT_ID, 'select public.update_my_profile(\'{"role": "admin"}\')')
    assert _role_of(conn, PARTNER_UTRECHT_ID) == "partner"


def test_admins_the_service_role_and_the_dashboard_may_set_roles(
    permissive_marketplace: psycopg.Connection[Any],
) -> None:
    conn = permissive_marketplace
    _as(
        conn,
        ADMIN_ID,
        "update public.profiles set role = 'admin' where id = %s",
        PARTNER_UTRECHT_ID,
    )
    assert _role_of(conn, PARTNER_UTRECHT_ID) == "admin"
    with conn.transaction():
        as_user(conn, None, "service_role")
        conn.execute(
            "update public.profiles set role = 'partner' where id = %s", (PARTNER_UTRECHT_ID,)
        )
    assert _role_of(conn, PARTNER_UTRECHT_ID) == "partner"
    conn.execute("update public.profiles set role = 'admin' where id = %s", (PARTNER_UTRECHT_ID,))
    assert _role_of(conn, PARTNER_UTRECHT_ID) == "admin"
