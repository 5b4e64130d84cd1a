"""The first admin of a new project, through supabase-py: Supabase Auth's admin API invites
the user, PostgREST gives the profile its role.

Leadflow reads admin rights from `profiles.role = 'admin'` (docs/DEPLOY.md, "Who is an
admin"); only the service role may set it. After the first, admins promote admins.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
from leadflow.errors import LeadflowError
from postgrest.exceptions import APIError
from supabase_auth.errors import AuthApiError, AuthError
from supabase_auth.types import InviteUserByEmailOptions

from supabase import ClientOptions, SupabaseException, create_client

#: Good enough to catch a typo or a swapped argument; Supabase Auth has the last word.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_first_admin(
    url: str, service_key: str, email: str, *, redirect_to: str | None = None
) -> str:
    """Invite `email` (Supabase Auth sends the link) and make that user the project's first
    admin; returns the user's id. Refused when the project has an admin already. Every
    failure is a `LeadflowError` of one line (never the service key)."""
    if not _EMAIL.match(email):
        raise LeadflowError(f"{email!r} is not an e-mail address")
    with _one_line(url, service_key):
        try:
            client = create_client(
                url,
                service_key,
                options=ClientOptions(auto_refresh_token=False, persist_session=False),
            )
        except SupabaseException as exc:
            raise LeadflowError(
                f"SUPABASE_URL {url!r} is not a project URL (https://<ref>.supabase.co): {exc}"
            ) from None
        admins: Any = (
            client.table("profiles").select("id").eq("role", "admin").limit(1).execute().data
        )
        if admins:
            raise LeadflowError("the project has an admin already; admins promote admins")
        options: InviteUserByEmailOptions = {"redirect_to": redirect_to} if redirect_to else {}
        try:
            user = client.auth.admin.invite_user_by_email(email, options).user
        except AuthApiError as exc:
            raise LeadflowError(f"Supabase Auth refused to invite {email}: {exc.message}") from None
        if user is None:
            raise LeadflowError(f"Supabase Auth answered the invitation of {email} without a user")
        client.table("profiles").upsert({"id": user.id, "email": email, "role": "admin"}).execute()
        return user.id


@contextlib.contextmanager
def _one_line(url: str, service_key: str) -> Iterator[None]:
    """What supabase-py raises, as one line naming what to check."""
    try:
        yield
    except APIError as exc:
        status = f" ({exc.code})" if exc.code else ""
        hint = (
            ": check SUPABASE_SERVICE_ROLE_KEY"
            if str(exc.code) in ("401", "403", "42501", "PGRST301")
            else ""
        )
        message = _scrub(str(exc.message or exc), service_key)
        raise LeadflowError(f"the project's database refused{status}: {message}{hint}") from None
    except AuthError as exc:
        message = _scrub(str(exc.message), service_key)
        raise LeadflowError(f"Supabase Auth failed: {message}") from None
    except httpx.HTTPError as exc:
        message = _scrub(str(exc) or type(exc).__name__, service_key)
        raise LeadflowError(f"cannot reach SUPABASE_URL ({url}): {message}") from None


def _scrub(text: str, secret: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first.replace(secret, "[redacted]") if secret else first
