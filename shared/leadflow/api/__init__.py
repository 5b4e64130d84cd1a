"""The HTTP API of `functions/api`: routes, validation, auth, errors, OpenAPI.

Authorization is the database's: the API verifies the caller's JWT, forwards
the identity with every RPC, and maps the database's refusals to 401/403/404.
"""

from __future__ import annotations

from leadflow.api.app import close, create_app, resolve

__all__ = ["close", "create_app", "resolve"]
