"""Secrets from AWS Secrets Manager when deployed, from the environment when run locally.

A deployed function is given, instead of secret values, the id (ARN or name) of
each Secrets Manager secret it may read, in a `LEADFLOW_*_SECRET_ID` variable;
its IAM role can read those secrets and no others. A secret is a JSON object
whose keys are the environment variables it stands for, e.g.
`{"SUPABASE_ANON_KEY": "…"}`; a secret standing for one variable may also hold
the bare value. Where no id is set, the variable itself is read, as before.

Values are fetched once per process, so a warm Lambda sandbox does not call
Secrets Manager again, and are held as `SecretStr` (`**********` in any repr,
log line or traceback). They are also exported to the process environment,
where `Settings.google_ads` (built after this source ran) reads `GOOGLE_ADS_*`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from leadflow.errors import LeadflowError
from leadflow.log import logger


@dataclass(frozen=True)
class SecretSource:
    """One secret: the variable naming it and the variables it may hold."""

    id_variable: str
    names: frozenset[str] = frozenset()
    prefix: str | None = None

    def allows(self, name: str) -> bool:
        """Whether this secret may hold the variable `name`."""
        return name in self.names or (self.prefix is not None and name.startswith(self.prefix))


#: Split so that each function's role can be given exactly the secrets it needs:
#: the API never sees the service-role key, the jobs never see the JWT secret.
SOURCES: tuple[SecretSource, ...] = (
    SecretSource("LEADFLOW_SUPABASE_SECRET_ID", frozenset({"SUPABASE_URL", "SUPABASE_ANON_KEY"})),
    SecretSource("LEADFLOW_SERVICE_ROLE_SECRET_ID", frozenset({"SUPABASE_SERVICE_ROLE_KEY"})),
    SecretSource("LEADFLOW_JWT_SECRET_ID", frozenset({"SUPABASE_JWT_SECRET"})),
    SecretSource("LEADFLOW_GOOGLE_ADS_SECRET_ID", prefix="GOOGLE_ADS_"),
    SecretSource("LEADFLOW_MICROSOFT_ADS_SECRET_ID", prefix="MICROSOFT_ADS_"),
    SecretSource("LEADFLOW_SCHEDULER_SECRET_ID", frozenset({"LEADFLOW_SCHEDULER_SECRET"})),
    SecretSource("LEADFLOW_ALERTS_SECRET_ID", frozenset({"LEADFLOW_ALERT_URLS"})),
)

ClientFactory = Callable[[str | None], Any]

_lock = threading.Lock()
_cache: dict[str, dict[str, SecretStr]] = {}
_clients: dict[str | None, Any] = {}


class _NoBodies(logging.Filter):
    """botocore logs every request's parameters and every response body at DEBUG, which for
    GetSecretValue's answer and PutSecretValue's request is the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(
            ("Response body", "Response headers", "Making request for")
        )


logging.getLogger("botocore.parsers").addFilter(_NoBodies())
logging.getLogger("botocore.endpoint").addFilter(_NoBodies())


def configured(environ: Mapping[str, str]) -> dict[SecretSource, str]:
    """The sources whose id variable is set (non-blank) in `environ`, with the id."""
    upper = {key.upper(): value for key, value in environ.items()}
    return {
        source: upper[source.id_variable].strip()
        for source in SOURCES
        if upper.get(source.id_variable, "").strip()
    }


def load(
    environ: Mapping[str, str] | None = None, *, client_factory: ClientFactory | None = None
) -> dict[str, SecretStr]:
    """The values of every configured secret, by variable name; fetched once per process."""
    values: dict[str, SecretStr] = {}
    for source, secret_id in configured(os.environ if environ is None else environ).items():
        with _lock:
            cached = _cache.get(secret_id)
            if cached is None:
                cached = _fetch(source, secret_id, client_factory or _client)
                _cache[secret_id] = cached
        values.update(cached)
    return values


def export(
    values: Mapping[str, SecretStr], environ: MutableMapping[str, str] | None = None
) -> None:
    """Put `values` into the environment, for code that reads variables (Google Ads settings)."""
    target = os.environ if environ is None else environ
    for name, value in values.items():
        target[name] = value.get_secret_value()


def store(
    name: str,
    value: SecretStr,
    environ: Mapping[str, str] | None = None,
    *,
    client_factory: ClientFactory | None = None,
) -> bool:
    """Write `value` for the variable `name` into the configured secret that may hold it: the
    secret is read afresh, `name` replaced and the object put back as the secret's new
    version (its other variables kept). For a credential the provider rotates (Microsoft
    Advertising's refresh token). False when no configured secret may hold `name` (a local
    run: the environment cannot be written back); LeadflowError, naming the secret's variable
    and the error code only, when the secret cannot be read or written."""
    from botocore.exceptions import BotoCoreError, ClientError

    source, secret_id = next(
        (
            (source, secret_id)
            for source, secret_id in configured(os.environ if environ is None else environ).items()
            if source.allows(name)
        ),
        (None, None),
    )
    if source is None or secret_id is None:
        return False
    where = f"the secret that {source.id_variable} names"
    client = (client_factory or _client)(_region(secret_id))
    with _lock:
        try:
            text = client.get_secret_value(SecretId=secret_id).get("SecretString")
            try:
                data = json.loads(text) if isinstance(text, str) else None
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise LeadflowError(f"cannot store {name} in {where}: not a JSON object")
            data[name] = value.get_secret_value()
            client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(data))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise LeadflowError(f"cannot store {name} in {where}: {code}") from None
        except BotoCoreError as exc:
            raise LeadflowError(f"cannot store {name} in {where}: {type(exc).__name__}") from None
        cached = _cache.get(secret_id)
        if cached is not None:
            cached[name] = value
    logger.info("secret stored", extra={"source": source.id_variable, "names": [name]})
    return True


def clear_cache() -> None:
    """Forget fetched values and clients (tests; a rotated secret in a long-lived process)."""
    with _lock:
        _cache.clear()
        _clients.clear()


def _client(region: str | None) -> Any:
    client = _clients.get(region)
    if client is None:
        import boto3

        client = boto3.session.Session().client("secretsmanager", region_name=region)
        _clients[region] = client
    return client


def _region(secret_id: str) -> str | None:
    """The region of a secret ARN (`arn:aws:secretsmanager:<region>:…`); None for a name."""
    parts = secret_id.split(":")
    if len(parts) > 4 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return None


def _fetch(
    source: SecretSource, secret_id: str, client_factory: ClientFactory
) -> dict[str, SecretStr]:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"the secret that {source.id_variable} names"
    try:
        response = client_factory(_region(secret_id)).get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise LeadflowError(f"cannot read {where}: {code}") from None
    except BotoCoreError as exc:
        raise LeadflowError(f"cannot read {where}: {type(exc).__name__}") from None
    text = response.get("SecretString")
    if not isinstance(text, str) or not text.strip():
        raise LeadflowError(f"{where} has no text value (a binary secret is not supported)")
    values = _parse(source, text, where)
    logger.info("secrets loaded", extra={"source": source.id_variable, "names": sorted(values)})
    return values


def _parse(source: SecretSource, text: str, where: str) -> dict[str, SecretStr]:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if len(source.names) == 1 and source.prefix is None:
            (name,) = source.names
            return {name: SecretStr(text.strip())}
        raise LeadflowError(f"{where} must be a JSON object of variable names to values")
    unexpected = sorted(str(key) for key in data if not source.allows(str(key)))
    if unexpected:
        # Names only: a secret holding more than this function needs is a setup mistake.
        raise LeadflowError(f"{where} holds variables it should not: {', '.join(unexpected)}")
    not_text = sorted(key for key, value in data.items() if not isinstance(value, str))
    if not_text:
        raise LeadflowError(f"{where} must hold text values; not: {', '.join(not_text)}")
    return {key: SecretStr(value) for key, value in data.items() if value.strip()}


class SecretsManagerSource(PydanticBaseSettingsSource):
    """A settings source: values from the secrets that `LEADFLOW_*_SECRET_ID` name.

    Placed before the plain environment, so that a configured secret wins; with
    no id set it reads nothing and never imports boto3.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` answers for all fields at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values = load()
        if not values:
            return {}
        export(values)
        by_name = {name.upper(): value for name, value in values.items()}
        found: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            key = (field.alias or name).upper()
            if key in by_name:
                found[field.alias or name] = by_name[key].get_secret_value()
        return found
