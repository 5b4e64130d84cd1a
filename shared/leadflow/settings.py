"""Configuration from the environment, read in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

_CUSTOMER_ID = re.compile(r"\d+")


def normalize_customer_id(customer_id: str) -> str:
    """`123-456-7890` or `1234567890` → `1234567890`; ValueError otherwise."""
    digits = str(customer_id).replace("-", "").strip()
    if not _CUSTOMER_ID.fullmatch(digits):
        raise ValueError(f"not a Google Ads customer id: {customer_id!r}")
    return digits


def _unset_if_blank(value: Any) -> Any:
    """An empty or whitespace-only value is not configured (never an empty secret)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return None if isinstance(value, str) and not value.strip() else value


class Mode(StrEnum):
    """How far the orchestrator's decisions go."""

    dry_run = "dry_run"  # logged only
    validate_only = "validate_only"  # sent to Google Ads for validation, not applied
    live = "live"  # applied


class GoogleAdsSettings(BaseSettings):
    """Google Ads credentials from `GOOGLE_ADS_*` variables; secrets print masked."""

    model_config = SettingsConfigDict(env_prefix="GOOGLE_ADS_", extra="ignore")

    developer_token: SecretStr | None = None
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    json_key_file_path: str | None = None
    impersonated_email: str | None = None
    login_customer_id: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("login_customer_id")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        return None if value is None else normalize_customer_id(value)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GoogleAdsSettings:
        """From `env` only when given (e.g. in tests), else from the process environment."""
        if env is None:
            return cls()
        upper = {k.upper(): v for k, v in env.items()}
        # Every field passed explicitly, so that nothing leaks in from os.environ.
        values: dict[str, Any] = {
            name: upper.get(f"GOOGLE_ADS_{name.upper()}") for name in cls.model_fields
        }
        return cls(**values)

    def missing(self) -> list[str]:
        """The variables still needed for a working client (names only)."""
        needed = [] if self.developer_token else ["GOOGLE_ADS_DEVELOPER_TOKEN"]
        if self.json_key_file_path:
            return needed
        oauth = {
            "GOOGLE_ADS_CLIENT_ID": self.client_id,
            "GOOGLE_ADS_CLIENT_SECRET": self.client_secret,
            "GOOGLE_ADS_REFRESH_TOKEN": self.refresh_token,
        }
        return needed + [name for name, value in oauth.items() if value is None]

    def secrets(self) -> list[str]:
        """The secret values, for scrubbing them from error messages."""
        values = (self.developer_token, self.client_id, self.client_secret, self.refresh_token)
        return [v.get_secret_value() for v in values if v is not None]

    def library_config(self) -> dict[str, Any]:
        """The dict `GoogleAdsClient.load_from_dict` takes (holds secrets: never log it)."""
        config: dict[str, Any] = {"use_proto_plus": True}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                config[name] = value
        return config


class MicrosoftAdsSettings(BaseSettings):
    """Microsoft Advertising credentials from `MICROSOFT_ADS_*` variables; secrets print masked.

    `customer_id` is the manager (customer) id sent in every request's header; the
    accounts themselves are named by the budgets. `client_secret` is for a web app's
    registration, left out for a desktop/mobile one.
    """

    model_config = SettingsConfigDict(env_prefix="MICROSOFT_ADS_", extra="ignore")

    developer_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    customer_id: str | None = None
    environment: Literal["production", "sandbox"] = "production"

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return _unset_if_blank(value)

    @field_validator("customer_id")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _CUSTOMER_ID.fullmatch(value.strip()):
            raise ValueError(f"not a Microsoft Advertising customer id: {value!r}")
        return value.strip()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MicrosoftAdsSettings:
        """From `env` only when given (e.g. in tests), else from the process environment."""
        if env is None:
            return cls()
        upper = {k.upper(): v for k, v in env.items()}
        values: dict[str, Any] = {
            name: upper.get(f"MICROSOFT_ADS_{name.upper()}") for name in cls.model_fields
        }
        if values["environment"] is None:
            del values["environment"]
        return cls(**values)

    def missing(self) -> list[str]:
        """The variables still needed for a working client (names only)."""
        needed = {
            "MICROSOFT_ADS_DEVELOPER_TOKEN": self.developer_token,
            "MICROSOFT_ADS_CLIENT_ID": self.client_id,
            "MICROSOFT_ADS_REFRESH_TOKEN": self.refresh_token,
            "MICROSOFT_ADS_CUSTOMER_ID": self.customer_id,
        }
        return [name for name, value in needed.items() if value is None]

    def secrets(self) -> list[str]:
        """The secret values, for scrubbing them from error messages."""
        values = (self.developer_token, self.client_secret, self.refresh_token)
        return [v.get_secret_value() for v in values if v is not None]


class Transport(StrEnum):
    """How the data seam reaches Postgres."""

    direct = "direct"
    postgrest = "postgrest"


class Settings(BaseSettings):
    """Every setting Leadflow reads; secrets are `SecretStr` so they never print."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    home: Path = Field(default=Path(".leadflow"), alias="LEADFLOW_HOME")
    # The embedded server's port the first time it starts (kept afterwards); like Supabase's 54322.
    local_db_port: int = Field(default=54322, ge=1, le=65535, alias="LEADFLOW_DB_PORT")
    transport: Transport = Field(default=Transport.direct, alias="LEADFLOW_TRANSPORT")

    supabase_url: str | None = Field(default=None, alias="SUPABASE_URL")
    supabase_anon_key: SecretStr | None = Field(default=None, alias="SUPABASE_ANON_KEY")
    supabase_service_role_key: SecretStr | None = Field(
        default=None, alias="SUPABASE_SERVICE_ROLE_KEY"
    )
    jwt_secret: SecretStr | None = Field(default=None, alias="SUPABASE_JWT_SECRET")
    jwks_url: str | None = Field(default=None, alias="SUPABASE_JWKS_URL")
    jwt_audience: str = Field(default="authenticated", alias="SUPABASE_JWT_AUDIENCE")

    scheduler_secret: SecretStr | None = Field(default=None, alias="LEADFLOW_SCHEDULER_SECRET")
    # Or Cloud Scheduler's OIDC identity token, of this service account, for this audience.
    scheduler_oidc_audience: str | None = Field(
        default=None, alias="LEADFLOW_SCHEDULER_OIDC_AUDIENCE"
    )
    scheduler_oidc_email: str | None = Field(default=None, alias="LEADFLOW_SCHEDULER_OIDC_EMAIL")
    scheduler_oidc_jwks_url: str = Field(
        default="https://www.googleapis.com/oauth2/v3/certs",
        alias="LEADFLOW_SCHEDULER_OIDC_JWKS_URL",
    )

    # The orchestrator moves money only with credentials *and* this explicit switch.
    orchestrator_live: bool = Field(default=False, alias="LEADFLOW_ORCHESTRATOR_LIVE")
    orchestrator_mode: Mode = Field(default=Mode.dry_run, alias="LEADFLOW_ORCHESTRATOR_MODE")
    # Built after the sources above ran, so a Google Ads secret from Secrets Manager
    # (exported to the environment by leadflow.secrets) is already in place.
    google_ads: GoogleAdsSettings = Field(default_factory=GoogleAdsSettings)
    microsoft_ads: MicrosoftAdsSettings = Field(default_factory=MicrosoftAdsSettings)
    debug: bool = Field(default=False, alias="LEADFLOW_DEBUG")
    # Where alerts go: apprise URLs (slack://…, msteams://…, mailto://…, json://…), one per
    # target, separated by spaces or commas. A secret: URLs carry tokens.
    alert_urls: SecretStr | None = Field(default=None, alias="LEADFLOW_ALERT_URLS")

    # Deployed: ids (ARN or name) of AWS Secrets Manager secrets holding the values
    # above, read by `leadflow.secrets` (which also documents what each may hold).
    supabase_secret_id: str | None = Field(default=None, alias="LEADFLOW_SUPABASE_SECRET_ID")
    service_role_secret_id: str | None = Field(
        default=None, alias="LEADFLOW_SERVICE_ROLE_SECRET_ID"
    )
    jwt_secret_id: str | None = Field(default=None, alias="LEADFLOW_JWT_SECRET_ID")
    google_ads_secret_id: str | None = Field(default=None, alias="LEADFLOW_GOOGLE_ADS_SECRET_ID")
    microsoft_ads_secret_id: str | None = Field(
        default=None, alias="LEADFLOW_MICROSOFT_ADS_SECRET_ID"
    )
    scheduler_secret_id: str | None = Field(default=None, alias="LEADFLOW_SCHEDULER_SECRET_ID")
    alerts_secret_id: str | None = Field(default=None, alias="LEADFLOW_ALERTS_SECRET_ID")

    @field_validator(
        "database_url",
        "supabase_anon_key",
        "supabase_service_role_key",
        "jwt_secret",
        "scheduler_secret",
        "scheduler_oidc_audience",
        "scheduler_oidc_email",
        "alert_urls",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return _unset_if_blank(value)

    @property
    def scheduler_auth_configured(self) -> bool:
        """Whether any scheduler credential is set: a secret, or an OIDC audience and account."""
        return self.scheduler_secret is not None or bool(
            self.scheduler_oidc_audience and self.scheduler_oidc_email
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """A configured Secrets Manager secret wins over the plain environment variable."""
        from leadflow.secrets import SecretsManagerSource

        secrets = SecretsManagerSource(settings_cls)
        return init_settings, secrets, env_settings, dotenv_settings, file_secret_settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
