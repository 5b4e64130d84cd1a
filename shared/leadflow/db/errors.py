"""Database errors as PostgREST reports them: SQLSTATE and an HTTP status."""

from __future__ import annotations

from typing import Any

from leadflow.errors import LeadflowError

# Exact SQLSTATEs first, then classes (the first two characters), as PostgREST maps them.
_EXACT: dict[str, int] = {
    "23503": 409,  # foreign_key_violation
    "23505": 409,  # unique_violation
    "25006": 405,  # read_only_sql_transaction
    "42883": 404,  # undefined_function
    "42P01": 404,  # undefined_table
    "42P17": 500,  # infinite_recursion
    "P0001": 400,  # raise_exception
    "22023": 400,  # invalid_parameter_value
    "57014": 504,  # query_canceled (statement timeout)
}
_CLASSES: dict[str, int] = {
    "08": 503,  # connection exception
    "09": 500,  # triggered action exception
    "0L": 403,  # invalid grantor
    "0P": 403,  # invalid role specification
    "25": 500,  # invalid transaction state
    "28": 403,  # invalid authorization specification
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,  # transaction rollback
    "53": 503,  # insufficient resources
    "54": 500,  # program limit exceeded
    "55": 500,
    "57": 500,  # operator intervention
    "58": 500,  # system error
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,  # internal error
}


def http_status(sqlstate: str, *, role: str | None) -> int:
    """The HTTP status PostgREST answers for a SQLSTATE raised while acting as `role`."""
    if sqlstate == "42501":  # insufficient_privilege
        return 401 if role in (None, "anon") else 403
    if len(sqlstate) == 5 and sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
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
