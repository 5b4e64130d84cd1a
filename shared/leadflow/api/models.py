"""The API's shapes: what a request may carry and what a response holds.

Input models forbid unknown fields and are the only place input rules live;
the OpenAPI document is generated from these same classes. Output models
validate what the database returns. Fields marked "admins only" are present
only when the database gave them, i.e. for an admin; partners' responses lack
those keys altogether (serialised with `exclude_unset`).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

MAX_RANGE_DAYS = 366
MAX_PAGE_SIZE = 1000
_INT4_MAX = 2_147_483_647
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date(value: Any) -> Any:
    # Pydantic would also read "1700000000" as a Unix time; dates here are ISO only.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO date, YYYY-MM-DD")
    return value


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _absent() -> Any:
    """A PATCH field: may be left out, but not null (the schema shows no default)."""
    return Field(default=None, json_schema_extra=_drop_default)


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False, description="Euro."),
]
PositiveMoney = Annotated[
    Decimal,
    Field(gt=0, max_digits=12, decimal_places=2, allow_inf_nan=False, description="Euro."),
]
SegmentName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
RegionCode = Annotated[
    str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z_]*$", examples=["noord_brabant"])
]


class InputModel(BaseModel):
    """Base of every request model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


class OutputModel(BaseModel):
    """Base of every response model: fields by their public names."""

    model_config = ConfigDict(
        serialize_by_alias=True, validate_by_name=True, validate_by_alias=True
    )


# -----------------------------------------------------------------------------
# Path and query
# -----------------------------------------------------------------------------


#: A segment's id (a UUID) or code (<industry slug>_<region code>): lower-case letters,
#: digits, `_` and `-`.
SEGMENT_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"


class SegmentPath(InputModel):
    """The segment a route is about."""

    segment_id: str = Field(
        pattern=SEGMENT_KEY_PATTERN,
        max_length=100,
        description="Id (UUID) or code (e.g. schilder_noord_brabant) of the lead segment.",
    )


class Page(InputModel):
    """Pagination of a list."""

    limit: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE, description="Items per page.")
    offset: int = Field(default=0, ge=0, le=_INT4_MAX, description="Items to skip.")


class DateRange(InputModel):
    """An inclusive range of Dutch calendar days, at most 366 days long."""

    from_: IsoDate = Field(alias="from", description="First day (inclusive), YYYY-MM-DD.")
    to: IsoDate = Field(description="Last day (inclusive), YYYY-MM-DD; not before `from`.")

    @model_validator(mode="after")
    def _ordered_and_bounded(self) -> DateRange:
        if self.from_ > self.to:
            raise ValueError("from must not be after to")
        if (self.to - self.from_).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(f"the range may span at most {MAX_RANGE_DAYS} days")
        return self


class StatusQuery(InputModel):
    """Which day the orchestration status is for."""

    day: IsoDate | None = Field(
        default=None, description="Dutch calendar day, YYYY-MM-DD; today (Amsterdam) when left out."
    )


# -----------------------------------------------------------------------------
# Bodies
# -----------------------------------------------------------------------------


class CampaignMapping(InputModel):
    """One campaign budget, on one paid channel, the orchestrator steers for a segment."""

    channel: str = Field(
        default="google_ads",
        pattern=r"^[a-z][a-z0-9_]{1,39}$",
        description="A paid channel (google_ads, microsoft_ads, ...); the database checks the "
        "budget's name and account against the channel's patterns.",
    )
    customer_id: str = Field(
        pattern=r"^[0-9]{1,20}$",
        description="The account: a Google Ads customer id (10 digits), a Microsoft "
        "Advertising account id.",
    )
    campaign_id: str = Field(pattern=r"^[0-9]{1,19}$", description="The campaign id.")
    budget_resource_name: str = Field(
        pattern=r"^[a-z]+/[0-9]{1,20}/[A-Za-z]+/[0-9]{1,19}(/budget)?$",
        description="customers/{customer_id}/campaignBudgets/{budget_id} (Google Ads); "
        "accounts/{account_id}/budgets/{budget_id} or "
        "accounts/{account_id}/campaigns/{campaign_id}/budget (Microsoft Advertising)",
    )
    is_active: StrictBool = Field(default=True, description="Inactive mappings are not steered.")

    @model_validator(mode="after")
    def _same_customer(self) -> CampaignMapping:
        if self.budget_resource_name.split("/")[1] != self.customer_id:
            raise ValueError("budget_resource_name must belong to customer_id")
        return self


Campaigns = Annotated[list[CampaignMapping], Field(max_length=100)]


def _check_campaigns(campaigns: list[CampaignMapping] | None) -> None:
    if not campaigns:
        return
    budgets = {c.budget_resource_name for c in campaigns}
    pairs = {(c.customer_id, c.campaign_id) for c in campaigns}
    if len(budgets) != len(campaigns) or len(pairs) != len(campaigns):
        raise ValueError("each campaign and each campaign budget may be listed once")


class SegmentCreate(InputModel):
    """A new segment: one industry in one province. Its code is derived."""

    industry_id: UUID = Field(description="The industry (trade).")
    region_code: RegionCode = Field(description="The province, e.g. noord_brabant.")
    name: SegmentName | None = Field(
        default=None, description="Shown in dashboards; default '<industry> <province>'."
    )
    is_active: StrictBool = True
    min_daily_budget: Money = Decimal(0)
    max_daily_budget: PositiveMoney
    target_cpl: PositiveMoney | None = None
    campaigns: Campaigns = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> SegmentCreate:
        if self.min_daily_budget > self.max_daily_budget:
            raise ValueError("min_daily_budget must not exceed max_daily_budget")
        _check_campaigns(self.campaigns)
        return self


class SegmentUpdate(InputModel):
    """Changes to a segment; only the fields given change. `target_cpl: null` clears it.

    `campaigns`, when given, becomes the segment's complete campaign mapping.
    """

    name: SegmentName = _absent()
    is_active: StrictBool = _absent()
    min_daily_budget: Money = _absent()
    max_daily_budget: PositiveMoney = _absent()
    target_cpl: PositiveMoney | None = None
    campaigns: Campaigns = _absent()

    @model_validator(mode="after")
    def _consistent(self) -> SegmentUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        low, high = self.min_daily_budget, self.max_daily_budget
        if low is not None and high is not None and low > high:
            raise ValueError("min_daily_budget must not exceed max_daily_budget")
        _check_campaigns(self.campaigns)
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the caller gave, JSON-ready, for the database."""
        return self.model_dump(mode="json", exclude_unset=True)


# -----------------------------------------------------------------------------
# Responses
# -----------------------------------------------------------------------------

_ADMIN = "Admins only; absent for partners."


class CampaignBudget(OutputModel):
    """A segment's campaign budget mapping, on its channel."""

    id: UUID
    channel: str
    customer_id: str
    campaign_id: str
    budget_resource_name: str
    is_active: bool


class Segment(OutputModel):
    """A lead segment as the caller may see it."""

    id: UUID
    code: str = Field(description="<industry slug>_<region code>")
    name: str
    industry_id: UUID
    region_code: str
    is_active: bool
    can_view_stats: bool = Field(description="Whether the caller may read its stats and plans.")
    created_at: datetime
    updated_at: datetime
    min_daily_budget: float | None = Field(default=None, description=_ADMIN)
    max_daily_budget: float | None = Field(default=None, description=_ADMIN)
    target_cpl: float | None = Field(default=None, description=_ADMIN)
    campaigns: list[CampaignBudget] | None = Field(
        default=None, description="Admins only, single-segment responses only."
    )


class CreatedSegment(Segment):
    """The segment just created, and how many existing leads it received."""

    leads_assigned: int = Field(
        description="Existing leads of its industry and province now in it."
    )


class SegmentPage(OutputModel):
    """A page of segments, ordered by code."""

    items: list[Segment]
    total: int = Field(description="Segments the caller may see in all.")
    limit: int
    offset: int


class ChannelStats(OutputModel):
    """A segment's day on one channel (paid or organic)."""

    channel: str = Field(
        description="A key of the channels table: google_ads, microsoft_ads, seo, ..."
    )
    leads_generated: int
    leads_accepted: int
    spend: float | None = Field(default=None, description=_ADMIN)


class DailyStats(OutputModel):
    """What happened in a segment on one Dutch day."""

    day: date
    leads_generated: int
    leads_accepted: int
    leads_rejected: int
    leads_pending: int
    leads_paid: int = Field(description="Leads from the paid channels.")
    leads_organic: int = Field(
        description="Leads from every other channel (SEO, microsite, other)."
    )
    channels: list[ChannelStats] = Field(
        description="The day per channel, one row each channel with leads or spend."
    )
    active_partners: int
    total_capacity: float
    computed_at: datetime
    revenue: float | None = Field(default=None, description=_ADMIN)
    ad_spend: float | None = Field(default=None, description=_ADMIN)
    ad_clicks: int | None = Field(default=None, description=_ADMIN)
    ad_impressions: int | None = Field(default=None, description=_ADMIN)
    ad_conversions: float | None = Field(default=None, description=_ADMIN)
    cpl: float | None = Field(default=None, description=_ADMIN)


class _SegmentDays(OutputModel):
    """What one segment's rows of a range of days answer with, beside the rows."""

    segment_id: UUID
    from_: date = Field(alias="from")
    to: date


class StatsPage(_SegmentDays):
    """Daily stats of one segment over a range of days (days without stats are absent)."""

    items: list[DailyStats]


class ChannelPlan(OutputModel):
    """A segment's day on one paid channel: the budget planned there and the paid leads
    expected from it (its share of the segment's paid target, split by marginal cost)."""

    channel: str
    planned_budget: float | None = Field(description="Euro, every budget of the segment on it.")
    expected_paid_leads: float | None
    budget_action: str | None


class DailyPlan(OutputModel):
    """The plan of a segment for one Dutch day."""

    day: date
    capacity: float
    acceptance_rate: float | None
    target_leads: float
    actual_leads: int | None
    lead_gap: float | None = Field(description="target - actual; positive means under target.")
    updated_at: datetime
    planned_budget: float | None = Field(
        default=None,
        description="Sum of the latest daily amount decided for each of the segment's budgets, "
        "every channel (euro). " + _ADMIN,
    )
    channels: list[ChannelPlan] | None = Field(
        default=None, description="The plan per paid channel the segment steers. " + _ADMIN
    )
    budget_action: str | None = Field(
        default=None,
        description="increase, decrease or hold; mixed when its budgets moved differently. "
        + _ADMIN,
    )
    budget_status: str | None = Field(
        default=None,
        description="The decisions' status in the audit log (failed, unknown, sent, pending, "
        "success, skipped; the least settled). " + _ADMIN,
    )


class PlansPage(_SegmentDays):
    """Daily plans of one segment over a range of days."""

    items: list[DailyPlan]


class JobRun(OutputModel):
    """The latest run of one job."""

    job: str
    day: date
    status: str = Field(description="running, success or failed.")
    triggered_by: str
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime
    duration_seconds: float = Field(description="Until finished, or until now while running.")
    counts: dict[str, Any]
    error: str | None


class DecisionCounts(OutputModel):
    """The day's budget decisions, each in exactly one bucket."""

    applied: int = Field(description="Live changes applied by Google Ads.")
    validated: int = Field(description="Changes Google Ads validated (validate-only: not applied).")
    hold: int = Field(description="Decisions to keep the budget, with their reason.")
    dry_run: int = Field(description="Changes decided in dry-run mode: logged, not sent.")
    pending: int = Field(description="Logged, not yet confirmed by Google Ads.")
    failed: int = Field(description="Sent and refused, or not confirmed.")
    skipped: int = Field(description="Changes not sent: kill switch on, or already applied today.")
    total: int


class UnreachableSegment(OutputModel):
    """A segment at its maximum budget and under target on each of the last 7 days."""

    segment_id: UUID
    code: str
    max_daily_budget: float
    days: int
    total_gap: float = Field(description="Leads short of target over those days.")
    last_day: date


class FailingCampaign(OutputModel):
    """A campaign budget whose last changes (3 or more in a row, within 7 days) failed."""

    segment_id: UUID
    segment_code: str | None
    customer_id: str | None
    campaign_id: str | None
    budget_resource_name: str
    consecutive_failures: int
    last_error: str | None
    last_failed_at: datetime


class StatusAlert(OutputModel):
    """An alert of the day: sent to the operators, or found and due with the next job run."""

    kind: Literal[
        "job_failed",
        "job_recovered",
        "capacity_unreachable",
        "unprofitable",
        "kill_switch",
        "external_change",
        "rollback_skipped",
    ]
    severity: Literal["error", "warning", "info"]
    subject: str = Field(description="What it is about: a segment code, a job and day, a budget.")
    message: str
    status: Literal["sent", "pending"] = Field(
        description="sent on the day; pending: found, sent by the next job run."
    )
    sent_at: datetime | None
    targets: int | None = Field(description="How many alert targets it went to (sent only).")


class ChannelStatus(OutputModel):
    """One paid channel on the day: its money rules, budgets and the day's decisions (the
    latest adjustment of each budget)."""

    channel: str
    kill_switch: bool = Field(description="On: nothing is sent on this channel.")
    daily_cap: float | None = Field(description="Euro; null: no channel cap.")
    budgets: int = Field(description="Active budgets mapped on the channel.")
    increase: int
    decrease: int
    hold: int
    applied: int = Field(description="Live changes the channel confirmed.")
    planned_budget: float | None = Field(description="Euro: the day's decided amounts, summed.")


class OrchestrationStatus(OutputModel):
    """How the daily loop is doing."""

    day: date
    generated_at: datetime
    jobs: list[JobRun]
    decisions: DecisionCounts
    capacity_unreachable: list[UnreachableSegment]
    failing_campaigns: list[FailingCampaign]
    alerts: list[StatusAlert] = Field(
        description="The day's alerts, worst first: those sent on it (Amsterdam calendar day of "
        "sending) and those the next job run would send."
    )
    channels: list[ChannelStatus] = Field(description="Each paid channel on the day.")


class Health(OutputModel):
    """The function runs and reaches the database."""

    status: Literal["ok"]
    version: str


class ErrorItem(OutputModel):
    """One thing wrong with a request: the same shape for every error."""

    loc: list[str] = Field(
        description='Where: e.g. ["body", "max_daily_budget"], ["query", "from"]; '
        "[] for the request as a whole (a database refusal)."
    )
    message: str = Field(description="What is wrong, fit to show.")
    type: str = Field(
        description="What kind of problem: pydantic's error type for a value (missing, "
        "int_parsing, …), `repeated` for a query parameter given twice, or the database's "
        "SQLSTATE for a refusal (PT404, PT409, PT422, 42501, 23505, …)."
    )


class ErrorDetail(OutputModel):
    """What went wrong, in a form fit to show."""

    code: str = Field(description="Stable machine-readable code, e.g. validation_error.")
    message: str
    details: list[ErrorItem] = Field(
        description="More about the error, always a list (empty when there is nothing more "
        "to say) of the same objects, whatever the code."
    )


class ErrorBody(OutputModel):
    """Every error response."""

    error: ErrorDetail
