"""Google Ads over the google-ads library: the real adapter behind `GoogleAdsGateway`.

Imported only when a run talks to Google Ads (`leadflow.channels.google_ads.gateway_from_settings`).

Failure policy: transient errors are retried with bounded exponential backoff; a used-up
daily operation quota raises `QuotaExhausted` at once (retrying only burns more quota);
anything else is permanent. A budget change never fails another: requests use partial
failure, and a request that fails as a whole fails only its own changes.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import grpc
from google.ads.googleads.errors import GoogleAdsException
from google.api_core import exceptions as core_exceptions
from google.protobuf import field_mask_pb2
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_exponential_jitter
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from leadflow.channels.google_ads import (
    API_VERSION,
    MAX_OPERATIONS_PER_REQUEST,
    NAMES_PER_QUERY,
    SEND_DEADLINE_SECONDS,
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    GoogleAdsRequestError,
    QuotaExhausted,
    budget_customer_id,
    validate_changes,
)
from leadflow.errors import LeadflowError
from leadflow.log import logger
from leadflow.settings import GoogleAdsSettings, normalize_customer_id

if TYPE_CHECKING:
    from google.ads.googleads.client import GoogleAdsClient

    from leadflow.channels.google_ads import GoogleAdsGateway

# Google Ads error codes, as (ErrorCode oneof field, enum name).
_TRANSIENT_CODES = frozenset(
    {
        ("internal_error", "TRANSIENT_ERROR"),
        ("quota_error", "RESOURCE_TEMPORARILY_EXHAUSTED"),
        ("database_error", "CONCURRENT_MODIFICATION"),
    }
)
_DAILY_QUOTA_CODES = frozenset({("quota_error", "RESOURCE_EXHAUSTED")})
# Arrive as google.api_core exceptions, not GoogleAdsException: the library leaves
# INTERNAL and RESOURCE_EXHAUSTED unconverted, and UNAVAILABLE / DEADLINE_EXCEEDED
# carry no Google Ads failure.
_TRANSIENT_STATUSES = frozenset(
    {
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
_TRANSIENT_API_ERRORS: tuple[type[Exception], ...] = (
    core_exceptions.ResourceExhausted,
    core_exceptions.InternalServerError,
    core_exceptions.ServiceUnavailable,
    core_exceptions.DeadlineExceeded,
)

_METRICS_QUERY = """
SELECT
  campaign.id,
  campaign.campaign_budget,
  campaign_budget.amount_micros,
  campaign_budget.explicitly_shared,
  campaign_budget.reference_count,
  metrics.cost_micros,
  metrics.clicks,
  metrics.impressions,
  metrics.conversions,
  metrics.search_budget_lost_impression_share
FROM campaign
WHERE segments.date = '{day}'
"""

_BUDGETS_QUERY = """
SELECT
  campaign_budget.resource_name,
  campaign_budget.amount_micros,
  campaign_budget.explicitly_shared,
  campaign_budget.reference_count,
  campaign_budget.period
FROM campaign_budget
WHERE campaign_budget.resource_name IN ({names})
"""


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------


def client_from_settings(settings: GoogleAdsSettings | None = None) -> GoogleAdsClient:
    """A GoogleAdsClient for the configured credentials (fetches an OAuth token: online)."""
    from google.ads.googleads.client import GoogleAdsClient

    settings = settings or GoogleAdsSettings.from_env()
    missing = settings.missing()
    if missing:
        raise LeadflowError(f"Google Ads credentials are not configured: set {', '.join(missing)}")
    try:
        return GoogleAdsClient.load_from_dict(settings.library_config(), version=API_VERSION)
    except Exception as exc:
        detail = _redact(f"{type(exc).__name__}: {exc}", settings.secrets())
        raise LeadflowError(f"Google Ads client could not be created: {detail}") from None


def _redact(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if len(secret) >= 6:  # shorter strings would blank out ordinary words
            message = message.replace(secret, "***")
    return message


# ---------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------


def _default_wait() -> wait_base:
    return wait_exponential_jitter(multiplier=2, max=60, jitter=2)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient errors are retried: bounded attempts, exponential backoff with jitter.

    Tests pass `sleep=` (e.g. a list's append) so that nothing waits.
    """

    attempts: int = 4
    wait: wait_base = field(default_factory=_default_wait)
    sleep: Callable[[float], None] = time.sleep
    #: No attempt starts that could end after this many seconds from the first.
    deadline: float = SEND_DEADLINE_SECONDS

    def retrying(
        self, is_transient: Callable[[BaseException], bool], attempt_timeout: float = 0.0
    ) -> Retrying:
        """A tenacity controller that retries exceptions for which `is_transient` holds,
        within `attempts` and the hard `deadline` (each attempt may take `attempt_timeout`)."""

        def retry_on(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return exc is not None and is_transient(exc)

        class past_deadline(stop_base):
            def __call__(inner, state: RetryCallState) -> bool:
                elapsed = state.seconds_since_start or 0.0
                return elapsed + (state.upcoming_sleep or 0.0) + attempt_timeout > self.deadline

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
        "Google Ads call failed transiently; retrying",
        extra={"attempt": state.attempt_number, "error_type": type(exc).__name__},
    )


# ---------------------------------------------------------------------------
# Error classification
# ---------------------------------------------------------------------------

_Kind = Literal["transient", "permanent", "quota"]


@dataclass(frozen=True)
class _Classified:
    kind: _Kind
    message: str


class _SomeOperationsFailedTransiently(Exception):
    """Internal: a request succeeded, but some of its operations failed transiently."""


def _error_code(error: Any) -> tuple[str, str]:
    """(oneof field, enum name) of a GoogleAdsError, e.g. ("quota_error", "RESOURCE_EXHAUSTED")."""
    code = error.error_code
    which = type(code).pb(code).WhichOneof("error_code")
    if not which:
        return ("unknown", "UNKNOWN")
    value = getattr(code, which)
    return (which, getattr(value, "name", str(value)))


def _decide(codes: Sequence[tuple[str, str]], transient_status: bool) -> _Kind:
    """The daily quota wins; then a transient status or only transient codes; else permanent."""
    if any(code in _DAILY_QUOTA_CODES for code in codes):
        return "quota"
    if transient_status or (codes and all(code in _TRANSIENT_CODES for code in codes)):
        return "transient"
    return "permanent"


def _status_code(call: Any) -> grpc.StatusCode | None:
    try:
        code = call.code()
    except Exception:  # not a grpc.Call
        return None
    return code if isinstance(code, grpc.StatusCode) else None


def _describe_errors(errors: Iterable[Any]) -> str:
    parts = []
    for error in errors:
        which, name = _error_code(error)
        parts.append(f"{which}.{name}: {error.message}" if error.message else f"{which}.{name}")
    return "; ".join(parts)


def _with_request_id(message: str, request_id: str | None) -> str:
    return f"{message} (request_id {request_id})" if request_id else message


# ---------------------------------------------------------------------------
# The real adapter
# ---------------------------------------------------------------------------

T = TypeVar("T")


class GoogleAdsApiGateway:
    """`GoogleAdsGateway` over the google-ads library (gRPC, proto-plus messages)."""

    def __init__(
        self,
        client: GoogleAdsClient,
        *,
        batch_size: int = 1000,
        retry: RetryPolicy | None = None,
        timeout: float = 300.0,
    ) -> None:
        if not 1 <= batch_size <= MAX_OPERATIONS_PER_REQUEST:
            raise ValueError(
                f"batch_size must be 1..{MAX_OPERATIONS_PER_REQUEST}, got {batch_size}"
            )
        if not getattr(client, "use_proto_plus", False):
            raise ValueError("the GoogleAdsClient must be created with use_proto_plus=True")
        self._client = client
        self._version: str = client.version or API_VERSION
        self._batch_size = batch_size
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._services: dict[str, Any] = {}
        errors_module = importlib.import_module(
            f"google.ads.googleads.{self._version}.errors.types.errors"
        )
        self._failure_type: Any = errors_module.GoogleAdsFailure
        self._failure_key = f"google.ads.googleads.{self._version}.errors.googleadsfailure-bin"
        self._secrets = _client_secrets(client)

    def __repr__(self) -> str:
        return f"GoogleAdsApiGateway(version={self._version!r}, batch_size={self._batch_size})"

    # -- reads ------------------------------------------------------------------

    def daily_metrics(self, day: date, customer_ids: Sequence[str]) -> list[CampaignMetrics]:
        """Every campaign with activity on `day` in the given accounts, via search_stream."""
        query = _METRICS_QUERY.format(day=day.isoformat())
        metrics: list[CampaignMetrics] = []
        for customer_id in _unique(normalize_customer_id(c) for c in customer_ids):
            rows = self._read(customer_id, query, f"metrics of customer {customer_id} on {day}")
            metrics.extend(_metrics_from_row(customer_id, row) for row in rows)
        return metrics

    def current_budgets(self, resource_names: Sequence[str]) -> dict[str, BudgetInfo]:
        """The budgets that exist among `resource_names` (absent ones are left out)."""
        by_customer: dict[str, list[str]] = {}
        for name in _unique(resource_names):
            by_customer.setdefault(budget_customer_id(name), []).append(name)
        budgets: dict[str, BudgetInfo] = {}
        for customer_id, names in by_customer.items():
            for chunk in _chunks(names, NAMES_PER_QUERY):
                query = _BUDGETS_QUERY.format(names=", ".join(f"'{n}'" for n in chunk))
                rows = self._read(customer_id, query, f"budgets of customer {customer_id}")
                for row in rows:
                    info = _budget_from_row(row)
                    budgets[info.resource_name] = info
        return budgets

    def _read(self, customer_id: str, query: str, what: str) -> list[Any]:
        service = self._service("GoogleAdsService")

        def search() -> list[Any]:
            stream = service.search_stream(
                customer_id=customer_id, query=query, timeout=self._timeout
            )
            return [row for batch in stream for row in batch.results]

        return self._call(search, what)

    # -- writes -----------------------------------------------------------------

    def apply_budgets(
        self, changes: Sequence[BudgetChange], *, validate_only: bool
    ) -> list[BudgetResult]:
        """Send the changes per customer in batches with partial failure; results in order.

        Raises ValueError before sending anything if a change is invalid, and
        QuotaExhausted (with the results settled so far) when the daily quota runs out.
        """
        validate_changes(changes)
        by_customer: dict[str, list[BudgetChange]] = {}
        for change in changes:
            by_customer.setdefault(budget_customer_id(change.budget_resource_name), []).append(
                change
            )
        settled: dict[int, BudgetResult] = {}
        for customer_id, customer_changes in by_customer.items():
            for chunk in _chunks(customer_changes, self._batch_size):
                try:
                    settled.update(self._apply_request(customer_id, chunk, validate_only))
                except QuotaExhausted as exc:
                    done = [*settled.values(), *exc.completed]
                    raise QuotaExhausted(str(exc), completed=done) from exc
        return [settled[change.key] for change in changes]

    def _apply_request(
        self, customer_id: str, changes: Sequence[BudgetChange], validate_only: bool
    ) -> dict[int, BudgetResult]:
        """One mutate request, resending only operations that failed transiently."""
        results: dict[int, BudgetResult] = {}
        pending = changes

        def attempt() -> None:
            nonlocal pending
            pending = self._mutate(customer_id, pending, validate_only, results)
            if pending:
                raise _SomeOperationsFailedTransiently

        try:
            self._call(attempt, f"budget changes of customer {customer_id}")
        except _SomeOperationsFailedTransiently:
            pass  # their results already say failed, transient
        except GoogleAdsRequestError as exc:
            # A whole request that failed transiently (deadline, unavailable) may still have
            # been applied: its outcome is unknown. A permanent error means Google refused it.
            for change in pending:
                results[change.key] = BudgetResult(
                    change.key,
                    "unknown" if exc.transient else "failed",
                    str(exc),
                    transient=exc.transient,
                )
        except QuotaExhausted as exc:
            unsettled = {change.key for change in pending}
            done = [r for key, r in results.items() if key not in unsettled]
            raise QuotaExhausted(str(exc), completed=done) from exc
        return results

    def _mutate(
        self,
        customer_id: str,
        changes: Sequence[BudgetChange],
        validate_only: bool,
        results: dict[int, BudgetResult],
    ) -> list[BudgetChange]:
        """Send one request; record each change's result; return those to resend."""
        request = self._client.get_type("MutateCampaignBudgetsRequest")
        request.customer_id = customer_id
        request.partial_failure = True
        request.validate_only = validate_only
        for change in changes:
            operation = self._client.get_type("CampaignBudgetOperation")
            operation.update.resource_name = change.budget_resource_name
            operation.update.amount_micros = change.new_amount_micros
            self._client.copy_from(
                operation.update_mask, field_mask_pb2.FieldMask(paths=["amount_micros"])
            )
            request.operations.append(operation)
        service = self._service("CampaignBudgetService")
        response = service.mutate_campaign_budgets(request=request, timeout=self._timeout)

        failed, unattributed = self._partial_failures(response)
        resend = []
        for index, change in enumerate(changes):
            if index in failed:
                errors = failed[index]
                kind = _decide([_error_code(e) for e in errors], transient_status=False)
                message = self._clean(_describe_errors(errors))
                results[change.key] = BudgetResult(
                    change.key, "failed", message, transient=kind == "transient"
                )
                if kind == "transient":
                    resend.append(change)
            elif not validate_only and not _has_result(response, index):
                message = unattributed or "Google Ads returned no result for this change"
                results[change.key] = BudgetResult(change.key, "unknown", self._clean(message))
            else:
                results[change.key] = BudgetResult(change.key, "success")
        return resend

    def _partial_failures(self, response: Any) -> tuple[dict[int, list[Any]], str]:
        """Errors per operation index, and a message for errors that name no operation."""
        failed: dict[int, list[Any]] = {}
        loose: list[Any] = []
        status = response.partial_failure_error
        for detail in status.details:
            if not detail.type_url.endswith(".GoogleAdsFailure"):
                continue
            for error in self._failure_type.deserialize(detail.value).errors:
                elements = error.location.field_path_elements
                if elements and elements[0].field_name == "operations" and "index" in elements[0]:
                    failed.setdefault(elements[0].index, []).append(error)
                else:
                    loose.append(error)
        message = _describe_errors(loose) if loose else status.message
        return failed, message

    # -- plumbing ---------------------------------------------------------------

    def _service(self, name: str) -> Any:
        if name not in self._services:
            self._services[name] = self._client.get_service(name)
        return self._services[name]

    def _call(self, fn: Callable[[], T], what: str) -> T:
        """fn() with transient errors retried; raises QuotaExhausted or GoogleAdsRequestError."""
        retrying = self._retry.retrying(self._is_transient, attempt_timeout=self._timeout)
        try:
            return retrying(fn)
        except _SomeOperationsFailedTransiently:
            raise
        except Exception as exc:
            classified = self._classify(exc)
            if classified is None:
                raise
            message = f"Google Ads {what} failed: {classified.message}"
            if classified.kind == "quota":
                raise QuotaExhausted(message) from exc
            raise GoogleAdsRequestError(message, transient=classified.kind == "transient") from exc

    def _is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, _SomeOperationsFailedTransiently):
            return True
        classified = self._classify(exc)
        return classified is not None and classified.kind == "transient"

    def _classify(self, exc: BaseException) -> _Classified | None:
        """Transient, permanent or daily quota; None for what is no API error (a bug)."""
        if isinstance(exc, GoogleAdsException):
            errors = list(exc.failure.errors)
            status = _status_code(exc.error)
            message = _describe_errors(errors)
            if status is not None:
                message = f"{status.name}: {message}"
            return _Classified(
                _decide([_error_code(e) for e in errors], status in _TRANSIENT_STATUSES),
                self._clean(_with_request_id(message, exc.request_id)),
            )
        if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
            exc = core_exceptions.from_grpc_error(exc)
        if isinstance(exc, core_exceptions.GoogleAPICallError):
            metadata = _trailing_metadata(exc.response)
            failure = self._failure_from_metadata(metadata)
            errors = list(failure.errors) if failure else []
            message = f"{type(exc).__name__}: {exc.message}"
            if errors:
                message += f" ({_describe_errors(errors)})"
            request_id = _metadata_value(metadata, "request-id")
            return _Classified(
                _decide([_error_code(e) for e in errors], isinstance(exc, _TRANSIENT_API_ERRORS)),
                self._clean(_with_request_id(message, request_id)),
            )
        return None

    def _failure_from_metadata(self, metadata: Sequence[tuple[str, Any]]) -> Any | None:
        raw = _metadata_value(metadata, self._failure_key)
        if not isinstance(raw, bytes):
            return None
        try:
            return self._failure_type.deserialize(raw)
        except Exception:  # a garbled failure must not hide the status it came with
            return None

    def _clean(self, message: str) -> str:
        return _redact(message, self._secrets)


def _client_secrets(client: Any) -> list[str]:
    credentials = getattr(client, "credentials", None)
    values = [
        getattr(client, "developer_token", None),
        getattr(credentials, "refresh_token", None),
        getattr(credentials, "client_secret", None),
        getattr(credentials, "token", None),
    ]
    return [v for v in values if isinstance(v, str) and v]


def _trailing_metadata(call: Any) -> list[tuple[str, Any]]:
    try:
        return [(str(k), v) for k, v in (call.trailing_metadata() or ())]
    except Exception:  # not a grpc.Call, or no metadata
        return []


def _metadata_value(metadata: Sequence[tuple[str, Any]], key: str) -> Any | None:
    return next((value for k, value in metadata if k == key), None)


def _has_result(response: Any, index: int) -> bool:
    return index < len(response.results) and bool(response.results[index].resource_name)


def _metrics_from_row(customer_id: str, row: Any) -> CampaignMetrics:
    metrics = row.metrics
    lost = (
        float(metrics.search_budget_lost_impression_share)
        if "search_budget_lost_impression_share" in metrics
        else None
    )
    return CampaignMetrics(
        customer_id=customer_id,
        campaign_id=str(row.campaign.id),
        budget_resource_name=row.campaign.campaign_budget,
        cost_micros=int(metrics.cost_micros),
        clicks=int(metrics.clicks),
        impressions=int(metrics.impressions),
        conversions=float(metrics.conversions),
        search_budget_lost_impression_share=lost,
    )


def _budget_from_row(row: Any) -> BudgetInfo:
    budget = row.campaign_budget
    return BudgetInfo(
        resource_name=budget.resource_name,
        amount_micros=int(budget.amount_micros),
        explicitly_shared=bool(budget.explicitly_shared),
        reference_count=int(budget.reference_count),
        period=budget.period.name,
    )


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


if TYPE_CHECKING:
    _conforms: type[GoogleAdsGateway] = GoogleAdsApiGateway
