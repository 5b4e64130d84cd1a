"""The first admin through supabase-py (`leadflow_tools.admin`), against the request contract
of Supabase Auth and PostgREST, on a local stub server."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import run_cli
from leadflow.errors import LeadflowError
from leadflow_tools.admin import create_first_admin

SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl"
USER_ID = "5f0c7a4e-0000-4000-8000-00000000a001"
USER = {
    "id": USER_ID,
    "aud": "authenticated",
    "role": "authenticated",
    "email": "ops@leadflow.example",
    "app_metadata": {"provider": "email"},
    "user_metadata": {},
    "created_at": "2026-12-06T10:00:00Z",
}


@dataclass
class Stub:
    """Records every request; answers like Supabase Auth and PostgREST would."""

    admins: list[dict[str, Any]] = field(default_factory=list)
    invite_status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> dict[str, Any]:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = {
                "method": self.command,
                "path": parts.path,
                "query": parse_qs(parts.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": json.loads(raw) if raw else None,
            }
            state.requests.append(request)
            return request

        def do_GET(self) -> None:
            request = self._record()
            if request["path"] == "/rest/v1/profiles":
                self._answer(200, state.admins)
            else:
                self._answer(404, {"message": "no route"})

        def do_POST(self) -> None:
            request = self._record()
            if request["path"] == "/auth/v1/invite":
                if state.invite_status == 200:
                    self._answer(200, USER)
                else:
                    self._answer(
                        state.invite_status,
                        {"code": 422, "error_code": "email_exists", "msg": "already registered"},
                    )
            elif request["path"] == "/rest/v1/profiles":
                self._answer(201, None)
            else:
                self._answer(404, {"message": "no route"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _authorized_as_the_service_role(request: dict[str, Any]) -> bool:
    headers = request["headers"]
    return headers.get("apikey") == SERVICE_KEY and (
        headers.get("authorization") == f"Bearer {SERVICE_KEY}"
    )


def test_the_first_admin_is_invited_through_auth_admin_and_given_the_admin_role(
    stub: Stub,
) -> None:
    user_id = create_first_admin(stub.url, SERVICE_KEY, "ops@leadflow.example")

    assert user_id == USER_ID
    check, invite, profile = stub.requests
    assert (check["method"], check["path"]) == ("GET", "/rest/v1/profiles")
    assert check["query"]["role"] == ["eq.admin"] and check["query"]["limit"] == ["1"]
    assert (invite["method"], invite["path"]) == ("POST", "/auth/v1/invite")
    assert invite["body"]["email"] == "ops@leadflow.example"
    assert (profile["method"], profile["path"]) == ("POST", "/rest/v1/profiles")
    assert profile["body"] == {"id": USER_ID, "email": "ops@leadflow.example", "role": "admin"}
    assert "resolution=merge-duplicates" in profile["headers"]["prefer"]  # an upsert
    assert all(_authorized_as_the_service_role(r) for r in stub.requests)


def test_the_invitation_link_can_lead_to_the_dashboard(stub: Stub) -> None:
    create_first_admin(
        stub.url, SERVICE_KEY, "ops@leadflow.example", redirect_to="https://ops.example/welcome"
    )
    invite = stub.requests[1]
    assert invite["query"]["redirect_to"] == ["https://ops.example/welcome"]


def test_a_project_with_an_admin_gets_no_second_first_admin(stub: Stub) -> None:
    stub.admins = [{"id": "someone"}]
    with pytest.raises(LeadflowError, match="has an admin already"):
        create_first_admin(stub.url, SERVICE_KEY, "ops@leadflow.example")
    assert [r["path"] for r in stub.requests] == ["/rest/v1/profiles"]  # nobody was invited


def test_a_refused_invitation_says_why_and_changes_no_profile(stub: Stub) -> None:
    stub.invite_status = 422
    with pytest.raises(LeadflowError, match=r"refused to invite ops@leadflow\.example"):
        create_first_admin(stub.url, SERVICE_KEY, "ops@leadflow.example")
    assert [r["method"] for r in stub.requests] == ["GET", "POST"]


# --------------------------------------------------------------------------- the CLI command


def _admin_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("admin", "create", *args, db_url=None, home=tmp_path, **env)


def test_admin_create_invites_and_says_so(stub: Stub, tmp_path: Path) -> None:
    env = {"SUPABASE_URL": stub.url, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY}
    result = _admin_cli(tmp_path, "ops@leadflow.example", **env)
    assert result.returncode == 0, result.stderr
    assert f"ops@leadflow.example is invited (user {USER_ID})" in " ".join(result.stdout.split())
    assert [r["path"] for r in stub.requests] == [
        "/rest/v1/profiles",
        "/auth/v1/invite",
        "/rest/v1/profiles",
    ]


def test_admin_create_json(stub: Stub, tmp_path: Path) -> None:
    env = {"SUPABASE_URL": stub.url, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY}
    result = _admin_cli(tmp_path, "ops@leadflow.example", "--json", **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "email": "ops@leadflow.example",
        "user_id": USER_ID,
        "role": "admin",
        "invited": True,
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-env", "set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"),
        ("has-admin", "the project has an admin already"),
        ("refused", "Supabase Auth refused to invite ops@leadflow.example: already registered"),
        ("unreachable", "cannot reach SUPABASE_URL (http://127.0.0.1:9)"),
        ("bad-url", "SUPABASE_URL 'ftp://nowhere' is not a project URL"),
        ("bad-email", "'not-an-email' is not an e-mail address"),
    ],
)
def test_admin_create_fails_in_one_line_and_non_zero(
    stub: Stub, tmp_path: Path, case: str, message: str
) -> None:
    env = {"SUPABASE_URL": stub.url, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY}
    email = "ops@leadflow.example"
    if case == "no-env":
        env = {}
    elif case == "has-admin":
        stub.admins = [{"id": "someone"}]
    elif case == "refused":
        stub.invite_status = 422
    elif case == "unreachable":
        env["SUPABASE_URL"] = "http://127.0.0.1:9"
    elif case == "bad-url":
        env["SUPABASE_URL"] = "ftp://nowhere"
    elif case == "bad-email":
        email = "not-an-email"
    result = _admin_cli(tmp_path, email, **env)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line, line
    assert SERVICE_KEY not in result.stderr
    as_json = _admin_cli(tmp_path, email, "--json", **env)
    assert as_json.returncode == 1
    assert message in json.loads(as_json.stderr)["error"]["message"]
