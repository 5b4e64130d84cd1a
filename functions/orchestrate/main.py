"""The orchestrate job as a deployable function (daily at 03:00 Europe/Amsterdam).

`orchestrate` is the functions-framework HTTP target (POST, scheduler bearer token,
optional JSON body `{"day": "YYYY-MM-DD", "mode": "dry_run"}`); `lambda_handler` takes scheduled
events without HTTP.
"""

from __future__ import annotations

from leadflow.jobs.entry import http_entry, scheduled_entry

orchestrate = http_entry("orchestrate")
lambda_handler = scheduled_entry("orchestrate")
