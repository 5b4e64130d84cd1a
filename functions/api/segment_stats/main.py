"""GET /api/lead-segments/{segment_id}/stats, deployed as its own function (template.yaml).

Daily stats of a segment the caller is subscribed to (admins: any, with money).

Locally: `functions-framework --target segment_stats --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.segments import router

function = RouteFunction(router.operation("segment_stats"))
#: The functions-framework target.
segment_stats = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
