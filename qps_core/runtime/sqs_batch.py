"""SQS semantics shared by the Lambda handler and the worker.

Per record: unwrap, plan, package, notify; then decide. Permanent failures (invalid input, empty
folder, access denied, workflow validation...) are acknowledged and, when a dead-letter queue is
set, sent there with the error: never retried. Transient failures are left on the queue for SQS to
retry (and, after `maxReceiveCount`, to move to the DLQ by redrive). A folder that is not ready yet
(quiet period) is retried after a delay. One record never affects another. A permanent failure the
dead-letter queue cannot take is retried instead: it is never dropped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import aws, envelopes, jsonstrict, logs
from ..errors import InvalidInput, clip, one_line
from ..events import Event
from ..outcomes import Plan, RunOutcome
from ..runner import Runner

log = logging.getLogger("qps.sqs")
Decision = Literal["done", "dead-lettered", "retry"]
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
#: Longest reason written to a log line or to the `qps-error` attribute of a dead-lettered message.
MAX_REASON_CHARS = 1000
#: Characters SQS refuses in a message body or a string attribute (it accepts #x9, #xA, #xD,
#: #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF), written as the complement's few ranges: the
#: negated class compiles in ~8 ms, which every Lambda cold start would pay.
_SQS_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def sqs_text(text: str) -> tuple[str, bool]:
    """`text` with every character SQS refuses written as `\\uXXXX`; True when something was escaped."""
    escaped, count = _SQS_REFUSED.subn(lambda m: f"\\u{ord(m.group()):04x}", text)
    return escaped, count > 0


def sqs_body(body: Any) -> tuple[str, bool]:
    """A dead-letter body SQS accepts: a string as it came (escaped if it must be), a value as ASCII JSON.

    ASCII JSON keeps every value exactly (a lone surrogate becomes the escape `\\udXXX`, which
    parses back to the same string) and holds no character SQS refuses.
    """
    if isinstance(body, str):
        return sqs_text(body) if body else ("(empty)", False)
    return json.dumps(body, ensure_ascii=True, default=repr), False


def summarise_errors(errors: Iterable[str]) -> str:
    """One bounded line for many errors: distinct reasons joined, with the count when there are several."""
    found = [e for e in errors if e]
    if not found:
        return "rejected"
    distinct = list(dict.fromkeys(found))
    text = "; ".join(distinct[:20])
    return clip(text if len(found) == 1 else f"{len(found)} failures: {text}", MAX_REASON_CHARS)


@dataclass
class RecordResult:
    message_id: str | None
    decision: Decision
    outcomes: list[RunOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retry_after: int | None = None

    @property
    def reason(self) -> str:
        return summarise_errors(self.errors)


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
        self._refresh = refresh  # live settings: returns the current runner (qps_core.runtime.live)

    def _refreshed(self) -> None:
        """Stored settings changes reach a warm process (within settings_refresh_seconds)."""
        if self._refresh is not None:
            self.runner = self._refresh()
            self.settings = self.runner.settings

    sqs = aws.LazyClient("sqs")

    @property
    def endpoint_url(self) -> str | None:
        return self.settings.endpoint_url

    def known_queue(self, arn: str, url: str) -> None:
        """Tell the processor a queue's URL (the worker knows it), so delays need no GetQueueUrl."""
        self._queue_urls[arn] = url

    # -- one input ----------------------------------------------------------------------------
    def ran(self, message_id: str | None, plan: Plan, outcomes: list[RunOutcome]) -> None:
        """Called once per event after it ran: the one place that sees the SQS message id, the
        event's index in its message, its plan and the outcome of each of its requests."""
        for outcome in outcomes:
            line = json.dumps(outcome.as_dict(), ensure_ascii=False)
            req = outcome.request
            with logs.bound(
                adapter=outcome.adapter,
                registry=req.registry if req else None,
                package_name=req.package_name if req else None,
            ):
                log.info("%s#%d %s", message_id or "-", plan.event.index, clip(line, 2 * MAX_REASON_CHARS))

    def process_events(self, events: list[Event], message_id: str | None = None) -> RecordResult:
        """Run every event of one input (one SQS message, one directly delivered event) and decide its fate."""
        outcomes: list[RunOutcome] = []
        for event in events:
            plan, results = self.runner.run_event(event)
            self.ran(message_id, plan, results)
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

    def process_value(self, value: Any) -> RecordResult:
        """A directly delivered event (not an SQS batch). The runtime parsed it, so QPS's strict-JSON
        rules are applied here; a value that breaks them is one rejected event."""
        self._refreshed()
        try:
            jsonstrict.check_value(value)
        except InvalidInput as exc:
            return self.process_events([Event("broken", None, note=str(exc))])
        return self.process_events(envelopes.unwrap(value, max_events=self.settings.max_events_per_input))

    def process_record(self, record: dict[str, Any]) -> RecordResult:
        """One Lambda SQS record: run it, then dead-letter or delay it as its result says."""
        from ..jobs.recorder import job_id_attribute

        message_id = record.get("messageId")
        message_id = message_id if isinstance(message_id, str) else None
        with logs.bound(message_id=message_id, job_id=job_id_attribute(record)):
            return self._process_record(record)

    def _process_record(self, record: dict[str, Any]) -> RecordResult:
        self._refreshed()
        message_id = record.get("messageId")
        if self.jobs is not None:
            self.jobs.started(record)
        events = envelopes.unwrap_sqs_record(record, max_events=self.settings.max_events_per_input)
        result = self.process_events(events, message_id if isinstance(message_id, str) else None)
        if self.jobs is not None:
            self.jobs.finished(record, result.outcomes)
        if result.decision == "dead-lettered" and not self.dead_letter(record.get("body"), result, record):
            result.decision = "retry"  # the DLQ could not take it: never lose it, let SQS redrive it
        if result.decision == "retry" and result.retry_after:
            self.delay(record, result.retry_after)
        return result

    def dead_letter(self, body: Any, result: RecordResult, record: dict[str, Any] | None = None) -> bool:
        """Send the original body plus the reason to the DLQ; True when done (or no DLQ is set)."""
        reason = result.reason
        log.warning("permanent failure, not retried: %s", reason)
        url = self.settings.dead_letter_queue_url
        if not url:
            return True
        text, escaped = sqs_body(body)
        attributes = {"qps-error": _attribute(reason)}
        if escaped:
            attributes["qps-body-escaped"] = _attribute("characters SQS refuses are written as \\uXXXX")
        if record and isinstance(record.get("messageId"), str):
            attributes["qps-source-message-id"] = _attribute(record["messageId"])
        if record and isinstance(record.get("eventSourceARN"), str):
            attributes["qps-source-queue-arn"] = _attribute(record["eventSourceARN"])
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": text, "MessageAttributes": attributes}
        if url.endswith(".fifo"):
            attrs = (record or {}).get("attributes")
            group = attrs.get("MessageGroupId") if isinstance(attrs, dict) else None
            params["MessageGroupId"] = group if isinstance(group, str) and group else "qps"
            params["MessageDeduplicationId"] = (record or {}).get("messageId") or "qps"
        try:
            self.sqs.send_message(**params)
        except Exception as exc:
            log.error("could not send to the dead-letter queue %s: %s", url, clip(exc))
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
            log.warning("could not delay message %s: %s", record.get("messageId"), one_line(exc))

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


def _attribute(value: str) -> dict[str, str]:
    """A String message attribute SQS accepts: no refused characters, not empty, bounded."""
    text, _ = sqs_text(clip(value, MAX_REASON_CHARS) or "-")
    return {"DataType": "String", "StringValue": text}
