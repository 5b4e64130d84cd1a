"""How a scheduler reaches a job: over HTTP (functions-framework) or as a scheduled event.

Both paths parse the same request model, pick the job's default Dutch day, and
answer a JSON summary. HTTP callers must present, as a bearer token, either the
scheduler secret (compared in constant time) or a Google OIDC identity token of
the configured service account and audience (Cloud Scheduler's way); there is
no anonymous path to a job.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from leadflow.db import Database, RpcError
from leadflow.errors import LeadflowError
from leadflow.jobs.day import JobName, JobRequest, default_day, run_request
from leadflow.jobs.runs import InvalidDay, JobAlreadyRunning
from leadflow.log import logger
from leadflow.settings import Settings, get_settings

if TYPE_CHECKING:  # Flask and PyJWT load on the first HTTP request, not at import
    import flask
    import jwt

__all__ = ["JobName", "JobRequest", "answer", "default_day", "http_entry", "scheduled_entry"]

MAX_BODY_BYTES = 4096
NOT_CONFIGURED = (
    "no scheduler credential is configured (LEADFLOW_SCHEDULER_SECRET, or "
    "LEADFLOW_SCHEDULER_OIDC_AUDIENCE and LEADFLOW_SCHEDULER_OIDC_EMAIL); "
    "an empty value counts as none: the job cannot be reached over HTTP"
)


def answer(
    job: JobName,
    request: JobRequest,
    *,
    settings: Settings,
    triggered_by: str,
    database: Database | None = None,
) -> dict[str, Any]:
    """Run `job` for a trigger's request (`run_request`, the CLI's path too) and answer its
    summary."""
    return run_request(
        job, request, settings=settings, triggered_by=triggered_by, database=database
    ).summary()


def _error(status: int, code: str, message: str) -> flask.Response:
    from leadflow.envelope import ApiError, error_response

    return error_response(ApiError(status, code, message))


GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


@lru_cache(maxsize=4)
def _google_keys(jwks_url: str) -> jwt.PyJWKClient:
    # Cached across warm invocations, like the keys themselves (an hour).
    import jwt

    return jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=3600, timeout=5)


def _verified_identity(token: str, settings: Settings) -> bool:
    """A Google-signed ID token for our audience, of the configured service account."""
    audience, email = settings.scheduler_oidc_audience, settings.scheduler_oidc_email
    if not audience or not email:
        return False
    import jwt

    try:
        key = _google_keys(settings.scheduler_oidc_jwks_url).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=["RS256"],
            audience=audience,
            issuer=GOOGLE_ISSUERS,
            options={"require": ["exp", "iat", "aud", "iss", "email"]},
        )
    except jwt.PyJWTError:
        return False
    return claims.get("email") == email and claims.get("email_verified") is True


def _authorized(request: flask.Request, settings: Settings) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    token = header.removeprefix("Bearer ").strip()
    if not token:
        return False
    secret = settings.scheduler_secret  # never blank: Settings turns "" into None
    if secret is not None and hmac.compare_digest(
        token.encode(), secret.get_secret_value().encode()
    ):
        return True
    return token.count(".") == 2 and _verified_identity(token, settings)


def http_entry(
    job: JobName, *, runner: Callable[..., dict[str, Any]] | None = None
) -> Callable[[flask.Request], flask.Response]:
    """A functions-framework HTTP function running `job` for an authorised scheduler.

    Nothing is checked or logged at import: on Lambda the same main.py is loaded for its
    scheduled handler, which needs no scheduler credential, so a missing one is only an
    error when an HTTP request actually arrives (logged then, and answered 503).
    """

    def handle(request: flask.Request) -> flask.Response:
        import flask

        from leadflow.envelope import rpc_error_response

        settings = get_settings()
        if not settings.scheduler_auth_configured:
            logger.error(
                "job function refuses the request", extra={"job": job, "why": NOT_CONFIGURED}
            )
            return _error(503, "not_configured", NOT_CONFIGURED)
        if request.method != "POST":
            return _error(405, "method_not_allowed", "use POST")
        if not _authorized(request, settings):
            return _error(401, "unauthorized", "a valid scheduler bearer token is required")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _error(
                413, "payload_too_large", f"the body may be at most {MAX_BODY_BYTES} bytes"
            )
        raw = request.get_data(cache=False, as_text=True) or "{}"
        try:
            job_request = JobRequest.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return _error(400, "invalid_request", f"{where}: {first['msg']}")
        run_id = str(uuid.uuid4())
        logger.set_correlation_id(run_id)
        try:
            summary = (runner or answer)(
                job, job_request, settings=settings, triggered_by=f"scheduler:{run_id}"
            )
        except JobAlreadyRunning as exc:
            return _error(409, "already_running", str(exc))
        except InvalidDay as exc:
            return _error(400, "invalid_day", str(exc))
        except RpcError as exc:
            logger.error("job failed", extra={"job": job, "code": exc.code})
            return rpc_error_response(exc)
        except LeadflowError as exc:
            return _error(422, "job_refused", str(exc))
        except Exception:
            logger.exception("job crashed", extra={"job": job})
            return _error(500, "internal", "the job failed; see the logs of this run")
        return flask.jsonify(summary)

    return handle


def scheduled_entry(job: JobName) -> Callable[[dict[str, Any] | None, Any], dict[str, Any]]:
    """A handler for scheduled (non-HTTP) invocations, e.g. EventBridge Scheduler on Lambda.

    The event is the schedule's input, e.g. `{}` or `{"day": "2026-11-25"}`. Failures
    raise, so that the scheduler's retry policy and dead-letter queue apply.
    """

    def handle(event: dict[str, Any] | None, context: Any = None) -> dict[str, Any]:
        logger.set_correlation_id(getattr(context, "aws_request_id", None) or str(uuid.uuid4()))
        payload = {k: v for k, v in (event or {}).items() if k in JobRequest.model_fields}
        request = JobRequest.model_validate(payload)
        return answer(job, request, settings=get_settings(), triggered_by="schedule")

    return handle
