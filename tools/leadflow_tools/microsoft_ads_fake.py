"""A local Microsoft Advertising that the `bingads` SDK itself talks to, for tests.

An in-process HTTP server on 127.0.0.1 (a random port) answers SOAP as Campaign
Management (GetBudgetsByIds, UpdateBudgets, GetCampaignsByIds, GetCampaignsByAccountId,
UpdateCampaigns) and Reporting (SubmitGenerateReport, PollGenerateReport) do, serves
the zipped CSV report at the URL it hands out, and plays the OAuth token endpoint.
State is held in memory; every request is recorded (action, headers, raw XML).

    with FakeMicrosoftAds() as fake:
        fake.add_budget(account=1, budget=10, amount="12.34", association_count=2)
        fake.add_campaign(account=1, campaign=7, daily_budget="5.00")
        fake.add_metrics(day, account=1, campaign=7, spend="3.10", clicks=4)
        fake.fail("UpdateBudgets", "transient", times=1)

Faults (`fail(action, kind, times=1, index=0, code=...)`): `transient` (HTTP 503, no
SOAP body), `internal` (fault 0 InternalError), `throttle` (fault 117 CallRateExceeded),
`expired_token` (fault 109 AuthenticationTokenExpired), `operation_error` (an
ApiFaultDetail OperationError: the whole request refused), `batch_error` (a PartialError
for item `index`, the others applied), `drop` (applied, then the connection is closed
without an answer), `hang` (applied, then no answer for `delay` seconds). `times=None`:
every time. `expire_access_tokens()` makes the current tokens answer 109 until refreshed
through `token_url`; `refuse_refresh = True` makes the token endpoint refuse.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

CAMPAIGN_NS = "https://bingads.microsoft.com/CampaignManagement/v13"
REPORTING_NS = "https://bingads.microsoft.com/Reporting/v13"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

FAULT_KINDS = frozenset(
    {
        "transient",
        "internal",
        "throttle",
        "expired_token",
        "operation_error",
        "batch_error",
        "drop",
        "hang",
    }
)


@dataclass
class FakeBudget:
    """A shared budget of an account's library."""

    amount: Decimal
    budget_type: str = "DailyBudgetStandard"
    association_count: int = 1
    name: str = "budget"


@dataclass
class FakeCampaign:
    """A campaign: its own daily budget, or a shared budget's id."""

    daily_budget: Decimal | None
    budget_type: str = "DailyBudgetStandard"
    budget_id: int | None = None
    name: str = "campaign"


@dataclass(frozen=True)
class MetricsRow:
    """One campaign's report row for one day."""

    day: date
    account: int
    campaign: int
    spend: str
    clicks: int
    impressions: int
    conversions: str
    lost_to_budget: str  # ImpressionLostToBudgetPercent as the CSV says it, e.g. "12.50%"


@dataclass
class Recorded:
    """One request the fake received."""

    action: str
    headers: dict[str, str]  # the SOAP header elements (DeveloperToken, CustomerId, ...)
    xml: str


@dataclass
class _Fault:
    kind: str
    times: int | None
    index: int
    code: int | None
    delay: float
    message: str | None = None


@dataclass
class FakeMicrosoftAds:
    """The server, its state, its recorded requests and its programmed faults."""

    budgets: dict[tuple[int, int], FakeBudget] = field(default_factory=dict)
    campaigns: dict[tuple[int, int], FakeCampaign] = field(default_factory=dict)
    metrics: list[MetricsRow] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    #: Polls answered Pending before a report is ready.
    pending_polls: int = 0
    #: The token endpoint refuses (invalid_grant) when set.
    refuse_refresh: bool = False
    #: Access tokens the fake answers 109 for.
    expired_tokens: set[str] = field(default_factory=set)
    #: Every token request's form, in order.
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.RLock()
        self._reports: dict[str, tuple[bytes, int]] = {}
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.last_access_token: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeMicrosoftAds:
        """Serve on 127.0.0.1, a free port, in a daemon thread."""
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (hanging answers end at once)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeMicrosoftAds:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def campaign_url(self) -> str:
        """The CampaignManagementService endpoint (the SDK's `location=`)."""
        return f"{self.base_url}/CampaignManagementService.svc"

    @property
    def reporting_url(self) -> str:
        """The ReportingService endpoint."""
        return f"{self.base_url}/ReportingService.svc"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.base_url}/token"

    # -- state -----------------------------------------------------------------------

    def add_budget(
        self,
        account: int,
        budget: int,
        amount: str | Decimal,
        *,
        budget_type: str = "DailyBudgetStandard",
        association_count: int = 1,
    ) -> None:
        """A shared budget in `account`'s library."""
        self.budgets[(account, budget)] = FakeBudget(
            Decimal(str(amount)), budget_type, association_count
        )

    def add_campaign(
        self,
        account: int,
        campaign: int,
        daily_budget: str | Decimal | None = None,
        *,
        budget_id: int | None = None,
        budget_type: str = "DailyBudgetStandard",
    ) -> None:
        """A campaign with its own daily budget, or using shared budget `budget_id`."""
        amount = None if daily_budget is None else Decimal(str(daily_budget))
        self.campaigns[(account, campaign)] = FakeCampaign(amount, budget_type, budget_id)

    def add_metrics(
        self,
        day: date,
        *,
        account: int,
        campaign: int,
        spend: str = "0.00",
        clicks: int = 0,
        impressions: int = 0,
        conversions: str = "0.00",
        lost_to_budget: str = "0.00%",
    ) -> None:
        """A report row of `campaign` on `day`."""
        self.metrics.append(
            MetricsRow(
                day, account, campaign, spend, clicks, impressions, conversions, lost_to_budget
            )
        )

    def fail(
        self,
        action: str,
        kind: str,
        *,
        times: int | None = 1,
        index: int = 0,
        code: int | None = None,
        delay: float = 5.0,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `action` with a fault (see the module doc)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {sorted(FAULT_KINDS)})")
        with self._lock:
            self._faults.setdefault(action, []).append(
                _Fault(kind, times, index, code, delay, message)
            )

    def expire_access_tokens(self) -> None:
        """The tokens handed out so far (and any seen) answer 109 from now on."""
        with self._lock:
            self.expired_tokens.update(
                r.headers.get("AuthenticationToken", "") for r in self.requests
            )
            if self.last_access_token:
                self.expired_tokens.add(self.last_access_token)

    def calls(self, action: str) -> list[Recorded]:
        """The recorded requests of one action."""
        return [r for r in self.requests if r.action == action]

    # -- internals -------------------------------------------------------------------

    def _take_fault(self, action: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(action) or []
            if not queue:
                return None
            fault = queue[0]
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
            return fault

    def _issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.token_requests.append(form)
            if self.refuse_refresh:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS70000: the refresh token has expired.",
                }
            serial = next(self._ids)
            self.last_access_token = f"fake-access-{serial}"
            return 200, {
                "access_token": self.last_access_token,
                "expires_in": 3600,
                "refresh_token": f"fake-refresh-{serial}",
                "token_type": "bearer",
            }


# ---------------------------------------------------------------------------
# SOAP
# ---------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if element is None else [c for c in element if _local(c.tag) == name]


def _text(element: ET.Element | None, name: str) -> str | None:
    found = _child(element, name)
    if found is None or found.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return (found.text or "").strip()


def _longs(element: ET.Element | None) -> list[int]:
    return [int((c.text or "").strip()) for c in (element if element is not None else [])]


def _envelope(ns: str, body: str, tracking_id: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{SOAP_NS}" xmlns:i="{XSI_NS}">'
        f'<s:Header><h:TrackingId xmlns:h="{ns}">{tracking_id}</h:TrackingId></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _batch_errors(errors: list[tuple[int, int, str, str]], tag: str = "BatchError") -> str:
    items = "".join(
        f'<{tag}><Code>{code}</Code><Details i:nil="true"/><ErrorCode>{name}</ErrorCode>'
        f'<FieldPath i:nil="true"/><ForwardCompatibilityMap i:nil="true"/>'
        f"<Index>{index}</Index><Message>{escape(message)}</Message><Type>BatchError</Type>"
        f"</{tag}>"
        for index, code, name, message in errors
    )
    return items


def _fault(ns: str, detail: str) -> str:
    return (
        "<s:Fault><faultcode>s:Server</faultcode>"
        "<faultstring>Invalid client data. Check the SOAP fault details for more information."
        f"</faultstring><detail>{detail}</detail></s:Fault>"
    )


def _ad_api_fault(code: int, name: str, message: str) -> str:
    return (
        '<AdApiFaultDetail xmlns="https://adapi.microsoft.com">'
        "<TrackingId>fault-tracking</TrackingId><Errors><AdApiError>"
        f'<Code>{code}</Code><Detail i:nil="true"/><ErrorCode>{name}</ErrorCode>'
        f"<Message>{escape(message)}</Message></AdApiError></Errors></AdApiFaultDetail>"
    )


def _operation_fault(ns: str, code: int, name: str, message: str) -> str:
    return (
        f'<ApiFaultDetail xmlns="{ns}"><TrackingId>fault-tracking</TrackingId>'
        "<BatchErrors/><OperationErrors><OperationError>"
        f'<Code>{code}</Code><Details i:nil="true"/><ErrorCode>{name}</ErrorCode>'
        f"<Message>{escape(message)}</Message></OperationError></OperationErrors>"
        "</ApiFaultDetail>"
    )


_AD_API_FAULTS = {
    "internal": (0, "InternalError", "An internal error has occurred."),
    "throttle": (117, "CallRateExceeded", "You have exceeded the number of calls allowed."),
    "expired_token": (109, "AuthenticationTokenExpired", "The OAuth access token has expired."),
}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeMicrosoftAds
    _soap_headers: dict[str, str]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on what the fake recorded."""

    # -- plumbing --------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str = "text/xml; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        fake = self.owner
        report_id = self.path.rsplit("/", 1)[-1].removesuffix(".zip")
        with fake._lock:
            fake.requests.append(Recorded("DownloadReport", {}, self.path))
            report = fake._reports.get(report_id)
        if report is None:
            self._send(404, b"not found", "text/plain")
            return
        self._send(200, report[0], "application/zip")

    def do_POST(self) -> None:
        fake = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.startswith("/token"):
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            status, payload = fake._issue_token(form)
            self._send(status, json.dumps(payload).encode(), "application/json")
            return
        ns = REPORTING_NS if "Reporting" in self.path else CAMPAIGN_NS
        root = ET.fromstring(raw)  # noqa: S314 - the SDK's own requests, on loopback
        header = _child(root, "Header")
        body = _child(root, "Body")
        assert body is not None and len(body), "a SOAP request without a body"
        request = body[0]
        action = _local(request.tag).removesuffix("Request")
        headers = {_local(h.tag): (h.text or "").strip() for h in (header or [])}
        self._soap_headers = headers
        with fake._lock:
            fake.requests.append(Recorded(action, headers, raw.decode()))
            tracking = f"tracking-{next(fake._ids)}"
        token = headers.get("AuthenticationToken", "")
        if token and token in fake.expired_tokens:
            self._send(
                500,
                _envelope(
                    ns,
                    _fault(ns, _ad_api_fault(109, *_AD_API_FAULTS["expired_token"][1:])),
                    tracking,
                ),
            )
            return
        fault = fake._take_fault(action)
        if fault is not None and fault.kind == "transient":
            self._send(503, b"", "text/plain")
            return
        if fault is not None and fault.kind in _AD_API_FAULTS:
            code, name, message = _AD_API_FAULTS[fault.kind]
            message = fault.message or message
            detail = _ad_api_fault(fault.code if fault.code is not None else code, name, message)
            self._send(500, _envelope(ns, _fault(ns, detail), tracking))
            return
        if fault is not None and fault.kind == "operation_error":
            detail = _operation_fault(
                ns,
                fault.code or 1001,
                "CampaignServiceAccountIdInvalid",
                fault.message or "Refused.",
            )
            self._send(500, _envelope(ns, _fault(ns, detail), tracking))
            return
        answer = getattr(self, f"_{action}", None)
        if answer is None:
            self._send(500, b"unknown action", "text/plain")
            return
        failed = {fault.index} if fault is not None and fault.kind == "batch_error" else set()
        with fake._lock:
            reply = answer(request, failed, fault.code if fault is not None else None)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if fault is not None and fault.kind == "hang":
            fake._stopping.wait(fault.delay)
            self.close_connection = True
            self.connection.close()
            return
        self._send(200, _envelope(ns, reply, tracking))

    # -- Campaign Management ---------------------------------------------------------

    def _account(self) -> int:
        return int(self._soap_headers.get("CustomerAccountId") or 0)

    def _GetBudgetsByIds(self, request: ET.Element, failed: set[int], code: int | None) -> str:
        account = self._account()
        ids = _longs(_child(request, "BudgetIds"))
        if not ids:
            ids = [b for (a, b) in self.owner.budgets if a == account]
        items, errors = [], []
        for index, budget_id in enumerate(ids):
            budget = self.owner.budgets.get((account, budget_id))
            if budget is None:
                items.append('<Budget i:nil="true"/>')
                errors.append((index, 1100, "CampaignServiceBudgetIdInvalid", "No such budget."))
                continue
            items.append(
                f"<Budget><Amount>{budget.amount}</Amount>"
                f"<AssociationCount>{budget.association_count}</AssociationCount>"
                f"<BudgetType>{budget.budget_type}</BudgetType><Id>{budget_id}</Id>"
                f"<Name>{escape(budget.name)}</Name></Budget>"
            )
        partial = f"<PartialErrors>{_batch_errors(errors)}</PartialErrors>"
        return (
            f'<GetBudgetsByIdsResponse xmlns="{CAMPAIGN_NS}"><Budgets>{"".join(items)}</Budgets>'
            f"{partial}</GetBudgetsByIdsResponse>"
        )

    def _UpdateBudgets(self, request: ET.Element, failed: set[int], code: int | None) -> str:
        account = self._account()
        errors = []
        for index, item in enumerate(_children(_child(request, "Budgets"), "Budget")):
            budget_id = int(_text(item, "Id") or 0)
            budget = self.owner.budgets.get((account, budget_id))
            if index in failed:
                errors.append(
                    (
                        index,
                        code or 1113,
                        "CampaignServiceBudgetAmountIsAboveLimit",
                        "The budget amount is above the limit.",
                    )
                )
            elif budget is None:
                errors.append((index, 1100, "CampaignServiceBudgetIdInvalid", "No such budget."))
            else:
                amount = _text(item, "Amount")
                if amount is not None:
                    budget.amount = Decimal(amount)
        return (
            f'<UpdateBudgetsResponse xmlns="{CAMPAIGN_NS}">'
            f"<PartialErrors>{_batch_errors(errors)}</PartialErrors></UpdateBudgetsResponse>"
        )

    def _campaign_xml(self, campaign_id: int, campaign: FakeCampaign) -> str:
        daily = (
            '<DailyBudget i:nil="true"/>'
            if campaign.daily_budget is None
            else f"<DailyBudget>{campaign.daily_budget}</DailyBudget>"
        )
        budget_id = (
            '<BudgetId i:nil="true"/>'
            if campaign.budget_id is None
            else f"<BudgetId>{campaign.budget_id}</BudgetId>"
        )
        return (
            f"<Campaign><BudgetType>{campaign.budget_type}</BudgetType>{daily}"
            f"<Id>{campaign_id}</Id><Name>{escape(campaign.name)}</Name><Status>Active</Status>"
            f"<CampaignType>Search</CampaignType>{budget_id}</Campaign>"
        )

    def _GetCampaignsByIds(self, request: ET.Element, failed: set[int], code: int | None) -> str:
        account = int(_text(request, "AccountId") or 0)
        items, errors = [], []
        for index, campaign_id in enumerate(_longs(_child(request, "CampaignIds"))):
            campaign = self.owner.campaigns.get((account, campaign_id))
            if campaign is None:
                items.append('<Campaign i:nil="true"/>')
                errors.append(
                    (index, 1100, "CampaignServiceInvalidCampaignId", "No such campaign.")
                )
            else:
                items.append(self._campaign_xml(campaign_id, campaign))
        return (
            f'<GetCampaignsByIdsResponse xmlns="{CAMPAIGN_NS}"><Campaigns>{"".join(items)}'
            f"</Campaigns><PartialErrors>{_batch_errors(errors)}</PartialErrors>"
            "</GetCampaignsByIdsResponse>"
        )

    def _GetCampaignsByAccountId(
        self, request: ET.Element, failed: set[int], code: int | None
    ) -> str:
        account = int(_text(request, "AccountId") or 0)
        items = [
            self._campaign_xml(c, campaign)
            for (a, c), campaign in sorted(self.owner.campaigns.items())
            if a == account
        ]
        return (
            f'<GetCampaignsByAccountIdResponse xmlns="{CAMPAIGN_NS}"><Campaigns>'
            f"{''.join(items)}</Campaigns></GetCampaignsByAccountIdResponse>"
        )

    def _UpdateCampaigns(self, request: ET.Element, failed: set[int], code: int | None) -> str:
        account = int(_text(request, "AccountId") or 0)
        errors = []
        for index, item in enumerate(_children(_child(request, "Campaigns"), "Campaign")):
            campaign = self.owner.campaigns.get((account, int(_text(item, "Id") or 0)))
            daily = _text(item, "DailyBudget")
            if index in failed:
                errors.append(
                    (
                        index,
                        code or 1113,
                        "CampaignServiceDailyBudgetAmountInvalid",
                        "The daily budget amount is invalid.",
                    )
                )
            elif campaign is None:
                errors.append(
                    (index, 1100, "CampaignServiceInvalidCampaignId", "No such campaign.")
                )
            elif daily is not None and campaign.budget_id is not None:
                errors.append(
                    (
                        index,
                        1125,
                        "CampaignServiceCannotUpdateSharedBudget",
                        "The campaign uses a shared budget.",
                    )
                )
            elif daily is not None:
                campaign.daily_budget = Decimal(daily)
        return (
            f'<UpdateCampaignsResponse xmlns="{CAMPAIGN_NS}">'
            f"<PartialErrors>{_batch_errors(errors)}</PartialErrors></UpdateCampaignsResponse>"
        )

    # -- Reporting -------------------------------------------------------------------

    def _SubmitGenerateReport(self, request: ET.Element, failed: set[int], code: int | None) -> str:
        report = _child(request, "ReportRequest")
        columns = [(c.text or "").strip() for c in (_child(report, "Columns") or [])]
        accounts = set(_longs(_child(_child(report, "Scope"), "AccountIds")))
        time_ = _child(report, "Time")
        start, end = (
            _date(_child(time_, name)) for name in ("CustomDateRangeStart", "CustomDateRangeEnd")
        )
        rows = [m for m in self.owner.metrics if m.account in accounts and start <= m.day <= end]
        report_id = f"report-{next(self.owner._ids)}"
        csv = _csv(columns, rows, with_header=_text(report, "ExcludeReportHeader") != "true")
        self.owner._reports[report_id] = (_zip(csv), self.owner.pending_polls)
        return (
            f'<SubmitGenerateReportResponse xmlns="{REPORTING_NS}">'
            f"<ReportRequestId>{report_id}</ReportRequestId></SubmitGenerateReportResponse>"
        )

    def _PollGenerateReport(self, request: ET.Element, failed: set[int], code: int | None) -> str:
        report_id = _text(request, "ReportRequestId") or ""
        content, pending = self.owner._reports[report_id]
        if pending > 0:
            self.owner._reports[report_id] = (content, pending - 1)
            status, url = "Pending", '<ReportDownloadUrl i:nil="true"/>'
        else:
            status = "Success"
            link = f"{self.owner.base_url}/reports/{report_id}.zip"
            url = f"<ReportDownloadUrl>{link}</ReportDownloadUrl>"
        return (
            f'<PollGenerateReportResponse xmlns="{REPORTING_NS}"><ReportRequestStatus>'
            f"{url}<Status>{status}</Status></ReportRequestStatus></PollGenerateReportResponse>"
        )


def _date(element: ET.Element | None) -> date:
    return date(
        int(_text(element, "Year") or 0),
        int(_text(element, "Month") or 0),
        int(_text(element, "Day") or 0),
    )


_CSV_VALUES = {
    "TimePeriod": lambda m: m.day.isoformat(),
    "AccountId": lambda m: str(m.account),
    "CampaignId": lambda m: str(m.campaign),
    "Spend": lambda m: m.spend,
    "Clicks": lambda m: str(m.clicks),
    "Impressions": lambda m: str(m.impressions),
    "Conversions": lambda m: m.conversions,
    "ImpressionLostToBudgetPercent": lambda m: m.lost_to_budget,
}


def _csv(columns: list[str], rows: list[MetricsRow], *, with_header: bool) -> bytes:
    lines: Iterator[str] = iter(())
    head = ['"Report Name: Leadflow"', '"Report Time: 1/1/2026"', ""] if with_header else []
    body = [",".join(f'"{c}"' for c in columns)]
    body += [
        ",".join(f'"{_CSV_VALUES.get(c, lambda m: "")(row)}"' for c in columns) for row in rows
    ]
    lines = iter([*head, *body])
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def _zip(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("report.csv", content)
    return buffer.getvalue()


def yesterday() -> date:
    """A convenient day for tests."""
    return date.today() - timedelta(days=1)


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass (for hanging-call tests)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
