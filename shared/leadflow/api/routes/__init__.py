"""The API's routes, one module per area; `ROUTERS` is what the app serves."""

from __future__ import annotations

from leadflow.api.routes import meta, orchestration, segments

ROUTERS = (segments.router, orchestration.router, meta.router)

__all__ = ["ROUTERS"]
