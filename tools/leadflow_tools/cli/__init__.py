"""The `leadflow` command line: one module per group of commands.

`app` (the Typer app, shared options, how a command answers), `database` (`db …`),
`jobs` (aggregate, plan, orchestrate, rollback), `demos` (demo, simulate), `reporting`
(report) and `serve` (token, serve).
"""

from __future__ import annotations

import json
import sys

import psycopg
import typer
from leadflow.errors import LeadflowError
from leadflow.log import logger
from leadflow.settings import get_settings
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from leadflow_tools.cli import database, demos, jobs, reporting, serve
from leadflow_tools.cli.app import app

__all__ = ["app", "database", "demos", "jobs", "main", "reporting", "serve"]

# The top-level commands, in the order `leadflow --help` lists them (`db …` and
# `orchestrate …` are groups, registered by their modules, and listed after).
for _name, _command in (
    ("aggregate", jobs.aggregate_command),
    ("plan", jobs.plan_command),
    ("demo", demos.demo),
    ("simulate", demos.simulate_command),
    ("report", reporting.report_command),
    ("token", serve.token_command),
    ("serve", serve.serve_command),
):
    app.command(_name)(_command)


def main() -> None:
    """Entry point: user errors become one line on stderr (JSON under --json) and exit code 1."""
    try:
        # The core's JSON logs are for deployed functions; a CLI says what happened itself.
        if not get_settings().debug:
            logger.setLevel("CRITICAL")
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted")
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except LeadflowError as exc:
        _fail(str(exc))
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"database connection failed (DATABASE_URL or the embedded server): {first}")
    except Exception as exc:
        if get_settings().debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"unexpected {type(exc).__name__}: {first} (set LEADFLOW_DEBUG=1 for details)")


def _fail(message: str, code: int = 1) -> None:
    """Print one line to stderr (a JSON object under --json) and exit non-zero."""
    line = " ".join(message.split())
    if "--json" in sys.argv[1:]:
        sys.stderr.write(json.dumps({"error": line}) + "\n")
    else:
        sys.stderr.write("error: " + line + "\n")
    sys.exit(code or 1)
