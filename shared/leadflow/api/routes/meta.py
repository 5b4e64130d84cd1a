"""/api/health and /api/openapi.json: the API describing and checking itself."""

from __future__ import annotations

from typing import Any

from leadflow import __version__
from leadflow.api.context import rpc
from leadflow.api.models import Health
from leadflow.api.router import Router

router = Router("meta")


@router.get("/api/health", response=Health, errors=(401, 500, 503), auth="optional")
def health() -> Health:
    """Liveness: the function answers and a trivial database call succeeds."""
    data = rpc("api_health", read_only=True)
    return Health(status=data["status"], version=__version__)


@router.get("/api/openapi.json", response=None, errors=(500,), auth="none")
def openapi() -> dict[str, Any]:
    """This API's OpenAPI 3.1 document."""
    from leadflow.api.openapi import document  # the generator: this route's function only

    return document()
