"""/api/orchestration/status: how the daily loop is doing (admins only, by the database)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from leadflow.api.context import RawJson, rpc_passthrough
from leadflow.api.models import OrchestrationStatus, StatusQuery
from leadflow.api.router import Router

router = Router("orchestration")


@router.get("/api/orchestration/status", query=StatusQuery, response=OrchestrationStatus)
def orchestration_status(query: StatusQuery) -> RawJson | BaseModel:
    """Last run per job, the day's decisions by outcome, unreachable targets, failing campaigns."""
    args: dict[str, Any] = {} if query.day is None else {"p_day": query.day}
    return rpc_passthrough("api_orchestration_status", args, model=OrchestrationStatus)
