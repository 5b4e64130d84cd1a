"""The PostgREST transport's contract: the HTTP requests it sends and how it reads the answers.

No PostgREST server can be installed here, so a local HTTP server stands in
for it: it records every request and answers what each test tells it to.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from leadflow.db import Caller, Database, RpcError, from_settings, service_caller
from leadflow.db.postgrest import PostgrestTransport
from leadflow.errors import LeadflowError
from leadflow.settings import Settings

API_KEY = "anon-key-3f9a"
SERVICE_KEY = "service-role-key-77c1"
USER_TOKEN = "eyJ.user-a.sig"
OTHER_TOKEN = "eyJ.user-b.sig"
USER = Caller(claims={"role": "authenticated", "sub": "a"}, token=USER_TOKEN)
OTHER = Caller(claims={"role": "authenticated", "sub": "b"}, token=OTHER_TOKEN)


@dataclass
class Recorded:
    """One request as the stand-in server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | Any = None  # bytes/str as they are, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # no answer until the fake is closed: the client's timeout decides


Responder = Callable[[Recorded], Answer]


class FakePostgrest:
    """A stand-in for PostgREST on 127.0.0.1: records requests, answers from a script."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._answers: list[Answer] = []
        self.responder: Responder | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: calls share pooled connections

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                url = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=url.path,
                    query=parse_qs(url.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                answer = fake._answer(recorded)
                if answer.hang:
                    fake._closing.wait()
                body = answer.body
                if body is None:
                    payload = b""
                elif isinstance(body, bytes):
                    payload = body
                elif isinstance(body, str):
                    payload = body.encode()
                else:
                    payload = json.dumps(body).encode()
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json; charset=utf-8", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order (then 200 null)."""
        self._answers.extend(answers)

    def _answer(self, recorded: Recorded) -> Answer:
        with self._lock:
            self.requests.append(recorded)
            if self.responder is not None:
                return self.responder(recorded)
            return self._answers.pop(0) if self._answers else Answer(body=None, status=204)

    def __enter__(self) -> FakePostgrest:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[FakePostgrest]:
    with FakePostgrest() as fake:
        yield fake


@pytest.fixture
def transport(server: FakePostgrest) -> Iterator[PostgrestTransport]:
    client = PostgrestTransport(server.url, API_KEY, timeout=5, retry=False)
    try:
        yield client
    finally:
        client.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _settings(**values: Any) -> Settings:
    """Settings from these values only, whatever the environment holds."""
    defaults: dict[str, Any] = {
        "DATABASE_URL": None,
        "SUPABASE_URL": None,
        "SUPABASE_ANON_KEY": None,
        "SUPABASE_SERVICE_ROLE_KEY": None,
    }
    return Settings(**{**defaults, **values})


# --- the request --------------------------------------------------------------------------


def test_call_posts_named_arguments_as_a_json_object_to_rest_v1_rpc(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(Answer(body={"ok": True}))
    args = {"p_segment_id": "00000000-0000-4000-8000-000000000001", "p_day": "2026-11-25"}

    result = transport.call("segment_stats", args, USER, read_only=False)

    assert result == {"ok": True}
    [request] = server.requests
    assert (request.method, request.path, request.query) == (
        "POST",
        "/rest/v1/rpc/segment_stats",
        {},
    )
    assert request.json() == args
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["apikey"] == API_KEY
    assert request.headers["authorization"] == f"Bearer {USER_TOKEN}"
    assert request.headers["content-profile"] == "public"
    assert request.headers["accept-profile"] == "public"
    assert "prefer" not in request.headers


def test_arguments_are_encoded_as_the_direct_transport_encodes_them(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    args = {
        "p_day": date(2026, 11, 25),
        "p_amount": Decimal("12.50"),
        "p_codes": ("a", "b"),
        "p_data": {"k": [1, None]},
        "p_none": None,
    }

    transport.call("f", args, USER, read_only=False)

    assert server.requests[0].json() == {
        "p_day": "2026-11-25",
        "p_amount": "12.50",
        "p_codes": ["a", "b"],
        "p_data": {"k": [1, None]},
        "p_none": None,
    }


def test_call_without_arguments_posts_an_empty_object(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    transport.call("segment_overview", {}, USER, read_only=False)

    assert server.requests[0].json() == {}


def test_read_only_call_is_a_get_with_the_arguments_in_the_query_string(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(Answer(body=[{"day": "2026-11-25"}]))
    args = {
        "p_day": date(2026, 11, 25),
        "p_limit": 10,
        "p_codes": ["schilder_utrecht", "a,b"],
        "p_filter": {"active": True},
        "p_flag": True,
        "p_nothing": None,
    }

    result = transport.call("segment_overview", args, USER, read_only=True)

    assert result == [{"day": "2026-11-25"}]
    [request] = server.requests
    assert (request.method, request.path, request.body) == (
        "GET",
        "/rest/v1/rpc/segment_overview",
        b"",
    )
    assert request.query == {
        "p_day": ["2026-11-25"],
        "p_limit": ["10"],
        "p_codes": ['{schilder_utrecht,"a,b"}'],
        "p_filter": ['{"active":true}'],
        "p_flag": ["true"],
    }  # a NULL cannot travel in a query string: left out, the default applies
    assert request.headers["apikey"] == API_KEY
    assert request.headers["authorization"] == f"Bearer {USER_TOKEN}"
    assert "prefer" not in request.headers


def test_anonymous_call_sends_the_apikey_and_no_authorization(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    transport.call("public_numbers", {}, Caller.anonymous(), read_only=True)

    headers = server.requests[0].headers
    assert headers["apikey"] == API_KEY
    assert "authorization" not in headers


def test_a_trailing_slash_in_the_project_url_is_ignored(server: FakePostgrest) -> None:
    client = PostgrestTransport(server.url + "/", API_KEY, retry=False)
    try:
        client.call("f", {}, USER, read_only=False)
    finally:
        client.close()

    assert server.requests[0].path == "/rest/v1/rpc/f"


# --- one caller's token never travels with another caller's request ----------------------


def test_token_of_one_call_never_appears_on_the_next_call_for_another_caller(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    transport.call("f", {}, USER, read_only=False)
    transport.call("f", {}, Caller.anonymous(), read_only=False)
    transport.call("f", {}, OTHER, read_only=True)
    transport.call("f", {}, Caller.anonymous(), read_only=True)

    first, anonymous, other, anonymous_get = (r.headers for r in server.requests)
    assert first["authorization"] == f"Bearer {USER_TOKEN}"
    assert "authorization" not in anonymous
    assert other["authorization"] == f"Bearer {OTHER_TOKEN}"
    assert "authorization" not in anonymous_get
    for request in server.requests[1:]:
        assert USER_TOKEN not in json.dumps(request.headers)
        assert USER_TOKEN not in request.body.decode()


def test_concurrent_calls_for_different_callers_each_carry_their_own_token(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.responder = lambda r: Answer(body={"authorization": r.headers.get("authorization")})
    callers = [
        Caller(claims={"role": "authenticated", "sub": str(i)}, token=f"token-{i}")
        if i % 3
        else Caller.anonymous()
        for i in range(40)
    ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = list(pool.map(lambda c: transport.call("whoami", {}, c, read_only=False), callers))

    assert seen == [{"authorization": f"Bearer {c.token}" if c.token else None} for c in callers]


# --- the answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [42, "text", 1.5, True, [1, 2, 3], [{"a": 1}, {"a": 2}], {"a": 1, "b": None}, [], None],
    ids=repr,
)
def test_value_is_returned_as_postgrest_sends_it(
    server: FakePostgrest, transport: PostgrestTransport, body: Any
) -> None:
    server.answer(Answer(status=200, body=json.dumps(body)))

    assert transport.call("f", {}, USER, read_only=False) == body


def test_void_function_answer_204_is_none(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(Answer(status=204, body=None))

    assert transport.call("f", {}, USER, read_only=False) is None


def test_json_text_is_the_body_as_postgrest_sent_it(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    body = '{"b" : 1.50, "a" : [2, 1]}'
    server.answer(Answer(status=200, body=body))

    assert transport.call_json("f", {"p": 1}, USER, read_only=True) == body
    assert server.requests[-1].method == "GET"
    assert server.requests[-1].headers["authorization"] == f"Bearer {USER_TOKEN}"


def test_json_text_of_a_void_function_is_none(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(Answer(status=204, body=None))

    assert transport.call_json("f", {}, USER, read_only=False) is None


def test_json_text_call_maps_errors_as_call_does(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(Answer(status=403, body={"code": "42501", "message": "permission denied"}))

    with pytest.raises(RpcError) as error:
        transport.call_json("f", {}, USER, read_only=True)
    assert (error.value.status, error.value.code) == (403, "42501")


def test_success_with_a_body_that_is_not_json_is_a_502(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(
        Answer(status=200, body="<html>hello</html>", headers={"Content-Type": "text/html"})
    )

    with pytest.raises(RpcError) as error:
        transport.call("f", {}, USER, read_only=False)
    assert error.value.status == 502


# --- errors -------------------------------------------------------------------------------


ERRORS = [
    (400, "P0001", "budget too high", "max 100", "lower it"),
    (400, "22023", "p_day is required", None, None),
    (401, "42501", "permission denied for function f", None, None),
    (401, "PGRST301", "JWT expired", None, None),
    (403, "42501", "permission denied for table leads", None, None),
    (
        404,
        "PGRST202",
        "Could not find the function public.f(x) in the schema cache",
        "Searched for the function public.f with parameter x",
        "Perhaps you meant to call the function public.g",
    ),
    (405, "25006", "cannot execute INSERT in a read-only transaction", None, None),
    (409, "23505", 'duplicate key value violates unique constraint "x"', "Key (code)=(a).", None),
    (409, "23503", "insert or update violates foreign key constraint", "Key is absent.", None),
    (500, "XX000", "internal error", None, None),
    (503, "PGRST001", "Database client error. Retrying the connection.", None, None),
]


@pytest.mark.parametrize(
    ("status", "code", "message", "details", "hint"), ERRORS, ids=[f"{e[0]}-{e[1]}" for e in ERRORS]
)
def test_postgrest_error_body_and_status_become_an_rpc_error(
    server: FakePostgrest,
    transport: PostgrestTransport,
    status: int,
    code: str,
    message: str,
    details: str | None,
    hint: str | None,
) -> None:
    body = {"code": code, "message": message, "details": details, "hint": hint}
    server.answer(Answer(status=status, body=body))

    with pytest.raises(RpcError) as error:
        transport.call("f", {"x": 1}, USER, read_only=False)

    assert error.value.status == status
    assert error.value.as_dict() == body


def test_error_details_that_are_not_text_are_kept_as_json(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(
        Answer(status=400, body={"code": "PT400", "message": "bad", "details": {"field": "p_day"}})
    )

    with pytest.raises(RpcError) as error:
        transport.call("f", {}, USER, read_only=False)

    assert (error.value.code, error.value.details) == ("PT400", '{"field": "p_day"}')


def test_gateway_json_error_without_a_code_keeps_its_message_and_status(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    server.answer(Answer(status=401, body={"message": "Invalid API key", "hint": "Double check"}))

    with pytest.raises(RpcError) as error:
        transport.call("f", {}, USER, read_only=False)

    assert (error.value.status, error.value.code, error.value.message) == (
        401,
        "401",
        "Invalid API key",
    )
    assert error.value.hint == "Double check"


def test_proxy_error_page_is_an_rpc_error_with_the_http_status(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    page = "<html><body>upstream down</body></html>" + "x" * 5000
    server.answer(Answer(status=502, body=page, headers={"Content-Type": "text/html"}))

    with pytest.raises(RpcError) as error:
        transport.call("f", {}, USER, read_only=False)

    assert (error.value.status, error.value.code, error.value.message) == (
        502,
        "502",
        "Bad Gateway",
    )
    assert error.value.details is not None
    assert error.value.details.startswith("<html><body>upstream down")
    assert len(error.value.details) <= 1000


def test_error_body_echoing_the_token_or_api_key_is_scrubbed(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    echo = f"apikey={API_KEY} authorization=Bearer {USER_TOKEN}"
    server.answer(
        Answer(status=400, body={"code": "X", "message": echo, "details": echo, "hint": echo})
    )

    with pytest.raises(RpcError) as error:
        transport.call("f", {}, USER, read_only=False)

    for text in (str(error.value), repr(error.value.as_dict())):
        assert API_KEY not in text
        assert USER_TOKEN not in text


@pytest.mark.parametrize("read_only", [False, True], ids=["post", "get"])
def test_connection_refused_is_a_503_without_the_url_or_secrets(read_only: bool) -> None:
    port = _closed_port()
    client = PostgrestTransport(f"http://user:pw-secret@127.0.0.1:{port}", API_KEY, retry=False)
    try:
        with pytest.raises(RpcError) as error:
            client.call("f", {"x": 1}, USER, read_only=read_only)
    finally:
        client.close()

    assert (error.value.status, error.value.code) == (503, "08000")
    text = f"{error.value} {error.value.as_dict()}"
    for secret in (str(port), "pw-secret", "127.0.0.1", API_KEY, USER_TOKEN):
        assert secret not in text
    assert error.value.__suppress_context__  # the httpx error (holding the request) is not shown


def test_timeout_is_a_503(server: FakePostgrest) -> None:
    server.answer(Answer(body=1, hang=True))
    client = PostgrestTransport(server.url, API_KEY, timeout=0.2, retry=False)
    try:
        with pytest.raises(RpcError) as error:
            client.call("slow", {}, USER, read_only=False)
    finally:
        client.close()

    assert (error.value.status, error.value.code) == (503, "08000")
    assert "timed out" in error.value.message


def test_read_only_call_is_retried_after_a_503(server: FakePostgrest) -> None:
    server.answer(
        Answer(status=503, body={"code": "PGRST002", "message": "loading"}), Answer(body=7)
    )
    client = PostgrestTransport(server.url, API_KEY)  # retries on, postgrest-py's default
    try:
        assert client.call("f", {}, USER, read_only=True) == 7
    finally:
        client.close()

    first, second = server.requests
    assert "x-retry-count" not in first.headers
    assert second.headers["x-retry-count"] == "1"
    assert second.headers["authorization"] == f"Bearer {USER_TOKEN}"


def test_write_is_never_retried(server: FakePostgrest) -> None:
    server.answer(Answer(status=503, body={"code": "PGRST002", "message": "loading"}))
    client = PostgrestTransport(server.url, API_KEY)
    try:
        with pytest.raises(RpcError) as error:
            client.call("f", {}, USER, read_only=False)
    finally:
        client.close()

    assert error.value.status == 503
    assert len(server.requests) == 1


# --- refused before any request -----------------------------------------------------------


@pytest.mark.parametrize("name", ["../admin", "F", "f?x=1", "f/g", ""])
def test_function_name_that_is_not_a_plain_identifier_is_not_found_without_a_request(
    server: FakePostgrest, transport: PostgrestTransport, name: str
) -> None:
    with pytest.raises(RpcError) as error:
        transport.call(name, {}, USER, read_only=False)

    assert (error.value.status, error.value.code) == (404, "PGRST202")
    assert server.requests == []


def test_caller_with_a_role_but_no_token_is_refused_rather_than_sent_as_anon(
    server: FakePostgrest, transport: PostgrestTransport
) -> None:
    with pytest.raises(RpcError) as error:
        transport.call("f", {}, Caller.service(), read_only=False)

    assert error.value.status == 401
    assert server.requests == []


def test_project_url_must_be_http() -> None:
    with pytest.raises(LeadflowError, match="http"):
        PostgrestTransport("ftp://example.test", API_KEY)


# --- built from settings ------------------------------------------------------------------


def test_over_postgrest_calls_send_the_anon_key_and_the_callers_token(
    server: FakePostgrest,
) -> None:
    settings = _settings(
        LEADFLOW_TRANSPORT="postgrest",
        SUPABASE_URL=server.url,
        SUPABASE_ANON_KEY=API_KEY,
        SUPABASE_SERVICE_ROLE_KEY=SERVICE_KEY,
    )
    database = from_settings(settings)
    try:
        assert isinstance(database, Database)
        assert isinstance(database.transport, PostgrestTransport)
        database.rpc("run_job", {"p_day": "2026-11-25"}, caller=service_caller(settings))
        database.rpc("segment_overview", caller=Caller.anonymous(), read_only=True)
    finally:
        database.close()

    job, anonymous = server.requests
    assert job.headers["apikey"] == API_KEY
    assert job.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert anonymous.headers["apikey"] == API_KEY
    assert "authorization" not in anonymous.headers


def test_jobs_over_postgrest_call_as_service_role_with_the_service_key() -> None:
    settings = _settings(LEADFLOW_TRANSPORT="postgrest", SUPABASE_SERVICE_ROLE_KEY=SERVICE_KEY)

    caller = service_caller(settings)

    assert (caller.role, caller.token) == ("service_role", SERVICE_KEY)
    assert SERVICE_KEY not in repr(caller)


def test_jobs_over_a_direct_connection_need_no_service_key() -> None:
    caller = service_caller(_settings(LEADFLOW_TRANSPORT="direct"))

    assert (caller.role, caller.token) == ("service_role", None)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({}, "SUPABASE_URL, SUPABASE_ANON_KEY"),
        ({"SUPABASE_URL": "https://x.supabase.co"}, "SUPABASE_ANON_KEY"),
        ({"SUPABASE_ANON_KEY": API_KEY}, "SUPABASE_URL"),
        ({"SUPABASE_URL": "", "SUPABASE_ANON_KEY": ""}, "SUPABASE_URL, SUPABASE_ANON_KEY"),
    ],
)
def test_postgrest_without_its_settings_names_each_one_missing(
    values: dict[str, str], missing: str
) -> None:
    with pytest.raises(LeadflowError) as error:
        from_settings(_settings(LEADFLOW_TRANSPORT="postgrest", **values))

    assert str(error.value) == f"LEADFLOW_TRANSPORT=postgrest needs {missing} to be set"
    assert API_KEY not in str(error.value)


def test_jobs_over_postgrest_without_the_service_key_are_refused_clearly() -> None:
    with pytest.raises(LeadflowError, match="SUPABASE_SERVICE_ROLE_KEY"):
        service_caller(_settings(LEADFLOW_TRANSPORT="postgrest"))


def test_a_direct_connection_without_database_url_is_refused_clearly() -> None:
    with pytest.raises(LeadflowError, match="LEADFLOW_TRANSPORT=direct needs DATABASE_URL"):
        from_settings(_settings(LEADFLOW_TRANSPORT="direct"))
