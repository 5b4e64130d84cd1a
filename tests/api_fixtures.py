"""Fixtures for the API tests: the function's test client, tokens for each role, sample data.

Loaded from tests/conftest.py. The function is built as deployed, through
`functions_framework.create_app(target="api", source="functions/api/main.py")`,
against the per-test seeded database (DATABASE_URL) and a test JWT secret.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import functions_framework
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient
from leadflow.api import close
from leadflow.settings import get_settings
from werkzeug.test import TestResponse

API_SOURCE = str(Path(__file__).resolve().parents[1] / "functions" / "api" / "main.py")
JWT_SECRET = "leadflow-test-jwt-secret-" + "0123456789abcdef" * 3  # 72 bytes: fine for HS512 too
AUDIENCE = "authenticated"
SEEDED_TEMPLATE = "leadflow_tmpl_seeded"  # the seeded template of tests/conftest.py

# Ids from supabase/seed.sql (see tests/conftest.py), and one partner added here.
ADMIN = "00000000-0000-4000-8000-000000000001"
PARTNER = "00000000-0000-4000-8000-000000000011"  # subscribed: schilder noord_brabant
PARTNER_NO_SUBSCRIPTION = "00000000-0000-4000-8000-0000000000f1"
SEGMENT_OWN = "00000000-0000-4000-8002-000000000011"  # schilder_noord_brabant
SEGMENT_FOREIGN = "00000000-0000-4000-8002-000000000012"  # schilder_utrecht
SEGMENT_UNKNOWN = "00000000-0000-4000-8002-0000000000ff"
INDUSTRY_SCHILDER = "00000000-0000-4000-8001-000000000001"
INDUSTRY_LOODGIETER = "00000000-0000-4000-8001-000000000002"

#: The days of sample stats and plans (30 days, inclusive).
SAMPLE_FROM = date(2026, 10, 27)
SAMPLE_TO = date(2026, 11, 25)

MONEY_STATS = {"revenue", "ad_spend", "ad_clicks", "ad_impressions", "ad_conversions", "cpl"}
MONEY_PLANS = {"planned_budget", "channels", "budget_action", "budget_status"}
MONEY_SEGMENT = {"min_daily_budget", "max_daily_budget", "target_cpl"}


def mint(
    sub: str | None,
    *,
    role: str | None = "authenticated",
    aud: str | None = AUDIENCE,
    expires_in: int | None = 600,
    key: Any = JWT_SECRET,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A JWT as Supabase Auth issues them (HS256 with the test secret unless told otherwise)."""
    payload: dict[str, Any] = {"iat": int(time.time()), **claims}
    if sub is not None:
        payload["sub"] = sub
    if role is not None:
        payload["role"] = role
    if aud is not None:
        payload["aud"] = aud
    if expires_in is not None:
        payload["exp"] = int(time.time()) + expires_in
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


LEAKS = ("Traceback", "psycopg", "select ", "SELECT", "permission denied", "public.", "private.")


def error_of(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the response is our JSON error with this status (and code); return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in text
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    # One shape of details for every error: a list of {loc, message, type}.
    details = body["error"]["details"]
    assert isinstance(details, list)
    for item in details:
        assert set(item) == {"loc", "message", "type"}
        assert isinstance(item["loc"], list) and all(isinstance(part, str) for part in item["loc"])
        assert isinstance(item["message"], str) and isinstance(item["type"], str)
    if code is not None:
        assert body["error"]["code"] == code
    return dict(body["error"])


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Roles:
    """Authorization headers for each role (anon: none)."""

    anon: dict[str, str]
    partner_without_subscription: dict[str, str]
    partner: dict[str, str]
    admin: dict[str, str]

    def of(self, role: str) -> dict[str, str]:
        """The headers of a role by name."""
        headers: dict[str, str] = getattr(self, role)
        return headers


ROLE_NAMES = ("anon", "partner_without_subscription", "partner", "admin")


@pytest.fixture
def roles() -> Roles:
    """Valid tokens for every role of the design."""
    return Roles(
        anon={},
        partner_without_subscription=bearer(mint(PARTNER_NO_SUBSCRIPTION)),
        partner=bearer(mint(PARTNER)),
        admin=bearer(mint(ADMIN)),
    )


def add_partner_without_subscription(conn: psycopg.Connection[Any]) -> None:
    """A partner (profile and auth user) with no subscription at all."""
    conn.execute(
        "insert into auth.users (id, email) values (%s, 'no-subscription@partners.example')",
        (PARTNER_NO_SUBSCRIPTION,),
    )
    conn.execute(
        "insert into public.profiles (id, role, company_name) values (%s, 'partner', 'Zonder')",
        (PARTNER_NO_SUBSCRIPTION,),
    )


def insert_sample_days(
    conn: psycopg.Connection[Any], segment_id: str, first: date, last: date
) -> None:
    """Stats and plans for every day first..last, as the jobs would write them."""
    conn.execute(
        """
        insert into public.lead_generation_stats (
          segment_id, day, leads_generated, leads_accepted, leads_rejected, leads_pending,
          leads_paid, revenue, ad_spend, ad_clicks, ad_impressions, ad_conversions, cpl,
          active_partners, total_capacity)
        select %(segment)s, d::date, 10, 6, 2, 2, 5, 111.00, 80.00, 300, 9000, 5, 16.00, 2, 12.5
        from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
        """,
        {"segment": segment_id, "first": first, "last": last},
    )
    # The same days per channel: 5 paid (Google Ads) and 3 SEO, 1 microsite, 1 other.
    conn.execute(
        """
        insert into public.lead_channel_stats (
          segment_id, day, channel, leads_generated, leads_accepted, revenue, spend, clicks,
          impressions, conversions)
        select %(segment)s, d::date, c.channel, c.generated, c.accepted, c.revenue, c.spend,
               c.clicks, c.impressions, c.conversions
        from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
        cross join (values ('google_ads', 5, 3, 55.50, 80.00, 300, 9000, 5),
                           ('seo', 3, 2, 37.00, 0, 0, 0, 0),
                           ('microsite', 1, 1, 18.50, 0, 0, 0, 0),
                           ('other', 1, 0, 0, 0, 0, 0, 0))
          as c (channel, generated, accepted, revenue, spend, clicks, impressions, conversions)
        """,
        {"segment": segment_id, "first": first, "last": last},
    )
    conn.execute(
        """
        insert into public.lead_segment_plans (
          segment_id, day, capacity, acceptance_rate, target_leads, actual_leads)
        select %(segment)s, d::date, 12.5, 0.75, 16.67, 10
        from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
        """,
        {"segment": segment_id, "first": first, "last": last},
    )
    # Each day's budget raised live from 125 to 150 euro, as the orchestrate job leaves it
    # (the end state of claims and completions: the write path's checks are skipped).
    with conn.transaction():
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            """
            insert into public.channel_orchestration_log (
              day, segment_id, channel, customer_id, campaign_id, budget_resource_name, action,
              old_amount_micros, new_amount_micros, change_pct, expected_gap, reason, mode,
              status, triggered_by, sent_on, claimed_at, completed_at)
            select d::date, %(segment)s::uuid, 'google_ads', '1234567890', '5150',
                   'customers/1234567890/campaignBudgets/' || right(%(segment)s::uuid::text, 6),
                   'increase', 125000000, 150000000, 20, 6.67, 'under target', 'live',
                   'success', 'test', d::date, d + interval '3 hours', d + interval '3 hours'
            from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
            """,
            {"segment": segment_id, "first": first, "last": last},
        )


def add_sample_days(conn: psycopg.Connection[Any]) -> None:
    """30 days of stats and plans for the partner's segment and a foreign one."""
    for segment in (SEGMENT_OWN, SEGMENT_FOREIGN):
        insert_sample_days(conn, segment, SAMPLE_FROM, SAMPLE_TO)


@pytest.fixture
def api_sql(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Superuser connection to the per-test database, with a partner without subscription."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        add_partner_without_subscription(conn)
        yield conn


@pytest.fixture
def sample_days(api_sql: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """30 days of stats and plans for the partner's segment and a foreign one."""
    add_sample_days(api_sql)
    return api_sql


def load_function() -> tuple[Flask, Flask]:
    """The functions-framework app serving functions/api/main.py, and the API app inside it.

    Several functions' main.py share the module name `main`; it is dropped
    first so that this one is loaded fresh (with the current environment).
    """
    sys.modules.pop("main", None)
    outer = functions_framework.create_app(target="api", source=API_SOURCE)
    inner: Flask = sys.modules["main"].app
    return outer, inner


@contextlib.contextmanager
def serving_function(database_url: str, **env: str) -> Iterator[Flask]:
    """The API function as deployed (functions-framework's app) on `database_url`.

    Environment: the database, the test JWT secret, no JWKS unless `env` says so.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        patch.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)
        patch.setenv("LEADFLOW_TRANSPORT", "direct")
        patch.delenv("SUPABASE_JWKS_URL", raising=False)
        patch.delenv("SUPABASE_JWT_AUDIENCE", raising=False)
        # functions-framework writes FUNCTION_TARGET; the patch puts it back afterwards.
        patch.setenv("FUNCTION_TARGET", "api")
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        outer, inner = load_function()
        try:
            yield outer
        finally:
            close(inner)
            sys.modules.pop("main", None)
            get_settings.cache_clear()


@pytest.fixture
def api_function(db_url: str, api_sql: psycopg.Connection[Any]) -> Iterator[Flask]:
    """The API function on a fresh seeded database of its own: for tests that write."""
    with serving_function(db_url) as app:
        yield app


@pytest.fixture
def api_client(api_function: Flask) -> FlaskClient:
    """A test client of the API function on its own fresh database."""
    return api_function.test_client()


@pytest.fixture(scope="module")
def shared_db_url(pg_cluster: Any) -> Iterator[str]:
    """One seeded database (with the sample days) for a whole module's read-only tests."""
    name = pg_cluster.create(SEEDED_TEMPLATE)
    try:
        url: str = pg_cluster.url(name)
        with psycopg.connect(url, autocommit=True) as conn:
            add_partner_without_subscription(conn)
            add_sample_days(conn)
        yield url
    finally:
        pg_cluster.drop(name)


@pytest.fixture(scope="module")
def api_reader(shared_db_url: str) -> Iterator[FlaskClient]:
    """A test client on the module's shared database. Never write through it."""
    with serving_function(shared_db_url) as app:
        yield app.test_client()


# -----------------------------------------------------------------------------
# A local JWKS endpoint for asymmetric tokens
# -----------------------------------------------------------------------------


def _b64(number: int, length: int | None = None) -> str:
    raw = number.to_bytes(length or (number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Jwks:
    """Signing keys whose public halves a local HTTP server publishes as a JWKS."""

    url: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    requests: list[str]

    RSA_KID = "test-rsa"
    EC_KID = "test-ec"


def _jwks_document(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> bytes:
    rsa_public = rsa_key.public_key().public_numbers()
    ec_public = ec_key.public_key().public_numbers()
    keys = [
        {
            "kty": "RSA",
            "kid": Jwks.RSA_KID,
            "use": "sig",
            "alg": "RS256",
            "n": _b64(rsa_public.n),
            "e": _b64(rsa_public.e),
        },
        {
            "kty": "EC",
            "kid": Jwks.EC_KID,
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "x": _b64(ec_public.x, 32),
            "y": _b64(ec_public.y, 32),
        },
    ]
    return json.dumps({"keys": keys}).encode()


@pytest.fixture(scope="session")
def jwks_keys() -> tuple[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]:
    """One RSA and one P-256 key for the session (RSA key generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(
        ec.SECP256R1()
    )


@pytest.fixture(scope="module")
def jwks(jwks_keys: tuple[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]) -> Iterator[Jwks]:
    """A JWKS served on 127.0.0.1 from a stdlib HTTP server."""
    rsa_key, ec_key = jwks_keys
    document = _jwks_document(rsa_key, ec_key)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path != "/auth/v1/.well-known/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield Jwks(f"http://127.0.0.1:{port}/auth/v1/.well-known/jwks.json", rsa_key, ec_key, seen)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def jwks_reader(jwks: Jwks, shared_db_url: str) -> Iterator[FlaskClient]:
    """Like `api_reader`, with the local JWKS configured beside the HS256 secret."""
    with serving_function(shared_db_url, SUPABASE_JWKS_URL=jwks.url) as app:
        yield app.test_client()
