"""Authentication of the API: Supabase user JWTs (HS256 secret or JWKS keys), and every bad token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from api_fixtures import (
    ADMIN,
    JWT_SECRET,
    PARTNER,
    SEGMENT_OWN,
    Jwks,
    bearer,
    error_of,
    mint,
    serving_function,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from leadflow.api.auth import TokenVerifier
from leadflow.envelope import ApiError

SEGMENTS = "/api/lead-segments"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


def valid_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": ADMIN,
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 600,
    }
    claims.update(overrides)
    return claims


BAD_AUTHORIZATION = {
    "basic-scheme": "Basic YWRtaW46YWRtaW4=",
    "bearer-without-token": "Bearer",
    "bearer-blank": "Bearer    ",
    "not-a-jwt": "Bearer not-a-jwt",
    "two-parts": "Bearer abc.def",
    "garbage-base64": "Bearer !!!.???.***",
    "alg-none": "Bearer " + unsigned(valid_claims()),
    "alg-none-with-signature": "Bearer " + unsigned(valid_claims()) + "c2ln",
    "wrong-secret": "Bearer "
    + mint(ADMIN, key="another-secret-that-is-long-enough-for-every-hmac-algorithm-0123456789"),
    "expired": "Bearer " + mint(ADMIN, expires_in=-60),
    "without-exp": "Bearer " + mint(ADMIN, expires_in=None),
    "wrong-audience": "Bearer " + mint(ADMIN, aud="some-other-api"),
    "without-audience": "Bearer " + mint(ADMIN, aud=None),
    "not-yet-valid": "Bearer " + mint(ADMIN, nbf=int(time.time()) + 600),
    "hs512": "Bearer " + mint(ADMIN, algorithm="HS512"),
    "hs384": "Bearer " + mint(ADMIN, algorithm="HS384"),
    "role-postgres": "Bearer " + mint(ADMIN, role="postgres"),
    "role-not-a-string": "Bearer " + jwt.encode(valid_claims(role=["admin"]), JWT_SECRET),
    "tampered-payload": "Bearer "
    + ".".join(
        (lambda parts: [parts[0], _b64(valid_claims(sub=PARTNER)), parts[2]])(
            mint(ADMIN).split(".")
        )
    ),
    "oversized": "Bearer " + mint(ADMIN, padding="x" * 10_000),
    "without-sub": "Bearer "
    + jwt.encode({k: v for k, v in valid_claims().items() if k != "sub"}, JWT_SECRET),
    "blank-sub": "Bearer " + jwt.encode(valid_claims(sub=" "), JWT_SECRET),
    "sub-not-a-string": "Bearer " + jwt.encode(valid_claims(sub=42), JWT_SECRET),
}


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
def test_every_kind_of_bad_token_is_a_401(api_reader: FlaskClient, authorization: str) -> None:
    for path in (SEGMENTS, "/api/health", f"{SEGMENTS}/not-a-uuid"):
        response = api_reader.get(path, headers={"Authorization": authorization})
        error_of(response, 401, "invalid_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        token = authorization.removeprefix("Bearer ").strip()
        if len(token) > 10:
            assert token[:30] not in response.get_data(as_text=True)


def test_a_bad_token_is_refused_before_the_body_is_read(api_reader: FlaskClient) -> None:
    response = api_reader.post(
        SEGMENTS, data="not json", headers={"Authorization": "Bearer x", "Content-Type": "text/x"}
    )
    error_of(response, 401, "invalid_token")


def test_expired_token_says_so(api_reader: FlaskClient) -> None:
    error = error_of(api_reader.get(SEGMENTS, headers=bearer(mint(ADMIN, expires_in=-5))), 401)
    assert "expired" in error["message"]


def test_no_token_is_the_anon_caller_whom_the_database_refuses(api_reader: FlaskClient) -> None:
    error = error_of(api_reader.get(SEGMENTS), 401, "unauthorized")
    assert error["details"] == [{"loc": [], "message": error["message"], "type": "42501"}]
    assert api_reader.get("/api/health").status_code == 200


def test_a_token_for_the_anon_role_is_anon(api_reader: FlaskClient) -> None:
    anon = bearer(mint(None, role="anon"))
    error_of(api_reader.get(SEGMENTS, headers=anon), 401, "unauthorized")
    assert api_reader.get("/api/health", headers=anon).status_code == 200


def test_openapi_document_needs_no_token_and_ignores_a_bad_one(api_reader: FlaskClient) -> None:
    response = api_reader.get("/api/openapi.json", headers={"Authorization": "Bearer junk"})
    assert response.status_code == 200


def test_the_scheme_name_is_case_insensitive(api_reader: FlaskClient) -> None:
    token = mint(ADMIN)
    assert api_reader.get(SEGMENTS, headers={"Authorization": f"bearer {token}"}).status_code == 200


# -----------------------------------------------------------------------------
# Asymmetric keys from a JWKS
# -----------------------------------------------------------------------------


def test_rs256_token_from_the_jwks_is_accepted(jwks_reader: FlaskClient, jwks: Jwks) -> None:
    token = mint(ADMIN, key=jwks.rsa_key, algorithm="RS256", headers={"kid": Jwks.RSA_KID})
    response = jwks_reader.get(f"{SEGMENTS}/{SEGMENT_OWN}", headers=bearer(token))
    assert response.status_code == 200
    assert "max_daily_budget" in response.get_json()
    assert jwks.requests, "the keys were fetched from the JWKS endpoint"


def test_es256_token_from_the_jwks_is_accepted(jwks_reader: FlaskClient, jwks: Jwks) -> None:
    token = mint(PARTNER, key=jwks.ec_key, algorithm="ES256", headers={"kid": Jwks.EC_KID})
    response = jwks_reader.get(f"{SEGMENTS}/{SEGMENT_OWN}", headers=bearer(token))
    assert response.status_code == 200
    assert "max_daily_budget" not in response.get_json()


def test_an_hs256_token_is_still_accepted_beside_the_jwks(jwks_reader: FlaskClient) -> None:
    assert jwks_reader.get(SEGMENTS, headers=bearer(mint(ADMIN))).status_code == 200


def _other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    "make_token",
    [
        # Signed by a key that is not in the JWKS, under a kid that is.
        lambda j: mint(ADMIN, key=_other_rsa_key(), algorithm="RS256", headers={"kid": j.RSA_KID}),
        # A kid the JWKS does not have.
        lambda j: mint(ADMIN, key=j.rsa_key, algorithm="RS256", headers={"kid": "unknown"}),
        # No kid at all.
        lambda j: mint(ADMIN, key=j.rsa_key, algorithm="RS256"),
        # The RSA key's kid with an EC signature: the key decides the algorithm.
        lambda j: mint(ADMIN, key=j.ec_key, algorithm="ES256", headers={"kid": j.RSA_KID}),
        # PS256 is not an accepted algorithm.
        lambda j: mint(ADMIN, key=j.rsa_key, algorithm="PS256", headers={"kid": j.RSA_KID}),
        # Expired, though well signed.
        lambda j: mint(
            ADMIN, key=j.rsa_key, algorithm="RS256", headers={"kid": j.RSA_KID}, expires_in=-10
        ),
        # Wrong audience, though well signed.
        lambda j: mint(
            ADMIN, key=j.rsa_key, algorithm="RS256", headers={"kid": j.RSA_KID}, aud="other"
        ),
    ],
    ids=[
        "foreign-key",
        "unknown-kid",
        "no-kid",
        "alg-mismatch",
        "ps256",
        "expired",
        "wrong-audience",
    ],
)
def test_bad_asymmetric_tokens_are_a_401(
    jwks_reader: FlaskClient, jwks: Jwks, make_token: Any
) -> None:
    error_of(jwks_reader.get(SEGMENTS, headers=bearer(make_token(jwks))), 401, "invalid_token")


def test_rs256_token_signed_with_the_public_key_as_hmac_secret_is_refused(
    jwks_reader: FlaskClient, jwks: Jwks
) -> None:
    public_pem = jwks.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": Jwks.RSA_KID})
    payload = _b64(valid_claims())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    error_of(jwks_reader.get(SEGMENTS, headers=bearer(token)), 401, "invalid_token")


def test_asymmetric_tokens_are_refused_without_a_jwks(api_reader: FlaskClient, jwks: Jwks) -> None:
    token = mint(ADMIN, key=jwks.rsa_key, algorithm="RS256", headers={"kid": Jwks.RSA_KID})
    error_of(api_reader.get(SEGMENTS, headers=bearer(token)), 401, "invalid_token")


def test_unreachable_jwks_is_a_503_not_a_500(shared_db_url: str, jwks: Jwks) -> None:
    with serving_function(
        shared_db_url, SUPABASE_JWKS_URL="http://127.0.0.1:9/.well-known/jwks.json"
    ) as app:
        token = mint(ADMIN, key=jwks.rsa_key, algorithm="RS256", headers={"kid": Jwks.RSA_KID})
        error_of(app.test_client().get(SEGMENTS, headers=bearer(token)), 503, "unavailable")


def test_hs256_is_refused_when_no_secret_is_configured(jwks: Jwks) -> None:
    verifier = TokenVerifier(secret=None, jwks_url=jwks.url, audience="authenticated")
    with pytest.raises(ApiError) as refused:
        verifier.verify(mint(ADMIN))
    assert refused.value.status == 401


def test_verified_claims_and_token_become_the_caller() -> None:
    verifier = TokenVerifier(secret=JWT_SECRET, jwks_url=None, audience="authenticated")
    token = mint(PARTNER, email="p@example.com")
    caller = verifier.caller(f"Bearer {token}")
    assert caller.token == token
    assert caller.role == "authenticated"
    assert caller.claims["sub"] == PARTNER and caller.claims["email"] == "p@example.com"
    assert token not in repr(caller)
    assert verifier.caller(None).role == "anon"


def test_a_remembered_token_still_expires() -> None:
    now = [time.time()]
    verifier = TokenVerifier(
        secret=JWT_SECRET, jwks_url=None, audience="authenticated", clock=lambda: now[0]
    )
    token = mint(ADMIN, expires_in=60)
    assert verifier.verify(token)["sub"] == ADMIN
    assert verifier.verify(token)["sub"] == ADMIN  # from the cache
    now[0] += 61
    with pytest.raises(ApiError) as refused:
        verifier.verify(token)
    assert refused.value.status == 401
    assert "expired" in refused.value.message


def test_remembered_claims_cannot_be_changed_by_a_caller() -> None:
    verifier = TokenVerifier(secret=JWT_SECRET, jwks_url=None, audience="authenticated")
    token = mint(PARTNER)
    verifier.verify(token)["role"] = "service_role"
    assert verifier.verify(token)["role"] == "authenticated"
