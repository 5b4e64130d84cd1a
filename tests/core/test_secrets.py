"""Secrets: from AWS Secrets Manager (moto) when an id is set, else the environment; cached; never shown."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from leadflow import secrets
from leadflow.errors import LeadflowError
from leadflow.settings import Settings
from moto import mock_aws
from pydantic import SecretStr

REGION = "eu-central-1"
ANON = "anon-key-value-1"
SERVICE = "service-role-key-value-2"
JWT = "jwt-secret-value-3-long-enough-for-hs256"
ADS_TOKEN = "ads-developer-token-4"
ADS_REFRESH = "ads-refresh-token-5"
ALL_VALUES = (ANON, SERVICE, JWT, ADS_TOKEN, ADS_REFRESH)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No id or value from the caller's environment; exported values are undone afterwards."""
    saved = dict(os.environ)
    for source in secrets.SOURCES:
        monkeypatch.delenv(source.id_variable, raising=False)
    for name in ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("SUPABASE_JWT_SECRET", "LEADFLOW_SCHEDULER_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    secrets.clear_cache()
    yield
    secrets.clear_cache()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def aws() -> Iterator[Any]:
    """A moto Secrets Manager with the four secrets a deployment creates."""
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        yield client


def put(client: Any, name: str, value: str) -> str:
    arn: str = client.create_secret(Name=name, SecretString=value)["ARN"]
    return arn


def test_settings_read_the_secrets_that_the_id_variables_name(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    supabase = put(
        aws,
        "leadflow/supabase",
        json.dumps({"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_ANON_KEY": ANON}),
    )
    service = put(aws, "leadflow/service-role", json.dumps({"SUPABASE_SERVICE_ROLE_KEY": SERVICE}))
    jwt_secret = put(aws, "leadflow/jwt", JWT)  # a one-variable secret may be the bare value
    monkeypatch.setenv("LEADFLOW_SUPABASE_SECRET_ID", supabase)
    monkeypatch.setenv("LEADFLOW_SERVICE_ROLE_SECRET_ID", service)
    monkeypatch.setenv("LEADFLOW_JWT_SECRET_ID", jwt_secret)

    settings = Settings()

    assert settings.supabase_url == "https://abc.supabase.co"
    assert settings.supabase_anon_key is not None
    assert settings.supabase_anon_key.get_secret_value() == ANON
    assert settings.supabase_service_role_key is not None
    assert settings.supabase_service_role_key.get_secret_value() == SERVICE
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == JWT
    assert settings.supabase_secret_id == supabase


def test_a_secret_wins_over_the_plain_variable(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_JWT_SECRET_ID", put(aws, "jwt", JWT))
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "stale-value-from-the-environment")

    jwt_secret = Settings().jwt_secret

    assert jwt_secret is not None and jwt_secret.get_secret_value() == JWT


def test_without_ids_the_environment_is_read_and_aws_is_never_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE)

    def no_aws(region: str | None) -> Any:
        raise AssertionError("Secrets Manager must not be called without an id")

    assert secrets.load(client_factory=no_aws) == {}
    key = Settings().supabase_service_role_key
    assert key is not None and key.get_secret_value() == SERVICE


def test_google_ads_credentials_from_secrets_manager_reach_the_one_settings(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ads = {
        "GOOGLE_ADS_DEVELOPER_TOKEN": ADS_TOKEN,
        "GOOGLE_ADS_CLIENT_ID": "client-id",
        "GOOGLE_ADS_CLIENT_SECRET": "client-secret",
        "GOOGLE_ADS_REFRESH_TOKEN": ADS_REFRESH,
        "GOOGLE_ADS_LOGIN_CUSTOMER_ID": "1234567890",
    }
    monkeypatch.setenv("LEADFLOW_GOOGLE_ADS_SECRET_ID", put(aws, "ads", json.dumps(ads)))
    assert "GOOGLE_ADS_REFRESH_TOKEN" not in os.environ

    settings = Settings()

    assert settings.google_ads.missing() == []
    assert settings.google_ads.login_customer_id == "1234567890"
    assert os.environ["GOOGLE_ADS_REFRESH_TOKEN"] == ADS_REFRESH


def test_microsoft_ads_credentials_from_secrets_manager_reach_the_one_settings(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DEVELOPER_TOKEN", "CLIENT_ID", "REFRESH_TOKEN", "CUSTOMER_ID"):
        monkeypatch.delenv(f"MICROSOFT_ADS_{name}", raising=False)
    ads = {
        "MICROSOFT_ADS_DEVELOPER_TOKEN": ADS_TOKEN,
        "MICROSOFT_ADS_CLIENT_ID": "client-id",
        "MICROSOFT_ADS_REFRESH_TOKEN": ADS_REFRESH,
        "MICROSOFT_ADS_CUSTOMER_ID": "987654",
    }
    monkeypatch.setenv("LEADFLOW_MICROSOFT_ADS_SECRET_ID", put(aws, "msads", json.dumps(ads)))
    assert "MICROSOFT_ADS_REFRESH_TOKEN" not in os.environ

    settings = Settings()

    assert settings.microsoft_ads.missing() == []
    assert settings.microsoft_ads.customer_id == "987654"
    assert settings.microsoft_ads.environment == "production"
    assert ADS_REFRESH not in repr(settings.microsoft_ads)
    assert os.environ["MICROSOFT_ADS_REFRESH_TOKEN"] == ADS_REFRESH


def test_the_microsoft_ads_secret_may_not_hold_other_variables(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = {"MICROSOFT_ADS_DEVELOPER_TOKEN": ADS_TOKEN, "GOOGLE_ADS_REFRESH_TOKEN": ADS_REFRESH}
    monkeypatch.setenv("LEADFLOW_MICROSOFT_ADS_SECRET_ID", put(aws, "msads2", json.dumps(bad)))

    with pytest.raises(LeadflowError, match="GOOGLE_ADS_REFRESH_TOKEN") as caught:
        secrets.load()
    assert ADS_TOKEN not in str(caught.value)
    assert ADS_REFRESH not in str(caught.value)


def test_secrets_are_fetched_once_per_process(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = put(aws, "service", json.dumps({"SUPABASE_SERVICE_ROLE_KEY": SERVICE}))
    monkeypatch.setenv("LEADFLOW_SERVICE_ROLE_SECRET_ID", arn)
    calls: list[str | None] = []

    def counting(region: str | None) -> Any:
        calls.append(region)
        return boto3.client("secretsmanager", region_name=region)

    for _ in range(3):  # three warm invocations
        assert secrets.load(client_factory=counting)["SUPABASE_SERVICE_ROLE_KEY"]
    aws.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert Settings().supabase_service_role_key is not None

    assert calls == [REGION]  # one call, in the region the ARN names


def test_values_never_appear_in_logs_or_reprs(
    aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore logs response bodies at DEBUG
    monkeypatch.setenv(
        "LEADFLOW_SUPABASE_SECRET_ID",
        put(aws, "supabase", json.dumps({"SUPABASE_ANON_KEY": ANON})),
    )
    monkeypatch.setenv("LEADFLOW_SERVICE_ROLE_SECRET_ID", put(aws, "service", SERVICE))
    monkeypatch.setenv("LEADFLOW_JWT_SECRET_ID", put(aws, "jwt", JWT))
    caplog.clear()  # creating the secrets above logs them; reading them must not

    settings = Settings()
    shown = repr(settings) + str(settings) + repr(secrets.load()) + settings.model_dump_json()

    loaded = [r for r in caplog.records if r.getMessage() == "secrets loaded"]
    assert {name for r in loaded for name in r.names} >= {"SUPABASE_ANON_KEY"}
    logged = caplog.text + "".join(str(vars(r)) for r in caplog.records)  # the keys too
    for value in (ANON, SERVICE, JWT):
        assert value not in logged
        assert value not in shown


def test_a_secret_holding_variables_beyond_its_purpose_is_refused_by_name(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lumped = {"SUPABASE_ANON_KEY": ANON, "SUPABASE_SERVICE_ROLE_KEY": SERVICE}
    monkeypatch.setenv("LEADFLOW_SUPABASE_SECRET_ID", put(aws, "all", json.dumps(lumped)))

    with pytest.raises(LeadflowError, match="SUPABASE_SERVICE_ROLE_KEY") as caught:
        secrets.load()

    assert SERVICE not in str(caught.value) and ANON not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json at all", "must be a JSON object"),
        ('["a list"]', "must be a JSON object"),
        ('{"SUPABASE_ANON_KEY": 42}', "must hold text values"),
    ],
)
def test_a_malformed_secret_is_a_clear_error(
    aws: Any, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("LEADFLOW_SUPABASE_SECRET_ID", put(aws, "supabase", value))

    with pytest.raises(LeadflowError, match=message):
        secrets.load()


def test_a_missing_secret_names_the_variable_and_the_aws_error(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_JWT_SECRET_ID", "leadflow/does-not-exist")

    with pytest.raises(LeadflowError) as caught:
        Settings()

    assert "LEADFLOW_JWT_SECRET_ID" in str(caught.value)
    assert "ResourceNotFoundException" in str(caught.value)


def test_region_comes_from_the_arn_and_a_name_uses_the_default() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:leadflow/jwt-AbCdEf"

    assert secrets._region(arn) == "eu-west-1"
    assert secrets._region("leadflow/jwt") is None


def test_a_stored_value_replaces_one_variable_and_keeps_the_others(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ads = put(aws, "ads", json.dumps({"GOOGLE_ADS_DEVELOPER_TOKEN": ADS_TOKEN}))
    monkeypatch.setenv("LEADFLOW_GOOGLE_ADS_SECRET_ID", ads)
    assert secrets.load()["GOOGLE_ADS_DEVELOPER_TOKEN"].get_secret_value() == ADS_TOKEN

    assert secrets.store("GOOGLE_ADS_REFRESH_TOKEN", SecretStr(ADS_REFRESH)) is True

    assert json.loads(aws.get_secret_value(SecretId=ads)["SecretString"]) == {
        "GOOGLE_ADS_DEVELOPER_TOKEN": ADS_TOKEN,
        "GOOGLE_ADS_REFRESH_TOKEN": ADS_REFRESH,
    }
    # The process's cached copy holds it too: a later load does not go back to the old one.
    assert secrets.load()["GOOGLE_ADS_REFRESH_TOKEN"].get_secret_value() == ADS_REFRESH


def test_a_value_no_configured_secret_may_hold_is_not_stored(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert secrets.store("GOOGLE_ADS_REFRESH_TOKEN", SecretStr(ADS_REFRESH)) is False
    # A configured secret of another purpose is never written to.
    service = put(aws, "service", json.dumps({"SUPABASE_SERVICE_ROLE_KEY": SERVICE}))
    monkeypatch.setenv("LEADFLOW_SERVICE_ROLE_SECRET_ID", service)
    assert secrets.store("GOOGLE_ADS_REFRESH_TOKEN", SecretStr(ADS_REFRESH)) is False
    assert aws.get_secret_value(SecretId=service)["SecretString"] == json.dumps(
        {"SUPABASE_SERVICE_ROLE_KEY": SERVICE}
    )


def test_storing_into_a_bare_or_missing_secret_is_one_line_without_the_value(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_GOOGLE_ADS_SECRET_ID", put(aws, "bare", ADS_TOKEN))
    with pytest.raises(LeadflowError, match="not a JSON object") as bare:
        secrets.store("GOOGLE_ADS_REFRESH_TOKEN", SecretStr(ADS_REFRESH))
    monkeypatch.setenv("LEADFLOW_GOOGLE_ADS_SECRET_ID", "leadflow/none")
    with pytest.raises(LeadflowError, match="ResourceNotFoundException") as missing:
        secrets.store("GOOGLE_ADS_REFRESH_TOKEN", SecretStr(ADS_REFRESH))
    for error in (bare.value, missing.value):
        assert ADS_REFRESH not in str(error) and ADS_TOKEN not in str(error)
        assert "\n" not in str(error)
