"""AWS Lambda entry point: `qps_core.lambda_handler.handler`.

- An SQS event-source-mapping batch (the `QuiltPackager` queue) → a partial batch response
  `{"batchItemFailures": [...]}` (enable `ReportBatchItemFailures` on the mapping).
- An EventBridge event delivered directly (a rule with the function as target), or a bare package
  request / `{"uri": ...}` body → `{"results": [...]}`; a transient failure raises so that Lambda's
  asynchronous retries apply; a permanent one goes to the DLQ (if set) and is not retried.

Adapters and settings load once per cold start. quilt3 is imported only when something is packaged.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from . import jsonstrict
from .errors import InvalidInput, TransientError
from .runner import RunOutcome
from .sqs_batch import BatchProcessor, RecordResult

log = logging.getLogger("qps")
_PROCESSOR: BatchProcessor | None = None


def processor() -> BatchProcessor:
    """The per-cold-start processor (plugin discovery and settings happen here, once)."""
    global _PROCESSOR
    if _PROCESSOR is None:
        from .settings_store.live import LiveRunner

        logging.getLogger().setLevel(os.environ.get("QPS_LOG_LEVEL", "INFO"))
        live = LiveRunner()  # stored settings changes apply within settings_refresh_seconds
        for problem in live.runner.adapters.errors():
            log.error("%s", problem)
        from .jobs.recorder import JobRecorder

        _PROCESSOR = BatchProcessor(
            live.runner, refresh=live.current, jobs=JobRecorder.from_settings(live.runner.settings, local=False)
        )
    return _PROCESSOR


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return False
    return all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    proc = processor()
    if _is_sqs_batch(event):
        return proc.process_batch(event["Records"])
    try:
        jsonstrict.check_value(event)  # the runtime parsed it: apply QPS's strict-JSON rules here
    except InvalidInput as exc:
        rejected = RecordResult(None, "dead-lettered", [RunOutcome("rejected", error=str(exc))], [str(exc)])
        proc.dead_letter(event, rejected)
        return {"results": [o.as_dict() for o in rejected.outcomes]}
    result = proc.process_value(event)
    summary = {"results": [o.as_dict() for o in result.outcomes]}
    if result.decision == "dead-lettered":
        proc.dead_letter(event, result)
    elif result.decision == "retry":
        raise TransientError("; ".join(result.errors) or "transient failure; retry")
    return summary
