"""Which Postgres a local run uses: `DATABASE_URL`, or the embedded server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from leadflow.settings import Settings

from leadflow_tools.embedded import running_server

LOCAL_DATABASE = "leadflow"


def create_database(
    admin_url: str, name: str, *, template: str | None = None, replace: bool = False
) -> None:
    """Create database `name` on the server of `admin_url`: empty, or a file copy of
    `template`; with `replace`, whatever had that name is dropped first."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if replace:
            conn.execute(f'drop database if exists "{name}" with (force)')
        if template:
            conn.execute(f'create database "{name}" template "{template}" strategy file_copy')
        else:
            conn.execute(f'create database "{name}"')


def drop_database(admin_url: str, *names: str) -> None:
    """Drop the databases `names` on the server of `admin_url` where they exist, connections
    and all (one connection for them all)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'drop database if exists "{name}" with (force)')


def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server of `admin_url` unless it exists."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
    if not exists:
        create_database(admin_url, name)


@contextlib.contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """Yield a libpq URL: `DATABASE_URL` if set, else the embedded server in LEADFLOW_HOME.

    The embedded server is started when needed and stopped again afterwards if
    this call started it.
    """
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    with running_server(settings.home / "postgres", port=settings.local_db_port) as server:
        ensure_database(server.url(), LOCAL_DATABASE)
        yield server.url(LOCAL_DATABASE)


def describe(url: str) -> str:
    """Where a libpq URL points, without its password: for error messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unparsable DATABASE_URL"
    user = f"{info['user']}@" if info.get("user") else ""
    host, port = info.get("host", "localhost"), info.get("port", "5432")
    return f"postgresql://{user}{host}:{port}/{info.get('dbname', '')}"


def is_local(url: str) -> bool:
    """Whether `url` is a server on this machine (loopback or a Unix socket)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = str(info.get("host") or "localhost")
    return all(h in ("localhost", "127.0.0.1", "::1") or h.startswith("/") for h in host.split(","))
