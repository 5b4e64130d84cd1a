"""GET /api/lead-segments/{segment_id}, deployed as its own function (template.yaml).

One segment; admins also get its budgets and campaign mappings.

Locally: `functions-framework --target get_segment --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.segments import router

function = RouteFunction(router.operation("get_segment"))
#: The functions-framework target.
get_segment = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
