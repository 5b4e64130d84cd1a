"""GET /api/health, deployed as its own function (template.yaml).

Liveness: the function answers and a trivial database call succeeds.

Locally: `functions-framework --target health --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.meta import router

function = RouteFunction(router.operation("health"))
#: The functions-framework target.
health = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
