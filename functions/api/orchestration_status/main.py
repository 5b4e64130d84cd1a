"""GET /api/orchestration/status, deployed as its own function (template.yaml).

Last run per job, the day's decisions by outcome, unreachable targets, failing campaigns.

Locally: `functions-framework --target orchestration_status --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.orchestration import router

function = RouteFunction(router.operation("orchestration_status"))
#: The functions-framework target.
orchestration_status = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
