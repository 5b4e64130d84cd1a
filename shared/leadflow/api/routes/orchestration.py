"""/api/orchestration/status: how the daily loop is doing (admins only, by the database)."""

from __future__ import annotations

from typing import Any

from leadflow.api.context import rpc
from leadflow.api.models import OrchestrationStatus, StatusQuery
from leadflow.api.router import Router

router = Router("orchestration")


@router.get("/api/orchestration/status", query=StatusQuery, response=OrchestrationStatus)
def orchestration_status(query: StatusQuery) -> OrchestrationStatus:
    """Last run per job, the day's decisions by outcome, unreachable targets, failing campaigns."""
    args: dict[str, Any] = {} if query.day is None else {"p_day": query.day}
    data = rpc("api_orchestration_status", args, read_only=True)
    return OrchestrationStatus.model_validate(data)
