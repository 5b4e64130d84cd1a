"""The database linter: the migrated schema is clean, and every check catches its mistake.

Each bad example is a mistake a migration could make; each good example is the
way our migrations do it, which the same check must leave alone. Examples run
in a rolled-back transaction on one freshly migrated database.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from conftest import EMPTY_TEMPLATE, PgCluster
from leadflow_tools.lint import CHECKS, Finding, lint

# A table with RLS on and a harmless policy, to hang policies on.
OWNED = """
create table public.lint_owned (id int primary key, owner uuid, is_public boolean not null default false);
alter table public.lint_owned enable row level security;
"""


def _policy(using: str, *, command: str = "select", to: str = "authenticated") -> str:
    clause = "with check" if command == "insert" else "using"
    return OWNED + (
        f'create policy "lint policy" on public.lint_owned for {command} to {to} {clause} ({using});'
    )


BAD = [
    pytest.param(
        "unindexed_foreign_keys",
        "public.lint_child",
        """
        create table public.lint_parent (id int primary key);
        create table public.lint_child (id int primary key, parent_id int references public.lint_parent);
        """,
        id="unindexed_foreign_keys: no index at all",
    ),
    pytest.param(
        "unindexed_foreign_keys",
        "public.lint_child",
        """
        create table public.lint_parent (id int primary key);
        create table public.lint_child (id int primary key, day date,
                                        parent_id int references public.lint_parent);
        create index on public.lint_child (day, parent_id);
        create index on public.lint_child (parent_id) where day is not null;
        """,
        id="unindexed_foreign_keys: only a later column or a partial index",
    ),
    pytest.param(
        "auth_rls_initplan",
        "public.lint_owned",
        _policy("owner = auth.uid()"),
        id="auth_rls_initplan: auth.uid()",
    ),
    pytest.param(
        "auth_rls_initplan",
        "public.lint_owned",
        _policy("owner = (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid"),
        id="auth_rls_initplan: current_setting()",
    ),
    pytest.param(
        "auth_rls_initplan",
        "public.lint_owned",
        _policy("(auth.jwt() ->> 'role') = 'admin'", command="insert"),
        id="auth_rls_initplan: auth.jwt() in with check",
    ),
    pytest.param(
        "auth_rls_initplan",
        "public.lint_owned",
        _policy("private.is_admin()"),
        id="auth_rls_initplan: a private helper",
    ),
    pytest.param(
        "auth_rls_initplan",
        "public.lint_owned",
        _policy("owner = (select auth.uid()) or is_public and owner <> auth.uid()"),
        id="auth_rls_initplan: one call wrapped, one not",
    ),
    pytest.param(
        "no_primary_key",
        "private.lint_events",
        "create table private.lint_events (happened_at timestamptz, what text);",
        id="no_primary_key",
    ),
    pytest.param(
        "multiple_permissive_policies",
        "public.lint_owned",
        OWNED
        + """
        create policy "Owners read" on public.lint_owned for select to authenticated
          using (owner = (select auth.uid()));
        create policy "Anyone reads public rows" on public.lint_owned for select to authenticated
          using (is_public);
        """,
        id="multiple_permissive_policies: two select policies",
    ),
    pytest.param(
        "multiple_permissive_policies",
        "public.lint_owned",
        OWNED
        + """
        create policy "Owners manage" on public.lint_owned for all to authenticated
          using (owner = (select auth.uid()));
        create policy "Anyone reads public rows" on public.lint_owned for select
          using (is_public);
        """,
        id="multiple_permissive_policies: for all plus a select policy for public",
    ),
    pytest.param(
        "policy_exists_rls_disabled",
        "private.lint_closed",
        """
        create table private.lint_closed (id int primary key);
        create policy "Signed-in users read" on private.lint_closed for select to authenticated
          using (true);
        """,
        id="policy_exists_rls_disabled",
    ),
    pytest.param(
        "rls_enabled_no_policy",
        "public.lint_shut",
        """
        create table public.lint_shut (id int primary key);
        alter table public.lint_shut enable row level security;
        """,
        id="rls_enabled_no_policy",
    ),
    pytest.param(
        "duplicate_index",
        "public.leads",
        "create index lint_leads_created_at_again on public.leads (created_at);",
        id="duplicate_index",
    ),
    pytest.param(
        "security_definer_view",
        "public.lint_segments_view",
        # Supabase's default privileges grant the view to the API roles.
        "create view public.lint_segments_view as select id, code from public.lead_segments;",
        id="security_definer_view: view without security_invoker",
    ),
    pytest.param(
        "security_definer_view",
        "public.lint_segments_matview",
        "create materialized view public.lint_segments_matview as select id from public.lead_segments;",
        id="security_definer_view: materialized view",
    ),
    pytest.param(
        "function_search_path_mutable",
        "private.lint_answer()",
        "create function private.lint_answer() returns int language sql as 'select 42';",
        id="function_search_path_mutable",
    ),
    pytest.param(
        "rls_disabled_in_exposed_schema",
        "public.lint_open",
        "create table public.lint_open (id int primary key);",
        id="rls_disabled_in_exposed_schema",
    ),
    pytest.param(
        "extension_in_exposed_schema",
        "citext",
        "create extension citext with schema public;",
        id="extension_in_exposed_schema",
    ),
    pytest.param(
        "rls_references_user_metadata",
        "public.lint_owned",
        _policy("((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'admin'"),
        id="rls_references_user_metadata: jwt user_metadata",
    ),
    pytest.param(
        "rls_references_user_metadata",
        "public.lint_owned",
        _policy(
            "exists (select 1 from auth.users u where u.id = (select auth.uid())"
            " and u.raw_user_meta_data ->> 'role' = 'admin')"
        ),
        id="rls_references_user_metadata: auth.users raw_user_meta_data",
    ),
    pytest.param(
        "rls_references_user_metadata",
        "public.lint_owned",
        """
        create function private.lint_is_admin() returns boolean
        language sql stable security definer set search_path = ''
        as $$ select coalesce((select u.raw_user_meta_data ->> 'role' = 'admin'
                               from auth.users u where u.id = (select auth.uid())), false) $$;
        """
        + _policy("(select private.lint_is_admin())"),
        id="rls_references_user_metadata: through a helper function",
    ),
    pytest.param(
        "rls_policy_always_true",
        "public.lint_owned",
        _policy("true", command="insert"),
        id="rls_policy_always_true: insert with check (true)",
    ),
    pytest.param(
        "rls_policy_always_true",
        "public.lint_owned",
        _policy("true", command="update"),
        id="rls_policy_always_true: update using (true)",
    ),
    pytest.param(
        "rls_policy_always_true",
        "public.lint_owned",
        _policy("1 = 1", command="delete", to="anon"),
        id="rls_policy_always_true: delete using (1 = 1)",
    ),
    pytest.param(
        "rls_policy_always_true",
        "public.lint_owned",
        _policy("true", command="all", to="public"),
        id="rls_policy_always_true: for all using (true)",
    ),
    pytest.param(
        "security_definer_function_executable",
        "public.lint_all_leads()",
        # Supabase's default privileges grant execute to anon and authenticated.
        """
        create function public.lint_all_leads() returns bigint
        language sql stable security definer set search_path = ''
        as $$ select count(*) from public.leads $$;
        """,
        id="security_definer_function_executable",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        "public.lint_owned",
        _policy("auth.uid() is null or owner = auth.uid()"),
        id="rls_policy_null_auth_disjunct: auth.uid() is null or",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        "public.lint_owned",
        _policy("owner = (select auth.uid()) or (select auth.uid()) is null"),
        id="rls_policy_null_auth_disjunct: or (select auth.uid()) is null",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        "public.lint_owned",
        _policy("(auth.jwt() ->> 'sub') is null or is_public or owner = (select auth.uid())"),
        id="rls_policy_null_auth_disjunct: a jwt claim is null",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        "public.lint_owned",
        _policy("current_setting('request.jwt.claims', true) is null or is_public"),
        id="rls_policy_null_auth_disjunct: current_setting(..., true) is null",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        "public.lint_owned",
        _policy("not (auth.uid() is not null) or owner = (select auth.uid())", command="update"),
        id="rls_policy_null_auth_disjunct: not (auth.uid() is not null)",
    ),
    pytest.param(
        "api_role_sequence_privileges",
        "public.lint_counter",
        """
        create sequence public.lint_counter;
        grant usage on sequence public.lint_counter to authenticated;
        """,
        id="api_role_sequence_privileges",
    ),
]

# pg_graphql (splinter 0026 / 0027). Note: the bootstrap's default privileges grant
# every new table to anon and authenticated, as Supabase's do.
_ADMIN_ONLY = OWNED + (
    'create policy "lint admins" on public.lint_owned for select to authenticated'
    " using ((select private.is_admin()));"
)
BAD += [
    pytest.param(
        "pg_graphql_anon_table_exposed",
        "public.lint_owned",
        OWNED
        + "revoke all on public.lint_owned from anon; grant select (id) on public.lint_owned to anon;",
        id="pg_graphql_anon_table_exposed: one column granted to anon",
    ),
    pytest.param(
        "pg_graphql_admin_table_exposed",
        "public.lint_owned",
        _ADMIN_ONLY + "grant select on public.lint_owned to authenticated;",
        id="pg_graphql_admin_table_exposed: admin-only rows, selectable by authenticated",
    ),
    pytest.param(
        "pg_graphql_admin_table_exposed",
        "public.lint_owned",
        OWNED
        + "revoke all on public.lint_owned from anon, authenticated;"
        + " grant select (id) on public.lint_owned to authenticated;",
        id="pg_graphql_admin_table_exposed: no policy at all, one column granted",
    ),
]

GOOD = [
    pytest.param(
        "unindexed_foreign_keys",
        """
        create table public.lint_parent (id int primary key);
        create table public.lint_child (id int primary key, day date,
                                        parent_id int references public.lint_parent);
        create index on public.lint_child (parent_id, day);
        """,
        id="unindexed_foreign_keys: an index starting with the key",
    ),
    pytest.param(
        "auth_rls_initplan",
        _policy(
            "owner = (select auth.uid())"
            " or owner = (select (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid)"
            " or (select private.is_admin())"
        ),
        id="auth_rls_initplan: every call in a subselect",
    ),
    pytest.param(
        "rls_policy_always_true",
        _policy("true"),
        id="rls_policy_always_true: select using (true) is a deliberate read policy",
    ),
    pytest.param(
        "security_definer_function_executable",
        """
        create function private.lint_helper() returns boolean
        language sql stable security definer set search_path = '' as $$ select true $$;
        grant execute on function private.lint_helper() to authenticated;
        """,
        id="security_definer_function_executable: in the private schema",
    ),
    pytest.param(
        "rls_disabled_in_exposed_schema",
        "create table private.lint_internal (id int primary key);",
        id="rls_disabled_in_exposed_schema: a table in the private schema",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        _policy("(select auth.uid()) is not null and (owner = (select auth.uid()) or is_public)"),
        id="rls_policy_null_auth_disjunct: is not null and",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        _policy("owner is null or owner = (select auth.uid())"),
        id="rls_policy_null_auth_disjunct: a column is null",
    ),
    pytest.param(
        "rls_policy_null_auth_disjunct",
        _policy("is_public and ((select auth.uid()) is null or owner = (select auth.uid()))"),
        id="rls_policy_null_auth_disjunct: the null test only under an and",
    ),
    pytest.param(
        "api_role_sequence_privileges",
        "create sequence public.lint_counter;",
        id="api_role_sequence_privileges: a new sequence gets no API role privileges",
    ),
]

GOOD += [
    pytest.param(
        "pg_graphql_anon_table_exposed",
        OWNED + "revoke all on public.lint_owned from anon;",
        id="pg_graphql_anon_table_exposed: nothing granted to anon",
    ),
    pytest.param(
        "pg_graphql_admin_table_exposed",
        _ADMIN_ONLY + "revoke all on public.lint_owned from anon, authenticated;",
        id="pg_graphql_admin_table_exposed: admin-only table not granted to authenticated",
    ),
    pytest.param(
        "pg_graphql_admin_table_exposed",
        _ADMIN_ONLY
        + 'create policy "lint owners" on public.lint_owned for select to authenticated'
        + " using (owner = (select auth.uid()));",
        id="pg_graphql_admin_table_exposed: partners read their own rows",
    ),
]


@pytest.fixture(scope="module")
def lint_db_url(pg_cluster: PgCluster) -> Iterator[str]:
    """One migrated database for the module's examples; each runs in a rolled-back transaction."""
    name = pg_cluster.create(EMPTY_TEMPLATE)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop(name)


def _findings(url: str, ddl: str, check: str) -> list[Finding]:
    # DDL is transactional in Postgres: the example is gone after the rollback.
    with psycopg.connect(url) as conn:
        try:
            conn.execute(ddl)
            return [f for f in lint(conn) if f.check == check]
        finally:
            conn.rollback()


def test_migrated_database_has_no_findings(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        assert lint(conn) == []


def test_seeded_database_has_no_findings(sql: psycopg.Connection) -> None:
    assert lint(sql) == []


def test_every_check_has_a_bad_example() -> None:
    assert {p.values[0] for p in BAD} == {check.name for check in CHECKS}


@pytest.mark.parametrize(("check", "obj", "ddl"), BAD)
def test_check_fires_on_a_deliberately_bad_object(
    lint_db_url: str, check: str, obj: str, ddl: str
) -> None:
    findings = _findings(lint_db_url, ddl, check)
    assert [f.object for f in findings] == [obj], findings


@pytest.mark.parametrize(("check", "ddl"), GOOD)
def test_check_leaves_the_right_way_alone(lint_db_url: str, check: str, ddl: str) -> None:
    assert _findings(lint_db_url, ddl, check) == []


def test_lint_leaves_the_session_search_path_as_it_was(lint_db_url: str) -> None:
    with psycopg.connect(lint_db_url) as conn:
        conn.execute("set search_path = public, extensions")
        lint(conn)
        assert conn.execute("show search_path").fetchone() == ("public, extensions",)
