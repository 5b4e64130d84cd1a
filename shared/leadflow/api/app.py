"""The API as a Flask app, built once per process, serving some or all of the operations.

A deployed route function (`leadflow.api.function`) builds an app of its one
operation; the local server (`functions/api/main.py`) one of every operation.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable

from flask import Flask, Request, Response, g, request
from werkzeug.wrappers import Response as WsgiResponse

from leadflow import db, envelope
from leadflow.api.auth import TokenVerifier
from leadflow.api.context import STATE_KEY, ApiState
from leadflow.api.router import Operation
from leadflow.api.routes import all_operations
from leadflow.db import Database
from leadflow.envelope import ApiError
from leadflow.errors import LeadflowError
from leadflow.log import logger
from leadflow.settings import Settings, get_settings

#: Largest request body accepted (413 beyond).
MAX_BODY_BYTES = 64 * 1024

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def database_from_settings(settings: Settings) -> Database:
    """The data seam LEADFLOW_TRANSPORT names (PostgREST with the caller's token, or direct)."""
    try:
        return db.from_settings(settings)
    except LeadflowError as exc:
        # The operator needs the missing variable's name; the caller does not.
        logger.error("database_not_configured", extra={"error": str(exc)})
        raise ApiError(503, "unavailable", "the database is not configured") from None


def create_app(
    settings: Settings | None = None,
    *,
    database_factory: Callable[[], Database] | None = None,
    operations: Iterable[Operation] | None = None,
) -> Flask:
    """Build an app serving `operations` (default: all). The database is connected on first
    use, from `database_factory`."""
    settings = settings or get_settings()
    factory = database_factory or (lambda: database_from_settings(settings))
    app = Flask("leadflow.api", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.url_map.strict_slashes = False
    state = ApiState(verifier=TokenVerifier.from_settings(settings), database_factory=factory)
    app.extensions[STATE_KEY] = state
    for operation in all_operations() if operations is None else operations:
        operation.register(app)
    envelope.register(app)
    app.before_request(_begin)
    app.after_request(_finish)
    return app


def resolve(app: Flask, incoming: Request) -> WsgiResponse:
    """Answer a request that reached another WSGI app (functions-framework's) with `app`."""
    return WsgiResponse.from_app(app.wsgi_app, incoming.environ)


def close(app: Flask) -> None:
    """Release the app's database connections."""
    state: ApiState = app.extensions[STATE_KEY]
    state.close()


def _begin() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    logger.set_correlation_id(g.request_id)
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if logger.log_level <= logging.INFO:
        # Method, route and outcome only: never headers (the token), never bodies.
        started = g.get("started", time.perf_counter())
        logger.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    return response
