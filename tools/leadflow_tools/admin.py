"""The first admin of a new project, through supabase-py: Supabase Auth's admin API invites
the user, PostgREST gives the profile its role.

Leadflow reads admin rights from `profiles.role = 'admin'` (docs/DEPLOY.md, "Who is an
admin"); only the service role may set it. After the first, admins promote admins.
"""

from __future__ import annotations

from typing import Any

from leadflow.errors import LeadflowError
from supabase_auth.errors import AuthApiError
from supabase_auth.types import InviteUserByEmailOptions

from supabase import ClientOptions, create_client


def create_first_admin(
    url: str, service_key: str, email: str, *, redirect_to: str | None = None
) -> str:
    """Invite `email` (Supabase Auth sends the link) and make that user the project's first
    admin; returns the user's id. Refused when the project has an admin already."""
    client = create_client(
        url,
        service_key,
        options=ClientOptions(auto_refresh_token=False, persist_session=False),
    )
    admins: Any = client.table("profiles").select("id").eq("role", "admin").limit(1).execute().data
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
