"""The database linter: the checks Supabase's linter (splinter) shows, as catalog queries.

A Supabase project shows these findings in its dashboard; running them here
lets a migration that would trip one fail in CI instead. Each check is one
query over the system catalogs, scoped to our schemas (`public`, `private`) so
that what the local bootstrap provides (`auth`, `extensions`) never counts.
A clean database has no findings.

Where we differ from splinter, on purpose:
- a foreign key counts as indexed when an index *starts* with its columns
  (splinter wants the exact column list);
- the init-plan check also covers `current_setting()` and zero-argument
  `private.*()` helpers, and requires *every* call to sit in a subselect;
- the user-metadata check also reads the functions a policy calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

OUR_SCHEMAS: tuple[str, ...] = ("public", "private")
EXPOSED_SCHEMAS: tuple[str, ...] = ("public",)
API_ROLES: tuple[str, ...] = ("anon", "authenticated")


@dataclass(frozen=True)
class Check:
    """One linter rule: a catalog query returning `(object, detail)` rows, one per finding."""

    name: str
    description: str
    sql: str


@dataclass(frozen=True)
class Finding:
    """One object a check objects to."""

    check: str
    object: str
    detail: str


# Query parameters: %(schemas)s our schemas, %(exposed)s those PostgREST
# exposes, %(api_roles)s the roles a request runs as. Policy expressions are
# read with pg_get_expr under an empty search_path, so every function name
# except pg_catalog's comes out schema-qualified (`auth.uid()`).

_POLICIES = """
  select n.nspname, c.relname, c.relrowsecurity, p.oid as policy_oid, p.polname,
         p.polpermissive, p.polroles, p.polcmd,
         pg_get_expr(p.polqual, p.polrelid) as qual,
         pg_get_expr(p.polwithcheck, p.polrelid) as with_check,
         p.polroles = '{0}'::oid[]
           or exists (select 1 from pg_roles r
                      where r.oid = any (p.polroles) and r.rolname = any (%(api_roles)s))
           as for_api_roles
  from pg_policy p
  join pg_class c on c.oid = p.polrelid
  join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = any (%(schemas)s)
"""

_NOT_FROM_EXTENSION = """
  not exists (select 1 from pg_depend d
              where d.objid = {oid} and d.deptype = 'e')
"""


def _regexp_chain(expr: str, rules: Sequence[tuple[str, str]]) -> str:
    """SQL applying each (pattern, replacement) of `rules` to `expr`, in order."""
    for pattern, replacement in rules:
        expr = f"regexp_replace({expr}, '{pattern}', '{replacement}', 'g')"
    return expr


# An auth value once its call's parentheses are hidden: auth_uid, current_setting[...].
_AUTH_VALUE = r"(auth_\w+|current_setting\[[^]]*\])"
_NULL_AUTH_RULES: tuple[tuple[str, str], ...] = (
    # (select auth.uid() as uid) is auth.uid() here.
    (r"\(\s*SELECT\s+(auth\.\w+\(\))\s+AS\s+\w+\)", r"\1"),
    # Hide call parentheses, so that only grouping ones remain.
    (r"auth\.(\w+)\(\)", r"auth_\1"),
    (r"current_setting\(([^()]*)\)", r"current_setting[\1]"),
    # (v IS NULL), ((v ->> 'k') IS NULL), (NOT (v IS NOT NULL)), (NOT ((v ->> 'k') IS NOT NULL)).
    (rf"\(NOT \({_AUTH_VALUE} IS NOT NULL\)\)", "@nullcheck@"),
    (rf"\(NOT \(\({_AUTH_VALUE}[^()]*\) IS NOT NULL\)\)", "@nullcheck@"),
    (rf"\(\({_AUTH_VALUE}[^()]*\) IS NULL\)", "@nullcheck@"),
    (rf"\({_AUTH_VALUE} IS NULL\)", "@nullcheck@"),
)

CHECKS: tuple[Check, ...] = (
    Check(
        "unindexed_foreign_keys",
        "Foreign keys without an index that starts with their columns (slow joins and deletes).",
        f"""
        select format('%%I.%%I', n.nspname, c.relname),
               format('foreign key %%I (%%s) has no index starting with its columns',
                      con.conname,
                      (select string_agg(a.attname, ', ' order by k.i)
                       from unnest(con.conkey) with ordinality k (attnum, i)
                       join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum))
        from pg_constraint con
        join pg_class c on c.oid = con.conrelid
        join pg_namespace n on n.oid = c.relnamespace
        where con.contype = 'f'
          and n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
          and not exists (
            select 1
            from pg_index i,
                 lateral (select (string_to_array(i.indkey::text, ' ')::int2[])
                                 [1:cardinality(con.conkey)] as lead) x
            where i.indrelid = con.conrelid
              and i.indisvalid
              and i.indpred is null
              and x.lead @> con.conkey and x.lead <@ con.conkey
          )
        order by 1, 2
        """,
    ),
    Check(
        "auth_rls_initplan",
        "Policies calling auth.*(), current_setting() or a private helper per row, "
        "instead of once in a subselect: (select auth.uid()).",
        # Innermost groups first: a subselect is dropped whole (what it calls runs
        # once); any other group keeps its text with [] for (). What is left of a
        # call afterwards, e.g. auth.uid[], was outside every subselect.
        f"""
        with recursive pol as ({_POLICIES}),
        flattened (nspname, relname, polname, rest, depth) as (
          select nspname, relname, polname,
                 coalesce(qual, '') || ' ' || coalesce(with_check, ''), 0
          from pol
          union all
          select nspname, relname, polname,
                 regexp_replace(
                   regexp_replace(rest, '\\(\\s*SELECT\\s[^()]*\\)', ' ', 'g'),
                   '\\((?!\\s*SELECT\\s)([^()]*)\\)', '[\\1]', 'g'),
                 depth + 1
          from flattened
          where rest ~ '\\(' and depth < 32
        )
        select format('%%I.%%I', nspname, relname),
               format('policy %%I calls %%s() for every row; wrap it: (select ...)', polname,
                      substring(rest from '(auth\\.\\w+|current_setting|private\\.\\w+)\\['))
        from flattened
        where rest !~ '\\('
          and rest ~ '(auth\\.\\w+\\[|current_setting\\[|private\\.\\w+\\[\\])'
        order by 1, 2
        """,
    ),
    Check(
        "no_primary_key",
        "Tables without a primary key.",
        f"""
        select format('%%I.%%I', n.nspname, c.relname), 'table has no primary key'
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p')
          and not c.relispartition
          and n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
          and not exists (select 1 from pg_constraint con
                          where con.conrelid = c.oid and con.contype = 'p')
        order by 1
        """,
    ),
    Check(
        "multiple_permissive_policies",
        "More than one permissive policy for the same role and action: each runs for every row.",
        """
        select format('%%I.%%I', n.nspname, c.relname),
               format('role %%s, %%s: %%s', r.rolname, act.cmd,
                      string_agg(format('%%I', p.polname), ', ' order by p.polname))
        from pg_policy p
        join pg_class c on c.oid = p.polrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_roles r on r.oid = any (p.polroles) or p.polroles = '{0}'::oid[]
        cross join lateral unnest(case p.polcmd
                                    when 'r' then array['select']
                                    when 'a' then array['insert']
                                    when 'w' then array['update']
                                    when 'd' then array['delete']
                                    else array['select', 'insert', 'update', 'delete']
                                  end) as act (cmd)
        where p.polpermissive
          and n.nspname = any (%(schemas)s)
          and not r.rolbypassrls
          and r.rolname !~ '^pg_'
        group by n.nspname, c.relname, r.rolname, act.cmd
        having count(*) > 1
        order by 1, 2
        """,
    ),
    Check(
        "policy_exists_rls_disabled",
        "Policies on a table whose row level security is off: they do nothing.",
        """
        select format('%%I.%%I', n.nspname, c.relname),
               format('RLS is off but the table has policies: %%s',
                      string_agg(format('%%I', p.polname), ', ' order by p.polname))
        from pg_policy p
        join pg_class c on c.oid = p.polrelid
        join pg_namespace n on n.oid = c.relnamespace
        where not c.relrowsecurity
          and n.nspname = any (%(schemas)s)
        group by n.nspname, c.relname
        order by 1
        """,
    ),
    Check(
        "rls_enabled_no_policy",
        "Row level security on but no policy: the table is closed to every API role.",
        f"""
        select format('%%I.%%I', n.nspname, c.relname), 'RLS is on but the table has no policy'
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p')
          and c.relrowsecurity
          and n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
          and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
        order by 1
        """,
    ),
    Check(
        "duplicate_index",
        "Two or more identical indexes on one table.",
        f"""
        select format('%%I.%%I', n.nspname, c.relname),
               format('identical indexes: %%s',
                      string_agg(format('%%I', ic.relname), ', ' order by ic.relname))
        from pg_index i
        join pg_class ic on ic.oid = i.indexrelid
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
        group by n.nspname, c.relname, i.indrelid, ic.relam, i.indisunique, i.indkey::text,
                 i.indclass::text, i.indcollation::text, i.indoption::text,
                 pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid)
        having count(*) > 1
        order by 1, 2
        """,
    ),
    Check(
        "security_definer_view",
        "Views readable by an API role that run as their owner (no security_invoker), "
        "so they bypass RLS; materialized views always do.",
        f"""
        select format('%%I.%%I', n.nspname, c.relname),
               case c.relkind
                 when 'm' then 'materialized view readable by an API role bypasses RLS'
                 else 'view readable by an API role without security_invoker bypasses RLS'
               end
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('v', 'm')
          and n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
          and exists (select 1 from unnest(%(api_roles)s::text[]) as api (role)
                      where has_any_column_privilege(api.role, c.oid, 'select'))
          and (c.relkind = 'm'
               or not coalesce(c.reloptions, '{{}}') && array[
                 'security_invoker=true', 'security_invoker=on', 'security_invoker=1',
                 'security_invoker=yes'])
        order by 1
        """,
    ),
    Check(
        "function_search_path_mutable",
        "Functions without a fixed search_path: a caller's search_path can redirect their names.",
        f"""
        select format('%%I.%%I(%%s)', n.nspname, p.proname,
                      pg_get_function_identity_arguments(p.oid)),
               'function has no fixed search_path (set search_path = '''')'
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where p.prokind in ('f', 'p')
          and n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="p.oid")}
          and not exists (select 1 from unnest(p.proconfig) as cfg (setting)
                          where cfg.setting like 'search_path=%%')
        order by 1
        """,
    ),
    Check(
        "rls_disabled_in_exposed_schema",
        "Tables in a schema PostgREST exposes without row level security.",
        f"""
        select format('%%I.%%I', n.nspname, c.relname), 'table in an exposed schema has RLS off'
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p')
          and not c.relrowsecurity
          and n.nspname = any (%(exposed)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
        order by 1
        """,
    ),
    Check(
        "extension_in_exposed_schema",
        "Extensions installed in an exposed schema (install them in `extensions`).",
        """
        select format('%%I', e.extname), format('extension installed in schema %%I', n.nspname)
        from pg_extension e
        join pg_namespace n on n.oid = e.extnamespace
        where n.nspname = any (%(exposed)s)
        order by 1
        """,
    ),
    Check(
        "rls_references_user_metadata",
        "Policies (or the functions they call) reading user metadata, which users edit themselves.",
        f"""
        with pol as ({_POLICIES})
        select format('%%I.%%I', pol.nspname, pol.relname),
               format('policy %%I reads user metadata%%s', pol.polname,
                      coalesce(' through ' || (
                        select string_agg(f.oid::regprocedure::text, ', ' order by f.oid)
                        from pg_depend d
                        join pg_proc f on f.oid = d.refobjid
                        where d.classid = 'pg_policy'::regclass and d.objid = pol.policy_oid
                          and d.refclassid = 'pg_proc'::regclass
                          and f.prosrc ~* 'user_?meta_?data'), ''))
        from pol
        where coalesce(pol.qual, '') || ' ' || coalesce(pol.with_check, '') ~* 'user_?meta_?data'
           or exists (
             select 1
             from pg_depend d
             join pg_proc f on f.oid = d.refobjid
             where d.classid = 'pg_policy'::regclass and d.objid = pol.policy_oid
               and d.refclassid = 'pg_proc'::regclass
               and f.prosrc ~* 'user_?meta_?data')
        order by 1, 2
        """,
    ),
    Check(
        "rls_policy_always_true",
        "Write policies for API roles with USING (true) or WITH CHECK (true): no row-level limit.",
        f"""
        with pol as ({_POLICIES}),
        norm as (
          select pol.*,
                 lower(regexp_replace(coalesce(qual, ''), '\\s', '', 'g')) as q,
                 lower(regexp_replace(coalesce(with_check, ''), '\\s', '', 'g')) as w
          from pol
          where polpermissive and for_api_roles and polcmd in ('a', 'w', 'd', '*')
        )
        select format('%%I.%%I', nspname, relname),
               format('policy %%I (%%s) allows every row', polname,
                      case polcmd when 'a' then 'insert' when 'w' then 'update'
                                  when 'd' then 'delete' else 'all' end)
        from norm
        where (polcmd in ('w', 'd', '*') and q in ('true', '(true)', '1=1', '(1=1)'))
           or w in ('true', '(true)', '1=1', '(1=1)')
           or (polcmd = 'a' and with_check is null)
        order by 1, 2
        """,
    ),
    Check(
        "security_definer_function_executable",
        "Security definer functions in an exposed schema that anon or authenticated may execute "
        "(callable as /rest/v1/rpc/<name>, bypassing RLS).",
        f"""
        select format('%%I.%%I(%%s)', n.nspname, p.proname,
                      pg_get_function_identity_arguments(p.oid)),
               format('security definer function executable by %%s',
                      (select string_agg(api.role, ', ' order by api.role)
                       from unnest(%(api_roles)s::text[]) as api (role)
                       where has_function_privilege(api.role, p.oid, 'execute')))
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef
          and n.nspname = any (%(exposed)s)
          and {_NOT_FROM_EXTENSION.format(oid="p.oid")}
          and exists (select 1 from unnest(%(api_roles)s::text[]) as api (role)
                      where has_function_privilege(api.role, p.oid, 'execute'))
        order by 1
        """,
    ),
    Check(
        "rls_policy_null_auth_disjunct",
        "Permissive policies with a top-level `auth.uid() is null or ...`: true for every "
        "session without that claim.",
        # Mark the null tests (_NULL_AUTH_RULES), drop the outer parentheses and
        # collapse every group: what is left is the top level of the expression.
        f"""
        with recursive pol as ({_POLICIES}),
        expr as (
          select pol.nspname, pol.relname, pol.polname, e.kind, e.text
          from pol
          cross join lateral (values ('using', pol.qual), ('with check', pol.with_check))
            as e (kind, text)
          where pol.polpermissive and pol.for_api_roles and e.text is not null
        ),
        marked as (
          select expr.*, {_regexp_chain("text", _NULL_AUTH_RULES)} as m
          from expr
        ),
        collapsed (nspname, relname, polname, kind, core, depth) as (
          select nspname, relname, polname, kind, regexp_replace(m, '^\\((.*)\\)$', '\\1'), 0
          from marked
          union all
          select nspname, relname, polname, kind,
                 regexp_replace(core, '\\([^()]*\\)', '#', 'g'), depth + 1
          from collapsed
          where core ~ '\\(' and depth < 32
        )
        select distinct format('%%I.%%I', nspname, relname),
               format('policy %%I: %%s has a top-level "... is null or ..." on an auth value, '
                      'true for every session without it', polname, kind)
        from collapsed
        where core ~ '(^| OR )@nullcheck@( OR |$)'
        order by 1, 2
        """,
    ),
    Check(
        "api_role_sequence_privileges",
        "Sequences an API role may use or set (nextval/setval): a signed-in user could make "
        "later inserts collide. Only service_role writes our tables.",
        """
        select format('%%I.%%I', n.nspname, c.relname),
               format('%%s may %%s', r.rolname,
                      concat_ws(' and ',
                        case when has_sequence_privilege(r.oid, c.oid, 'USAGE') then 'use' end,
                        case when has_sequence_privilege(r.oid, c.oid, 'UPDATE') then 'set' end))
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_roles r on r.rolname = any (%(api_roles)s)
        where c.relkind = 'S'
          and n.nspname = any (%(schemas)s)
          and (has_sequence_privilege(r.oid, c.oid, 'USAGE')
               or has_sequence_privilege(r.oid, c.oid, 'UPDATE'))
        order by 1, 2
        """,
    ),
)


def lint(
    conn: psycopg.Connection[Any],
    *,
    schemas: Sequence[str] = OUR_SCHEMAS,
    exposed: Sequence[str] = EXPOSED_SCHEMAS,
    api_roles: Sequence[str] = API_ROLES,
) -> list[Finding]:
    """Run every check on the database of `conn`; an empty list means clean."""
    params = {"schemas": list(schemas), "exposed": list(exposed), "api_roles": list(api_roles)}
    findings: list[Finding] = []
    with conn.transaction():
        row = conn.execute("select current_setting('search_path')").fetchone()
        # Deparsed policies must name auth.uid() with its schema, whatever the session's path.
        conn.execute("select set_config('search_path', '', true)")
        for check in CHECKS:
            for obj, detail in conn.execute(check.sql, params).fetchall():
                findings.append(Finding(check.name, obj, detail))
        # Inside a caller's transaction a local setting would outlive this block
        # (on an error, rolling the block back restores it).
        conn.execute("select set_config('search_path', %s, true)", (row[0] if row else "",))
    return findings


# -----------------------------------------------------------------------------
# pg_graphql (splinter 0026 / 0027). Appended to CHECKS here, at the end of the
# module, so that checks added to the tuple above merge without conflicts.
# -----------------------------------------------------------------------------
# pg_graphql (on by default on a hosted project) builds each role's GraphQL
# schema from what that role may select: a table `authenticated` can select is
# listed, with its columns and relations, to every signed-in user, RLS or not.

_SELECTABLE_BY = """
  exists (select 1 from pg_attribute a
          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            and has_column_privilege('{role}', c.oid, a.attnum, 'SELECT'))
"""
# The qual of a policy that lets admins only, as pg_get_expr prints it.
_ADMIN_ONLY_QUAL = "( SELECT private.is_admin() AS is_admin)"

GRAPHQL_CHECKS: tuple[Check, ...] = (
    Check(
        "pg_graphql_anon_table_exposed",
        "Tables and views anon can select: pg_graphql lists them, with their columns, "
        "to every visitor (splinter 0026).",
        f"""
        select format('%%I.%%I', n.nspname, c.relname),
               'anon can select it: its name and columns are in every visitor''s GraphQL schema'
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'v', 'm', 'f')
          and n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
          and exists (select 1 from pg_roles where rolname = 'anon')
          and {_SELECTABLE_BY.format(role="anon")}
        order by 1
        """,
    ),
    Check(
        "pg_graphql_admin_table_exposed",
        "Admin-only tables (every policy letting authenticated read asks for an admin) that "
        "authenticated can select: pg_graphql lists them to every signed-in user (splinter "
        "0027, narrowed to tables no partner may read; admins read them through functions).",
        f"""
        select format('%%I.%%I', n.nspname, c.relname),
               'only admins may read its rows, but authenticated can select it: its name and '
               'columns are in every signed-in user''s GraphQL schema; revoke select and read '
               'it through a security definer function that checks private.is_admin()'
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'r'
          and c.relrowsecurity
          and n.nspname = any (%(schemas)s)
          and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
          and exists (select 1 from pg_roles where rolname = 'authenticated')
          and {_SELECTABLE_BY.format(role="authenticated")}
          and not exists (
            select 1 from pg_policy p
            where p.polrelid = c.oid
              and p.polcmd in ('r', '*')
              and p.polpermissive
              and (p.polroles = '{{0}}'::oid[]
                   or (select oid from pg_roles where rolname = 'authenticated') = any (p.polroles))
              and coalesce(pg_get_expr(p.polqual, p.polrelid), '') <> '{_ADMIN_ONLY_QUAL}'
          )
        order by 1
        """,
    ),
)
CHECKS = (*CHECKS, *GRAPHQL_CHECKS)
