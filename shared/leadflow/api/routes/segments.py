"""/api/lead-segments: the segments, their daily stats and plans; admins create and change them.

What a caller sees is decided by the database (RLS, column grants, the
`api_*` functions of the API migration); these routes only validate and shape.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from leadflow.api.context import RawJson, rpc_passthrough
from leadflow.api.models import (
    CreatedSegment,
    DateRange,
    Page,
    PlansPage,
    Segment,
    SegmentCreate,
    SegmentPage,
    SegmentPath,
    SegmentUpdate,
    StatsPage,
)
from leadflow.api.router import COMMON_ERRORS, Router

router = Router("segments")

_WRITE_ERRORS = (*COMMON_ERRORS, 409, 413, 415)


@router.get("/api/lead-segments", query=Page, response=SegmentPage)
def list_segments(query: Page) -> RawJson | BaseModel:
    """List the segments the caller may see (partners: active ones; admins: all, with budgets)."""
    return rpc_passthrough(
        "api_list_segments", {"p_limit": query.limit, "p_offset": query.offset}, model=SegmentPage
    )


@router.get("/api/lead-segments/<segment_id>", path=SegmentPath, response=Segment)
def get_segment(path: SegmentPath) -> RawJson | BaseModel:
    """One segment, by id or code; admins also get its budgets and campaign mappings."""
    return rpc_passthrough("api_get_segment", {"p_segment": path.segment_id}, model=Segment)


@router.get(
    "/api/lead-segments/<segment_id>/stats", path=SegmentPath, query=DateRange, response=StatsPage
)
def segment_stats(path: SegmentPath, query: DateRange) -> RawJson | BaseModel:
    """Daily stats of a segment the caller is subscribed to (admins: any, with money)."""
    return _days_of_segment("api_segment_stats", path, query, StatsPage)


@router.get(
    "/api/lead-segments/<segment_id>/plans", path=SegmentPath, query=DateRange, response=PlansPage
)
def segment_plans(path: SegmentPath, query: DateRange) -> RawJson | BaseModel:
    """Daily plans of a segment the caller is subscribed to (admins: any, with budgets)."""
    return _days_of_segment("api_segment_plans", path, query, PlansPage)


def _days_of_segment(
    function: str, path: SegmentPath, query: DateRange, model: type[BaseModel]
) -> RawJson | BaseModel:
    """A segment's rows of the days in `query`, from the API function `function`."""
    return rpc_passthrough(
        function,
        {"p_segment": path.segment_id, "p_from": query.from_, "p_to": query.to},
        model=model,
    )


def _location(segment: RawJson | BaseModel) -> str:
    """Where a created segment lives."""
    if isinstance(segment, RawJson):
        segment_id = json.loads(segment)["id"]
    else:
        segment_id = segment.model_dump()["id"]
    return f"/api/lead-segments/{segment_id}"


@router.post(
    "/api/lead-segments",
    body=SegmentCreate,
    response=CreatedSegment,
    status=201,
    errors=_WRITE_ERRORS,
    location=_location,
)
def create_segment(body: SegmentCreate) -> RawJson | BaseModel:
    """Admins: create a segment (code <industry slug>_<region code>) and assign its leads."""
    return rpc_passthrough(
        "api_create_segment",
        {
            "p_industry_id": body.industry_id,
            "p_region_code": body.region_code,
            "p_name": body.name,
            "p_is_active": body.is_active,
            "p_min_daily_budget": body.min_daily_budget,
            "p_max_daily_budget": body.max_daily_budget,
            "p_target_cpl": body.target_cpl,
            "p_campaigns": [campaign.model_dump(mode="json") for campaign in body.campaigns],
        },
        model=CreatedSegment,
        read_only=False,
    )


@router.patch(
    "/api/lead-segments/<segment_id>",
    path=SegmentPath,
    body=SegmentUpdate,
    response=Segment,
    errors=_WRITE_ERRORS,
)
def update_segment(path: SegmentPath, body: SegmentUpdate) -> RawJson | BaseModel:
    """Admins: change the active flag, budget bounds, target CPL, name or campaign mapping."""
    return rpc_passthrough(
        "api_update_segment",
        {"p_segment": path.segment_id, "p_changes": body.changes()},
        model=Segment,
        read_only=False,
    )
