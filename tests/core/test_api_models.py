"""Every answer the API passes through from the database has its response model's exact shape.

The GET routes send the SQL function's JSON text as the response body, with
no pydantic validation per request (`leadflow.api.context.rpc_passthrough`).
These tests are that validation: for every such route and every role that
gets a 200, the body validates strictly against the route's response model,
and carries exactly the keys the model would have written (none unknown,
none missing), at every depth.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from api_fixtures import (
    MONEY_PLANS,
    MONEY_SEGMENT,
    MONEY_STATS,
    SAMPLE_FROM,
    SAMPLE_TO,
    SEEDED_TEMPLATE,
    SEGMENT_FOREIGN,
    SEGMENT_OWN,
    Roles,
    add_partner_without_subscription,
    add_sample_days,
    serving_function,
)
from flask.testing import FlaskClient
from leadflow.api.models import (
    OrchestrationStatus,
    PlansPage,
    Segment,
    SegmentPage,
    StatsPage,
)
from leadflow.api.routes import all_operations
from pydantic import BaseModel

DAY = "2026-11-25"
RANGE = f"from={SAMPLE_FROM}&to={SAMPLE_TO}"
READERS = ("partner_without_subscription", "partner", "admin")

# (path, model, roles that get a 200)
PASSED_THROUGH: list[tuple[str, type[BaseModel], tuple[str, ...]]] = [
    ("/api/lead-segments", SegmentPage, READERS),
    ("/api/lead-segments?limit=2&offset=3", SegmentPage, READERS),
    (f"/api/lead-segments/{SEGMENT_OWN}", Segment, ("partner", "admin")),
    ("/api/lead-segments/schilder_noord_brabant", Segment, ("partner", "admin")),
    (f"/api/lead-segments/{SEGMENT_OWN}/stats?{RANGE}", StatsPage, ("partner", "admin")),
    (f"/api/lead-segments/{SEGMENT_FOREIGN}/stats?{RANGE}", StatsPage, ("admin",)),
    (f"/api/lead-segments/{SEGMENT_OWN}/plans?{RANGE}", PlansPage, ("partner", "admin")),
    (f"/api/orchestration/status?day={DAY}", OrchestrationStatus, ("admin",)),
    ("/api/orchestration/status", OrchestrationStatus, ("admin",)),
]
CASES = [(path, model, role) for path, model, roles in PASSED_THROUGH for role in roles]


def _status_data(conn: psycopg.Connection[Any]) -> None:
    """A job run, a failing campaign streak and an unreachable segment: every list non-empty."""
    conn.execute(
        """
        insert into public.job_runs (job, day, status, triggered_by, counts, error, started_at,
                                     heartbeat_at, finished_at) values
          ('aggregate', %(day)s, 'success', 'scheduler', '{"days": 1}', null,
           %(day)s::date + time '01:00', %(day)s::date + time '01:00:05', %(day)s::date + time '01:00:05'),
          ('plan', %(day)s, 'running', 'scheduler', '{}', null,
           %(day)s::date + time '02:00', %(day)s::date + time '02:00:01', null)
        """,
        {"day": DAY},
    )
    # The sample days already hold every segment at max budget (150) and under target.
    # Failed live rows as the job leaves them (claimed, sent, refused): past the write path.
    conn.execute("set session_replication_role = replica")
    for day in ("2026-11-21", "2026-11-22", "2026-11-23", DAY):
        conn.execute(
            """
            insert into public.channel_orchestration_log (
              day, segment_id, customer_id, campaign_id, budget_resource_name, action,
              old_amount_micros, new_amount_micros, reason, mode, status, error, triggered_by,
              sent_on, claimed_at, completed_at)
            values (%s, %s, '1234567890', '1007', 'customers/1234567890/campaignBudgets/9007',
                    'increase', 100000000, 110000000, 'under target', 'live', 'failed',
                    'quota exceeded', 'test', %s, %s::date + time '03:00',
                    %s::date + time '03:00')
            """,
            (day, SEGMENT_OWN, day, day, day),
        )
    conn.execute("set session_replication_role = origin")
    conn.execute(
        "insert into private.alerts_sent (day, kind, subject, message, targets, sent_at) "
        "values (%s, 'job_failed', 'plan ' || %s, 'plan failed', 2, %s::date + time '02:05')",
        (DAY, DAY, DAY),
    )


@pytest.fixture(scope="module")
def reader(pg_cluster: Any) -> Iterator[FlaskClient]:
    name = pg_cluster.create(SEEDED_TEMPLATE)
    try:
        url: str = pg_cluster.url(name)
        with psycopg.connect(url, autocommit=True) as conn:
            add_partner_without_subscription(conn)
            add_sample_days(conn)
            _status_data(conn)
        with serving_function(url) as app:
            yield app.test_client()
    finally:
        pg_cluster.drop(name)


def _keys(value: Any) -> Any:
    """The key structure of a JSON value: objects by their keys, lists item by item."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys(item) for item in value]
    return None


@pytest.mark.parametrize(
    ("path", "model", "role"), CASES, ids=[f"{p.split('?')[0]}-{r}" for p, _, r in CASES]
)
def test_passed_through_answer_has_exactly_the_response_model_shape(
    reader: FlaskClient, roles: Roles, path: str, model: type[BaseModel], role: str
) -> None:
    response = reader.get(path, headers=roles.of(role))
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    parsed = model.model_validate_json(text, strict=True)
    written = json.loads(parsed.model_dump_json(exclude_unset=True, by_alias=True))
    assert _keys(json.loads(text)) == _keys(written)


def test_every_list_in_the_answers_above_is_non_empty(reader: FlaskClient, roles: Roles) -> None:
    """So that the shape check above reaches every nested model."""
    status = reader.get(f"/api/orchestration/status?day={DAY}", headers=roles.admin).get_json()
    for key in ("jobs", "capacity_unreachable", "failing_campaigns", "alerts"):
        assert status[key], key
    segment = reader.get(f"/api/lead-segments/{SEGMENT_OWN}", headers=roles.admin).get_json()
    assert segment["campaigns"] and set(segment) >= MONEY_SEGMENT
    stats = reader.get(f"/api/lead-segments/{SEGMENT_OWN}/stats?{RANGE}", headers=roles.admin)
    assert set(stats.get_json()["items"][0]) >= MONEY_STATS
    plans = reader.get(f"/api/lead-segments/{SEGMENT_OWN}/plans?{RANGE}", headers=roles.admin)
    assert set(plans.get_json()["items"][0]) >= MONEY_PLANS


def test_every_get_route_with_a_database_answer_is_checked_here() -> None:
    """A new GET route must be added to PASSED_THROUGH (or be one that Python builds)."""
    built_in_python = {"/api/health", "/api/openapi.json"}
    covered = {path.split("?")[0] for path, _, _ in PASSED_THROUGH}
    for op in all_operations():
        if op.method != "GET" or op.rule in built_in_python:
            continue
        concrete = op.rule.replace("<segment_id>", SEGMENT_OWN)
        assert concrete in covered, op.rule
