"""The direct transport: psycopg to Postgres, doing per call what PostgREST does per request.

Per call, in one statement string (one network round trip): one transaction (read
only for `read_only`, as PostgREST runs a GET); `role` set to the caller's
JWT role and `request.jwt.claims` to its claims with that role filled in
(all settings transaction-local, set before the call is planned); arguments
decoded from JSON into the function's parameter types with `json_to_record`,
exactly as PostgREST does; the function called with named arguments; results
shaped as PostgREST shapes them (or, with `call_json`, passed through as the
JSON text the function wrote); SQLSTATEs mapped to HTTP statuses. The
connection itself is a privileged login (like PostgREST's `authenticator`), so
the caller's role is the only thing that decides what the call may do.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from leadflow.db.caller import API_ROLES, Caller
from leadflow.db.errors import (
    EXPOSED_SCHEMA,
    RpcError,
    from_psycopg,
    function_not_found,
    is_function_name,
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


#: A connection that completed a call this recently is handed out without a check.
TRUSTED_FOR_SECONDS = 2.0


class DirectTransport:
    """Calls SQL functions over a psycopg connection pool."""

    def __init__(self, conninfo: str, *, max_size: int = 10) -> None:
        # Autocommit sessions: each call sends its own `begin` … `commit` in
        # one statement string, so that the transaction, the settings and the
        # call cost one round trip instead of four.
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": True},
            configure=_configure,
            # A connection broken by a server restart is replaced, not handed out.
            check=self._check,
            name="leadflow-direct",
        )
        self._signatures: dict[str, Signature] = {}
        self._statements: dict[tuple[str, tuple[str, ...], bool, bool], bytes] = {}
        self._lock = threading.Lock()
        self._last_ok: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """Check a connection before it is handed out, unless it answered a moment ago.

        The check is a round trip (~0.1 ms, a tenth of a short call): a connection that
        completed a call within TRUSTED_FOR_SECONDS is handed out as it is; one idle for
        longer (a server restart happens while connections sit idle) is checked.
        """
        if time.monotonic() - self._last_ok.get(conn, float("-inf")) < TRUSTED_FOR_SECONDS:
            return
        ConnectionPool.check_connection(conn)

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
        return self._run(name, args, caller, read_only=read_only, as_text=False)

    def call_json(
        self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool
    ) -> str | None:
        """As `call`, but the answer is the JSON text PostgREST would send, not parsed.

        A function returning json (or jsonb) is passed through as the database
        wrote it; None for a void function.
        """
        text: str | None = self._run(name, args, caller, read_only=read_only, as_text=True)
        return text

    def _run(
        self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool, as_text: bool
    ) -> Any:
        if not is_function_name(name):
            raise function_not_found(name, args)
        role = caller.role
        if role not in API_ROLES:
            raise RpcError(401, "PGRST301", f"JWT role {role!r} is not an API role")
        try:
            with self._pool.connection() as conn:
                result = self._call(
                    conn, name, args, caller, role=role, read_only=read_only, as_text=as_text
                )
                self._last_ok[conn] = time.monotonic()
                return result
        except psycopg.Error as exc:
            raise from_psycopg(exc, role) from None
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
        as_text: bool,
    ) -> Any:
        signature = self._signature(conn, name)
        if signature is None:
            raise function_not_found(name, args)
        known = {arg for arg, _ in signature.inputs}
        if not set(args) <= known or not signature.required <= set(args):
            raise function_not_found(name, args)
        passed = tuple(arg for arg, _ in signature.inputs if arg in args)
        statement = self._statement(conn, name, signature, passed, as_text, read_only)
        # PostgREST puts the role it runs as into the claims (anon when there is
        # no JWT), so `auth.role()` and `auth.jwt() ->> 'role'` always answer.
        claims = _dumps({**caller.claims, "role": role})
        values: tuple[Any, ...] = (role, claims, "GET" if read_only else "POST", f"/rpc/{name}")
        if passed:
            values += (_dumps(args),)
        # One round trip: `begin; settings; call; commit` as one simple-query
        # string (values quoted by psycopg). The server runs the statements in
        # order and plans each only when it comes to it, so the call is planned
        # and its privileges checked as the caller's role. Results: begin, the
        # settings, the call (the third), commit.
        cursor = psycopg.ClientCursor(conn)
        try:
            cursor.execute(statement, values, prepare=False)
        except psycopg.Error:
            _roll_back(conn)
            raise
        cursor.nextset()
        cursor.nextset()
        rows = [row[0] for row in cursor.fetchall()]
        if signature.returns_void:
            return None
        if signature.returns_set and not as_text:
            return rows
        return rows[0] if rows else None

    def _statement(
        self,
        conn: psycopg.Connection[Any],
        name: str,
        signature: Signature,
        passed: tuple[str, ...],
        as_text: bool,
        read_only: bool,
    ) -> bytes:
        """The statement string of a call with these arguments, built once and kept."""
        key = (name, passed, as_text, read_only)
        statement = self._statements.get(key)
        if statement is None:
            statement = (
                sql.SQL("; ")
                .join(
                    [
                        sql.SQL("begin read only" if read_only else "begin"),  # GET: read only
                        sql.SQL(_SETTINGS_SQL),
                        _call_sql(name, signature, passed, as_text),
                        sql.SQL("commit"),
                    ]
                )
                .as_bytes(conn)
            )
            with self._lock:
                self._statements[key] = statement
        return statement


_SETTINGS_SQL = (
    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    " set_config('request.method', %s, true), set_config('request.path', %s, true),"
    " set_config('request.headers', '{}', true),"
    " set_config('search_path', 'public, extensions', true)"
)


def _call_sql(
    name: str, signature: Signature, passed: tuple[str, ...], as_text: bool
) -> sql.Composed:
    """`select` of `public.<name>(arg => …)`, arguments decoded from one JSON object."""
    types = dict(signature.inputs)
    function = sql.Identifier(EXPOSED_SCHEMA, name)
    named = sql.SQL(", ").join(
        sql.SQL("{variadic}{arg} => _.{arg}").format(
            variadic=sql.SQL("variadic " if arg == signature.variadic else ""),
            arg=sql.Identifier(arg),
        )
        for arg in passed
    )
    call = sql.SQL("{function}({named})").format(function=function, named=named)
    if signature.has_outputs:
        # `select *` names the columns after the OUT parameters, also when
        # there is a single one and the function's type is a scalar.
        call = sql.SQL("(select * from {call})").format(call=call)
    if as_text and signature.returns_set:
        # As PostgREST answers a set: one JSON array.
        value = sql.SQL("coalesce(json_agg(to_json(r)), '[]')::text")
    elif as_text:
        # json and jsonb come back as the database wrote them, nothing parsed.
        value = sql.SQL("to_json(r)::text")
    else:
        value = sql.SQL("to_jsonb(r)")
    if passed:
        record = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(arg), sql.SQL(types[arg])) for arg in passed
        )
        return sql.SQL(
            "select {value} from json_to_record(%s::json) as _({record}), lateral {call} as r"
        ).format(value=value, record=record, call=call)
    return sql.SQL("select {value} from {call} as r").format(value=value, call=call)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Each pooled session parses json and jsonb results with orjson."""
    set_json_loads(orjson.loads, conn)


def _dumps(value: Any) -> str:
    """JSON text for the database; orjson, with `str` for what it cannot encode."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, default=str)


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End the call's failed transaction; a broken session is dropped by the pool anyway."""
    with contextlib.suppress(psycopg.Error):
        conn.rollback()
