"""The plan job as a deployable function (daily at 02:00 Europe/Amsterdam).

`plan` is the functions-framework HTTP target (POST, scheduler bearer token,
optional JSON body `{"day": "YYYY-MM-DD"}`); `lambda_handler` takes scheduled
events without HTTP.
"""

from __future__ import annotations

from leadflow.jobs.entry import http_entry, scheduled_entry

plan = http_entry("plan")
lambda_handler = scheduled_entry("plan")
