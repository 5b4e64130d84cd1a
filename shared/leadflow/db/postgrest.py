"""The PostgREST transport: RPC calls over HTTP to Supabase's REST API, with postgrest-py.

Per call: `POST {url}/rest/v1/rpc/<name>` with the named arguments as a JSON
object, or, read only, `GET` with them in the query string (PostgREST runs a
GET in a read-only transaction). `apikey` goes with every request;
`Authorization: Bearer <token>` only with the caller's own token and only on
that call's request. The shared client never holds a user's token:
postgrest-py's `.auth()` would set it on the client, and the next request,
made for someone else, would carry it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from postgrest import DEFAULT_POSTGREST_CLIENT_HEADERS, SyncPostgrestClient
from postgrest._sync.request_builder import send_with_retry

from leadflow.db.caller import Caller
from leadflow.db.errors import (
    EXPOSED_SCHEMA,
    RpcError,
    from_response,
    function_not_found,
    is_function_name,
)
from leadflow.errors import LeadflowError

REST_PATH = "/rest/v1"


class PostgrestTransport:
    """Calls SQL functions through PostgREST, one HTTP request per call.

    The connection pool (one `httpx.Client`) is shared by all calls; the
    headers that say who is calling are built for each request.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retry: bool = True,
        http_client: httpx.Client | None = None,
    ) -> None:
        """`url` is the Supabase project URL; `retry` lets postgrest-py retry read-only calls.

        postgrest-py retries a GET up to three times (1, 2, 4 s apart) after a
        network failure or a 503/520; writes are never retried.
        """
        self._secrets = (api_key,)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, http2=True)
        try:
            self._client = SyncPostgrestClient(
                url.rstrip("/") + REST_PATH,
                schema=EXPOSED_SCHEMA,
                headers={**DEFAULT_POSTGREST_CLIENT_HEADERS, "apikey": api_key},
                http_client=self._http,
                retry_enabled=retry,
            )
        except ValueError:
            self.close()
            raise LeadflowError("the Supabase URL must be an http:// or https:// URL") from None

    def close(self) -> None:
        """Close the connection pool, unless it was handed in."""
        if self._owns_http:
            self._http.close()

    def call(self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool) -> Any:
        """Run `public.<name>(**args)` as `caller`: one request, one transaction in PostgREST."""
        return _result(self._send(name, args, caller, read_only=read_only))

    def call_json(
        self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool
    ) -> str | None:
        """As `call`, but PostgREST's JSON body as it came (None for a void function)."""
        response = self._send(name, args, caller, read_only=read_only)
        if response.status_code == 204 or not response.content:
            return None
        return response.text

    def _send(
        self, name: str, args: dict[str, Any], caller: Caller, *, read_only: bool
    ) -> httpx.Response:
        if not is_function_name(name):
            raise function_not_found(name, args)
        if not caller.token and caller.role != "anon":
            # Without a token PostgREST would run the call as anon: refuse
            # rather than silently act with less (or other) rights than meant.
            raise RpcError(
                401, "PGRST302", f"a caller acting as {caller.role!r} has no token to send"
            )
        params = _as_json(args)
        if read_only:
            # A query string cannot carry SQL NULL (`a=` is the empty string):
            # leave such arguments out so that the parameter's default applies.
            params = {key: value for key, value in params.items() if value is not None}
        builder = self._client.rpc(name, params, get=read_only)
        if caller.token:
            # This request's own copy of the headers, never the shared client's.
            builder.request.headers["Authorization"] = f"Bearer {caller.token}"
        secrets = (*self._secrets, caller.token or "")
        try:
            response = send_with_retry(builder.request)
        except httpx.TimeoutException:
            raise RpcError(503, "08000", "timed out waiting for the database API") from None
        except httpx.HTTPError as exc:
            # The message of a transport error may name the host; the class does not.
            raise RpcError(
                503, "08000", f"could not reach the database API ({type(exc).__name__})"
            ) from None
        if response.is_success:
            return response
        raise from_response(response, secrets)


def _as_json(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as plain JSON values, encoded as the direct transport encodes them."""
    encoded: dict[str, Any] = json.loads(json.dumps(args, default=str))
    return encoded


def _result(response: httpx.Response) -> Any:
    """The function's value as PostgREST answers it; None for a void function (204)."""
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise RpcError(
            502, "08P01", "the database API answered with a body that is not JSON"
        ) from None
