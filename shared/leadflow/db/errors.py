"""Database errors as PostgREST reports them: SQLSTATE and an HTTP status.

The one place that translates a database's refusal into an `RpcError`: from psycopg (the
direct transport, `from_psycopg`) and from PostgREST's answer (`from_response`), with the
SQLSTATE-to-status table PostgREST uses. Callers branch on the named codes below.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from leadflow.errors import LeadflowError

if TYPE_CHECKING:
    import httpx
    import psycopg

#: SQLSTATEs the jobs act on: a run's lease was taken over (its fencing token is stale), a
#: second run of the same job and day, a day refused as a parameter.
LEASE_TAKEN_OVER = "PT409"
UNIQUE_VIOLATION = "23505"
INVALID_PARAMETER = "22023"

_MAX_DETAILS = 1000  # an error page from a proxy is not worth more in an error

#: The one schema whose functions the data seam may call (PostgREST's `db-schemas`).
EXPOSED_SCHEMA = "public"

# Function names we call: plain lower-case identifiers, so a name can neither
# escape the URL path nor need quoting in SQL.
_FUNCTION_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Exact SQLSTATEs first, then classes (the first two characters), as PostgREST
# (src/PostgREST/Error.hs, `mapSQLtoHTTP`) maps them.
_EXACT: dict[str, int] = {
    "23503": 409,  # foreign_key_violation
    "23505": 409,  # unique_violation
    "25006": 405,  # read_only_sql_transaction
    "42883": 404,  # undefined_function
    "42P01": 404,  # undefined_table
    "42P17": 500,  # infinite_recursion
    "53400": 500,  # configuration_limit_exceeded
    "57P01": 503,  # admin_shutdown
    "P0001": 400,  # raise_exception
    "22023": 400,  # invalid_parameter_value
}
_CLASSES: dict[str, int] = {
    "08": 503,  # connection exception
    "09": 500,  # triggered action exception
    "0L": 403,  # invalid grantor
    "0P": 403,  # invalid role specification
    "25": 500,  # invalid transaction state
    "28": 403,  # invalid authorization specification
    "2D": 500,  # invalid transaction termination
    "38": 500,  # external routine exception
    "39": 500,  # external routine invocation exception
    "3B": 500,  # savepoint exception
    "40": 500,  # transaction rollback
    "53": 503,  # insufficient resources
    "54": 500,  # program limit exceeded
    "55": 500,  # object not in prerequisite state
    "57": 500,  # operator intervention (57014 statement timeout included)
    "58": 500,  # system error
    "F0": 500,  # configuration file error
    "HV": 500,  # foreign data wrapper error
    "P0": 500,  # PL/pgSQL error
    "XX": 500,  # internal error
}


def http_status(sqlstate: str, *, role: str | None, message: str = "") -> int:
    """The HTTP status PostgREST answers for a SQLSTATE raised while acting as `role`.

    `message` matters for two SQLSTATEs only, as in PostgREST: 21000 from
    pg-safeupdate ("… requires a WHERE clause") is the client's fault, and 22023
    "role … does not exist" means the JWT named an unknown role.
    """
    if sqlstate == "42501":  # insufficient_privilege
        return 401 if role in (None, "anon") else 403
    if sqlstate.startswith("PT"):  # `raise … using errcode = 'PT404'` picks the status
        digits = sqlstate[2:]
        return int(digits) if len(digits) == 3 and digits.isdigit() else 500
    if sqlstate == "21000":  # cardinality_violation
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023" and message.startswith("role") and message.endswith("does not exist"):
        return 401
    if sqlstate in _EXACT:
        return _EXACT[sqlstate]
    return _CLASSES.get(sqlstate[:2], 400)


class RpcError(LeadflowError):
    """A refused or failed RPC call, carrying the database's SQLSTATE.

    `message`, `details` and `hint` come from the database; callers that show
    errors to users decide what of it they may see.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint

    def as_dict(self) -> dict[str, Any]:
        """The error as PostgREST's JSON body."""
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        }


def is_function_name(name: str) -> bool:
    """Whether `name` is a function name the data seam will call."""
    return bool(_FUNCTION_NAME.match(name))


def function_not_found(name: str, args: dict[str, Any]) -> RpcError:
    """PostgREST's answer for a function it does not know with these argument names."""
    params = ", ".join(sorted(args))
    return RpcError(
        404,
        "PGRST202",
        f"Could not find the function {EXPOSED_SCHEMA}.{name}({params}) in the schema cache",
    )


def raised_pgrst(message: str, detail: str | None) -> RpcError:
    """The error of `raise sqlstate 'PGRST' using message = '{json}', detail = '{json}'`.

    PostgREST answers such a raise with the status from `detail` and the body
    from `message`, letting SQL choose both; unparsable JSON is its PGRST121.
    """
    try:
        body = json.loads(message)
        status = json.loads(detail or "")["status"]
        code, text = body["code"], body["message"]
        if not (isinstance(status, int) and isinstance(code, str) and isinstance(text, str)):
            raise TypeError(status)
    except (ValueError, TypeError, KeyError):
        return RpcError(
            500,
            "PGRST121",
            "Could not parse JSON in the RAISE SQLSTATE 'PGRST' error",
            "Invalid JSON value for MESSAGE or DETAIL",
        )
    details, hint = body.get("details"), body.get("hint")
    return RpcError(
        status,
        code,
        text,
        details if isinstance(details, str) else None,
        hint if isinstance(hint, str) else None,
    )


def from_psycopg(exc: psycopg.Error, role: str) -> RpcError:
    """The error PostgREST would answer for `exc`, raised by a call made as `role`."""
    sqlstate = exc.sqlstate or "08000"
    diag = exc.diag
    message = diag.message_primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if sqlstate == "PGRST":
        return raised_pgrst(message, diag.message_detail)
    return RpcError(
        http_status(sqlstate, role=role, message=message),
        sqlstate,
        message,
        diag.message_detail,
        diag.message_hint,
    )


def from_response(response: httpx.Response, secrets: tuple[str, ...]) -> RpcError:
    """PostgREST's error body and status; a gateway's non-PostgREST error as best we can;
    never one of `secrets` (the api key, the caller's token) should a gateway echo them."""
    from postgrest.exceptions import APIErrorFromJSON, generate_default_error_message
    from pydantic import ValidationError

    fallback = generate_default_error_message(response)
    try:
        body = APIErrorFromJSON.model_validate_json(response.content)
    except ValidationError:
        body = None
    if body is None or (body.code is None and body.message is None):
        code, message, details, hint = (
            fallback["code"],
            fallback["message"],
            fallback["details"],
            None,
        )
    else:
        code = body.code or fallback["code"]
        message = body.message or fallback["message"]
        details = body.details
        hint = body.hint
    if details is not None and not isinstance(details, str):
        details = json.dumps(details)
    return RpcError(
        response.status_code,
        str(code),
        _scrub(str(message), secrets),
        _scrub(details[:_MAX_DETAILS], secrets) if details else None,
        _scrub(hint, secrets) if hint else None,
    )


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without the api key or the caller's token, should a gateway echo them back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
