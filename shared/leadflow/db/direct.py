"""The direct transport: psycopg to Postgres, doing per call what PostgREST does per request.

Per call: one transaction (read only for `read_only`, as PostgREST runs a
GET); `role` set to the caller's JWT role and `request.jwt.claims` to its
claims with that role filled in (all settings transaction-local); arguments
decoded from JSON into the function's parameter types with `json_to_record`,
exactly as PostgREST does; the function called with named arguments; results
shaped as PostgREST shapes them; SQLSTATEs mapped to HTTP statuses. The
connection itself is a privileged login (like PostgREST's `authenticator`), so
the caller's role is the only thing that decides what the call may do.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from leadflow.db.caller import API_ROLES, Caller
from leadflow.db.errors import (
    EXPOSED_SCHEMA,
    RpcError,
    function_not_found,
    http_status,
    is_function_name,
    raised_pgrst,
)

_SIGNATURE_SQL = """
select p.proretset,
       p.prorettype = 'void'::regtype as returns_void,
       coalesce(p.proargnames, '{}') as arg_names,
       coalesce(p.proargmodes::text[], '{}') as arg_modes,
       array(
         select format_type(t.oid, null)
         from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality as a(oid, n)
         join pg_type t on t.oid = a.oid
         order by a.n
       ) as arg_types,
       p.pronargdefaults
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where n.nspname = %s and p.proname = %s and p.prokind = 'f'
"""


@dataclass(frozen=True)
class Signature:
    """What we need to know of a function to call it as PostgREST does."""

    returns_set: bool
    returns_void: bool
    inputs: tuple[tuple[str, str], ...]  # (name, type) of each input parameter
    required: frozenset[str]
    # OUT, INOUT or TABLE parameters: PostgREST then answers objects keyed by
    # their names, even when there is only one (whose type is then a scalar).
    has_outputs: bool = False
    variadic: str | None = None  # the VARIADIC parameter, passed as `variadic name => …`


def _signature_from_row(row: tuple[Any, ...]) -> Signature:
    returns_set, returns_void, names, modes, types, n_defaults = row
    modes = modes or ["i"] * len(types)
    inputs = tuple(
        (name, typ)
        for name, mode, typ in zip(names, modes, types, strict=False)
        if mode in ("i", "b", "v")
    )
    without_default = inputs[: len(inputs) - n_defaults] if n_defaults else inputs
    return Signature(
        returns_set=bool(returns_set),
        returns_void=bool(returns_void),
        inputs=inputs,
        required=frozenset(name for name, _ in without_default),
        has_outputs=any(mode in ("o", "b", "t") for mode in modes),
        variadic=next((n for n, m in zip(names, modes, strict=False) if m == "v"), None),
    )


class DirectTransport:
    """Calls SQL functions over a psycopg connection pool."""

    def __init__(self, conninfo: str, *, max_size: int = 10) -> None:
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": False},
            # A connection broken by a server restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
            name="leadflow-direct",
        )
        self._signatures: dict[str, Signature] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()

    def _signature(self, conn: psycopg.Connection[Any], name: str) -> Signature | None:
        with self._lock:
            if name in self._signatures:
                return self._signatures[name]
        rows = conn.execute(_SIGNATURE_SQL, (EXPOSED_SCHEMA, name)).fetchall()
        # Overloaded functions are not part of our API; PostgREST would need the
        # argument names to choose, we simply refuse them.
        if len(rows) != 1:
            # Not remembered: a function created later must be found, and
            # callers must not grow the cache with names that do not exist.
            return None
        signature = _signature_from_row(rows[0])
        with self._lock:
            self._signatures[name] = signature
        return signature

    def call(self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool) -> Any:
        """Run `public.<name>(**args)` as `caller` in one transaction."""
        if not is_function_name(name):
            raise function_not_found(name, args)
        role = caller.role
        if role not in API_ROLES:
            raise RpcError(401, "PGRST301", f"JWT role {role!r} is not an API role")
        try:
            with self._pool.connection() as conn:
                return self._call(conn, name, args, caller, role=role, read_only=read_only)
        except psycopg.Error as exc:
            raise _rpc_error(exc, role) from None
        except PoolTimeout:
            raise RpcError(503, "08000", "no database connection available") from None

    def _call(
        self,
        conn: psycopg.Connection[Any],
        name: str,
        args: dict[str, Any],
        caller: Caller,
        *,
        role: str,
        read_only: bool,
    ) -> Any:
        # Leaving the pool's `connection()` block by an exception rolls back.
        if read_only:
            conn.execute("set transaction read only")
        signature = self._signature(conn, name)
        if signature is None:
            raise function_not_found(name, args)
        known = {arg for arg, _ in signature.inputs}
        if not set(args) <= known or not signature.required <= set(args):
            raise function_not_found(name, args)
        # PostgREST puts the role it runs as into the claims (anon when there is
        # no JWT), so `auth.role()` and `auth.jwt() ->> 'role'` always answer.
        claims = {**caller.claims, "role": role}
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('request.method', %s, true), set_config('request.path', %s, true),"
            " set_config('request.headers', '{}', true),"
            " set_config('search_path', 'public, extensions', true)",
            (role, json.dumps(claims), "GET" if read_only else "POST", f"/rpc/{name}"),
        )
        passed = [(arg, typ) for arg, typ in signature.inputs if arg in args]
        function = sql.Identifier(EXPOSED_SCHEMA, name)
        named = sql.SQL(", ").join(
            sql.SQL("{variadic}{arg} => _.{arg}").format(
                variadic=sql.SQL("variadic " if arg == signature.variadic else ""),
                arg=sql.Identifier(arg),
            )
            for arg, _ in passed
        )
        call = sql.SQL("{function}({named})").format(function=function, named=named)
        if signature.has_outputs:
            # `select *` names the columns after the OUT parameters, also when
            # there is a single one and the function's type is a scalar.
            call = sql.SQL("(select * from {call})").format(call=call)
        if passed:
            record = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(arg), sql.SQL(typ)) for arg, typ in passed
            )
            query = sql.SQL(
                "select to_jsonb(r)"
                " from json_to_record(%s::json) as _({record}), lateral {call} as r"
            ).format(record=record, call=call)
            params: tuple[Any, ...] = (json.dumps(args, default=str),)
        else:
            query = sql.SQL("select to_jsonb(r) from {call} as r").format(call=call)
            params = ()
        rows = [row[0] for row in conn.execute(query, params).fetchall()]
        if signature.returns_void:
            return None
        if signature.returns_set:
            return rows
        return rows[0] if rows else None


def _rpc_error(exc: psycopg.Error, role: str) -> RpcError:
    sqlstate = exc.sqlstate or "08000"
    diag = exc.diag
    message = diag.message_primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if sqlstate == "PGRST":
        return raised_pgrst(message, diag.message_detail)
    return RpcError(
        http_status(sqlstate, role=role, message=message),
        sqlstate,
        message,
        diag.message_detail,
        diag.message_hint,
    )
