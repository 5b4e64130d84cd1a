"""The Google Ads gateway: the real adapter against an in-process gRPC server, and the fake.

The real adapter runs the google-ads library unchanged (its metadata, logging and
exception interceptors, proto-plus messages, api_core error mapping); only the
channel is pointed at a local insecure gRPC server that plays Google Ads. No test
goes online.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import date
from typing import Any

import grpc
import pytest
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.ads.googleads.v26.services.services.campaign_budget_service.transports.grpc import (
    CampaignBudgetServiceGrpcTransport,
)
from google.ads.googleads.v26.services.services.google_ads_service.transports.grpc import (
    GoogleAdsServiceGrpcTransport,
)
from google.ads.googleads.v26.services.types import campaign_budget_service as cbs
from google.ads.googleads.v26.services.types import google_ads_service as gas
from google.auth.credentials import AnonymousCredentials
from google.protobuf import any_pb2
from google.rpc import status_pb2
from leadflow.channels import google_ads
from leadflow.channels.google_ads import (
    BudgetChange,
    BudgetInfo,
    BudgetResult,
    CampaignMetrics,
    GoogleAdsApiGateway,
    GoogleAdsRequestError,
    GoogleAdsSettings,
    QuotaExhausted,
    RetryPolicy,
)
from leadflow.errors import LeadflowError
from leadflow_tools.google_ads_fake import InMemoryGoogleAds

DEV_TOKEN = "dev-token-SECRET-1234"
FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
BUDGET_SERVICE = "google.ads.googleads.v26.services.CampaignBudgetService"
ADS_SERVICE = "google.ads.googleads.v26.services.GoogleAdsService"


def budget(customer: str, budget_id: int) -> str:
    return f"customers/{customer}/campaignBudgets/{budget_id}"


def change(key: int, customer: str = "111", budget_id: int | None = None, euros: float = 10):
    return BudgetChange(key, budget(customer, budget_id or key), round(euros * 100) * 10_000)


def failure(*errors: tuple[str, str, str, int | None]) -> GoogleAdsFailure:
    """A GoogleAdsFailure from (error field, code name, message, operation index or None)."""
    built = []
    for which, name, message, index in errors:
        error: dict[str, Any] = {"error_code": {which: name}, "message": message}
        if index is not None:
            error["location"] = {
                "field_path_elements": [{"field_name": "operations", "index": index}]
            }
        built.append(error)
    return GoogleAdsFailure(errors=built)


def abort(
    context: grpc.ServicerContext,
    code: grpc.StatusCode,
    details: str,
    ads_failure: GoogleAdsFailure | None = None,
    request_id: str = "req-42",
) -> None:
    metadata: list[tuple[str, Any]] = [("request-id", request_id)]
    if ads_failure is not None:
        metadata.append((FAILURE_KEY, GoogleAdsFailure.serialize(ads_failure)))
    context.set_trailing_metadata(tuple(metadata))
    context.abort(code, details)


def all_succeed(request: cbs.MutateCampaignBudgetsRequest) -> cbs.MutateCampaignBudgetsResponse:
    if request.validate_only:
        return cbs.MutateCampaignBudgetsResponse()
    return cbs.MutateCampaignBudgetsResponse(
        results=[{"resource_name": op.update.resource_name} for op in request.operations]
    )


def partial(
    request: cbs.MutateCampaignBudgetsRequest, ads_failure: GoogleAdsFailure
) -> cbs.MutateCampaignBudgetsResponse:
    failed = {e.location.field_path_elements[0].index for e in ads_failure.errors}
    detail = any_pb2.Any(
        type_url="type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
        value=GoogleAdsFailure.serialize(ads_failure),
    )
    return cbs.MutateCampaignBudgetsResponse(
        results=[
            {} if i in failed else {"resource_name": op.update.resource_name}
            for i, op in enumerate(request.operations)
        ],
        partial_failure_error=status_pb2.Status(
            code=3, message="partial failure", details=[detail]
        ),
    )


class FakeGoogleAds:
    """An in-process gRPC server playing CampaignBudgetService and GoogleAdsService."""

    def __init__(self) -> None:
        self.mutates: list[cbs.MutateCampaignBudgetsRequest] = []
        self.searches: list[gas.SearchGoogleAdsStreamRequest] = []
        self.metadata: list[dict[str, str]] = []
        self.mutate: Callable[[cbs.MutateCampaignBudgetsRequest, grpc.ServicerContext], Any] = (
            lambda request, context: all_succeed(request)
        )
        self.search: Callable[[gas.SearchGoogleAdsStreamRequest, grpc.ServicerContext], Any] = (
            lambda request, context: []
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    BUDGET_SERVICE,
                    {
                        "MutateCampaignBudgets": grpc.unary_unary_rpc_method_handler(
                            self._mutate,
                            request_deserializer=cbs.MutateCampaignBudgetsRequest.deserialize,
                            response_serializer=cbs.MutateCampaignBudgetsResponse.serialize,
                        )
                    },
                ),
                grpc.method_handlers_generic_handler(
                    ADS_SERVICE,
                    {
                        "SearchStream": grpc.unary_stream_rpc_method_handler(
                            self._search,
                            request_deserializer=gas.SearchGoogleAdsStreamRequest.deserialize,
                            response_serializer=gas.SearchGoogleAdsStreamResponse.serialize,
                        )
                    },
                ),
            )
        )
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"

    def _mutate(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.mutates.append(request)
        self.metadata.append(dict(context.invocation_metadata()))
        return self.mutate(request, context)

    def _search(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self.searches.append(request)
        yield from self.search(request, context)


@pytest.fixture
def ads() -> Iterator[FakeGoogleAds]:
    server = FakeGoogleAds()
    server.server.start()
    yield server
    server.server.stop(grace=None)


@pytest.fixture
def client(ads: FakeGoogleAds, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleAdsClient]:
    """An offline client whose service channels lead to the local server."""
    channels: list[grpc.Channel] = []

    def local_channel(cls: type, host: str | None = None, **kwargs: Any) -> grpc.Channel:
        channel = grpc.insecure_channel(ads.address, options=kwargs.get("options"))
        channels.append(channel)
        return channel

    for transport in (CampaignBudgetServiceGrpcTransport, GoogleAdsServiceGrpcTransport):
        monkeypatch.setattr(transport, "create_channel", classmethod(local_channel))
    yield GoogleAdsClient(
        credentials=AnonymousCredentials(),
        developer_token=DEV_TOKEN,
        use_proto_plus=True,
        version="v26",
    )
    for channel in channels:
        channel.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def gateway(client: GoogleAdsClient, sleeps: list[float]) -> GoogleAdsApiGateway:
    return GoogleAdsApiGateway(client, retry=RetryPolicy(sleep=sleeps.append))


# ---------------------------------------------------------------------------
# apply_budgets: the request
# ---------------------------------------------------------------------------


def test_a_change_is_sent_as_an_amount_update_with_mask_and_partial_failure(ads, gateway):
    results = gateway.apply_budgets([change(7, "111", 5, euros=12.34)], validate_only=False)

    assert results == [BudgetResult(7, "success")]
    [request] = ads.mutates
    assert request.customer_id == "111"
    assert request.partial_failure is True
    assert request.validate_only is False
    [operation] = request.operations
    assert operation.update.resource_name == "customers/111/campaignBudgets/5"
    assert operation.update.amount_micros == 12_340_000
    assert list(operation.update_mask.paths) == ["amount_micros"]
    assert ads.metadata[0]["developer-token"] == DEV_TOKEN


def test_validate_only_is_a_field_of_the_request(ads, gateway):
    results = gateway.apply_budgets([change(1), change(2)], validate_only=True)

    assert [r.status for r in results] == ["success", "success"]
    assert ads.mutates[0].validate_only is True


def test_changes_are_batched_per_customer_and_batch_size(ads, client, sleeps):
    gateway = GoogleAdsApiGateway(client, batch_size=2, retry=RetryPolicy(sleep=sleeps.append))
    changes = [
        change(1, "111"),
        change(2, "222"),
        change(3, "111"),
        change(4, "111"),
        change(5, "222"),
    ]

    results = gateway.apply_budgets(changes, validate_only=False)

    sent = [(r.customer_id, [op.update.resource_name for op in r.operations]) for r in ads.mutates]
    assert sent == [
        ("111", [budget("111", 1), budget("111", 3)]),
        ("111", [budget("111", 4)]),
        ("222", [budget("222", 2), budget("222", 5)]),
    ]
    assert [r.key for r in results] == [1, 2, 3, 4, 5]
    assert all(r.status == "success" for r in results)


def test_no_changes_send_nothing(ads, gateway):
    assert gateway.apply_budgets([], validate_only=False) == []
    assert ads.mutates == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (BudgetChange(1, budget("111", 1), 12_345_678), "not a whole cent"),
        (BudgetChange(1, budget("111", 1), 0), "positive"),
        (BudgetChange(1, budget("111", 1), -10_000), "positive"),
        (BudgetChange(1, "campaignBudgets/1", 10_000), "resource name"),
        (BudgetChange(1, "customers/1/campaignBudgets/2') OR ('", 10_000), "resource name"),
    ],
)
def test_invalid_changes_are_refused_before_anything_is_sent(ads, gateway, bad, message):
    with pytest.raises(ValueError, match=message):
        gateway.apply_budgets([change(2), bad], validate_only=False)
    assert ads.mutates == []


def test_a_key_or_budget_twice_is_refused(ads, gateway):
    with pytest.raises(ValueError, match="twice"):
        gateway.apply_budgets([change(1), change(1, budget_id=9)], validate_only=False)
    with pytest.raises(ValueError, match="twice"):
        gateway.apply_budgets([change(1), change(2, budget_id=1)], validate_only=False)
    assert ads.mutates == []


# ---------------------------------------------------------------------------
# apply_budgets: failures
# ---------------------------------------------------------------------------


def test_partial_failure_fails_only_the_operation_it_names(ads, gateway):
    ads.mutate = lambda request, context: partial(
        request,
        failure(
            (
                "campaign_budget_error",
                "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
                "Amount is not a multiple of the minimum currency unit.",
                1,
            )
        ),
    )

    results = gateway.apply_budgets([change(10), change(11), change(12)], validate_only=False)

    assert [r.status for r in results] == ["success", "failed", "success"]
    assert results[1].key == 11
    assert "campaign_budget_error.NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT" in results[1].error
    assert "minimum currency unit" in results[1].error
    assert results[1].transient is False
    assert len(ads.mutates) == 1


def test_an_operation_whose_result_is_missing_is_unknown_and_never_sent_again(ads, gateway, sleeps):
    """No error names it and no result answers it: it may have been applied, so it is of
    unknown outcome (the database blocks its budget until reconciled), never resent."""

    def second_result_missing(request, context):
        response = all_succeed(request)
        if len(ads.mutates) == 1:
            response.results[1] = cbs.MutateCampaignBudgetResult()
        return response

    ads.mutate = second_result_missing

    results = gateway.apply_budgets([change(1), change(2), change(3)], validate_only=False)

    assert [r.status for r in results] == ["success", "unknown", "success"]
    assert "no result" in results[1].error
    assert len(ads.mutates) == 1 and sleeps == []


def test_a_missing_result_next_to_a_transient_failure_is_not_resent_with_it(ads, gateway, sleeps):
    def first_fails_second_unanswered(request, context):
        if len(ads.mutates) > 1:
            return all_succeed(request)
        response = partial(
            request, failure(("database_error", "CONCURRENT_MODIFICATION", "try again", 0))
        )
        response.results[1] = cbs.MutateCampaignBudgetResult()
        return response

    ads.mutate = first_fails_second_unanswered

    results = gateway.apply_budgets([change(1), change(2), change(3)], validate_only=False)

    assert [r.status for r in results] == ["success", "unknown", "success"]
    assert [[op.update.resource_name for op in r.operations] for r in ads.mutates] == [
        [budget("111", 1), budget("111", 2), budget("111", 3)],
        [budget("111", 1)],
    ]


def test_an_operation_that_failed_transiently_is_resent_alone(ads, gateway, sleeps):
    def concurrent_once(request, context):
        if len(ads.mutates) == 1:
            return partial(
                request, failure(("database_error", "CONCURRENT_MODIFICATION", "try again", 0))
            )
        return all_succeed(request)

    ads.mutate = concurrent_once

    results = gateway.apply_budgets([change(1), change(2)], validate_only=False)

    assert results == [BudgetResult(1, "success"), BudgetResult(2, "success")]
    assert [[op.update.resource_name for op in r.operations] for r in ads.mutates] == [
        [budget("111", 1), budget("111", 2)],
        [budget("111", 1)],
    ]
    assert len(sleeps) == 1


def test_a_permanent_request_error_fails_each_of_its_changes_without_retry(ads, gateway, sleeps):
    def refuse(request, context):
        if request.customer_id == "222":
            abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "denied",
                failure(
                    (
                        "authorization_error",
                        "USER_PERMISSION_DENIED",
                        "User doesn't have permission to access customer.",
                        None,
                    )
                ),
                request_id="req-denied",
            )
        return all_succeed(request)

    ads.mutate = refuse

    results = gateway.apply_budgets(
        [change(1, "222"), change(2, "111"), change(3, "222")], validate_only=False
    )

    assert [(r.key, r.status, r.transient) for r in results] == [
        (1, "failed", False),
        (2, "success", False),
        (3, "failed", False),
    ]
    assert "authorization_error.USER_PERMISSION_DENIED" in results[0].error
    assert "doesn't have permission" in results[0].error
    assert "req-denied" in results[0].error
    assert results[0].error.startswith(
        "Google Ads budget changes of customer 222 failed: PERMISSION_DENIED: "
    )
    assert sleeps == []
    assert len(ads.mutates) == 2


def test_a_transient_error_is_retried_with_backoff_then_succeeds(ads, gateway, sleeps):
    def unavailable_twice(request, context):
        if len(ads.mutates) <= 2:
            abort(context, grpc.StatusCode.UNAVAILABLE, "backend unavailable")
        return all_succeed(request)

    ads.mutate = unavailable_twice

    results = gateway.apply_budgets([change(1)], validate_only=False)

    assert results == [BudgetResult(1, "success")]
    assert len(ads.mutates) == 3
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0] > 0  # exponential


def test_a_transient_error_that_outlasts_the_retries_is_of_unknown_outcome(ads, gateway, sleeps):
    """A whole request that kept failing transiently may have been applied: unknown, not failed."""
    ads.mutate = lambda request, context: abort(context, grpc.StatusCode.INTERNAL, "internal error")

    results = gateway.apply_budgets([change(1), change(2)], validate_only=False)

    assert all(r.status == "unknown" and r.transient for r in results)
    assert "InternalServerError" in results[0].error
    assert "req-42" in results[0].error
    assert len(ads.mutates) == RetryPolicy().attempts == 4
    assert len(sleeps) == 3


def test_daily_quota_raises_quota_exhausted_without_retrying(ads, gateway, sleeps):
    def quota(request, context):
        if request.customer_id == "222":
            abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "Resource has been exhausted",
                failure(("quota_error", "RESOURCE_EXHAUSTED", "Too many requests.", None)),
            )
        return all_succeed(request)

    ads.mutate = quota
    changes = [change(1, "111"), change(2, "222"), change(3, "333")]

    with pytest.raises(QuotaExhausted, match="RESOURCE_EXHAUSTED") as raised:
        gateway.apply_budgets(changes, validate_only=False)

    assert [r.customer_id for r in ads.mutates] == ["111", "222"]  # stopped, no spinning
    assert sleeps == []
    assert raised.value.completed == (BudgetResult(1, "success"),)
    assert isinstance(raised.value, LeadflowError)


def test_a_short_term_quota_error_is_retried(ads, gateway, sleeps):
    def busy_once(request, context):
        if len(ads.mutates) == 1:
            abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "Resource has been exhausted",
                failure(
                    (
                        "quota_error",
                        "RESOURCE_TEMPORARILY_EXHAUSTED",
                        "Too many requests in a short time.",
                        None,
                    )
                ),
            )
        return all_succeed(request)

    ads.mutate = busy_once

    assert gateway.apply_budgets([change(1)], validate_only=False) == [BudgetResult(1, "success")]
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("code", "ads_failure", "transient"),
    [
        pytest.param(grpc.StatusCode.RESOURCE_EXHAUSTED, None, True, id="resource-exhausted"),
        pytest.param(grpc.StatusCode.INTERNAL, None, True, id="internal"),
        pytest.param(grpc.StatusCode.UNAVAILABLE, None, True, id="unavailable"),
        pytest.param(grpc.StatusCode.DEADLINE_EXCEEDED, None, True, id="deadline-exceeded"),
        pytest.param(
            grpc.StatusCode.INTERNAL,
            failure(("internal_error", "TRANSIENT_ERROR", "", None)),
            True,
            id="internal-error-transient",
        ),
        pytest.param(
            grpc.StatusCode.ABORTED,
            failure(("database_error", "CONCURRENT_MODIFICATION", "", None)),
            True,
            id="concurrent-modification",
        ),
        pytest.param(
            grpc.StatusCode.UNAVAILABLE,
            failure(("internal_error", "INTERNAL_ERROR", "", None)),
            True,
            id="unavailable-with-ads-failure",
        ),
        pytest.param(grpc.StatusCode.UNAUTHENTICATED, None, False, id="unauthenticated"),
        pytest.param(grpc.StatusCode.PERMISSION_DENIED, None, False, id="permission-denied"),
        pytest.param(
            grpc.StatusCode.INVALID_ARGUMENT,
            failure(("field_mask_error", "FIELD_NOT_FOUND", "", None)),
            False,
            id="field-mask-error",
        ),
        pytest.param(
            grpc.StatusCode.INVALID_ARGUMENT,
            failure(("campaign_budget_error", "CAMPAIGN_BUDGET_REMOVED", "", None)),
            False,
            id="campaign-budget-error",
        ),
    ],
)
def test_errors_are_classified_transient_or_permanent(ads, gateway, code, ads_failure, transient):
    ads.mutate = lambda request, context: abort(context, code, "nope", ads_failure)

    [result] = gateway.apply_budgets([change(1)], validate_only=False)

    # Refused for good: failed (not applied). Failing transiently to the end: it may have applied.
    assert result.status == ("unknown" if transient else "failed")
    assert result.transient is transient
    assert len(ads.mutates) == (4 if transient else 1)


def test_error_messages_never_carry_the_developer_token(ads, gateway, client):
    ads.mutate = lambda request, context: abort(
        context,
        grpc.StatusCode.INVALID_ARGUMENT,
        f"bad developer token {DEV_TOKEN}",
        failure(
            ("authentication_error", "DEVELOPER_TOKEN_INVALID", f"token {DEV_TOKEN} invalid", None)
        ),
    )

    [result] = gateway.apply_budgets([change(1)], validate_only=False)

    assert DEV_TOKEN not in result.error
    assert "***" in result.error
    assert DEV_TOKEN not in repr(gateway) and DEV_TOKEN not in str(gateway)


# ---------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------


def metrics_row(
    campaign_id: int, budget_name: str, lost: float | None = None, **values: Any
) -> dict:
    metrics = {"cost_micros": 0, "clicks": 0, "impressions": 0, "conversions": 0.0, **values}
    if lost is not None:
        metrics["search_budget_lost_impression_share"] = lost
    return {"campaign": {"id": campaign_id, "campaign_budget": budget_name}, "metrics": metrics}


def test_daily_metrics_are_read_per_customer_for_the_day(ads, gateway):
    def search(request, context):
        if request.customer_id == "1234567890":
            yield gas.SearchGoogleAdsStreamResponse(
                results=[
                    metrics_row(
                        11,
                        budget("1234567890", 5),
                        lost=0.25,
                        cost_micros=12_500_000,
                        clicks=40,
                        impressions=900,
                        conversions=3.5,
                    )
                ]
            )
            yield gas.SearchGoogleAdsStreamResponse(
                results=[metrics_row(12, budget("1234567890", 6))]
            )

    ads.search = search

    metrics = gateway.daily_metrics(date(2026, 11, 24), ["123-456-7890", "555", "1234567890"])

    assert [r.customer_id for r in ads.searches] == ["1234567890", "555"]
    query = ads.searches[0].query
    assert "FROM campaign\n" in query
    assert "segments.date = '2026-11-24'" in query
    for selected in (
        "campaign.id",
        "campaign.campaign_budget",
        "metrics.cost_micros",
        "metrics.conversions",
        "metrics.search_budget_lost_impression_share",
    ):
        assert selected in query
    assert metrics == [
        CampaignMetrics(
            "1234567890", "11", budget("1234567890", 5), 12_500_000, 40, 900, 3.5, 0.25
        ),
        CampaignMetrics("1234567890", "12", budget("1234567890", 6), 0, 0, 0, 0.0, None),
    ]
    assert dataclasses.asdict(metrics[1])["search_budget_lost_impression_share"] is None


def test_current_budgets_are_queried_by_resource_name_per_customer(ads, gateway):
    def search(request, context):
        rows = {
            "111": [
                {
                    "campaign_budget": {
                        "resource_name": budget("111", 1),
                        "amount_micros": 25_000_000,
                        "reference_count": 1,
                        "period": "DAILY",
                    }
                }
            ],
            "222": [
                {
                    "campaign_budget": {
                        "resource_name": budget("222", 2),
                        "amount_micros": 7_000_000,
                        "explicitly_shared": True,
                        "reference_count": 3,
                        "period": "DAILY",
                    }
                }
            ],
        }[request.customer_id]
        yield gas.SearchGoogleAdsStreamResponse(results=rows)

    ads.search = search

    budgets = gateway.current_budgets([budget("111", 1), budget("222", 2), budget("111", 404)])

    assert [r.customer_id for r in ads.searches] == ["111", "222"]
    assert "FROM campaign_budget" in ads.searches[0].query
    assert (
        f"campaign_budget.resource_name IN ('{budget('111', 1)}', '{budget('111', 404)}')"
        in ads.searches[0].query
    )
    assert budgets == {
        budget("111", 1): BudgetInfo(budget("111", 1), 25_000_000, False, 1, "DAILY"),
        budget("222", 2): BudgetInfo(budget("222", 2), 7_000_000, True, 3, "DAILY"),
    }


def test_no_budgets_asked_means_no_query(ads, gateway):
    assert gateway.current_budgets([]) == {}
    assert ads.searches == []


def test_a_read_that_fails_permanently_raises_with_google_message(ads, gateway):
    def denied(request, context):
        abort(
            context,
            grpc.StatusCode.PERMISSION_DENIED,
            "denied",
            failure(
                (
                    "authorization_error",
                    "CUSTOMER_NOT_ENABLED",
                    "The customer account can't be accessed.",
                    None,
                )
            ),
        )
        yield  # pragma: no cover

    ads.search = denied

    with pytest.raises(GoogleAdsRequestError, match="CUSTOMER_NOT_ENABLED") as raised:
        gateway.daily_metrics(date(2026, 11, 24), ["111"])
    assert raised.value.transient is False
    assert "req-42" in str(raised.value)


def test_a_read_is_retried_on_transient_errors(ads, gateway, sleeps):
    def flaky(request, context):
        if len(ads.searches) == 1:
            abort(context, grpc.StatusCode.UNAVAILABLE, "try later")
        yield gas.SearchGoogleAdsStreamResponse(results=[metrics_row(1, budget("111", 1))])

    ads.search = flaky

    assert len(gateway.daily_metrics(date(2026, 11, 24), ["111"])) == 1
    assert len(sleeps) == 1


def test_a_read_stops_on_the_daily_quota(ads, gateway, sleeps):
    def quota(request, context):
        abort(
            context,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "exhausted",
            failure(("quota_error", "RESOURCE_EXHAUSTED", "Too many requests.", None)),
        )
        yield  # pragma: no cover

    ads.search = quota

    with pytest.raises(QuotaExhausted):
        gateway.current_budgets([budget("111", 1)])
    assert len(ads.searches) == 1
    assert sleeps == []


# ---------------------------------------------------------------------------
# BudgetInfo.skip_reason
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (BudgetInfo(budget("1", 1), 10_000_000, False, 1, "DAILY"), None),
        (BudgetInfo(budget("1", 1), 10_000_000, False, 0, "DAILY"), None),
        (BudgetInfo(budget("1", 1), 10_000_000, True, 1, "DAILY"), "shared"),
        (BudgetInfo(budget("1", 1), 10_000_000, False, 2, "DAILY"), "used by 2 campaigns"),
        (BudgetInfo(budget("1", 1), 0, False, 1, "CUSTOM_PERIOD"), "CUSTOM_PERIOD"),
    ],
)
def test_skip_reason_names_budgets_that_must_not_change(info, reason):
    if reason is None:
        assert info.skip_reason is None
    else:
        assert reason in info.skip_reason


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------

OAUTH_ENV = {
    "GOOGLE_ADS_DEVELOPER_TOKEN": DEV_TOKEN,
    "GOOGLE_ADS_CLIENT_ID": "client-id-123.apps.googleusercontent.com",
    "GOOGLE_ADS_CLIENT_SECRET": "client-SECRET-456",
    "GOOGLE_ADS_REFRESH_TOKEN": "refresh-SECRET-789",
    "GOOGLE_ADS_LOGIN_CUSTOMER_ID": "123-456-7890",
}


def credentials_configured(env):
    """Whether `env` (None: the process environment) holds a complete set of credentials."""
    return not GoogleAdsSettings.from_env(env).missing()


def test_credentials_are_configured_with_oauth_or_a_service_account_key():
    assert credentials_configured(OAUTH_ENV)
    assert credentials_configured(
        {
            "GOOGLE_ADS_DEVELOPER_TOKEN": DEV_TOKEN,
            "GOOGLE_ADS_JSON_KEY_FILE_PATH": "/secrets/sa.json",
        }
    )
    assert not credentials_configured({})
    assert not credentials_configured({**OAUTH_ENV, "GOOGLE_ADS_REFRESH_TOKEN": ""})
    assert not credentials_configured({k: v for k, v in OAUTH_ENV.items() if "DEVELOPER" not in k})


def test_an_explicit_env_ignores_the_process_environment(monkeypatch):
    for name, value in OAUTH_ENV.items():
        monkeypatch.setenv(name, value)
    assert credentials_configured(None)
    assert not credentials_configured({})


def test_settings_never_show_secrets():
    settings = GoogleAdsSettings.from_env(OAUTH_ENV)
    shown = (
        repr(settings) + str(settings) + repr(settings.model_dump()) + settings.model_dump_json()
    )
    for secret in (DEV_TOKEN, "client-SECRET-456", "refresh-SECRET-789", "client-id-123"):
        assert secret not in shown
    assert settings.login_customer_id == "1234567890"


def test_client_is_built_with_proto_plus_from_the_settings(monkeypatch):
    seen: dict[str, Any] = {}

    def load_from_dict(config: dict[str, Any], version: str | None = None) -> str:
        seen.update(config, version=version)
        return "client"

    monkeypatch.setattr(GoogleAdsClient, "load_from_dict", staticmethod(load_from_dict))

    assert google_ads.client_from_settings(GoogleAdsSettings.from_env(OAUTH_ENV)) == "client"
    assert seen == {
        "use_proto_plus": True,
        "developer_token": DEV_TOKEN,
        "client_id": "client-id-123.apps.googleusercontent.com",
        "client_secret": "client-SECRET-456",
        "refresh_token": "refresh-SECRET-789",
        "login_customer_id": "1234567890",
        "version": "v26",
    }


def test_client_errors_name_missing_variables_and_hide_secrets(monkeypatch):
    with pytest.raises(LeadflowError, match="GOOGLE_ADS_REFRESH_TOKEN") as raised:
        google_ads.client_from_settings(
            GoogleAdsSettings.from_env({**OAUTH_ENV, "GOOGLE_ADS_REFRESH_TOKEN": ""})
        )
    assert DEV_TOKEN not in str(raised.value)

    def refused(config: dict[str, Any], version: str | None = None) -> None:
        raise ValueError(f"invalid_grant for {config['refresh_token']}")

    monkeypatch.setattr(GoogleAdsClient, "load_from_dict", staticmethod(refused))
    with pytest.raises(LeadflowError, match="invalid_grant") as raised:
        google_ads.client_from_settings(GoogleAdsSettings.from_env(OAUTH_ENV))
    assert "refresh-SECRET-789" not in str(raised.value)
    assert raised.value.__cause__ is None


def test_gateway_refuses_a_client_without_proto_plus():
    plain = GoogleAdsClient(credentials=AnonymousCredentials(), developer_token="x", version="v26")
    with pytest.raises(ValueError, match="use_proto_plus"):
        GoogleAdsApiGateway(plain)


# ---------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------


def test_fake_applies_changes_unless_validate_only_and_records_calls():
    fake = InMemoryGoogleAds()
    fake.add_budget(budget("111", 1), 10_000_000)

    assert fake.apply_budgets([change(1, euros=12)], validate_only=True) == [
        BudgetResult(1, "success")
    ]
    assert fake.budgets[budget("111", 1)].amount_micros == 10_000_000
    assert fake.apply_budgets([change(1, euros=12)], validate_only=False) == [
        BudgetResult(1, "success")
    ]
    assert fake.current_budgets([budget("111", 1), budget("111", 2)]) == {
        budget("111", 1): BudgetInfo(budget("111", 1), 12_000_000, False, 1, "DAILY")
    }
    assert fake.applied == [change(1, euros=12)]
    assert [c.method for c in fake.calls] == ["apply_budgets", "apply_budgets", "current_budgets"]
    assert fake.calls[0].args["validate_only"] is True


def test_fake_fails_programmed_budgets_and_unknown_ones():
    fake = InMemoryGoogleAds()
    for i in (1, 2, 3):
        fake.add_budget(budget("111", i), 10_000_000)
    fake.fail_permanently(budget("111", 1), "campaign_budget_error.CAMPAIGN_BUDGET_REMOVED")
    fake.fail_transiently(budget("111", 2), times=2)
    changes = [change(1), change(2), change(3), change(4)]

    first = fake.apply_budgets(changes, validate_only=False)
    second = fake.apply_budgets(changes[:2], validate_only=False)
    third = fake.apply_budgets(changes[:2], validate_only=False)

    assert [(r.status, r.transient) for r in first] == [
        ("failed", False),
        ("failed", True),
        ("success", False),
        ("failed", False),
    ]
    assert "RESOURCE_NOT_FOUND" in first[3].error
    assert [(r.status, r.transient) for r in second] == [("failed", False), ("failed", True)]
    assert [r.status for r in third] == ["failed", "success"]


def test_fake_quota_stops_with_what_was_settled():
    fake = InMemoryGoogleAds()
    for i in (1, 2, 3):
        fake.add_budget(budget("111", i), 10_000_000)
    fake.exhaust_quota(after_operations=2)

    with pytest.raises(QuotaExhausted) as raised:
        fake.apply_budgets([change(1), change(2), change(3)], validate_only=False)
    assert [r.key for r in raised.value.completed] == [1, 2]
    with pytest.raises(QuotaExhausted):
        fake.current_budgets([budget("111", 1)])


def test_fake_serves_metrics_per_day_and_customer_and_validates_like_the_real_one():
    fake = InMemoryGoogleAds()
    day = date(2026, 11, 24)
    mine = CampaignMetrics("111", "1", budget("111", 1), 1_000_000, 3, 50, 1.0, None)
    fake.add_metrics(day, [mine, dataclasses.replace(mine, customer_id="222")])

    assert fake.daily_metrics(day, ["111"]) == [mine]
    assert fake.daily_metrics(date(2026, 11, 25), ["111"]) == []
    with pytest.raises(ValueError, match="whole cent"):
        fake.apply_budgets([BudgetChange(1, budget("111", 1), 1)], validate_only=False)


def test_a_call_to_google_ads_ends_within_its_hard_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each attempt may hang for its whole timeout (300 s): retries stop so that the call ends
    within SEND_DEADLINE_SECONDS, inside the send window and the lease (MONEY_SAFETY.md)."""
    import time

    from leadflow.channels.google_ads import SEND_DEADLINE_SECONDS
    from leadflow.channels.google_ads_api import RetryPolicy

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    attempts: list[float] = []

    def hangs_then_fails() -> None:
        attempts.append(clock[0])
        clock[0] += 300.0
        raise TimeoutError("DEADLINE_EXCEEDED")

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    policy = RetryPolicy(sleep=sleep)
    with pytest.raises(TimeoutError):
        policy.retrying(lambda exc: True, attempt_timeout=300.0)(hangs_then_fails)
    assert clock[0] - 1000.0 <= SEND_DEADLINE_SECONDS == 20 * 60
    assert len(attempts) == 3  # a fourth could end after 20 minutes
    unbounded = RetryPolicy(sleep=sleep, deadline=float("inf"))
    attempts.clear()
    with pytest.raises(TimeoutError):
        unbounded.retrying(lambda exc: True, attempt_timeout=300.0)(hangs_then_fails)
    assert len(attempts) == 4
