"""PATCH /api/lead-segments/{segment_id}, deployed as its own function (template.yaml).

Admins: change the active flag, budget bounds, target CPL, name or campaign mapping.

Locally: `functions-framework --target update_segment --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.segments import router

function = RouteFunction(router.operation("update_segment"))
#: The functions-framework target.
update_segment = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
