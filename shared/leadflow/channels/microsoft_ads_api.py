"""Microsoft Advertising over the `bingads` SDK: the real adapter behind `ChannelGateway`.

Imported only when a run talks to Microsoft Advertising
(`leadflow.channels.microsoft_ads.gateway_from_settings`).

Failure policy, as Google Ads': transient errors (timeouts, dropped connections, HTTP 5xx,
InternalError, CallRateExceeded) are retried with bounded exponential backoff inside a
hard deadline; a throttle that outlasts the retries raises `QuotaExhausted` with the
results settled before it; an expired or refused token is permanent and says to
re-authorize; a write that got no clear answer is `unknown`; a PartialError fails only
its own change. Secrets never reach a log line or an error message.

Microsoft has no validate-only flag: under `validate_only` the changes are checked
locally and their budgets read back (a budget that does not exist, or a campaign budget
that is really a shared one, fails); nothing is written.
"""

from __future__ import annotations

import csv
import http.client
import io
import logging
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, TypeVar

import requests
from bingads.authorization import (
    AuthorizationData,
    OAuthDesktopMobileAuthCodeGrant,
    OAuthTokens,
    OAuthWebAuthCodeGrant,
)
from bingads.exceptions import OAuthTokenRequestException
from bingads.service_client import ServiceClient
from bingads.util import DictCache
from pydantic import SecretStr
from suds import WebFault
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_exponential_jitter
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from leadflow import secrets
from leadflow.channels.base import (
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    ChannelRequestError,
    QuotaExhausted,
)
from leadflow.channels.microsoft_ads import (
    MAX_ITEMS_PER_REQUEST,
    SEND_DEADLINE_SECONDS,
    BudgetRef,
    amount_to_micros,
    campaign_budget_name,
    micros_to_amount,
    parse_budget_name,
    shared_budget_name,
    validate_changes,
)
from leadflow.errors import LeadflowError
from leadflow.log import logger
from leadflow.settings import MicrosoftAdsSettings

# suds logs every envelope at DEBUG, and an envelope carries the developer and access tokens.
logging.getLogger("suds").setLevel(logging.INFO)

#: Every campaign type: GetCampaignsByAccountId returns Search campaigns only without it.
ALL_CAMPAIGN_TYPES = "Search Shopping DynamicSearchAds Audience Hotel PerformanceMax App"
REPORT_COLUMNS = (
    "TimePeriod",
    "AccountId",
    "CampaignId",
    "Spend",
    "Clicks",
    "Impressions",
    "Conversions",
    "ImpressionLostToBudgetPercent",
)
#: Leadflow's days are Amsterdam's (DESIGN.md); Microsoft's name for that zone.
REPORT_TIME_ZONE = "AmsterdamBerlinBernRomeStockholmVienna"
_DAILY_TYPES = {"DailyBudgetStandard": "DAILY"}
_PERIODS = {"LifetimeBudgetStandard": "LIFETIME", "DailyBudgetAccelerated": "DAILY_ACCELERATED"}

#: The parsed WSDLs, shared by every client of the process (each one parses in ~1 s).
_WSDL_CACHE = DictCache()

_TRANSIENT_CODES = frozenset({0})  # InternalError
_THROTTLE_CODES = frozenset({117})  # CallRateExceeded
_TOKEN_CODES = frozenset({105, 109})  # InvalidCredentials, AuthenticationTokenExpired

T = TypeVar("T")
_Kind = Literal["transient", "permanent", "throttle"]


# ---------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------


def _default_wait() -> wait_base:
    return wait_exponential_jitter(multiplier=2, max=60, jitter=2)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts, exponential backoff with jitter, a hard deadline.

    Tests pass `sleep=` (e.g. a list's append) so that nothing waits.
    """

    attempts: int = 4
    wait: wait_base = field(default_factory=_default_wait)
    sleep: Callable[[float], None] = time.sleep
    #: No attempt starts that could end after this many seconds from the first.
    deadline: float = SEND_DEADLINE_SECONDS

    def retrying(self, is_transient: Callable[[BaseException], bool], timeout: float) -> Retrying:
        """A tenacity controller retrying what `is_transient` holds for, within the deadline."""

        def retry_on(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return exc is not None and is_transient(exc)

        class past_deadline(stop_base):
            def __call__(inner, state: RetryCallState) -> bool:
                elapsed = state.seconds_since_start or 0.0
                return elapsed + (state.upcoming_sleep or 0.0) + timeout > self.deadline

        return Retrying(
            stop=stop_after_attempt(self.attempts) | past_deadline(),
            wait=self.wait,
            sleep=self.sleep,
            retry=retry_on,
            reraise=True,
            before_sleep=_log_retry,
        )


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    logger.warning(
        "Microsoft Advertising call failed transiently; retrying",
        extra={"attempt": state.attempt_number, "error_type": type(exc).__name__},
    )


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ApiError:
    code: int
    name: str
    message: str
    index: int | None = None

    def __str__(self) -> str:
        return f"{self.code} {self.name}: {self.message}" if self.message else self.name


@dataclass(frozen=True)
class _Classified:
    kind: _Kind
    message: str
    #: Errors of a refused request that name their item (BatchErrors with an Index).
    items: tuple[_ApiError, ...] = ()


class MicrosoftAdsRequestError(ChannelRequestError):
    """A call failed; `item_errors` holds the refused items' messages by request index."""

    def __init__(
        self, message: str, *, transient: bool = False, item_errors: dict[int, str] | None = None
    ) -> None:
        super().__init__(message, transient=transient)
        self.item_errors = item_errors or {}


def _redact(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 6:  # shorter strings would blank out ordinary words
            message = message.replace(secret, "***")
    return message


def _listed(parent: Any, name: str) -> list[Any]:
    """suds gives one child as an object, several as a list, none as a missing attribute."""
    value = getattr(parent, name, None) if parent else None
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if v is not None]


def _api_errors(fault: Any) -> list[_ApiError]:
    detail = getattr(fault, "detail", None)
    errors: list[_ApiError] = []
    for kind in ("AdApiFaultDetail", "ApiFaultDetail", "EditorialApiFaultDetail"):
        found = getattr(detail, kind, None) if detail else None
        if found is None:
            continue
        items = [
            *_listed(getattr(found, "Errors", None), "AdApiError"),
            *_listed(getattr(found, "OperationErrors", None), "OperationError"),
            *_listed(getattr(found, "BatchErrors", None), "BatchError"),
            *_listed(getattr(found, "EditorialErrors", None), "EditorialError"),
        ]
        errors.extend(_api_error(item) for item in items)
    return errors


def _api_error(item: Any) -> _ApiError:
    index = getattr(item, "Index", None)
    return _ApiError(
        code=int(getattr(item, "Code", -1) or 0),
        name=str(getattr(item, "ErrorCode", "") or ""),
        message=str(getattr(item, "Message", "") or ""),
        index=None if index is None else int(index),
    )


def _classify(exc: BaseException) -> _Classified | None:
    """Transient, permanent or throttle; None for what is no API or transport error (a bug)."""
    if isinstance(exc, WebFault):
        errors = _api_errors(exc.fault)
        codes = {e.code for e in errors}
        message = "; ".join(str(e) for e in errors) or str(getattr(exc.fault, "faultstring", exc))
        if codes & _TOKEN_CODES:
            return _Classified(
                "permanent",
                f"the access token was refused ({message}) and refreshing it did not help: "
                "re-authorize and store a new MICROSOFT_ADS_REFRESH_TOKEN",
            )
        if codes & _THROTTLE_CODES:
            return _Classified("throttle", message)
        if codes and codes <= _TRANSIENT_CODES:
            return _Classified("transient", message)
        items = tuple(e for e in errors if e.index is not None)
        return _Classified("permanent", message, items)
    if isinstance(exc, OAuthTokenRequestException):
        return _Classified(
            "permanent",
            f"the refresh token was refused ({exc.error_code}): re-authorize and store a new "
            "MICROSOFT_ADS_REFRESH_TOKEN",
        )
    if type(exc) is Exception and exc.args and isinstance(exc.args[0], tuple):
        status = exc.args[0][0]  # suds: (HTTP status, reason) for a reply that is no SOAP
        if isinstance(status, int):
            kind: _Kind = "transient" if status >= 500 or status == 429 else "permanent"
            return _Classified(kind, f"HTTP {status}")
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return _Classified("transient" if status >= 500 else "permanent", f"HTTP {status}")
    if isinstance(exc, OSError | http.client.HTTPException | requests.RequestException):
        return _Classified("transient", f"no answer ({type(exc).__name__})")
    return None


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------


def authentication_from_settings(
    settings: MicrosoftAdsSettings,
) -> OAuthDesktopMobileAuthCodeGrant | OAuthWebAuthCodeGrant:
    """The SDK's OAuth object for the refresh token (no access token yet: fetched on first use).

    Microsoft's token endpoint answers every refresh with a new refresh token; each one the
    SDK reports is stored in the secret the token came from (`secrets.store`), so that the
    next cold start begins from the newest (the old one lasts only until its own lifetime
    ends). Storing never fails the call: the token in hand works either way."""
    assert settings.client_id is not None and settings.refresh_token is not None
    tokens = OAuthTokens(refresh_token=settings.refresh_token.get_secret_value())
    refreshed = TokenKeeper(settings.refresh_token.get_secret_value())
    if settings.client_secret is not None:
        return OAuthWebAuthCodeGrant(
            settings.client_id,
            settings.client_secret.get_secret_value(),
            "https://login.microsoftonline.com/common/oauth2/nativeclient",
            token_refreshed_callback=refreshed,
            oauth_tokens=tokens,
            env=settings.environment,
        )
    grant = OAuthDesktopMobileAuthCodeGrant(
        settings.client_id, oauth_tokens=tokens, env=settings.environment
    )
    grant.token_refreshed_callback = refreshed
    return grant


REFRESH_TOKEN_VARIABLE = "MICROSOFT_ADS_REFRESH_TOKEN"  # noqa: S105 (a name, not a value)
SECRET_ID_VARIABLE = next(
    s.id_variable for s in secrets.SOURCES if s.allows(REFRESH_TOKEN_VARIABLE)
)


class TokenKeeper:
    """The SDK's token_refreshed_callback: stores a rotated refresh token (names only in logs)."""

    def __init__(self, stored: str) -> None:
        self._stored = stored

    def __call__(self, tokens: OAuthTokens) -> None:
        rotated = getattr(tokens, "refresh_token", None)
        if not isinstance(rotated, str) or not rotated or rotated == self._stored:
            logger.info("Microsoft Advertising access token refreshed")
            return
        try:
            kept = secrets.store(REFRESH_TOKEN_VARIABLE, SecretStr(rotated))
        except Exception as exc:  # never fail the call: the token in hand works
            message = str(exc) if isinstance(exc, LeadflowError) else type(exc).__name__
            logger.warning(
                "Microsoft Advertising rotated its refresh token; storing it failed",
                extra={"error": _redact(message, [rotated, self._stored])},
            )
            return
        if kept:
            self._stored = rotated
            logger.info("Microsoft Advertising refresh token rotated and stored")
        else:
            logger.warning(
                "Microsoft Advertising rotated its refresh token; no secret is configured to "
                f"store it in ({SECRET_ID_VARIABLE}): the configured {REFRESH_TOKEN_VARIABLE} "
                "works until its own lifetime ends"
            )


# ---------------------------------------------------------------------------
# The real adapter
# ---------------------------------------------------------------------------


class MicrosoftAdsApiGateway:
    """`ChannelGateway` over the bingads SDK (SOAP through suds)."""

    def __init__(
        self,
        settings: MicrosoftAdsSettings,
        *,
        authentication: Any | None = None,
        endpoints: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 300.0,
        poll_interval: float = 5.0,
        report_timeout: float = 15 * 60,
        report_time_zone: str = REPORT_TIME_ZONE,
    ) -> None:
        missing = settings.missing()
        if missing:
            raise ValueError(f"Microsoft Advertising is not configured: set {', '.join(missing)}")
        self._settings = settings
        self._auth = authentication or authentication_from_settings(settings)
        #: Service name → URL: a local endpoint (tests); the SDK's own URLs otherwise.
        self._endpoints = endpoints or {}
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._report_timeout = report_timeout
        self._time_zone = report_time_zone
        self._clients: dict[tuple[str, str | None], ServiceClient] = {}

    def __repr__(self) -> str:
        return f"MicrosoftAdsApiGateway(environment={self._settings.environment!r})"

    # -- reads ------------------------------------------------------------------

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        """The budgets that exist among `resource_names` (absent ones are left out).

        A campaign budget name of a campaign that uses a shared budget is absent too: that
        campaign has no budget of its own.
        """
        refs = [parse_budget_name(name) for name in dict.fromkeys(resource_names)]
        budgets: dict[str, BudgetInfo] = {}
        for account, shared, items in _groups(refs):
            for chunk in _chunks(items, MAX_ITEMS_PER_REQUEST):
                if shared:
                    budgets.update(self._read_shared(account, chunk))
                else:
                    budgets.update(self._read_campaigns(account, chunk))
        return budgets

    def _read_shared(self, account: str, refs: Sequence[BudgetRef]) -> dict[str, BudgetInfo]:
        client = self._client("CampaignManagementService", account)
        ids = [int(ref.budget_id or 0) for ref in refs]
        response = self._call(
            lambda: client.GetBudgetsByIds(BudgetIds={"long": ids}),
            f"budgets of account {account}",
        )
        found = {}
        for budget in _listed(getattr(response, "Budgets", None), "Budget"):
            if getattr(budget, "Id", None) is None:
                continue
            name = shared_budget_name(account, budget.Id)
            found[name] = BudgetInfo(
                resource_name=name,
                amount_micros=amount_to_micros(budget.Amount),
                reference_count=int(budget.AssociationCount or 0),
                period=_period(budget.BudgetType),
            )
        return found

    def _read_campaigns(self, account: str, refs: Sequence[BudgetRef]) -> dict[str, BudgetInfo]:
        client = self._client("CampaignManagementService", account)
        ids = [int(ref.campaign_id or 0) for ref in refs]
        response = self._call(
            lambda: client.GetCampaignsByIds(
                AccountId=int(account),
                CampaignIds={"long": ids},
                CampaignType=ALL_CAMPAIGN_TYPES,
                ReturnAdditionalFields=None,
            ),
            f"campaign budgets of account {account}",
        )
        found = {}
        for campaign in _listed(getattr(response, "Campaigns", None), "Campaign"):
            if getattr(campaign, "Id", None) is None or campaign.BudgetId is not None:
                continue  # gone, or it spends a shared budget (named by that budget)
            if campaign.DailyBudget is None:
                continue
            name = campaign_budget_name(account, campaign.Id)
            found[name] = BudgetInfo(
                resource_name=name,
                amount_micros=amount_to_micros(campaign.DailyBudget),
                period=_period(campaign.BudgetType),
            )
        return found

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """Every campaign with activity on `day` in the given accounts, from one report."""
        accounts = list(dict.fromkeys(str(int(c)) for c in customer_ids))
        if not accounts:
            return []
        rows = self._report(day, accounts)
        budgets: dict[str, dict[str, int | None]] = {}
        metrics = []
        for row in rows:
            account, campaign = row["AccountId"], row["CampaignId"]
            if account not in budgets:
                budgets[account] = self._shared_budget_ids(account)
            shared = budgets[account].get(campaign)
            metrics.append(
                CampaignMetrics(
                    customer_id=account,
                    campaign_id=campaign,
                    budget_resource_name=(
                        shared_budget_name(account, shared)
                        if shared is not None
                        else campaign_budget_name(account, campaign)
                    ),
                    cost_micros=amount_to_micros(_number(row["Spend"])),
                    clicks=int(_number(row["Clicks"])),
                    impressions=int(_number(row["Impressions"])),
                    conversions=float(_number(row["Conversions"])),
                    search_budget_lost_impression_share=_share(
                        row.get("ImpressionLostToBudgetPercent")
                    ),
                )
            )
        return metrics

    def _shared_budget_ids(self, account: str) -> dict[str, int | None]:
        client = self._client("CampaignManagementService", account)
        response = self._call(
            lambda: client.GetCampaignsByAccountId(
                AccountId=int(account), CampaignType=ALL_CAMPAIGN_TYPES, ReturnAdditionalFields=None
            ),
            f"campaigns of account {account}",
        )
        return {
            str(c.Id): (None if c.BudgetId is None else int(c.BudgetId))
            for c in _listed(response, "Campaign")
        }

    def _report(self, day: date, accounts: list[str]) -> list[dict[str, str]]:
        client = self._client("ReportingService", None)
        request = self._report_request(client, day, accounts)
        what = f"report of {day} for accounts {', '.join(accounts)}"
        report_id = self._call(lambda: client.SubmitGenerateReport(request), what)
        started = time.monotonic()
        while True:
            status = self._call(lambda: client.PollGenerateReport(report_id), what)
            if status.Status == "Success":
                break
            if status.Status != "Pending":
                raise ChannelRequestError(f"Microsoft Advertising {what}: status {status.Status}")
            if time.monotonic() - started + self._poll_interval > self._report_timeout:
                raise ChannelRequestError(
                    f"Microsoft Advertising {what}: not ready in time", transient=True
                )
            self._retry.sleep(self._poll_interval)
        url = status.ReportDownloadUrl
        if not url:
            return []  # no data for the day
        content = self._call(lambda: self._download(url), what)
        return _parse_report(content)

    def _report_request(self, client: ServiceClient, day: date, accounts: list[str]) -> Any:
        factory = client.factory
        request = factory.create("CampaignPerformanceReportRequest")
        request.ReportName = "Leadflow daily campaign metrics"
        request.Format = "Csv"
        request.FormatVersion = "2.0"
        request.ReturnOnlyCompleteData = False
        request.ExcludeReportHeader = True
        request.ExcludeReportFooter = True
        request.ExcludeColumnHeaders = False
        request.Aggregation = "Daily"
        request.Columns = {"CampaignPerformanceReportColumn": list(REPORT_COLUMNS)}
        request.Filter = None
        scope = factory.create("AccountThroughCampaignReportScope")
        scope.AccountIds = {"long": [int(a) for a in accounts]}
        scope.Campaigns = None
        request.Scope = scope
        when = factory.create("ReportTime")
        when.CustomDateRangeStart = {"Day": day.day, "Month": day.month, "Year": day.year}
        when.CustomDateRangeEnd = {"Day": day.day, "Month": day.month, "Year": day.year}
        when.PredefinedTime = None
        when.ReportTimeZone = self._time_zone
        request.Time = when
        return request

    def _download(self, url: str) -> bytes:
        response = requests.get(url, timeout=self._timeout)
        response.raise_for_status()
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return archive.read(archive.namelist()[0])

    # -- writes -----------------------------------------------------------------

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        """Send the changes per account and kind, at most 100 a request; results in order.

        Raises ValueError before sending anything if a change is invalid, and
        QuotaExhausted (with the results settled so far) when throttling outlasts retries.
        """
        validate_changes(changes)
        if validate_only:
            return self._validate(changes)
        refs = {c.key: parse_budget_name(c.budget_resource_name) for c in changes}
        by_group: dict[tuple[str, bool], list[BudgetChange]] = {}
        for change in changes:
            ref = refs[change.key]
            by_group.setdefault((ref.account_id, ref.shared), []).append(change)
        settled: dict[int, BudgetResult] = {}
        for (account, shared), group in by_group.items():
            for chunk in _chunks(group, MAX_ITEMS_PER_REQUEST):
                try:
                    settled.update(self._apply_request(account, shared, chunk, refs))
                except QuotaExhausted as exc:
                    raise QuotaExhausted(
                        str(exc), completed=[*settled.values(), *exc.completed]
                    ) from exc
        return [settled[change.key] for change in changes]

    def _validate(self, changes: Sequence[BudgetChange]) -> list[BudgetResult]:
        try:
            found = self.current_budgets([c.budget_resource_name for c in changes])
        except ChannelRequestError as exc:
            return [BudgetResult(c.key, "failed", str(exc), exc.transient) for c in changes]
        return [
            BudgetResult(c.key, "success")
            if c.budget_resource_name in found
            else BudgetResult(
                c.key,
                "failed",
                "no such budget (a campaign that spends a shared budget has none of its own)",
            )
            for c in changes
        ]

    def _apply_request(
        self,
        account: str,
        shared: bool,
        changes: Sequence[BudgetChange],
        refs: dict[int, BudgetRef],
    ) -> dict[int, BudgetResult]:
        """One update request; a request refused for some items is resent without them."""
        results: dict[int, BudgetResult] = {}
        pending = list(changes)
        while pending:
            sent = pending
            try:
                errors = self._call(
                    lambda sent=sent: self._update(account, shared, sent, refs),  # type: ignore[misc]
                    f"budget changes of account {account}",
                )
            except MicrosoftAdsRequestError as exc:
                if exc.item_errors and not exc.transient:
                    refused = {sent[i].key for i in exc.item_errors if i < len(sent)}
                    for i, message in exc.item_errors.items():
                        if i < len(sent):
                            results[sent[i].key] = BudgetResult(sent[i].key, "failed", message)
                    pending = [c for c in sent if c.key not in refused]
                    if refused:
                        continue
                # No clear answer (timeouts, 5xx after retries) may have been applied.
                status: Literal["unknown", "failed"] = "unknown" if exc.transient else "failed"
                for change in sent:
                    results[change.key] = BudgetResult(
                        change.key, status, str(exc), transient=exc.transient
                    )
                return results
            except QuotaExhausted as exc:
                raise QuotaExhausted(str(exc), completed=list(results.values())) from exc
            for index, change in enumerate(sent):
                error = errors.get(index)
                if error is None:
                    results[change.key] = BudgetResult(change.key, "success")
                else:
                    results[change.key] = BudgetResult(
                        change.key,
                        "failed",
                        self._clean(str(error)),
                        transient=error.code in _TRANSIENT_CODES | _THROTTLE_CODES,
                    )
            return results
        return results

    def _update(
        self,
        account: str,
        shared: bool,
        changes: Sequence[BudgetChange],
        refs: dict[int, BudgetRef],
    ) -> dict[int, _ApiError]:
        client = self._client("CampaignManagementService", account)
        factory = client.factory
        if shared:
            budgets = factory.create("ArrayOfBudget")
            for change in changes:
                budget = _blank(factory.create("Budget"))
                budget.Id = int(refs[change.key].budget_id or 0)
                budget.Amount = micros_to_amount(change.new_amount_micros)
                budgets.Budget.append(budget)
            response = client.UpdateBudgets(Budgets=budgets)
        else:
            campaigns = factory.create("ArrayOfCampaign")
            for change in changes:
                campaign = _blank(factory.create("Campaign"))
                campaign.Id = int(refs[change.key].campaign_id or 0)
                campaign.DailyBudget = micros_to_amount(change.new_amount_micros)
                campaigns.Campaign.append(campaign)
            response = client.UpdateCampaigns(AccountId=int(account), Campaigns=campaigns)
        # One-field responses come back unwrapped: the ArrayOfBatchError itself, or None.
        errors: dict[int, _ApiError] = {}
        for item in _listed(response, "BatchError"):
            error = _api_error(item)
            if error.index is not None:
                errors[error.index] = error
        return errors

    # -- plumbing ---------------------------------------------------------------

    def _client(self, service: str, account: str | None) -> ServiceClient:
        key = (service, account)
        if key not in self._clients:
            options: dict[str, Any] = {"cache": _WSDL_CACHE, "timeout": self._timeout}
            if service in self._endpoints:
                options["location"] = self._endpoints[service]
            data = AuthorizationData(
                account_id=account,
                customer_id=self._settings.customer_id,
                developer_token=_secret(self._settings.developer_token),
                authentication=self._auth,
            )
            self._clients[key] = ServiceClient(
                service, 13, data, self._settings.environment, **options
            )
        return self._clients[key]

    def _ensure_token(self) -> None:
        tokens = self._auth.oauth_tokens
        if tokens is None or not tokens.access_token:
            refresh = tokens.refresh_token if tokens is not None else None
            self._auth.request_oauth_tokens_by_refresh_token(
                refresh or _secret(self._settings.refresh_token)
            )

    def _call(self, fn: Callable[[], T], what: str) -> T:
        """fn() with transient errors retried; raises QuotaExhausted or a request error."""

        def attempt() -> T:
            self._ensure_token()
            return fn()

        retrying = self._retry.retrying(self._is_transient, self._timeout)
        try:
            return retrying(attempt)
        except Exception as exc:
            classified = _classify(exc)
            if classified is None:
                raise
            message = self._clean(f"Microsoft Advertising {what} failed: {classified.message}")
            if classified.kind == "throttle":
                raise QuotaExhausted(message) from None
            items = {e.index: self._clean(str(e)) for e in classified.items if e.index is not None}
            raise MicrosoftAdsRequestError(
                message, transient=classified.kind == "transient", item_errors=items
            ) from None

    def _is_transient(self, exc: BaseException) -> bool:
        classified = _classify(exc)
        return classified is not None and classified.kind in ("transient", "throttle")

    def _secrets(self) -> list[str]:
        values = list(self._settings.secrets())
        tokens = getattr(self._auth, "oauth_tokens", None)
        for name in ("access_token", "refresh_token"):
            value = getattr(tokens, name, None)
            if isinstance(value, str):
                values.append(value)
        return values

    def _clean(self, message: str) -> str:
        return _redact(message, self._secrets())


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _secret(value: Any) -> str | None:
    return None if value is None else value.get_secret_value()


def _blank(obj: Any) -> Any:
    """A factory object with every field unset: suds would send empty enum elements."""
    for name in list(obj.__keylist__):
        setattr(obj, name, None)
    return obj


def _period(budget_type: Any) -> str:
    name = str(budget_type) if budget_type is not None else "DailyBudgetStandard"
    return _DAILY_TYPES.get(name) or _PERIODS.get(name, name.upper())


def _number(text: str | None) -> Decimal:
    cleaned = (text or "").replace(",", "").strip()
    return Decimal(cleaned) if cleaned and cleaned != "--" else Decimal(0)


def _share(text: str | None) -> float | None:
    cleaned = (text or "").replace("%", "").replace(",", "").strip()
    if not cleaned or cleaned == "--":
        return None
    return float(Decimal(cleaned) / 100)


def _parse_report(content: bytes) -> list[dict[str, str]]:
    """The data rows of a CSV report, by column (header and footer lines skipped)."""
    reader = csv.reader(io.StringIO(content.decode("utf-8-sig")))
    header: list[str] | None = None
    rows = []
    for line in reader:
        if header is None:
            if "CampaignId" in line and "TimePeriod" in line:
                header = line
            continue
        if len(line) != len(header):
            break  # the footer (copyright line) or the end
        rows.append(dict(zip(header, line, strict=True)))
    return rows


def _groups(refs: Sequence[BudgetRef]) -> Iterator[tuple[str, bool, list[BudgetRef]]]:
    grouped: dict[tuple[str, bool], list[BudgetRef]] = {}
    for ref in refs:
        grouped.setdefault((ref.account_id, ref.shared), []).append(ref)
    for (account, shared), items in grouped.items():
        yield account, shared, items


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
