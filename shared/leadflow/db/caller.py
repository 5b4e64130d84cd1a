"""Who an RPC call acts for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

API_ROLES = frozenset({"anon", "authenticated", "service_role"})


@dataclass(frozen=True)
class Caller:
    """A caller's verified JWT claims and, for PostgREST, the token itself.

    The direct transport sets `claims` in the database as PostgREST would;
    the PostgREST transport sends `token` and lets PostgREST verify it.
    """

    claims: dict[str, Any] = field(default_factory=dict)
    token: str | None = field(default=None, repr=False)

    @property
    def role(self) -> str:
        """The database role the call runs as: the JWT's `role`, anon without one."""
        role = self.claims.get("role")
        return role if isinstance(role, str) and role else "anon"

    @classmethod
    def anonymous(cls) -> Caller:
        """No JWT at all: PostgREST runs such a request as anon."""
        return cls()

    @classmethod
    def service(cls, token: str | None = None) -> Caller:
        """The jobs' identity: the service role (its key is the token for PostgREST)."""
        return cls(claims={"role": "service_role"}, token=token)
