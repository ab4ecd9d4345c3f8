"""AWS Lambda entry point of the scheduled reconcile sweep: `qps_core.reconcile_lambda.handler`.

The stack's `ReconcileSchedule` parameter (off by default) runs it with an input such as
`{"sweeps": [{"source": "omics", "since": "2d"}, {"source": "rocrate", "prefix": "s3://bkt/runs/"}]}`.
Each sweep goes through the jobs intake batch by batch (`accept_reconcile`: 200 items a
batch, a job per item queued to the QuiltPackager queue, trigger kind `reconcile`), so the function
only lists and queues; the queue function packages. When less than `MARGIN_MS` of the invocation
remains, it invokes itself asynchronously with the sweeps left and the cursor to go on from, so a
sweep of any size finishes across invocations without starting over.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

log = logging.getLogger("qps.reconcile")
MARGIN_MS = 120_000
_CONTEXT: Any = None


def services() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        from .runtime.compose import lambda_api_context
        from .settings import load_settings

        logging.getLogger().setLevel(os.environ.get("QPS_LOG_LEVEL", "INFO"))
        from .runtime.live import CurrentRunner

        _CONTEXT = lambda_api_context(load_settings(), token_auth=False)
        _CONTEXT.live = CurrentRunner.following(_CONTEXT.settings, _CONTEXT.runner)
    _CONTEXT.refresh(force=True)  # the admin page's source switches, as they are now
    return _CONTEXT


def run(event: Any, remaining_ms: Any, continue_with: Any, svc: Any = None) -> dict[str, Any]:
    """Run the sweeps of `event`; hand what is left to `continue_with(event)` when time runs short."""
    from .jobs import intake

    svc = svc or services()
    sweeps = list((event or {}).get("sweeps") or [])
    queued = found = 0
    while sweeps:
        sweep = dict(sweeps[0])
        result = intake.accept_reconcile(svc, sweep, scope="schedule")
        queued, found = queued + len(result.jobs), found + result.found
        log.info("reconcile %s: found %d, queued %d", sweep.get("source"), result.found, len(result.jobs))
        if result.next_cursor:
            sweeps[0] = {**sweep, "cursor": result.next_cursor}
        else:
            sweeps.pop(0)
        if sweeps and remaining_ms() < MARGIN_MS:
            continue_with({"sweeps": sweeps})
            return {"found": found, "queued": queued, "continued": True}
    return {"found": found, "queued": queued, "continued": False}


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    def remaining() -> int:
        return int(context.get_remaining_time_in_millis()) if context is not None else 10**9

    def invoke_self(rest: dict[str, Any]) -> None:
        from . import aws

        aws.client("lambda").invoke(
            FunctionName=context.invoked_function_arn, InvocationType="Event", Payload=json.dumps(rest).encode()
        )

    return run(event, remaining, invoke_self)
