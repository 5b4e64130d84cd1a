"""The `leadflow` command line: one module per group of commands.

`app` (the Typer app, shared options, how a command answers), `database` (`db …`),
`jobs` (aggregate, plan, orchestrate, rollback), `demos` (demo, simulate), `reporting`
(report), `serve` (token, serve) and `onboarding` (admin create, segments import).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from types import FrameType

import psycopg
import typer
from leadflow.errors import LeadflowError
from leadflow.log import logger
from leadflow.settings import get_settings
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from leadflow_tools.cli import channels, database, demos, jobs, onboarding, reporting, serve
from leadflow_tools.cli.app import app, bad_database_url

__all__ = [
    "app",
    "channels",
    "database",
    "demos",
    "jobs",
    "main",
    "onboarding",
    "reporting",
    "serve",
]

# The top-level commands, in the order `leadflow --help` lists them (`db …` and
# `orchestrate …` are groups, registered by their modules, and listed after).
for _name, _command in (
    ("aggregate", jobs.aggregate_command),
    ("plan", jobs.plan_command),
    ("demo", demos.demo),
    ("simulate", demos.simulate_command),
    ("report", reporting.report_command),
    ("status", channels.status_command),
    ("token", serve.token_command),
    ("serve", serve.serve_command),
):
    app.command(_name)(_command)


#: Set by the SIGINT handler: an interrupted command exits 130 however the interruption
#: surfaced (a KeyboardInterrupt, a query psycopg cancelled, or swallowed on the way).
_interrupted = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _interrupted
    _interrupted = True
    signal.default_int_handler(signum, frame)


def main() -> None:
    """Entry point: user errors become one line on stderr (the JSON error envelope under
    --json) and a non-zero exit: 2 for a usage error, 130 for Ctrl-C, else 1."""
    global _interrupted
    _interrupted = False
    with contextlib.suppress(ValueError):  # not the main thread: leave SIGINT alone
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        # The core's JSON logs are for deployed functions; a CLI says what happened itself.
        if not get_settings().debug:
            logger.setLevel("CRITICAL")
        # Without standalone mode, an Exit (Ctrl-C's 130 among them) comes back as a value.
        answer = app(standalone_mode=False)
        if isinstance(answer, int) and answer == INTERRUPTED:
            _interrupt()
        if isinstance(answer, int) and not isinstance(answer, bool) and answer:
            sys.exit(answer)
    except KeyboardInterrupt:
        _interrupt()
    except typer.Exit as exc:
        if exc.exit_code == INTERRUPTED or _interrupted:
            _interrupt()
        sys.exit(exc.exit_code)
    except typer.Abort:
        if _interrupted:
            _interrupt()
        _fail("aborted")
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except ClickException as exc:
        _fail(exc.format_message(), exc.exit_code, "usage_error" if exc.exit_code == 2 else None)
    except LeadflowError as exc:
        if _interrupted:
            _interrupt()
        _fail(str(exc), code=getattr(exc, "cli_code", None))
    except psycopg.OperationalError as exc:
        if _interrupted:
            _interrupt()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(
            f"database connection failed (DATABASE_URL or the embedded server): {first}",
            code="unavailable",
        )
    except psycopg.ProgrammingError as exc:
        error = bad_database_url(exc)
        if error is None:
            _unexpected(exc)
        _fail(str(error), code="invalid_database_url")
    except Exception as exc:
        if _interrupted:
            _interrupt()
        _unexpected(exc)
    if _interrupted:
        _interrupt()


#: The exit status of a command stopped with Ctrl-C (128 + SIGINT), as shells use it.
INTERRUPTED = 130


def _interrupt() -> None:
    _fail("interrupted (Ctrl-C)", INTERRUPTED, "interrupted")


def _unexpected(exc: Exception) -> None:
    if get_settings().debug:
        raise exc
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    _fail(
        f"unexpected {type(exc).__name__}: {first} (set LEADFLOW_DEBUG=1 for details)",
        code="internal_error",
    )


def _fail(message: str, status: int = 1, code: str | None = None) -> None:
    """Print one line to stderr and exit non-zero; under --json the line is the one error
    envelope of the API (`leadflow.envelope`): {"error": {"code", "message", "details"}}."""
    line = " ".join(message.split())
    if "--json" in sys.argv[1:]:
        from leadflow.envelope import body

        envelope = body(code or "failed", line)
        sys.stderr.write(json.dumps(envelope) + "\n")
    else:
        sys.stderr.write("error: " + line + "\n")
    sys.exit(status or 1)
