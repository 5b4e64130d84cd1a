"""The one seam between Python and the database: `Database.rpc(name, args)`.

Python never touches tables. It calls SQL functions by name with named
arguments, as the caller (a verified JWT's claims), through one of two
transports that behave alike: PostgREST over HTTP in production, or psycopg
straight to Postgres for local runs and tests.
"""

from __future__ import annotations

from typing import Any, Protocol

from leadflow.db.caller import Caller
from leadflow.db.errors import RpcError, http_status

__all__ = ["Caller", "Database", "RpcError", "Transport", "http_status"]


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

    def close(self) -> None:
        """Release the transport's connections."""
        self.transport.close()
