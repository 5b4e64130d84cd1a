"""One Settings, read once: nested Google Ads credentials, a typed mode, blank secrets unset."""

from __future__ import annotations

import pytest
from leadflow.jobs.orchestrate import configured_mode
from leadflow.settings import Mode, Settings
from pydantic import ValidationError

OAUTH = {
    "GOOGLE_ADS_DEVELOPER_TOKEN": "dev-token",
    "GOOGLE_ADS_CLIENT_ID": "client",
    "GOOGLE_ADS_CLIENT_SECRET": "client-secret",
    "GOOGLE_ADS_REFRESH_TOKEN": "refresh-value-7f3a",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*OAUTH, "LEADFLOW_ORCHESTRATOR_MODE", "LEADFLOW_ORCHESTRATOR_LIVE"]:
        monkeypatch.delenv(name, raising=False)


def test_google_ads_credentials_are_part_of_the_one_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(Settings().google_ads.missing()) == set(OAUTH)
    for name, value in OAUTH.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.google_ads.missing() == []
    assert "refresh-value-7f3a" not in repr(settings)  # secrets print masked


def test_the_orchestrator_mode_is_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().orchestrator_mode is Mode.dry_run
    monkeypatch.setenv("LEADFLOW_ORCHESTRATOR_MODE", "validate_only")
    assert Settings().orchestrator_mode is Mode.validate_only
    monkeypatch.setenv("LEADFLOW_ORCHESTRATOR_MODE", "yolo")
    with pytest.raises(ValidationError):
        Settings()


def test_the_mode_a_run_may_use_comes_from_the_one_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert configured_mode(Settings()) is Mode.dry_run
    with pytest.raises(Exception, match="needs a channel's credentials"):
        configured_mode(Settings(), Mode.live)
    for name, value in OAUTH.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(Exception, match="LEADFLOW_ORCHESTRATOR_LIVE=true"):
        configured_mode(Settings(), Mode.live)
    monkeypatch.setenv("LEADFLOW_ORCHESTRATOR_LIVE", "true")
    assert configured_mode(Settings(), Mode.live) is Mode.live
