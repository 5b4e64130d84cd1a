"""GET /api/openapi.json, deployed as its own function (template.yaml).

This API's OpenAPI 3.1 document.

Locally: `functions-framework --target openapi --source <this file>`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes.meta import router

function = RouteFunction(router.operation("openapi"))
#: The functions-framework target.
openapi = function.http
#: The AWS Lambda entry (its HTTP API route).
lambda_handler = function.lambda_handler
