"""Cold start: a function's main.py imports only what its own code path needs.

Each function is imported in a fresh interpreter (as Lambda and functions-framework
do: from its file, as `main`), and the modules it loaded are checked against what
its path may not load at import. Untimed: `bench/cold_start.py` measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from leadflow.api.routes import all_operations

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["main"] = module
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""

#: Google Ads, its transport and its retries: only a run that reaches Google Ads loads them.
GOOGLE_ADS = ("google.ads", "google.api_core", "google.protobuf", "grpc", "proto", "tenacity")
#: Microsoft Advertising's SDK (about 0.7 s and 60 MB) and its SOAP client: only a run that
#: reaches Microsoft Advertising loads them.
MICROSOFT_ADS = ("bingads", "suds", "leadflow.channels.microsoft_ads_api")
#: The AWS SDK: loaded only to read a secret (no secret id is set here). Powertools' package
#: imports the bare `botocore` package (its `__init__`, to register a user-agent hook, about
#: 0.5 ms); none of botocore's machinery (sessions, clients, service models) may follow.
AWS_SDK = ("boto3", "botocore.")
#: The web stack: the jobs' HTTP target loads it when called (functions-framework has
#: already loaded it by then); a scheduled run on Lambda never does.
WEB = ("flask", "werkzeug", "functions_framework", "jwt", "apig_wsgi")
#: Nothing deployed loads functions-framework itself: it is the host that imports main.py.
HOST = ("functions_framework",)
#: The database transports connect on first use.
TRANSPORTS = ("psycopg", "psycopg_pool", "httpx", "postgrest")

ROUTE_MODULES = {"segments", "orchestration", "meta"}

JOBS_MAY_NOT_LOAD = {
    "plan": (
        *GOOGLE_ADS,
        *MICROSOFT_ADS,
        *AWS_SDK,
        *WEB,
        *TRANSPORTS,
        "leadflow.controller",
        "leadflow.api",
    ),
    "aggregate": (
        *GOOGLE_ADS,
        *MICROSOFT_ADS,
        *AWS_SDK,
        *WEB,
        *TRANSPORTS,
        "leadflow.controller",
        "leadflow.api",
    ),
    # The controller is orchestrate's own; Google Ads loads when a run reads or sends budgets.
    "orchestrate": (*GOOGLE_ADS, *MICROSOFT_ADS, *AWS_SDK, *WEB, *TRANSPORTS, "leadflow.api"),
}


def _route_may_not_load(operation_id: str, router: str) -> tuple[str, ...]:
    """A route function: no jobs, no Google Ads, no other route's module, no OpenAPI builder
    (except the document's own function)."""
    others = tuple(f"leadflow.api.routes.{name}" for name in ROUTE_MODULES - {router})
    builder = () if operation_id == "openapi" else ("leadflow.api.openapi",)
    return (
        *GOOGLE_ADS,
        *MICROSOFT_ADS,
        *AWS_SDK,
        *HOST,
        *TRANSPORTS,
        "leadflow.jobs",
        "leadflow.channels.google_ads",
        "leadflow.controller",
        *others,
        *builder,
    )


ROUTES_MAY_NOT_LOAD = {
    f"api/{op.operation_id}": _route_may_not_load(op.operation_id, op.tag)
    for op in all_operations()
}


@cache
def loaded_by(function: str) -> frozenset[str]:
    """The modules a fresh interpreter holds after importing functions/<function>/main.py."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SECRET_ID")}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT / "functions" / function / "main.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return frozenset(json.loads(result.stdout.splitlines()[-1]))


def _matching(modules: frozenset[str], forbidden: tuple[str, ...]) -> list[str]:
    """The modules that are, or are inside, a forbidden name (`x.` means: x's submodules)."""
    return sorted(module for module in modules if any(_within(module, n) for n in forbidden))


def _within(module: str, name: str) -> bool:
    if name.endswith("."):
        return module.startswith(name)
    return module == name or module.startswith(f"{name}.")


def test_the_matcher_catches_a_package_and_its_submodules_only() -> None:
    modules = frozenset({"grpc", "grpc._channel", "grpcio_tools", "botocore", "botocore.session"})

    assert _matching(modules, ("grpc",)) == ["grpc", "grpc._channel"]
    assert _matching(modules, ("botocore.",)) == ["botocore.session"]


def test_every_function_is_checked() -> None:
    files = {
        path.parent.relative_to(ROOT / "functions").as_posix()
        for path in (ROOT / "functions").rglob("main.py")
    }

    # functions/api/main.py is the local all-routes server, not deployed (see its README).
    assert files - {"api"} == set(JOBS_MAY_NOT_LOAD) | set(ROUTES_MAY_NOT_LOAD)


@pytest.mark.parametrize("function", sorted(JOBS_MAY_NOT_LOAD))
def test_a_job_function_loads_no_google_ads_web_stack_or_aws_sdk_at_import(function: str) -> None:
    modules = loaded_by(function)

    assert "leadflow.jobs.entry" in modules  # the probe did import the function
    assert _matching(modules, JOBS_MAY_NOT_LOAD[function]) == []


@pytest.mark.parametrize("function", sorted(ROUTES_MAY_NOT_LOAD))
def test_a_route_function_loads_only_its_own_route(function: str) -> None:
    modules = loaded_by(function)
    (operation,) = (op for op in all_operations() if f"api/{op.operation_id}" == function)

    assert f"leadflow.api.routes.{operation.tag}" in modules
    assert _matching(modules, ROUTES_MAY_NOT_LOAD[function]) == []


def test_the_orchestrate_function_loads_its_controller_when_it_runs_not_at_import() -> None:
    assert "leadflow.controller" not in loaded_by("orchestrate")


_CHANNELS_PROBE = """
import json, os, sys
for name in list(os.environ):
    if name.startswith(("GOOGLE_ADS_", "MICROSOFT_ADS_")):
        del os.environ[name]
from leadflow.channels import REGISTRY, gateways_from_settings
from leadflow.settings import Settings
settings = Settings()
gateways = gateways_from_settings(settings)
missing = {key: entry.missing(settings) for key, entry in REGISTRY.items()}
print(json.dumps({"gateways": sorted(gateways), "missing": missing, "modules": sorted(sys.modules)}))
"""


def test_a_run_without_channel_credentials_loads_no_channel_sdk() -> None:
    """What aggregate does without credentials: asks each channel, gets none, loads no SDK."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SECRET_ID")}
    result = subprocess.run(
        [sys.executable, "-c", _CHANNELS_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])

    assert found["gateways"] == []
    assert "MICROSOFT_ADS_REFRESH_TOKEN" in found["missing"]["microsoft_ads"]
    assert "leadflow.channels.microsoft_ads" in found["modules"]  # the seam was asked
    assert _matching(frozenset(found["modules"]), (*GOOGLE_ADS, *MICROSOFT_ADS)) == []
