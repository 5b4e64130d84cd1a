"""What a route needs from its request: the verified caller and the database seam."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, request
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from leadflow.api.auth import TokenVerifier
from leadflow.db import Caller, Database
from leadflow.envelope import ApiError

STATE_KEY = "leadflow.api"


class RawJson(str):
    """A response body the database wrote as JSON, sent as it is (never parsed here)."""

    __slots__ = ()


@dataclass
class ApiState:
    """The app's long-lived parts: token verifier and (lazily built) database."""

    verifier: TokenVerifier
    database_factory: Callable[[], Database]
    _database: Database | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def database(self) -> Database:
        """The shared database seam, built on first use (not at import, not per request)."""
        database = self._database
        if database is None:
            with self._lock:
                if self._database is None:
                    self._database = self.database_factory()
                database = self._database
        return database

    def close(self) -> None:
        """Release the database's connections."""
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None


def state() -> ApiState:
    """The current app's state."""
    value: ApiState = current_app.extensions[STATE_KEY]
    return value


def caller() -> Caller:
    """The request's verified caller (anon without an Authorization header)."""
    if "caller" not in g:
        g.caller = state().verifier.caller(request.headers.get("Authorization"))
    current: Caller = g.caller
    return current


def rpc(name: str, args: dict[str, Any] | None = None, *, read_only: bool) -> Any:
    """Call SQL function `public.<name>` as the request's caller; raises `RpcError`."""
    who = caller()
    return (
        state()
        .database()
        .rpc(name, to_jsonable_python(args or {}), caller=who, read_only=read_only)
    )


def rpc_passthrough(
    name: str, args: dict[str, Any] | None, *, model: type[BaseModel], read_only: bool = True
) -> RawJson | BaseModel:
    """A call whose JSON answer is the response body, passed through as text.

    Reads and writes alike (`read_only=False` for a write), so a segment's numbers
    look the same after a PATCH as on a GET: the database's euros with cents.

    Only for functions whose answer has exactly the shape of `model` (the SQL
    builds it key by key; `tests/core/test_api_models.py` validates every route's
    answer, role by role, against its model). A transport that cannot pass
    text through gets the answer parsed and validated instead.
    """
    who = caller()
    database = state().database()
    jsonable = to_jsonable_python(args or {})
    if not database.passes_json:
        return model.model_validate(database.rpc(name, jsonable, caller=who, read_only=read_only))
    text = database.rpc_json(name, jsonable, caller=who, read_only=read_only)
    if text is None or not text.startswith("{"):
        # Every passed-through answer is an object; anything else is our bug.
        raise ApiError(500, "internal_error", "something went wrong on our side")
    return RawJson(text)
