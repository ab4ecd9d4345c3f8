"""`qps worker`: the Lambda semantics as a long-running process (a server, a container, ECS).

Long-polls the queue, processes one message at a time with the same BatchProcessor as the Lambda
handler, keeps every message of the received batch invisible until it is finished (one heartbeat
for the whole batch, so no other consumer receives a message this one holds), deletes what is
done or dead-lettered, leaves transient failures for SQS to retry, and stops cleanly on SIGTERM or
SIGINT after the current message (the rest of the batch is released at once).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import aws
from ..errors import ConfigError, one_line
from .sqs_batch import BatchProcessor

log = logging.getLogger("qps.worker")


class Worker:
    def __init__(
        self,
        processor: BatchProcessor,
        queue_url: str,
        *,
        wait_seconds: int = 20,
        batch_size: int = 10,
        visibility_timeout: int = 300,
    ) -> None:
        self.processor = processor
        self.queue_url = queue_url
        self.wait_seconds = wait_seconds
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.stopping = threading.Event()
        self._queue_arn: str | None = None
        self._receiving = False  # in a (long) ReceiveMessage: a stop signal interrupts it

    @property
    def sqs(self) -> Any:
        return self.processor.sqs

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attrs["Attributes"]["QueueArn"]
            self.processor.known_queue(self._queue_arn, self.queue_url)
        return self._queue_arn

    def install_signal_handlers(self) -> None:
        """SIGTERM (systemd, `docker stop`, Kubernetes) and Ctrl-C alike: the message being processed
        finishes, the rest of the batch is released at once; a long poll waiting for messages is cut
        short (anything it received comes back after its visibility timeout)."""

        def stop(signum: int, _frame: Any) -> None:
            name = signal.Signals(signum).name
            if self._receiving:
                log.warning("received %s while waiting for messages: stopping", name)
                self.stopping.set()
                raise _Interrupted
            log.warning("received %s: finishing the current message, releasing the rest, then stopping", name)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def run(self, *, max_polls: int | None = None) -> int:
        """Poll until stopped (or `max_polls` receives); return the number of messages handled."""
        handled = polls = failures = 0
        while not self.stopping.is_set() and (max_polls is None or polls < max_polls):
            polls += 1
            try:
                self._receiving = True
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=self.wait_seconds,
                    VisibilityTimeout=self.visibility_timeout,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                failures = 0
            except _Interrupted:
                break
            except Exception as exc:
                self._receiving = False  # the backoff wait below ends on `stopping`
                failures += 1
                self._receive_failed(exc, failures)
                continue
            finally:
                self._receiving = False
            if not messages:
                continue
            with self._holding(messages) as held:
                for position, message in enumerate(messages):
                    if self.stopping.is_set():
                        held.let_go(*messages[position:])
                        self._release(messages[position:])
                        break
                    self._handle(message, held)
                    handled += 1
        return handled

    def _receive_failed(self, exc: Exception, failures: int) -> None:
        """A queue that does not exist or is denied stops the worker; anything else is retried with backoff."""
        code = aws.error_code(exc)
        text = one_line(exc)
        if code in aws.QUEUE_MISSING_CODES or code in aws.DENIED_CODES:
            raise ConfigError(f"ReceiveMessage on {self.queue_url}: {text}")
        delay = min(2 ** min(failures, 5), 30)
        log.warning("ReceiveMessage on %s failed (%s); retrying in %d s", self.queue_url, text, delay)
        self.stopping.wait(delay)

    def _handle(self, message: dict[str, Any], held: _Held) -> str:
        record = self.to_lambda_record(message)
        retry_after = None
        try:
            result = self.processor.process_record(record)
            decision, retry_after = result.decision, result.retry_after
        except Exception:
            log.exception("message %s failed unexpectedly", message.get("MessageId"))
            decision = "retry"
        held.let_go(message)
        if decision == "retry" and retry_after:
            self.processor.delay(record, retry_after)  # again: a heartbeat may have overtaken the first delay
        if decision in ("done", "dead-lettered"):
            try:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as exc:  # it comes back after its visibility timeout; re-packaging is idempotent
                log.warning("could not delete message %s: %s", message.get("MessageId"), one_line(exc))
        return decision

    def to_lambda_record(self, message: dict[str, Any]) -> dict[str, Any]:
        """An SQS ReceiveMessage result in the Lambda event-source-mapping record format."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
        }

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            except Exception as exc:
                log.warning("could not release message %s: %s", message.get("MessageId"), exc)

    @contextmanager
    def _holding(self, messages: list[dict[str, Any]]) -> Iterator[_Held]:
        """Extend the visibility of every message still held, every half timeout, until the batch is done."""
        held = _Held(messages)

        def beat() -> None:
            while not held.done.wait(self.visibility_timeout / 2):
                entries = [
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": self.visibility_timeout}
                    for n, handle in enumerate(held.handles())
                ]
                if not entries:
                    continue
                try:
                    reply = self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
                    for failed in reply.get("Failed", []):
                        log.warning("could not extend visibility: %s", failed.get("Message") or failed.get("Code"))
                except Exception as exc:
                    log.warning("could not extend visibility: %s", one_line(exc))

        thread = threading.Thread(target=beat, name="qps-heartbeat", daemon=True)
        thread.start()
        try:
            yield held
        finally:
            held.done.set()
            thread.join()


class _Interrupted(BaseException):
    """Raised by the stop signal inside a long poll (never inside a message's processing)."""


class _Held:
    """The receipt handles of the messages a worker holds (received, not yet finished)."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self._handles = {m["ReceiptHandle"]: None for m in messages}
        self._lock = threading.Lock()
        self.done = threading.Event()

    def handles(self) -> list[str]:
        with self._lock:
            return list(self._handles)

    def let_go(self, *messages: dict[str, Any]) -> None:
        with self._lock:
            for message in messages:
                self._handles.pop(message["ReceiptHandle"], None)
