"""The API's routes, one module per resource.

Importing a route module loads that module only: a deployed route function
(`functions/api/<route>/main.py`) imports the one it serves. `all_routers()`
loads every one, for the local all-routes app and the OpenAPI document.
"""

from __future__ import annotations

from leadflow.api.router import Operation, Router


def all_routers() -> tuple[Router, ...]:
    """Every router of the API, in the order the OpenAPI document lists them."""
    from leadflow.api.routes import meta, orchestration, segments

    return (segments.router, orchestration.router, meta.router)


def all_operations() -> list[Operation]:
    """Every operation of the API."""
    return [operation for router in all_routers() for operation in router.operations]


__all__ = ["all_operations", "all_routers"]
