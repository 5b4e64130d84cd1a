"""The one logger: structured JSON lines (AWS Lambda Powertools), never a secret.

Every record carries `service`, and the keys of what is being done: a request's
`correlation_id` (the X-Request-Id, or the Lambda request id), a job run's
`job`, `day` and `run_id`. Fields go in `extra=`, never formatted into the
message. Records go to stderr (CloudWatch and Cloud Logging read both streams;
a CLI's stdout stays its own). Never log a token, a header, a body or an event.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="leadflow", stream=sys.stderr)


@contextlib.contextmanager
def keys(**values: Any) -> Iterator[None]:
    """Add these keys to every record logged inside the block (a job run's id and day)."""
    logger.append_keys(**values)
    try:
        yield
    finally:
        logger.remove_keys(list(values))
