"""The declarative schema (supabase/schemas/) and the deploy history (supabase/migrations/)
describe the same database.

`supabase db diff` needs Docker, which we do not have: this is the guard instead. One
database is built from the schema files, one from the migrations, and their catalogs are
compared object by object: tables, columns, constraints, indexes, triggers, functions with
their bodies, views, policies, grants (table, column, function, schema, default
privileges), comments and the reference data the files insert.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import PgCluster
from leadflow_tools import migrations

SCHEMAS = ("public", "private")

# Each query returns (kind, identity, description) rows for the objects of SCHEMAS.
CATALOG_QUERIES = {
    "relation": """
        select c.relkind::text, n.nspname || '.' || c.relname,
               concat_ws(' | ', pg_get_userbyid(c.relowner), c.relacl::text, c.reloptions::text,
                         c.relrowsecurity::text,
                         c.relforcerowsecurity::text, obj_description(c.oid, 'pg_class'))
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s) and c.relkind in ('r', 'v', 'm', 'S', 'p', 'f')""",
    "column": """
        select 'column', n.nspname || '.' || c.relname || '.' || a.attname,
               concat_ws(' | ', format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
                         pg_get_expr(d.adbin, d.adrelid), a.attgenerated::text,
                         a.attidentity::text, a.attacl::text,
                         col_description(c.oid, a.attnum))
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = any (%(schemas)s) and a.attnum > 0 and not a.attisdropped
          and c.relkind in ('r', 'v', 'm', 'p', 'f')""",
    "constraint": """
        select 'constraint', n.nspname || '.' || c.relname || '.' || k.conname,
               concat_ws(' | ', pg_get_constraintdef(k.oid), k.convalidated::text)
        from pg_constraint k
        join pg_class c on c.oid = k.conrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s)""",
    "index": """
        select 'index', n.nspname || '.' || i.relname, pg_get_indexdef(i.oid)
        from pg_index x
        join pg_class i on i.oid = x.indexrelid
        join pg_namespace n on n.oid = i.relnamespace
        where n.nspname = any (%(schemas)s)""",
    "trigger": """
        select 'trigger', n.nspname || '.' || c.relname || '.' || t.tgname,
               concat_ws(' | ', pg_get_triggerdef(t.oid), t.tgenabled::text)
        from pg_trigger t
        join pg_class c on c.oid = t.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where not t.tgisinternal
          and (n.nspname = any (%(schemas)s) or t.tgfoid in (
                select p.oid from pg_proc p join pg_namespace pn on pn.oid = p.pronamespace
                where pn.nspname = any (%(schemas)s)))""",
    "function": """
        select 'function',
               n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               concat_ws(' | ', pg_get_userbyid(p.proowner), pg_get_functiondef(p.oid), p.proacl::text,
                         obj_description(p.oid, 'pg_proc'))
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any (%(schemas)s)""",
    "view": """
        select 'view', n.nspname || '.' || c.relname, pg_get_viewdef(c.oid)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s) and c.relkind in ('v', 'm')""",
    "policy": """
        select 'policy', p.schemaname || '.' || p.tablename || '.' || p.policyname,
               concat_ws(' | ', p.permissive, p.roles::text, p.cmd, p.qual, p.with_check)
        from pg_policies p where p.schemaname = any (%(schemas)s)""",
    "schema": """
        select 'schema', n.nspname,
               concat_ws(' | ', n.nspacl::text, obj_description(n.oid, 'pg_namespace'))
        from pg_namespace n where n.nspname = any (%(schemas)s)""",
    "default acl": """
        select 'default acl', coalesce(n.nspname, '') || '.' || d.defaclobjtype::text,
               d.defaclacl::text
        from pg_default_acl d left join pg_namespace n on n.oid = d.defaclnamespace""",
    "data": """
        select 'data', 'public.regions', string_agg(r.code || '=' || r.name, ',' order by r.code)
        from public.regions r
        union all
        select 'data', 'public.orchestration_settings', (to_jsonb(o) - 'updated_at')::text
        from public.orchestration_settings o
        union all
        select 'data', 'public.ad_channels', string_agg((to_jsonb(c) - 'created_at')::text, ',' order by c.key)
        from public.ad_channels c
        union all
        select 'data', 'public.channel_attribution_rules', string_agg(to_jsonb(r)::text, ',' order by r.priority)
        from public.channel_attribution_rules r""",
}


def catalog(url: str) -> dict[tuple[str, str], str]:
    """Every object of ours in the database at `url`, keyed by (kind, identity)."""
    objects: dict[tuple[str, str], str] = {}
    with psycopg.connect(url) as conn:
        for query in CATALOG_QUERIES.values():
            for kind, identity, description in conn.execute(query, {"schemas": list(SCHEMAS)}):
                objects[(kind, identity)] = description or ""
    return objects


def differences(left: dict[Any, str], right: dict[Any, str]) -> list[str]:
    """What differs between two catalogs, one line each (empty when equal)."""
    lines = []
    for key in sorted(left.keys() | right.keys()):
        if key not in right:
            lines.append(f"only in schemas/: {key[0]} {key[1]}")
        elif key not in left:
            lines.append(f"only in migrations/: {key[0]} {key[1]}")
        elif left[key] != right[key]:
            lines.append(
                f"differs: {key[0]} {key[1]}:\n  schemas/:    {left[key][:300]}\n"
                f"  migrations/: {right[key][:300]}"
            )
    return lines


@pytest.fixture
def two_bare_databases(pg_cluster: PgCluster) -> Iterator[tuple[str, str]]:
    names = [pg_cluster.create("template0"), pg_cluster.create("template0")]
    try:
        yield pg_cluster.url(names[0]), pg_cluster.url(names[1])
    finally:
        for name in names:
            pg_cluster.drop(name)


def _build_from_migrations(url: str, directory: Path = migrations.MIGRATIONS_DIR) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, directory, tools=False)


def test_the_schema_files_and_the_migrations_build_the_same_database(
    two_bare_databases: tuple[str, str],
) -> None:
    from_schemas, from_migrations = two_bare_databases
    with psycopg.connect(from_schemas, autocommit=True) as conn:
        assert migrations.build_from_schemas(conn)
    _build_from_migrations(from_migrations)
    left, right = catalog(from_schemas), catalog(from_migrations)
    assert len(left) > 400  # the whole database, not an empty one
    assert differences(left, right) == []


def test_the_equality_check_notices_a_migration_the_schemas_lack(
    two_bare_databases: tuple[str, str], tmp_path: Path
) -> None:
    """The guard works: a column added by a new migration alone is reported."""
    from_schemas, from_migrations = two_bare_databases
    for path in migrations.MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "29990101000000_sneaked_in.sql").write_text(
        "alter table public.lead_segments add column colour text;\n"
        "create or replace function public.api_health() returns jsonb language sql stable "
        "set search_path = '' as $$ select '{}'::jsonb $$;\n"
    )
    with psycopg.connect(from_schemas, autocommit=True) as conn:
        migrations.build_from_schemas(conn)
    _build_from_migrations(from_migrations, tmp_path)
    found = "\n".join(differences(catalog(from_schemas), catalog(from_migrations)))
    assert "only in migrations/: column public.lead_segments.colour" in found
    assert "differs: function public.api_health()" in found
    reported = [line for line in found.splitlines() if line.startswith(("only in", "differs:"))]
    assert len(reported) == 2, found  # nothing else


FUNCTION = re.compile(r"^create (?:or replace )?function (\S+?)\(", re.M | re.I)


def test_each_function_is_defined_in_exactly_one_schema_file() -> None:
    defined: dict[str, str] = {}
    for path in sorted(migrations.SCHEMAS_DIR.glob("*.sql")):
        for name in FUNCTION.findall(path.read_text()):
            assert name not in defined or defined[name] == path.name, (
                f"{name} is defined in {defined.get(name)} and again in {path.name}"
            )
            defined.setdefault(name, path.name)
    assert len(defined) > 50


def test_each_schema_file_holds_one_subject_of_at_most_500_lines() -> None:
    files = sorted(migrations.SCHEMAS_DIR.glob("*.sql"))
    assert len(files) >= 14
    for path in files:
        lines = path.read_text().count("\n")
        assert lines <= 500, f"{path.name} has {lines} lines"
        assert re.match(r"^[0-9]{2}_[a-z_]+\.sql$", path.name), path.name


def test_no_schema_file_refers_to_an_object_of_a_later_file() -> None:
    """Lexical order is dependency order: a table or function is named only after it is made."""
    made: dict[str, int] = {}
    files = sorted(migrations.SCHEMAS_DIR.glob("*.sql"))
    creates = re.compile(
        r"^create (?:or replace )?(?:table|view|function) (?:if not exists )?"
        r"((?:public|private)\.[a-z_]+)",
        re.M,
    )
    for index, path in enumerate(files):
        for name in creates.findall(path.read_text()):
            made.setdefault(name, index)
    for index, path in enumerate(files):
        # Code only: comments and string literals (comment on ... is '...') may name anything.
        text = re.sub(r"--[^\n]*|'(?:[^']|'')*'", "", path.read_text())
        for name, where in made.items():
            if where > index and re.search(rf"\b{re.escape(name)}\b", text):
                raise AssertionError(
                    f"{path.name} refers to {name}, made later in {files[where].name}"
                )
