"""AWS Lambda entry point: `qps_core.lambda_handler.handler`.

- An SQS event-source-mapping batch (the `QuiltPackager` queue) → a partial batch response
  `{"batchItemFailures": [...]}` (enable `ReportBatchItemFailures` on the mapping).
- An EventBridge event delivered directly (a rule with the function as target), or a bare package
  request / `{"uri": ...}` body → `{"results": [...], "counts": {...}}`; a transient failure raises so
  that Lambda's asynchronous retries apply; a permanent one goes to the DLQ (if set) and is not
  retried, unless the DLQ cannot take it: then the handler raises too, so it is never dropped.

The response lists at most `MAX_RESULTS` outcomes (with `omitted` saying how many more there were),
so it stays far below Lambda's 6 MB response limit however many events one input holds.
Adapters and settings load once per cold start. quilt3 is imported only when something is packaged.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Any

from . import envelopes, logs, metrics
from .errors import TransientError
from .outcomes import RunOutcome
from .runtime.sqs_batch import BatchProcessor

log = logging.getLogger("qps")
_PROCESSOR: BatchProcessor | None = None
MAX_RESULTS = 100
EMF = metrics.EmfSink()  # CloudWatch embedded metric format on stdout, during each invocation


class DeadLetterFailed(TransientError):
    """A permanent failure could not be written to the dead-letter queue: raised so it is retried, not lost."""


def processor() -> BatchProcessor:
    """The per-cold-start processor (plugin discovery and settings happen here, once)."""
    global _PROCESSOR
    if _PROCESSOR is None:
        from .runtime.compose import queue_processor

        logs.configure(os.environ.get("QPS_LOG_LEVEL", "INFO"))
        _PROCESSOR = queue_processor(local=False)
    return _PROCESSOR


def response(outcomes: list[RunOutcome]) -> dict[str, Any]:
    """The direct-event response: the first `MAX_RESULTS` outcomes and a count per status."""
    out: dict[str, Any] = {
        "results": [o.as_dict() for o in outcomes[:MAX_RESULTS]],
        "counts": dict(Counter(o.status for o in outcomes)),
    }
    if len(outcomes) > MAX_RESULTS:
        out["omitted"] = len(outcomes) - MAX_RESULTS
    return out


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    with logs.bound(aws_request_id=getattr(context, "aws_request_id", None)), metrics.sending_to(EMF):
        return _handle(event)


def _handle(event: Any) -> dict[str, Any]:
    proc = processor()
    records = envelopes.lambda_sqs_records(event)
    if records is not None:
        return proc.process_batch(records)
    result = proc.process_value(event)
    if result.decision == "retry":
        raise TransientError(result.reason if result.errors else "transient failure; retry")
    if result.decision == "dead-lettered" and not proc.dead_letter(event, result):
        raise DeadLetterFailed(f"a permanent failure could not be sent to the dead-letter queue: {result.reason}")
    return response(result.outcomes)
