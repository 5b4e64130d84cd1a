"""The direct transport does per call what PostgREST does per request, on the real Postgres.

Each test creates the small SQL functions it needs in its own fresh database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from leadflow.db import Caller, Database, RpcError, direct, from_settings, http_status
from leadflow.db.direct import DirectTransport
from leadflow.settings import Settings

PARTNER_BRABANT_ID = "00000000-0000-4000-8000-000000000011"  # from supabase/seed.sql

ANON = Caller.anonymous()
SERVICE = Caller.service()
PARTNER = Caller(claims={"role": "authenticated", "sub": PARTNER_BRABANT_ID, "email": "p@x.nl"})

WHOAMI = """
create function public.whoami() returns jsonb language sql stable as $$
  select jsonb_build_object(
    'current_user', current_user,
    'role', auth.role(),
    'uid', auth.uid(),
    'jwt', auth.jwt(),
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'read_only', current_setting('transaction_read_only')
  )
$$;
"""

WRITES = """
create table public.t_writes (id int primary key, note text);
grant all on public.t_writes to anon, authenticated, service_role;
create table public.t_children (
  id int primary key,
  parent_id int not null references public.t_writes (id)
);
grant all on public.t_children to service_role;

create function public.t_write(p_id int, p_note text default null) returns void
language sql as $$ insert into public.t_writes values (p_id, p_note) $$;

create function public.t_write_then_fail(p_id int) returns void language plpgsql as $$
begin
  insert into public.t_writes values (p_id, 'half');
  raise exception 'failed after writing %', p_id using detail = 'the detail', hint = 'the hint';
end
$$;

create function public.t_add_child(p_id int, p_parent_id int) returns void
language sql as $$ insert into public.t_children values (p_id, p_parent_id) $$;
"""


def _writes(sql: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return sql.execute("select id, note from public.t_writes order by id").fetchall()


def _error(database: Database, name: str, args: dict[str, Any], caller: Caller) -> RpcError:
    with pytest.raises(RpcError) as error:
        database.rpc(name, args, caller=caller)
    return error.value


@pytest.fixture
def single(db_url: str) -> Iterator[Database]:
    """The seam over a pool of one connection: every call reuses the previous call's session."""
    database = Database(DirectTransport(db_url, max_size=1))
    try:
        yield database
    finally:
        database.close()


# --- who the call runs as -----------------------------------------------------------------


def test_each_call_runs_as_its_callers_role_and_leaves_nothing_for_the_next(
    sql: psycopg.Connection[Any], single: Database
) -> None:
    sql.execute(WHOAMI)

    partner = single.rpc("whoami", caller=PARTNER)
    anonymous = single.rpc("whoami", caller=ANON)
    service = single.rpc("whoami", caller=SERVICE)
    again = single.rpc("whoami", caller=ANON)

    assert (partner["current_user"], partner["role"], partner["uid"]) == (
        "authenticated",
        "authenticated",
        PARTNER_BRABANT_ID,
    )
    assert (anonymous["current_user"], anonymous["role"], anonymous["uid"]) == (
        "anon",
        "anon",
        None,
    )
    assert (service["current_user"], service["role"], service["uid"]) == (
        "service_role",
        "service_role",
        None,
    )
    assert again == anonymous


def test_session_is_back_to_the_login_role_after_a_call(db_url: str) -> None:
    transport = DirectTransport(db_url, max_size=1)
    try:
        with psycopg.connect(db_url, autocommit=True) as sql:
            sql.execute(WHOAMI)
            login = sql.execute("select current_user").fetchone()
        transport.call("whoami", {}, PARTNER, read_only=False)
        with transport._pool.connection() as conn:
            after = conn.execute(
                "select current_user, current_setting('request.jwt.claims', true)"
            ).fetchone()
    finally:
        transport.close()

    assert after is not None and login is not None
    assert after[0] == login[0]
    assert after[1] in (None, "")


def test_claims_are_the_jwt_claims_with_the_role_filled_in_as_postgrest_does(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(WHOAMI)

    partner = database.rpc("whoami", caller=PARTNER)
    anonymous = database.rpc("whoami", caller=ANON)
    no_role = database.rpc("whoami", caller=Caller(claims={"sub": PARTNER_BRABANT_ID}))

    assert partner["jwt"] == {"role": "authenticated", "sub": PARTNER_BRABANT_ID, "email": "p@x.nl"}
    assert anonymous["jwt"] == {"role": "anon"}
    # A JWT without a role runs as anon, as PostgREST's db-anon-role.
    assert (no_role["current_user"], no_role["jwt"]) == (
        "anon",
        {"role": "anon", "sub": PARTNER_BRABANT_ID},
    )


def test_request_method_and_path_are_set_as_postgrest_sets_them(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(WHOAMI)

    post = database.rpc("whoami", caller=SERVICE)
    get = database.rpc("whoami", caller=SERVICE, read_only=True)

    assert (post["method"], post["path"], post["read_only"]) == ("POST", "/rpc/whoami", "off")
    assert (get["method"], get["path"], get["read_only"]) == ("GET", "/rpc/whoami", "on")


@pytest.mark.parametrize(
    "role", ["postgres", "authenticator", "supabase_admin", "pg_read_all_data"]
)
def test_claims_role_outside_the_api_roles_is_refused_and_never_executed(
    sql: psycopg.Connection[Any], database: Database, role: str
) -> None:
    sql.execute(WRITES)

    error = _error(database, "t_write", {"p_id": 1}, Caller(claims={"role": role}))

    assert (error.status, error.code) == (401, "PGRST301")
    assert _writes(sql) == []


# --- one transaction per call -------------------------------------------------------------


def test_a_call_that_returns_commits_its_writes(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(WRITES)

    assert database.rpc("t_write", {"p_id": 1, "p_note": "kept"}, caller=SERVICE) is None

    assert _writes(sql) == [(1, "kept")]


def test_a_call_that_raises_after_writing_leaves_nothing(
    sql: psycopg.Connection[Any], single: Database
) -> None:
    sql.execute(WRITES)

    error = _error(single, "t_write_then_fail", {"p_id": 1}, SERVICE)

    assert error.as_dict() == {
        "code": "P0001",
        "message": "failed after writing 1",
        "details": "the detail",
        "hint": "the hint",
    }
    assert error.status == 400
    assert _writes(sql) == []
    # The connection went back to the pool clean: the next call on it works.
    single.rpc("t_write", {"p_id": 2}, caller=SERVICE)
    assert _writes(sql) == [(2, None)]


def test_read_only_call_refuses_writes_with_405(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(WRITES)

    with pytest.raises(RpcError) as error:
        database.rpc("t_write", {"p_id": 1}, caller=SERVICE, read_only=True)

    assert (error.value.status, error.value.code) == (405, "25006")
    assert _writes(sql) == []


# --- arguments ----------------------------------------------------------------------------

ECHO = """
create function public.t_echo(
  p_id uuid, p_day date, p_amount numeric, p_tags text[], p_data jsonb,
  p_note text default 'no note', p_limit int default 10
) returns jsonb language sql immutable as $$
  select jsonb_build_object(
    'types', jsonb_build_array(pg_typeof(p_id)::text, pg_typeof(p_day)::text,
                               pg_typeof(p_amount)::text, pg_typeof(p_tags)::text,
                               pg_typeof(p_data)::text),
    'id', p_id, 'next_day', p_day + 1, 'double', p_amount * 2,
    'tag_count', cardinality(p_tags), 'second_tag', p_tags[2],
    'data_k', p_data -> 'k', 'note', p_note, 'limit', p_limit
  )
$$;
"""


def test_named_arguments_are_decoded_from_json_into_their_types(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(ECHO)
    the_id = "00000000-0000-4000-8000-0000000000aa"

    result = database.rpc(
        "t_echo",
        {
            "p_id": the_id,
            "p_day": "2026-02-28",
            "p_amount": "12.25",
            "p_tags": ["a", "b,c"],
            "p_data": {"k": [1, None]},
            "p_note": "given",
        },
        caller=ANON,
    )

    assert result == {
        "types": ["uuid", "date", "numeric", "text[]", "jsonb"],
        "id": the_id,
        "next_day": "2026-03-01",
        "double": 24.5,
        "tag_count": 2,
        "second_tag": "b,c",
        "data_k": [1, None],
        "note": "given",
        "limit": 10,
    }


def test_python_values_are_encoded_as_json_first(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(ECHO)
    the_id = uuid.UUID("00000000-0000-4000-8000-0000000000bb")

    result = database.rpc(
        "t_echo",
        {
            "p_id": the_id,
            "p_day": date(2026, 12, 31),
            "p_amount": Decimal("0.10"),
            "p_tags": ("x",),
            "p_data": {"k": "v"},
        },
        caller=ANON,
    )

    assert (result["id"], result["next_day"], result["double"]) == (
        str(the_id),
        "2027-01-01",
        0.2,
    )
    assert (result["tag_count"], result["data_k"]) == (1, "v")


def test_omitted_arguments_take_their_defaults_and_explicit_null_is_null(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(ECHO)
    args = {"p_id": None, "p_day": None, "p_amount": None, "p_tags": None, "p_data": None}

    omitted = database.rpc("t_echo", args, caller=ANON)
    nulled = database.rpc("t_echo", {**args, "p_note": None, "p_limit": 3}, caller=ANON)

    assert (omitted["note"], omitted["limit"]) == ("no note", 10)
    assert (nulled["note"], nulled["limit"]) == (None, 3)


def test_variadic_parameter_takes_an_array(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(
        "create function public.t_sum(variadic p_xs int[]) returns int language sql"
        " as $$ select sum(x)::int from unnest(p_xs) x $$"
    )

    assert database.rpc("t_sum", {"p_xs": [1, 2, 3]}, caller=ANON) == 6


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("t_nowhere", {}, "public.t_nowhere()"),
        ("t_echo", {"p_id": None, "p_typo": 1}, "public.t_echo(p_id, p_typo)"),
        ("t_echo", {"p_id": None}, "public.t_echo(p_id)"),  # required ones missing
        ("T_Echo", {}, "public.T_Echo()"),
        ("t_echo; drop table x", {}, "public.t_echo; drop table x()"),
        ("pg_sleep", {"seconds": 0}, "public.pg_sleep(seconds)"),  # not in the exposed schema
    ],
)
def test_unknown_function_or_arguments_are_404_pgrst202(
    sql: psycopg.Connection[Any], database: Database, name: str, args: dict[str, Any], message: str
) -> None:
    sql.execute(ECHO)

    error = _error(database, name, args, SERVICE)

    assert (error.status, error.code) == (404, "PGRST202")
    assert error.message == f"Could not find the function {message} in the schema cache"


def test_overloaded_function_is_refused(sql: psycopg.Connection[Any], database: Database) -> None:
    sql.execute(
        "create function public.t_over(a int) returns int language sql as $$ select a $$;"
        "create function public.t_over(a text) returns text language sql as $$ select a $$;"
    )

    assert _error(database, "t_over", {"a": 1}, SERVICE).status == 404


def test_function_created_after_a_miss_is_found(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    assert _error(database, "t_later", {}, SERVICE).status == 404

    sql.execute("create function public.t_later() returns int language sql as $$ select 1 $$")

    assert database.rpc("t_later", caller=SERVICE) == 1


# --- SQLSTATE to HTTP status --------------------------------------------------------------


def test_insufficient_privilege_is_401_as_anon_and_403_as_authenticated(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(
        "create function public.t_private() returns int language sql as $$ select 1 $$;"
        "revoke execute on function public.t_private() from public, anon, authenticated;"
        "grant execute on function public.t_private() to service_role;"
    )

    anonymous = _error(database, "t_private", {}, ANON)
    partner = _error(database, "t_private", {}, PARTNER)

    assert (anonymous.status, anonymous.code) == (401, "42501")
    assert (partner.status, partner.code) == (403, "42501")
    assert partner.message == "permission denied for function t_private"
    assert database.rpc("t_private", caller=SERVICE) == 1


def test_constraint_violations_are_409(sql: psycopg.Connection[Any], database: Database) -> None:
    sql.execute(WRITES)
    database.rpc("t_write", {"p_id": 1}, caller=SERVICE)

    duplicate = _error(database, "t_write", {"p_id": 1}, SERVICE)
    orphan = _error(database, "t_add_child", {"p_id": 1, "p_parent_id": 99}, SERVICE)

    assert (duplicate.status, duplicate.code) == (409, "23505")
    assert duplicate.details == "Key (id)=(1) already exists."
    assert (orphan.status, orphan.code) == (409, "23503")


RAISE = """
create function public.t_raise(p_code text) returns void language plpgsql as $$
begin
  raise exception 'raised %', p_code using errcode = p_code;
end
$$;
"""


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("P0001", 400),
        ("22023", 400),
        ("23514", 400),
        ("PT404", 404),
        ("PT409", 409),
        ("PT402", 402),
        ("40001", 500),
        ("XX000", 500),
    ],
)
def test_raised_sqlstate_maps_to_the_status_postgrest_answers(
    sql: psycopg.Connection[Any], database: Database, code: str, status: int
) -> None:
    sql.execute(RAISE)

    error = _error(database, "t_raise", {"p_code": code}, PARTNER)

    assert (error.status, error.code, error.message) == (status, code, f"raised {code}")


def test_argument_that_does_not_parse_as_its_type_is_400(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(ECHO)

    bad_date = _error(
        database,
        "t_echo",
        {"p_id": None, "p_day": "not a date", "p_amount": None, "p_tags": None, "p_data": None},
        ANON,
    )
    bad_uuid = _error(
        database,
        "t_echo",
        {"p_id": "x", "p_day": None, "p_amount": None, "p_tags": None, "p_data": None},
        ANON,
    )

    assert (bad_date.status, bad_date.code) == (400, "22007")
    assert (bad_uuid.status, bad_uuid.code) == (400, "22P02")


def test_raise_sqlstate_pgrst_chooses_status_and_body_as_in_postgrest(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(
        """
        create function public.t_pay() returns void language plpgsql as $$
        begin
          raise sqlstate 'PGRST' using
            message = '{"code":"123","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade"}',
            detail = '{"status":402,"headers":{"X-Powered-By":"Nerd"}}';
        end
        $$;
        create function public.t_pay_badly() returns void language plpgsql as $$
        begin
          raise sqlstate 'PGRST' using message = 'not json', detail = '{"status":402}';
        end
        $$;
        """
    )

    paid = _error(database, "t_pay", {}, PARTNER)
    bad = _error(database, "t_pay_badly", {}, PARTNER)

    assert paid.status == 402
    assert paid.as_dict() == {
        "code": "123",
        "message": "Payment Required",
        "details": "Quota exceeded",
        "hint": "Upgrade",
    }
    assert (bad.status, bad.code) == (500, "PGRST121")


# --- results ------------------------------------------------------------------------------

SHAPES = """
create type public.t_pair as (a int, b text);
create function public.t_scalar() returns int language sql as $$ select 42 $$;
create function public.t_text() returns text language sql as $$ select 'hi' $$;
create function public.t_null() returns int language sql as $$ select null::int $$;
create function public.t_json() returns jsonb language sql as $$ select '{"x": [1, 2]}'::jsonb $$;
create function public.t_setof() returns setof int language sql as $$ values (1), (2), (3) $$;
create function public.t_none() returns setof int language sql as $$ select 1 where false $$;
create function public.t_table() returns table (a int, b text)
  language sql as $$ values (1, 'x'), (2, 'y') $$;
create function public.t_one_column() returns table (total int)
  language sql as $$ values (7) $$;
create function public.t_out(p int, out doubled int) language sql as $$ select p * 2 $$;
create function public.t_outs(p int, out a int, out b int) language sql as $$ select p, p + 1 $$;
create function public.t_composite() returns public.t_pair
  language sql as $$ select 1, 'one' $$;
create function public.t_composites() returns setof public.t_pair
  language sql as $$ values (1, 'one'), (2, 'two') $$;
create function public.t_void() returns void language sql as $$ select $$;
"""


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("t_scalar", {}, 42),
        ("t_text", {}, "hi"),
        ("t_null", {}, None),
        ("t_json", {}, {"x": [1, 2]}),
        ("t_setof", {}, [1, 2, 3]),
        ("t_none", {}, []),
        ("t_table", {}, [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
        ("t_one_column", {}, [{"total": 7}]),
        ("t_out", {"p": 4}, {"doubled": 8}),
        ("t_outs", {"p": 4}, {"a": 4, "b": 5}),
        ("t_composite", {}, {"a": 1, "b": "one"}),
        ("t_composites", {}, [{"a": 1, "b": "one"}, {"a": 2, "b": "two"}]),
        ("t_void", {}, None),
    ],
)
def test_results_are_shaped_as_postgrest_shapes_them(
    sql: psycopg.Connection[Any],
    database: Database,
    name: str,
    args: dict[str, Any],
    expected: Any,
) -> None:
    sql.execute(SHAPES)

    assert database.rpc(name, args, caller=ANON) == expected


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("t_scalar", {}, 42),
        ("t_text", {}, "hi"),
        ("t_json", {}, {"x": [1, 2]}),
        ("t_setof", {}, [1, 2, 3]),
        ("t_none", {}, []),
        ("t_table", {}, [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
        ("t_out", {"p": 4}, {"doubled": 8}),
        ("t_composite", {}, {"a": 1, "b": "one"}),
        ("t_composites", {}, [{"a": 1, "b": "one"}, {"a": 2, "b": "two"}]),
    ],
)
def test_json_text_is_what_the_parsed_call_returns(
    sql: psycopg.Connection[Any],
    database: Database,
    name: str,
    args: dict[str, Any],
    expected: Any,
) -> None:
    sql.execute(SHAPES)

    text = database.rpc_json(name, args, caller=ANON)

    assert text is not None and json.loads(text) == expected


def test_json_text_is_passed_through_as_the_function_wrote_it(
    sql: psycopg.Connection[Any], database: Database
) -> None:
    sql.execute(
        """
        create function public.t_written() returns json language sql as $$
          select json_build_object('b', 1.50, 'a', json_build_array(2, 1))
        $$;
        """
    )

    assert database.passes_json
    assert database.rpc_json("t_written", caller=ANON) == '{"b" : 1.50, "a" : [2, 1]}'


def test_one_call_is_one_round_trip(db_url: str, tmp_path: Path) -> None:
    """begin, the settings, the call and commit go to the server as one statement string."""
    transport = DirectTransport(db_url, max_size=1)
    trace = tmp_path / "libpq.trace"
    try:
        with psycopg.connect(db_url, autocommit=True) as sql:
            sql.execute(WHOAMI)
        transport.call("whoami", {}, PARTNER, read_only=True)  # signature looked up
        with transport._pool.connection() as conn, trace.open("w") as out:
            conn.pgconn.trace(out.fileno())
            try:
                transport._call(
                    conn, "whoami", {}, PARTNER, role="authenticated", read_only=True, as_text=True
                )
            finally:
                conn.pgconn.untrace()
    finally:
        transport.close()

    sent = [line.split("\t") for line in trace.read_text().splitlines() if "\tF\t" in line]
    assert [fields[3] for fields in sent] == ["Query"], sent
    statement = sent[0][4]
    assert statement.startswith(" \"begin read only; select set_config('role', 'authenticated'")
    assert statement.endswith('; commit"')


def test_session_is_usable_and_idle_after_a_failed_call(
    sql: psycopg.Connection[Any], single: Database
) -> None:
    sql.execute(WRITES)
    with pytest.raises(RpcError):
        single.rpc("t_write_then_fail", {"p_id": 1}, caller=SERVICE)

    single.rpc("t_write", {"p_id": 2}, caller=SERVICE)

    assert _writes(sql) == [(2, None)]


# --- built from settings ------------------------------------------------------------------


def test_the_direct_transport_reaches_database_url(
    sql: psycopg.Connection[Any], db_url: str
) -> None:
    sql.execute(WHOAMI)
    settings = Settings(LEADFLOW_TRANSPORT="direct", DATABASE_URL=db_url)

    database = from_settings(settings)
    try:
        assert isinstance(database.transport, DirectTransport)
        assert database.rpc("whoami", caller=SERVICE)["current_user"] == "service_role"
    finally:
        database.close()


def test_an_explicit_database_url_wins_over_the_environment(
    sql: psycopg.Connection[Any], db_url: str
) -> None:
    sql.execute(WHOAMI)
    settings = Settings(LEADFLOW_TRANSPORT="direct", DATABASE_URL=None)

    database = from_settings(settings, database_url=db_url)
    try:
        assert database.rpc("whoami", caller=ANON)["current_user"] == "anon"
    finally:
        database.close()


# --- leadflow.db.errors.http_status -------------------------------------------------------


@pytest.mark.parametrize(
    ("sqlstate", "role", "message", "status"),
    [
        ("42501", None, "", 401),
        ("42501", "anon", "", 401),
        ("42501", "authenticated", "", 403),
        ("42501", "service_role", "", 403),
        ("P0001", "anon", "", 400),
        ("P0002", "anon", "", 500),  # no_data_found: a PL/pgSQL error, not the default raise
        ("23505", "anon", "", 409),
        ("23503", "anon", "", 409),
        ("23514", "anon", "", 400),
        ("22023", "anon", "", 400),
        ("22023", "anon", 'role "postgres2" does not exist', 401),
        ("22007", "anon", "", 400),
        ("22P02", "anon", "", 400),
        ("21000", "anon", "more than one row returned by a subquery", 500),
        ("21000", "anon", "DELETE requires a WHERE clause", 400),
        ("25006", "anon", "", 405),
        ("25P02", "anon", "", 500),
        ("42883", "anon", "", 404),
        ("42P01", "anon", "", 404),
        ("42P17", "anon", "", 500),
        ("PT404", "anon", "", 404),
        ("PT402", "anon", "", 402),
        ("PTXYZ", "anon", "", 500),
        ("08006", "anon", "", 503),
        ("08000", "anon", "", 503),
        ("0P000", "anon", "", 403),
        ("28000", "anon", "", 403),
        ("40001", "anon", "", 500),
        ("53300", "anon", "", 503),
        ("53400", "anon", "", 500),
        ("57014", "anon", "", 500),
        ("57P01", "anon", "", 503),
        ("XX000", "anon", "", 500),
        ("42703", "anon", "", 400),
    ],
)
def test_sqlstates_map_to_the_http_statuses_postgrest_answers(
    sqlstate: str, role: str | None, message: str, status: int
) -> None:
    assert http_status(sqlstate, role=role, message=message) == status


def test_a_sqlstate_maps_to_a_status_without_its_message() -> None:
    assert http_status("21000", role="anon") == 500


def test_a_connection_that_just_answered_is_handed_out_without_a_check(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[object] = []
    real_check = direct.ConnectionPool.check_connection
    monkeypatch.setattr(
        direct.ConnectionPool,
        "check_connection",
        staticmethod(lambda conn: checks.append(conn) or real_check(conn)),
    )
    transport = direct.DirectTransport(db_url, max_size=1)
    try:
        db = Database(transport)
        db.rpc("api_health", caller=Caller.service())
        db.rpc("api_health", caller=Caller.service())
        assert len(checks) == 1  # the first hand-out only: the second came right after an answer
        monkeypatch.setattr(direct, "TRUSTED_FOR_SECONDS", 0.0)
        db.rpc("api_health", caller=Caller.service())
        assert len(checks) == 2  # idle past the trust window: checked
    finally:
        transport.close()
