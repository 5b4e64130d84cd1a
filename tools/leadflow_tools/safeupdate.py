"""Supabase's `safeupdate`, emulated: no UPDATE or DELETE without WHERE in our functions.

On Supabase, `authenticator` (the role PostgREST logs in as) preloads the
`safeupdate` library: every UPDATE or DELETE parsed in such a session, inside
functions too, must have a WHERE clause, or it fails with "UPDATE requires a
WHERE clause" (SQLSTATE 21000). Every RPC of the API and of the jobs runs in
such a session. The library is not in the embedded server (nor in any Debian
package we can install), so instead of failing at run time on the real project,
this check reads the body of every SQL and PL/pgSQL function in our schemas and
reports each UPDATE or DELETE that has no WHERE at its own level. A clean
database has no findings (tests/functions/test_supabase_roles.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from leadflow_tools.migrations import split_statements

SCHEMAS: tuple[str, ...] = ("public", "private")

# UPDATE <table> [[as] alias] SET, but not `do update set` (upsert) or `for update` (row lock).
_UPDATE = re.compile(
    r"\bupdate\s+(?:only\s+)?(?!set\b)[a-z_][\w.$]*(?:\s+(?:as\s+)?(?!set\b)[a-z_]\w*)?\s+set\b"
)
_DELETE = re.compile(r"\bdelete\s+from\b")
_WHERE = re.compile(r"\bwhere\b")


@dataclass(frozen=True)
class Finding:
    """An UPDATE or DELETE without WHERE that safeupdate would refuse."""

    function: str
    statement: str


def _mask(text: str) -> str:
    """`text` lower-cased, with string literals, quoted identifiers and comments blanked."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(" " * (end - i))
            i = end
        elif ch in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
            # A quoted identifier stays a word, so `update "t" set` still reads as one.
            out.append("q" * (end - i) if ch == '"' else " " * (end - i))
            i = end
        else:
            out.append(ch.lower())
            i += 1
    return "".join(out)


def _has_where_at_its_level(masked: str, start: int) -> bool:
    """True if a WHERE follows `start` before the enclosing parenthesis closes."""
    depth = 0
    i = start
    while i < len(masked):
        ch = masked[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
        elif depth == 0 and _WHERE.match(masked, i) and (i == 0 or not masked[i - 1].isalnum()):
            return True
        i += 1
    return False


def unsafe_statements_in(sql: str) -> list[str]:
    """The UPDATE / DELETE statements in `sql` (a function body) without a WHERE."""
    found = []
    for statement in split_statements(sql):
        masked = _mask(statement)
        for pattern in (_UPDATE, _DELETE):
            for match in pattern.finditer(masked):
                if not _has_where_at_its_level(masked, match.end()):
                    found.append(" ".join(statement[match.start() :].split())[:80])
    return found


def check(conn: psycopg.Connection[Any], schemas: tuple[str, ...] = SCHEMAS) -> list[Finding]:
    """Every UPDATE or DELETE without WHERE in the SQL and PL/pgSQL functions of `schemas`."""
    rows = conn.execute(
        """
        select p.oid::regprocedure::text, p.prosrc
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        join pg_language l on l.oid = p.prolang
        where n.nspname = any (%s)
          and l.lanname in ('sql', 'plpgsql')
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        order by 1
        """,
        (list(schemas),),
    ).fetchall()
    return [Finding(name, stmt) for name, source in rows for stmt in unsafe_statements_in(source)]
