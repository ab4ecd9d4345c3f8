"""SQS semantics shared by the Lambda handler and the worker.

Per record: unwrap, plan, package, notify; then decide. Permanent failures (invalid input, empty
folder, access denied, workflow validation...) are acknowledged and, when a dead-letter queue is
set, sent there with the error: never retried. Transient failures are left on the queue for SQS to
retry (and, after `maxReceiveCount`, to move to the DLQ by redrive). A folder that is not ready yet
(quiet period) is retried after a delay. One record never affects another.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from . import envelopes
from .runner import Runner, RunOutcome

log = logging.getLogger("qps.sqs")
Decision = Literal["done", "dead-lettered", "retry"]
MAX_VISIBILITY_SECONDS = 12 * 60 * 60


@dataclass
class RecordResult:
    message_id: str | None
    decision: Decision
    outcomes: list[RunOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retry_after: int | None = None


class BatchProcessor:
    """One per process (per Lambda cold start): the runner and, lazily, an SQS client."""

    def __init__(
        self, runner: Runner, sqs: Any = None, jobs: Any = None, refresh: Callable[[], Runner] | None = None
    ) -> None:
        self.runner = runner
        self.settings = runner.settings
        self._sqs = sqs
        self.jobs = jobs  # a qps_core.jobs.recorder.JobRecorder: one job per planned request
        self._queue_urls: dict[str, str] = {}
        self._refresh = refresh  # live settings: returns the current runner (qps_core.settings_store.live)

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs", endpoint_url=self.settings.endpoint_url)
        return self._sqs

    # -- one record ---------------------------------------------------------------------------
    def process_value(self, value: Any, message_id: str | None = None) -> RecordResult:
        """Run everything inside one record (or one directly delivered event) and decide its fate."""
        if self._refresh is not None:
            self.runner = self._refresh()
            self.settings = self.runner.settings
        outcomes: list[RunOutcome] = []
        for event in envelopes.unwrap(value):
            _, results = self.runner.run_event(event)
            outcomes.extend(results)
        retry = [o for o in outcomes if o.status == "failed" and o.retryable]
        permanent = [o for o in outcomes if o.status == "rejected" or (o.status == "failed" and not o.retryable)]
        errors = [o.error or "" for o in retry + permanent]
        if retry:
            delays = [o.retry_after for o in retry if o.retry_after]
            return RecordResult(message_id, "retry", outcomes, errors, max(delays) if delays else None)
        if permanent:
            return RecordResult(message_id, "dead-lettered", outcomes, errors)
        return RecordResult(message_id, "done", outcomes)

    def process_record(self, record: dict[str, Any]) -> RecordResult:
        """One Lambda SQS record: run it, then dead-letter or delay it as its result says."""
        message_id = record.get("messageId")
        if self.jobs is not None:
            self.jobs.started(record)
        result = self.process_value({"Records": [record]}, message_id)
        if self.jobs is not None:
            self.jobs.finished(record, result.outcomes)
        for outcome in result.outcomes:
            log.info("%s %s", message_id, json.dumps(outcome.as_dict(), ensure_ascii=False))
        if result.decision == "dead-lettered" and not self.dead_letter(record.get("body"), result, record):
            result.decision = "retry"  # the DLQ could not take it: never lose it, let SQS redrive it
        if result.decision == "retry" and result.retry_after:
            self.delay(record, result.retry_after)
        return result

    def dead_letter(self, body: Any, result: RecordResult, record: dict[str, Any] | None = None) -> bool:
        """Send the original body plus the error to the DLQ; True when done (or no DLQ is set)."""
        error = "; ".join(e for e in result.errors if e) or "rejected"
        log.warning("permanent failure, not retried: %s", error)
        url = self.settings.dead_letter_queue_url
        if not url:
            return True
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        attributes = {"qps-error": {"DataType": "String", "StringValue": error[:4000]}}
        if record and record.get("messageId"):
            attributes["qps-source-message-id"] = {"DataType": "String", "StringValue": record["messageId"]}
        if record and record.get("eventSourceARN"):
            attributes["qps-source-queue-arn"] = {"DataType": "String", "StringValue": record["eventSourceARN"]}
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": text or "(empty)", "MessageAttributes": attributes}
        if url.endswith(".fifo"):
            params["MessageGroupId"] = (record or {}).get("attributes", {}).get("MessageGroupId", "qps")
            params["MessageDeduplicationId"] = (record or {}).get("messageId") or "qps"
        try:
            self.sqs.send_message(**params)
        except Exception as exc:
            log.error("could not send to the dead-letter queue %s: %s", url, exc)
            return False
        return True

    def delay(self, record: dict[str, Any], seconds: int) -> None:
        """Make the message visible again only after `seconds` (best effort)."""
        arn, handle = record.get("eventSourceARN"), record.get("receiptHandle")
        if not arn or not handle:
            return
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url(arn),
                ReceiptHandle=handle,
                VisibilityTimeout=min(max(seconds, 0), MAX_VISIBILITY_SECONDS),
            )
        except Exception as exc:
            log.warning("could not delay message %s: %s", record.get("messageId"), exc)

    def queue_url(self, arn: str) -> str:
        if arn not in self._queue_urls:
            parts = arn.split(":")
            self._queue_urls[arn] = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                "QueueUrl"
            ]
        return self._queue_urls[arn]

    # -- a Lambda batch ----------------------------------------------------------------------------
    def process_batch(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """A partial batch response: only records to retry are listed; every other one is acknowledged.

        For FIFO queues, once a record must be retried, every later record of the batch is listed too
        (AWS: processing must stop at the first failure to keep the order).
        """
        failures: list[dict[str, str]] = []
        fifo_stopped = False
        for record in records:
            message_id = record.get("messageId", "")
            is_fifo = str(record.get("eventSourceARN", "")).endswith(".fifo")
            if fifo_stopped and is_fifo:
                failures.append({"itemIdentifier": message_id})
                continue
            try:
                result = self.process_record(record)
            except Exception:
                log.exception("record %s failed unexpectedly", message_id)
                failures.append({"itemIdentifier": message_id})
                fifo_stopped = is_fifo
                continue
            if result.decision == "retry":
                failures.append({"itemIdentifier": message_id})
                fifo_stopped = is_fifo
        return {"batchItemFailures": failures}
