"""The Microsoft Advertising gateway: the real bingads SDK against a local SOAP fake.

The SDK runs unchanged (its WSDLs, suds, its header plugin, its token refresh); only
its service locations and the OAuth token URL point at `FakeMicrosoftAds` on 127.0.0.1.
No test goes online.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from bingads import authorization
from leadflow import secrets
from leadflow.channels import REGISTRY, microsoft_ads
from leadflow.channels.microsoft_ads import (
    BUDGET_NAME_PATTERN,
    BudgetChange,
    BudgetInfo,
    ChannelRequestError,
    MicrosoftAdsApiGateway,
    MicrosoftAdsSettings,
    QuotaExhausted,
    RetryPolicy,
    amount_to_micros,
    budget_customer_id,
    micros_to_amount,
    validate_changes,
)
from leadflow.channels.microsoft_ads_api import REFRESH_TOKEN_VARIABLE, SECRET_ID_VARIABLE
from leadflow.settings import Settings
from leadflow_tools.microsoft_ads_fake import FakeMicrosoftAds

DEV_TOKEN = "dev-token-SECRET-1234"
REFRESH = "refresh-token-SECRET-5678"
CLIENT_SECRET = "client-secret-SECRET-9012"
DAY = date(2026, 12, 5)
ENV = {
    "MICROSOFT_ADS_DEVELOPER_TOKEN": DEV_TOKEN,
    "MICROSOFT_ADS_CLIENT_ID": "client-id-1",
    "MICROSOFT_ADS_CLIENT_SECRET": CLIENT_SECRET,
    "MICROSOFT_ADS_REFRESH_TOKEN": REFRESH,
    "MICROSOFT_ADS_CUSTOMER_ID": "4242",
}


def shared(account: int, budget: int) -> str:
    return f"accounts/{account}/budgets/{budget}"


def own(account: int, campaign: int) -> str:
    return f"accounts/{account}/campaigns/{campaign}/budget"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMicrosoftAds]:
    with FakeMicrosoftAds() as server:
        # The SDK's token endpoints (a dict) lead to the fake: a refresh never goes online.
        for key in list(authorization._UriOAuthService.AUTH_TOKEN_URI):
            monkeypatch.setitem(
                authorization._UriOAuthService.AUTH_TOKEN_URI, key, server.token_url
            )
        yield server


def gateway(fake: FakeMicrosoftAds, **options: Any) -> MicrosoftAdsApiGateway:
    options.setdefault("retry", RetryPolicy(sleep=lambda _: None))
    options.setdefault("poll_interval", 0.0)
    return MicrosoftAdsApiGateway(
        MicrosoftAdsSettings.from_env(ENV),
        endpoints={
            "CampaignManagementService": fake.campaign_url,
            "ReportingService": fake.reporting_url,
        },
        **options,
    )


# -- the seam -------------------------------------------------------------------


def test_budget_names_of_both_kinds_match_and_name_their_account() -> None:
    assert re.fullmatch(BUDGET_NAME_PATTERN, shared(12, 34))
    assert re.fullmatch(BUDGET_NAME_PATTERN, own(12, 56))
    for bad in (
        "accounts/1/budgets/",
        "accounts/x/budgets/1",
        "customers/1/campaignBudgets/2",
        "accounts/1/campaigns/2",
        "accounts/1/campaigns/2/budget/3",
    ):
        assert not re.fullmatch(BUDGET_NAME_PATTERN, bad)
    assert budget_customer_id(shared(12, 34)) == "12"
    assert budget_customer_id(own(77, 56)) == "77"
    with pytest.raises(ValueError, match="not a Microsoft Advertising budget"):
        budget_customer_id("customers/1/campaignBudgets/2")


def test_amounts_convert_exactly_and_only_in_whole_cents() -> None:
    assert micros_to_amount(12_340_000) == Decimal("12.34")
    assert str(micros_to_amount(20_000_000)) == "20.00"
    with pytest.raises(ValueError, match="whole cent"):
        micros_to_amount(12_345_000)
    assert amount_to_micros(12.34) == 12_340_000  # a double read by its shortest text
    assert amount_to_micros("0.3") == 300_000
    with pytest.raises(ValueError):
        amount_to_micros("0.30000000000000004")


def test_changes_with_malformed_names_or_partial_cents_are_refused() -> None:
    with pytest.raises(ValueError, match="budget resource name"):
        validate_changes([BudgetChange(1, "customers/1/campaignBudgets/2", 10_000)])
    with pytest.raises(ValueError, match="whole cent"):
        validate_changes([BudgetChange(1, shared(1, 2), 10_001)])


def test_the_seam_does_not_load_the_sdk() -> None:
    probe = (
        "import json, sys; import leadflow.channels.microsoft_ads as m; "
        "print(json.dumps([n for n in sys.modules if n.split('.')[0] in ('bingads', 'suds')]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert json.loads(result.stdout) == []


def test_the_registry_builds_a_gateway_only_from_complete_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    entry = REGISTRY["microsoft_ads"]

    assert entry.gateway(Settings()) is None
    assert entry.missing(Settings()) == [
        "MICROSOFT_ADS_DEVELOPER_TOKEN",
        "MICROSOFT_ADS_CLIENT_ID",
        "MICROSOFT_ADS_REFRESH_TOKEN",
        "MICROSOFT_ADS_CUSTOMER_ID",
    ]
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    built = entry.gateway(Settings())
    assert isinstance(built, MicrosoftAdsApiGateway)
    assert DEV_TOKEN not in repr(built) and DEV_TOKEN not in repr(Settings().microsoft_ads)


def test_settings_refuse_an_unknown_environment_and_a_malformed_customer_id() -> None:
    with pytest.raises(ValueError):
        MicrosoftAdsSettings.from_env({**ENV, "MICROSOFT_ADS_ENVIRONMENT": "staging"})
    with pytest.raises(ValueError):
        MicrosoftAdsSettings.from_env({**ENV, "MICROSOFT_ADS_CUSTOMER_ID": "12-ab"})
    sandbox = MicrosoftAdsSettings.from_env({**ENV, "MICROSOFT_ADS_ENVIRONMENT": "sandbox"})
    assert sandbox.environment == "sandbox"
    assert set(sandbox.secrets()) == {DEV_TOKEN, REFRESH, CLIENT_SECRET}


# -- reads ----------------------------------------------------------------------


def test_reads_a_shared_budget_and_a_campaigns_own_budget(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "12.34")
    fake.add_campaign(1, 7, "5.05")

    found = gateway(fake).current_budgets([shared(1, 10), own(1, 7), shared(1, 99), own(1, 98)])

    assert found == {
        shared(1, 10): BudgetInfo(shared(1, 10), 12_340_000),
        own(1, 7): BudgetInfo(own(1, 7), 5_050_000),
    }
    assert found[shared(1, 10)].skip_reason is None
    (read,) = fake.calls("GetBudgetsByIds")
    assert read.headers["CustomerAccountId"] == "1"
    assert read.headers["CustomerId"] == "4242"
    assert read.headers["DeveloperToken"] == DEV_TOKEN
    # The refresh token was exchanged at the fake's token endpoint, once.
    assert [r["grant_type"] for r in fake.token_requests] == ["refresh_token"]
    assert fake.token_requests[0]["refresh_token"] == REFRESH


def test_budgets_that_must_not_change_say_why(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "20.00", association_count=3)
    fake.add_budget(1, 11, "500.00", budget_type="LifetimeBudgetStandard")
    fake.add_campaign(1, 7, "5.00", budget_type="LifetimeBudgetStandard")
    fake.add_campaign(1, 8, budget_id=10)

    found = gateway(fake).current_budgets([shared(1, 10), shared(1, 11), own(1, 7), own(1, 8)])

    assert "used by 3 campaigns" in (found[shared(1, 10)].skip_reason or "")
    assert "LIFETIME" in (found[shared(1, 11)].skip_reason or "")
    assert "LIFETIME" in (found[own(1, 7)].skip_reason or "")
    # A campaign spending a shared budget has no budget of its own.
    assert own(1, 8) not in found


# -- writes ---------------------------------------------------------------------


def test_updates_both_kinds_in_whole_cents_and_sends_no_empty_fields(
    fake: FakeMicrosoftAds,
) -> None:
    fake.add_budget(1, 10, "12.34")
    fake.add_campaign(1, 7, "5.00")
    fake.add_campaign(2, 8, "9.00")
    changes = [
        BudgetChange(1, shared(1, 10), 20_010_000),
        BudgetChange(2, own(1, 7), 7_010_000),
        BudgetChange(3, own(2, 8), 300_000),
    ]

    results = gateway(fake).apply_budgets(changes, validate_only=False)

    assert [(r.key, r.status) for r in results] == [(1, "success"), (2, "success"), (3, "success")]
    assert fake.budgets[(1, 10)].amount == Decimal("20.01")
    assert fake.campaigns[(1, 7)].daily_budget == Decimal("7.01")
    assert fake.campaigns[(2, 8)].daily_budget == Decimal("0.30")
    update = fake.calls("UpdateCampaigns")[0].xml
    assert re.search(r"<\w+:DailyBudget>7.01</\w+:DailyBudget>", update)
    assert "0.30000000000000004" not in fake.calls("UpdateCampaigns")[1].xml
    for body in (update, fake.calls("UpdateBudgets")[0].xml):
        assert not re.search(r"<\w+:\w+/>", body)  # no empty element, enum or other


def test_validate_only_reads_the_budgets_back_and_writes_nothing(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "12.34")
    fake.add_campaign(1, 7, "5.00")
    fake.add_campaign(1, 8, budget_id=10)
    changes = [
        BudgetChange(1, shared(1, 10), 20_000_000),
        BudgetChange(2, own(1, 7), 6_000_000),
        BudgetChange(3, own(1, 8), 6_000_000),
        BudgetChange(4, shared(1, 99), 6_000_000),
    ]

    results = gateway(fake).apply_budgets(changes, validate_only=True)

    assert [r.status for r in results] == ["success", "success", "failed", "failed"]
    assert not fake.calls("UpdateBudgets") and not fake.calls("UpdateCampaigns")
    assert fake.budgets[(1, 10)].amount == Decimal("12.34")


def test_invalid_changes_are_refused_before_anything_is_sent(fake: FakeMicrosoftAds) -> None:
    with pytest.raises(ValueError):
        gateway(fake).apply_budgets([BudgetChange(1, own(1, 7), 1_234_567)], validate_only=False)
    assert fake.requests == []


def test_a_partial_error_fails_only_its_own_change(fake: FakeMicrosoftAds) -> None:
    for budget in (10, 11, 12):
        fake.add_budget(1, budget, "1.00")
    fake.fail("UpdateBudgets", "batch_error", index=1)
    changes = [BudgetChange(k, shared(1, 9 + k), 2_000_000) for k in (1, 2, 3)]

    results = gateway(fake).apply_budgets(changes, validate_only=False)

    assert [r.status for r in results] == ["success", "failed", "success"]
    assert "BudgetAmountIsAboveLimit" in (results[1].error or "")
    assert not results[1].transient
    assert [fake.budgets[(1, b)].amount for b in (10, 11, 12)] == [2, 1, 2]
    assert len(fake.calls("UpdateBudgets")) == 1


def test_transient_errors_are_retried_then_succeed(fake: FakeMicrosoftAds) -> None:
    fake.add_campaign(1, 7, "5.00")
    fake.fail("UpdateCampaigns", "transient", times=1)  # HTTP 503
    fake.fail("UpdateCampaigns", "internal", times=1)  # fault 0 InternalError
    slept: list[float] = []

    results = gateway(fake, retry=RetryPolicy(sleep=slept.append)).apply_budgets(
        [BudgetChange(1, own(1, 7), 6_000_000)], validate_only=False
    )

    assert results[0].status == "success"
    assert len(fake.calls("UpdateCampaigns")) == 3
    assert len(slept) == 2
    assert fake.campaigns[(1, 7)].daily_budget == Decimal("6.00")


def test_a_refused_request_fails_without_retry(fake: FakeMicrosoftAds) -> None:
    fake.add_campaign(1, 7, "5.00")
    fake.fail("UpdateCampaigns", "operation_error")

    results = gateway(fake).apply_budgets(
        [BudgetChange(1, own(1, 7), 6_000_000)], validate_only=False
    )

    assert results[0].status == "failed" and not results[0].transient
    assert "CampaignServiceAccountIdInvalid" in (results[0].error or "")
    assert len(fake.calls("UpdateCampaigns")) == 1
    assert fake.campaigns[(1, 7)].daily_budget == Decimal("5.00")


def test_a_call_without_a_clear_answer_is_unknown(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "1.00")
    fake.fail("UpdateBudgets", "drop", times=None)  # applied, then the connection closes

    results = gateway(fake, retry=RetryPolicy(attempts=2, sleep=lambda _: None)).apply_budgets(
        [BudgetChange(1, shared(1, 10), 3_000_000)], validate_only=False
    )

    assert results[0].status == "unknown" and results[0].transient
    assert fake.budgets[(1, 10)].amount == Decimal("3.00")  # it did reach Microsoft
    assert len(fake.calls("UpdateBudgets")) == 2


def test_throttling_beyond_the_retries_stops_the_run_with_what_was_settled(
    fake: FakeMicrosoftAds,
) -> None:
    fake.add_campaign(1, 7, "5.00")
    fake.add_campaign(2, 8, "5.00")
    changes = [BudgetChange(1, own(1, 7), 6_000_000), BudgetChange(2, own(2, 8), 6_000_000)]
    gw = gateway(fake, retry=RetryPolicy(attempts=3, sleep=lambda _: None))
    gw.apply_budgets(changes[:1], validate_only=False)  # warm: account 1 answers
    fake.fail("UpdateCampaigns", "throttle", times=1)
    fake.fail("UpdateCampaigns", "throttle", times=None)

    with pytest.raises(QuotaExhausted, match="CallRateExceeded") as caught:
        gw.apply_budgets(changes, validate_only=False)

    assert caught.value.completed == ()  # the first request was already throttled
    fake._faults.clear()
    assert [r.status for r in gw.apply_budgets(changes, validate_only=False)] == ["success"] * 2


def test_quota_exhausted_carries_the_results_settled_before_it(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "1.00")
    fake.add_campaign(1, 7, "5.00")
    fake.fail("UpdateCampaigns", "throttle", times=None)
    changes = [BudgetChange(1, shared(1, 10), 2_000_000), BudgetChange(2, own(1, 7), 6_000_000)]

    with pytest.raises(QuotaExhausted) as caught:
        gateway(fake, retry=RetryPolicy(attempts=2, sleep=lambda _: None)).apply_budgets(
            changes, validate_only=False
        )

    assert [(r.key, r.status) for r in caught.value.completed] == [(1, "success")]


def test_an_expired_access_token_is_refreshed_and_the_call_goes_through(
    fake: FakeMicrosoftAds,
) -> None:
    fake.add_budget(1, 10, "1.00")
    gw = gateway(fake)
    gw.current_budgets([shared(1, 10)])
    fake.expire_access_tokens()

    assert gw.current_budgets([shared(1, 10)])[shared(1, 10)].amount_micros == 1_000_000
    assert len(fake.token_requests) == 2


def test_a_refused_refresh_token_is_a_clear_permanent_error(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "1.00")
    gw = gateway(fake)
    gw.current_budgets([shared(1, 10)])
    fake.expire_access_tokens()
    fake.refuse_refresh = True

    results = gw.apply_budgets([BudgetChange(1, shared(1, 10), 2_000_000)], validate_only=False)
    with pytest.raises(ChannelRequestError, match="re-authorize") as caught:
        gw.current_budgets([shared(1, 10)])

    assert results[0].status == "failed" and not results[0].transient
    assert "refresh token was refused (invalid_grant)" in (results[0].error or "")
    assert not caught.value.transient
    assert len(fake.token_requests) == 3  # one refresh per call, never a retry loop


def test_the_hard_deadline_ends_a_hanging_call(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "1.00")
    fake.fail("UpdateBudgets", "hang", times=None, delay=10)
    fake.fail("GetBudgetsByIds", "hang", times=None, delay=10)
    gw = gateway(
        fake, timeout=0.3, retry=RetryPolicy(attempts=20, deadline=1.0, sleep=lambda _: None)
    )

    started = time.monotonic()
    results = gw.apply_budgets([BudgetChange(1, shared(1, 10), 2_000_000)], validate_only=False)
    with pytest.raises(ChannelRequestError) as caught:
        gw.current_budgets([shared(1, 10)])
    elapsed = time.monotonic() - started

    assert results[0].status == "unknown"
    assert caught.value.transient
    assert elapsed < 4
    assert len(fake.calls("UpdateBudgets")) <= 4


# -- metrics --------------------------------------------------------------------


def test_daily_metrics_come_from_the_zipped_report_mapped_to_budget_names(
    fake: FakeMicrosoftAds,
) -> None:
    fake.add_budget(1, 10, "50.00", association_count=2)
    fake.add_campaign(1, 7, "5.00")
    fake.add_campaign(1, 8, budget_id=10)
    fake.add_campaign(2, 9, "3.00")
    fake.add_metrics(
        DAY,
        account=1,
        campaign=7,
        spend="3.10",
        clicks=4,
        impressions=100,
        conversions="1.50",
        lost_to_budget="12.50%",
    )
    fake.add_metrics(DAY, account=1, campaign=8, spend="1,234.56", clicks=1, impressions=7)
    fake.add_metrics(DAY, account=2, campaign=9, spend="0.01", lost_to_budget="--")
    fake.add_metrics(date(2026, 12, 4), account=1, campaign=7, spend="9.99")
    fake.add_metrics(DAY, account=3, campaign=1, spend="9.99")
    fake.pending_polls = 2
    slept: list[float] = []

    metrics = gateway(fake, poll_interval=5.0, retry=RetryPolicy(sleep=slept.append)).daily_metrics(
        DAY, ["1", "2"]
    )

    by_campaign = {m.campaign_id: m for m in metrics}
    assert set(by_campaign) == {"7", "8", "9"}
    assert by_campaign["7"].budget_resource_name == own(1, 7)
    assert by_campaign["7"].cost_micros == 3_100_000
    assert (by_campaign["7"].clicks, by_campaign["7"].impressions) == (4, 100)
    assert by_campaign["7"].conversions == 1.5
    assert by_campaign["7"].search_budget_lost_impression_share == 0.125
    assert by_campaign["8"].budget_resource_name == shared(1, 10)
    assert by_campaign["8"].cost_micros == 1_234_560_000
    assert by_campaign["9"].customer_id == "2"
    assert by_campaign["9"].search_budget_lost_impression_share is None
    assert slept == [5.0, 5.0]
    (submit,) = fake.calls("SubmitGenerateReport")
    assert re.search(r"<\w+:Aggregation>Daily</\w+:Aggregation>", submit.xml)
    assert "ImpressionLostToBudgetPercent" in submit.xml
    assert len(fake.calls("DownloadReport")) == 1


def test_a_day_without_data_has_no_metrics(fake: FakeMicrosoftAds) -> None:
    assert gateway(fake).daily_metrics(DAY, ["1"]) == []
    assert gateway(fake).daily_metrics(DAY, []) == []


# -- secrets --------------------------------------------------------------------


def test_secrets_never_reach_error_messages_or_logs(
    fake: FakeMicrosoftAds, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_campaign(1, 7, "5.00")
    fake.fail("UpdateCampaigns", "operation_error", message=f"token {DEV_TOKEN} / {REFRESH}")
    fake.fail("GetCampaignsByIds", "internal", times=None, message=f"echo {CLIENT_SECRET}")
    gw = gateway(fake, retry=RetryPolicy(attempts=2, sleep=lambda _: None))

    results = gw.apply_budgets([BudgetChange(1, own(1, 7), 6_000_000)], validate_only=False)
    with pytest.raises(ChannelRequestError) as caught:
        gw.current_budgets([own(1, 7)])

    access = fake.last_access_token or "unset"
    texts = [results[0].error or "", str(caught.value), caplog.text]
    assert "***" in texts[0] and "***" in texts[1]
    for text in texts:
        for secret in (DEV_TOKEN, REFRESH, CLIENT_SECRET, access):
            assert secret not in text


def test_the_fake_answered_with_a_soap_header(fake: FakeMicrosoftAds) -> None:
    fake.add_budget(1, 10, "1.00")
    gw = gateway(fake)
    gw.current_budgets([shared(1, 10)])

    client = gw._client("CampaignManagementService", "1")
    assert client.get_response_header()["TrackingId"].startswith("tracking-")


def test_microsoft_ads_module_exports_the_adapter_lazily() -> None:
    assert microsoft_ads.MicrosoftAdsApiGateway is MicrosoftAdsApiGateway
    with pytest.raises(AttributeError):
        microsoft_ads.NoSuchName  # noqa: B018


# -- a rotated refresh token --------------------------------------------------------


@pytest.fixture
def secret_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """A moto Secrets Manager holding the Microsoft Advertising secret a deployment creates,
    named by the function's id variable."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    secrets.clear_cache()
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-central-1")
        arn: str = client.create_secret(
            Name="leadflow/microsoft-ads", SecretString=json.dumps(ENV)
        )["ARN"]
        monkeypatch.setenv(SECRET_ID_VARIABLE, arn)
        yield client, arn
    secrets.clear_cache()


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record's message and fields (`extra=`)."""
    return caplog.text + "".join(str(vars(r)) for r in caplog.records)


def _stored(client: Any, arn: str) -> dict[str, str]:
    stored: dict[str, str] = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
    return stored


def test_a_rotated_refresh_token_is_stored_in_its_secret_and_never_logged(
    fake: FakeMicrosoftAds, secret_store: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, arn = secret_store
    fake.add_budget(1, 10, "1.00")
    gw = gateway(fake)
    with caplog.at_level(logging.DEBUG):
        gw.current_budgets([shared(1, 10)])
        first = _stored(client, arn)
        fake.expire_access_tokens()
        gw.current_budgets([shared(1, 10)])
    second = _stored(client, arn)

    rotated = first[REFRESH_TOKEN_VARIABLE]
    assert rotated != REFRESH and rotated.startswith("fake-refresh-")
    # The next refresh used the rotated token, and its own rotation replaced it.
    assert [r["refresh_token"] for r in fake.token_requests] == [REFRESH, rotated]
    assert second[REFRESH_TOKEN_VARIABLE] not in (REFRESH, rotated)
    # Every other variable of the secret is kept as it was.
    for stored in (first, second):
        assert {k: v for k, v in stored.items() if k != REFRESH_TOKEN_VARIABLE} == {
            k: v for k, v in ENV.items() if k != REFRESH_TOKEN_VARIABLE
        }
    logged = _logged(caplog)
    assert logged.count("refresh token rotated and stored") >= 2
    for value in (REFRESH, rotated, second[REFRESH_TOKEN_VARIABLE]):
        assert value not in logged


def test_a_rotated_token_without_a_secret_to_store_it_in_is_said_and_the_call_goes_through(
    fake: FakeMicrosoftAds, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(SECRET_ID_VARIABLE, raising=False)  # a local run: the environment's
    fake.add_budget(1, 10, "1.00")
    with caplog.at_level(logging.INFO):
        found = gateway(fake).current_budgets([shared(1, 10)])

    assert found[shared(1, 10)].amount_micros == 1_000_000
    logged = _logged(caplog)
    assert f"no secret is configured to store it in ({SECRET_ID_VARIABLE})" in logged
    assert "fake-refresh-" not in logged and REFRESH not in logged


def test_a_secret_that_cannot_be_written_fails_not_the_call_and_shows_no_token(
    fake: FakeMicrosoftAds,
    secret_store: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, arn = secret_store
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    fake.add_budget(1, 10, "1.00")
    with caplog.at_level(logging.INFO):
        found = gateway(fake).current_budgets([shared(1, 10)])

    assert found[shared(1, 10)].amount_micros == 1_000_000
    (failed,) = [r for r in caplog.records if "storing it failed" in r.getMessage()]
    assert "ResourceNotFoundException" in failed.error
    logged = _logged(caplog)
    assert "fake-refresh-" not in logged and REFRESH not in logged
