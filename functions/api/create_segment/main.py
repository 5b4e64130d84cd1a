"""POST /api/lead-segments, deployed as its own function (template.yaml).

Admins: create a segment (code <industry slug>_<region code>) and assign its leads.

Locally: `functions-framework --target create_segment --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.segments import router

function = RouteFunction(router.operation("create_segment"))
#: The functions-framework target.
create_segment = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
