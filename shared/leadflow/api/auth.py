"""Who is calling: a Supabase user JWT from `Authorization: Bearer`, verified with PyJWT.

HS256 tokens are checked with the project's JWT secret; RS256 / ES256 tokens
with the key their `kid` names in the project's JWKS, when one is configured.
Audience and expiry are always required. No header at all means the anon
caller, whom the database then refuses where anon may not go. The token is
never logged; error messages never contain it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt
from jwt import PyJWKClient

from leadflow.db import Caller
from leadflow.db.caller import API_ROLES
from leadflow.envelope import ApiError
from leadflow.settings import Settings

SYMMETRIC = "HS256"
ASYMMETRIC = frozenset({"RS256", "ES256"})
_MAX_TOKEN_LENGTH = 8192
#: Verified tokens remembered, like PostgREST's JWT cache: a client sends the
#: same token with every request until it expires.
_CACHE_SIZE = 4096


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        "invalid_token",
        message,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class TokenVerifier:
    """Verifies user JWTs and turns them into the `Caller` the database sees."""

    def __init__(
        self,
        *,
        secret: str | None,
        jwks_url: str | None,
        audience: str,
        jwks_lifespan: float = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret or None
        self._clock = clock
        self._audience = audience
        self._verified: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._jwks = (
            PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=jwks_lifespan, timeout=5)
            if jwks_url
            else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """The verifier of SUPABASE_JWT_SECRET, SUPABASE_JWKS_URL and SUPABASE_JWT_AUDIENCE."""
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        return cls(secret=secret, jwks_url=settings.jwks_url, audience=settings.jwt_audience)

    def caller(self, authorization: str | None) -> Caller:
        """The caller of a request with this Authorization header (None: anon)."""
        if authorization is None:
            return Caller.anonymous()
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("the Authorization header must be: Bearer <jwt>")
        return Caller(claims=self.verify(token), token=token)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; `ApiError` 401 (or 503 when the JWKS is unreachable)."""
        with self._lock:
            cached = self._verified.get(token)
        # A remembered token is only as good as its expiry: checked again on every use.
        if cached is not None and cached[0] > self._clock():
            return dict(cached[1])
        claims = self._verify(token)
        with self._lock:
            self._verified[token] = (float(claims["exp"]), claims)
            while len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return dict(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise _unauthorized("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("the token is malformed") from None
        alg = header.get("alg")
        key = self._key_for(alg, header.get("kid"), token)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[str(alg)],
                audience=self._audience,
                # Expiry is checked below against our clock (injectable in tests).
                options={"require": ["exp", "aud"], "verify_signature": True, "verify_exp": False},
            )
        except (jwt.InvalidAudienceError, jwt.MissingRequiredClaimError) as exc:
            if isinstance(exc, jwt.MissingRequiredClaimError):
                raise _unauthorized(f"the token lacks the {exc.claim!r} claim") from None
            raise _unauthorized("the token is not meant for this API (audience)") from None
        except jwt.InvalidSignatureError:
            raise _unauthorized("the token's signature is invalid") from None
        except jwt.PyJWTError:
            raise _unauthorized("the token is invalid") from None
        if not isinstance(claims, dict):
            raise _unauthorized("the token is invalid")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float) or exp <= self._clock():
            raise _unauthorized("the token has expired")
        role = claims.get("role")
        if role is not None and (not isinstance(role, str) or role not in API_ROLES):
            raise _unauthorized("the token's role is not accepted")
        sub = claims.get("sub")
        if role in (None, "authenticated") and (not isinstance(sub, str) or not sub.strip()):
            # A signed-in user's token names the user; without it the database would answer
            # as nobody (200 with nothing), which hides a broken token.
            raise _unauthorized("the token lacks the 'sub' claim (the user's id)")
        return claims

    def _key_for(self, alg: Any, kid: Any, token: str) -> Any:
        if alg == SYMMETRIC:
            if self._secret is None:
                raise _unauthorized("HS256 tokens are not accepted here")
            return self._secret
        if alg in ASYMMETRIC:
            if self._jwks is None:
                raise _unauthorized(f"{alg} tokens are not accepted here")
            if not isinstance(kid, str) or not kid:
                raise _unauthorized("the token names no key (kid)")
            try:
                jwk = self._jwks.get_signing_key_from_jwt(token)
            except jwt.PyJWKClientConnectionError:
                raise ApiError(
                    503, "unavailable", "the signing keys cannot be fetched; try again later"
                ) from None
            except jwt.PyJWTError:
                raise _unauthorized("the token's key is unknown") from None
            # The key decides the algorithm, never the token's header alone.
            if jwk.algorithm_name != alg:
                raise _unauthorized("the token's algorithm does not match its key")
            return jwk.key
        raise _unauthorized("the token's algorithm is not accepted")
