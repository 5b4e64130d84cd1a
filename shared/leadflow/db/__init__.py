"""The one seam between Python and the database: `Database.rpc(name, args)`.

Python never touches tables. It calls SQL functions by name with named
arguments, as the caller (a verified JWT's claims), through one of two
transports that behave alike: PostgREST over HTTP in production, or psycopg
straight to Postgres for local runs and tests.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import SecretStr

from leadflow.db.caller import Caller
from leadflow.db.errors import RpcError, http_status
from leadflow.errors import LeadflowError
from leadflow.settings import Settings

__all__ = [
    "Caller",
    "Database",
    "RpcError",
    "Transport",
    "from_settings",
    "http_status",
    "service_caller",
]


class Transport(Protocol):
    """Carries one RPC call to the database, as PostgREST would."""

    def call(self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool) -> Any:
        """Run `name(**args)` as `caller` in one transaction and return its JSON result."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class Database:
    """Calls SQL functions through a transport, as a given caller."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def rpc(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        caller: Caller,
        read_only: bool = False,
    ) -> Any:
        """Call the SQL function `public.<name>` with named `args`; raises `RpcError`."""
        return self.transport.call(name, dict(args or {}), caller, read_only=read_only)

    def rpc_json(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        caller: Caller,
        read_only: bool = False,
    ) -> str | None:
        """As `rpc`, but the function's JSON answer as text, without parsing it (None: void).

        Only when `passes_json`; otherwise the transport has no way to.
        """
        call_json = getattr(self.transport, "call_json", None)
        if call_json is None:
            raise TypeError(f"{type(self.transport).__name__} cannot pass JSON text through")
        text: str | None = call_json(name, dict(args or {}), caller, read_only=read_only)
        return text

    @property
    def passes_json(self) -> bool:
        """Whether the transport can hand back a function's JSON answer as text (`rpc_json`)."""
        return callable(getattr(self.transport, "call_json", None))

    def close(self) -> None:
        """Release the transport's connections."""
        self.transport.close()


def from_settings(settings: Settings, *, database_url: str | None = None) -> Database:
    """The data seam that `LEADFLOW_TRANSPORT` names, built from the settings.

    postgrest: `SUPABASE_URL` and `SUPABASE_ANON_KEY` (the apikey of every
    request; who calls is the Caller's token). direct: `database_url`, else
    `DATABASE_URL`. Only the chosen transport's module is imported.
    """
    if settings.transport == "postgrest":
        from leadflow.db.postgrest import PostgrestTransport

        url, key = settings.supabase_url, _secret(settings.supabase_anon_key)
        if not url or not key:
            raise _missing(settings, SUPABASE_URL=url, SUPABASE_ANON_KEY=key)
        return Database(PostgrestTransport(url, key))

    from leadflow.db.direct import DirectTransport

    database_url = database_url or _secret(settings.database_url)
    if not database_url:
        raise _missing(settings, DATABASE_URL=None)
    return Database(DirectTransport(database_url))


def service_caller(settings: Settings) -> Caller:
    """The jobs' caller: service_role; over PostgREST its token is the service-role key."""
    if settings.transport == "postgrest":
        key = _secret(settings.supabase_service_role_key)
        if not key:
            raise _missing(settings, SUPABASE_SERVICE_ROLE_KEY=None)
        return Caller.service(token=key)
    return Caller.service()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _missing(settings: Settings, **values: str | None) -> LeadflowError:
    """The error naming every unset (or empty) environment variable the transport needs."""
    names = ", ".join(name for name, value in values.items() if not value)
    return LeadflowError(f"LEADFLOW_TRANSPORT={settings.transport.value} needs {names} to be set")
