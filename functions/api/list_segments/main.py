"""GET /api/lead-segments, deployed as its own function (template.yaml).

List the segments the caller may see (partners: active ones; admins: all, with budgets).

Locally: `functions-framework --target list_segments --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.segments import router

function = RouteFunction(router.operation("list_segments"))
#: The functions-framework target.
list_segments = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
