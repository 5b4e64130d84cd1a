"""`leadflow token` and `leadflow serve`: a function on this machine, and a JWT to call it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from leadflow.errors import LeadflowError
from leadflow.settings import get_settings

from leadflow_tools.cli.app import JsonOption, connect_errors, emit_json, where
from leadflow_tools.local import database_url
from leadflow_tools.schema import check_current

SERVABLE = ("api", "aggregate", "plan", "orchestrate")


def _local_jwt_secret() -> tuple[str, Path, bool]:
    """The local API's JWT secret under LEADFLOW_HOME: (secret, file, made now)."""
    import secrets

    path = get_settings().home / "jwt_secret"
    if path.is_file() and path.read_text().strip():
        path.chmod(0o600)  # a file made (or copied) readable by others is closed again
        return path.read_text().strip(), path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.chmod(0o600)  # touch keeps an existing file's mode
    path.write_text(secret + "\n")
    return secret, path, True


def _jwt_secret() -> str:
    """SUPABASE_JWT_SECRET, else the local one (made if needed)."""
    configured = get_settings().jwt_secret
    if configured is not None:
        return configured.get_secret_value()
    return _local_jwt_secret()[0]


def token_command(
    email: Annotated[str, typer.Option("--email", help="A user in auth.users of the database.")],
    hours: Annotated[int, typer.Option("--hours", min=1, max=24 * 30, help="Valid for.")] = 24,
    as_json: JsonOption = False,
) -> None:
    """Print a JWT for a user of the local database, for `leadflow serve api`.

    Signed with SUPABASE_JWT_SECRET, or the local secret under LEADFLOW_HOME.

    Example: curl -H "Authorization: Bearer $(leadflow token --email admin@leadflow.example)" \\
                  http://127.0.0.1:8080/api/lead-segments
    """
    import time

    import jwt

    settings = get_settings()
    with database_url(settings) as url, connect_errors(url):
        check_current(url, where(url))
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "select id::text from auth.users where lower(email) = lower(%s)", (email,)
            ).fetchone()
            admins = [
                r[0]
                for r in conn.execute(
                    "select u.email from auth.users u join public.profiles p on p.id = u.id"
                    " where p.role = 'admin' order by u.email limit 3"
                )
            ]
    if row is None:
        hint = f"; admins here: {', '.join(admins)}" if admins else ""
        raise LeadflowError(f"no user with e-mail {email!r} in auth.users of {where(url)}{hint}")
    now = int(time.time())
    claims = {
        "sub": row[0],
        "email": email,
        "role": "authenticated",
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + hours * 3600,
    }
    token = jwt.encode(claims, _jwt_secret(), algorithm="HS256")
    if as_json:
        emit_json({"token": token, "sub": row[0], "expires_at": claims["exp"]})
    else:
        sys.stdout.write(token + "\n")


def serve_command(
    function: Annotated[str, typer.Argument(help="api, aggregate, plan or orchestrate.")],
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Loopback port; 0 picks a free one.")
    ] = 8080,
    as_json: JsonOption = False,
) -> None:
    """Serve a function on 127.0.0.1 with functions-framework, on the local database.

    The same as `functions-framework --target <name> --source functions/<name>/main.py`
    with DATABASE_URL set to DATABASE_URL or the embedded server (at the latest
    migration). The API takes tokens signed with SUPABASE_JWT_SECRET; without one it
    makes a local secret under LEADFLOW_HOME (printed when made) and
    `leadflow token --email EMAIL` signs with it. Jobs want POST with
    `Authorization: Bearer $LEADFLOW_SCHEDULER_SECRET`.

    Example: leadflow serve api --port 8080
    """
    import os
    import signal

    import functions_framework
    from werkzeug.serving import make_server

    if function not in SERVABLE:
        raise LeadflowError(f"cannot serve {function!r}: choose one of {', '.join(SERVABLE)}")
    roots = (Path.cwd(), Path(__file__).resolve().parents[3])
    candidates = (root / "functions" / function / "main.py" for root in roots)
    source = next((path for path in candidates if path.is_file()), None)
    if source is None:
        raise LeadflowError(f"functions/{function}/main.py not found; run this in the project root")
    settings = get_settings()
    notes: dict[str, Any] = {}
    if function == "api" and settings.jwt_secret is None and not settings.jwks_url:
        secret, path, made = _local_jwt_secret()
        os.environ["SUPABASE_JWT_SECRET"] = secret
        notes["jwt_secret_file"] = str(path)
        if made:
            notes["jwt_secret"] = secret  # printed once, when made (like `supabase status`)
    with database_url(settings) as url, connect_errors(url):
        check_current(url, where(url))
        # The served function reads its settings (as deployed) from the environment.
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        wsgi = functions_framework.create_app(target=function, source=str(source))
        server = make_server("127.0.0.1", port, wsgi, threaded=True)

        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        address = f"http://127.0.0.1:{server.server_port}/"
        if as_json:
            sys.stdout.write(json.dumps({"function": function, "url": address, **notes}) + "\n")
        else:
            sys.stdout.write(f"serving {function} on {address}\n")
            if "jwt_secret" in notes:
                sys.stdout.write(
                    f"made a local JWT secret (kept in {notes['jwt_secret_file']}): "
                    f"{notes['jwt_secret']}\n"
                )
            elif "jwt_secret_file" in notes:
                sys.stdout.write(f"JWT secret: the local one in {notes['jwt_secret_file']}\n")
            if function == "api":
                sys.stdout.write("a token: leadflow token --email EMAIL\n")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
