"""The API function: serves the operators' dashboard and the partners' portal.

The app is built once, at import; each invocation only resolves the request.
Run locally with `functions-framework --source functions/api/main.py --target api`.
"""

from __future__ import annotations

import functions_framework
from flask import Request
from leadflow.api import create_app, resolve
from leadflow.lambda_adapter import make_lambda_handler
from werkzeug.wrappers import Response

app = create_app()


@functions_framework.http
def api(request: Request) -> Response:
    """Answer one HTTP request."""
    return resolve(app, request)


#: The AWS Lambda entry (HTTP API, Function URL): the same app, through apig-wsgi.
lambda_handler = make_lambda_handler(app)
