"""Every API route in one app: the local server (`leadflow serve api`), not deployed.

Deployed, each route is its own function, `functions/api/<route>/main.py`
(see README.md); this file serves them all at once for local runs and tests:
`functions-framework --source functions/api/main.py --target api`.
"""

from __future__ import annotations

from leadflow.api.function import RouteFunction
from leadflow.api.routes import all_operations

function = RouteFunction(*all_operations())
app = function.app
#: The functions-framework target.
api = function.http
#: The same app on AWS Lambda (a single-function deployment; template.yaml deploys per route).
lambda_handler = function.lambda_handler
