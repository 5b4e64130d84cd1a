"""The aggregate job as a deployable function (daily at 01:00 Europe/Amsterdam).

`aggregate` is the functions-framework HTTP target (POST, scheduler bearer token,
optional JSON body `{"day": "YYYY-MM-DD"}`); `lambda_handler` takes scheduled
events without HTTP.
"""

from __future__ import annotations

from leadflow.jobs.entry import http_entry, scheduled_entry

aggregate = http_entry("aggregate")
lambda_handler = scheduled_entry("aggregate")
