"""GET /api/lead-segments/{segment_id}/plans, deployed as its own function (template.yaml).

Daily plans of a segment the caller is subscribed to (admins: any, with budgets).

Locally: `functions-framework --target segment_plans --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.segments import router

function = RouteFunction(router.operation("segment_plans"))
#: The functions-framework target.
segment_plans = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
