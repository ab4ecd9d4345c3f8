"""Dead letters (docs/design.md §13): the QuiltPackager queue's and the dead-letter queue's depths,
the first dead letters with their reason, and redrive all / retry one / delete one.

The same service answers the admin-only API routes (`deadletters_api`) and the admin page
(`pages/dead_letters`). The queues are the settings `queue_url` (the source) and
`dead_letter_queue_url`.

Redrive all: in AWS, SQS's `StartMessageMoveTask` (from the DLQ back to its source queue). Where the
task is unavailable (a local endpoint; moto answers it with a 500), the messages are moved here:
received, sent to the source queue, and only then deleted, so an interruption never loses one. A
message sent but not yet deleted when the move is interrupted stays in the DLQ and is sent again
by the next redrive; FIFO queues drop that second copy (the DLQ message id is the deduplication
id), and on a standard queue the second copy packages the same input into an `unchanged` result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import aws
from ..errors import QPSError, one_line
from ..settings import DEAD_LETTERS_AUDIT_NAME, SettingsStore

log = logging.getLogger("qps.audit")

REASON_ATTRIBUTE = "qps-error"
#: Attributes the dead-lettering added (sqs_batch.dead_letter): not sent back with the message.
DEAD_LETTER_ATTRIBUTES = frozenset({"qps-error", "qps-body-escaped", "qps-source-message-id", "qps-source-queue-arn"})
REDRIVEN_ATTRIBUTE = "qps-redriven-from"
MAX_BODY_CHARS = 4096
MAX_LISTED = 50
MAX_SEARCHED = 1000  # dead letters looked through for one id
HOLD_SECONDS = 30  # a message looked at is hidden this long at most (released at once after)
MOVE_UNAVAILABLE_CODES = frozenset({"InternalError", "InternalFailure", "UnsupportedOperation", "500", "501"})


class DeadLetterError(QPSError):
    """The queues did not answer as needed (one line)."""


class NotConfigured(DeadLetterError):
    """No dead-letter queue is set."""


class DeadLetterNotFound(DeadLetterError):
    """No dead letter has this id (anymore)."""


@dataclass
class DeadLetter:
    id: str
    reason: str | None
    body: str
    truncated: bool
    sent_at: str | None
    receive_count: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "body": self.body,
            "truncated": self.truncated,
            "sent_at": self.sent_at,
            "receive_count": self.receive_count,
        }


def _sent_at(attributes: dict[str, Any]) -> str | None:
    stamp = str(attributes.get("SentTimestamp", ""))
    try:
        return datetime.fromtimestamp(int(stamp) / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (TypeError, ValueError):
        return None


def to_dead_letter(message: dict[str, Any]) -> DeadLetter:
    body = str(message.get("Body", ""))
    reason = ((message.get("MessageAttributes") or {}).get(REASON_ATTRIBUTE) or {}).get("StringValue")
    count = (message.get("Attributes") or {}).get("ApproximateReceiveCount")
    return DeadLetter(
        id=str(message["MessageId"]),
        reason=reason,
        body=body[:MAX_BODY_CHARS],
        truncated=len(body) > MAX_BODY_CHARS,
        sent_at=_sent_at(message.get("Attributes") or {}),
        receive_count=int(count) if isinstance(count, str) and count.isdigit() else None,
    )


class DeadLetters:
    def __init__(self, settings: Any, sqs: Any = None, store: SettingsStore | None = None) -> None:
        self.settings = settings
        self.endpoint_url = settings.endpoint_url
        self._sqs = sqs
        self.store = store  # where the admin audit log is kept (the Settings page shows it)

    def _audit(self, actor: str, what: str) -> None:
        """Record an action in the admin audit log (and the log); a failure to record never undoes it."""
        log.warning("audit: %s by %s", what, actor)
        if self.store is None:
            return
        try:
            self.store.record(DEAD_LETTERS_AUDIT_NAME, actor=actor, old=None, new=what)
        except Exception as exc:  # the action is done; the log line above still says so
            log.error("could not record the audit entry (%s): %s", what, one_line(exc))

    sqs = aws.LazyClient("sqs")

    @property
    def dlq_url(self) -> str:
        if not self.settings.dead_letter_queue_url:
            raise NotConfigured("no dead-letter queue is set (QPS_DEAD_LETTER_QUEUE_URL)")
        return str(self.settings.dead_letter_queue_url)

    @property
    def source_url(self) -> str:
        if not self.settings.queue_url:
            raise NotConfigured("no source queue is set to send dead letters back to (QPS_QUEUE_URL)")
        return str(self.settings.queue_url)

    def _call(self, action: str, **params: Any) -> Any:
        try:
            return getattr(self.sqs, action)(**params)
        except Exception as exc:
            code = aws.error_code(exc)
            raise DeadLetterError(f"SQS {action} on {params.get('QueueUrl', '')}: {code or one_line(exc)}") from exc

    # ---------------------------------------------------------------- reading

    def depth(self, url: str | None) -> dict[str, Any] | None:
        if not url:
            return None
        attrs = self._call(
            "get_queue_attributes",
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "QueueArn"],
        )["Attributes"]
        return {
            "url": url,
            "arn": attrs.get("QueueArn"),
            "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        }

    def overview(self, limit: int = 10) -> dict[str, Any]:
        """`GET /v1/dead-letters`: both depths and the first `limit` dead letters."""
        dlq = self.dlq_url
        messages = self._look(min(max(limit, 0), MAX_LISTED))
        return {
            "queue": self.depth(self.settings.queue_url),
            "dead_letter_queue": self.depth(dlq),
            "items": [to_dead_letter(m).as_dict() for m in messages],
        }

    def _receive(self, visibility: int) -> list[dict[str, Any]]:
        reply = self._call(
            "receive_message",
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(reply.get("Messages", []))

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, m in enumerate(messages[start : start + 10])
            ]
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.dlq_url, Entries=entries)
            except Exception as exc:  # they come back after HOLD_SECONDS anyway
                log.warning("could not release dead letters: %s", one_line(exc))

    def _look(self, limit: int, *, wanted: str | None = None) -> list[dict[str, Any]]:
        """Up to `limit` distinct dead letters (or the one with id `wanted`), hidden for a moment and released."""
        found: dict[str, dict[str, Any]] = {}
        held: list[dict[str, Any]] = []
        empty = 0
        try:
            while len(found) < limit and empty < 2:
                batch = self._receive(HOLD_SECONDS)
                held.extend(batch)
                new = [m for m in batch if m["MessageId"] not in found]
                empty = empty + 1 if not new else 0
                for message in new:
                    found[message["MessageId"]] = message
                if wanted is not None and wanted in found:
                    return [found[wanted]]
        finally:
            keep = found.get(wanted) if wanted is not None else None
            self._release([m for m in held if m is not keep])
        return [] if wanted is not None else list(found.values())[:limit]

    def _find(self, message_id: str) -> dict[str, Any]:
        found = self._look(MAX_SEARCHED, wanted=message_id)
        if not found:
            raise DeadLetterNotFound(
                f"no dead letter {message_id!r} in the dead-letter queue (or another admin holds it: try again in"
                f" {HOLD_SECONDS} s)"
            )
        return found[0]

    # ---------------------------------------------------------------- acting

    def _send_back(self, message: dict[str, Any]) -> None:
        """Send a dead letter to the source queue as it came (without the dead-lettering's attributes)."""
        url = self.source_url
        attributes = {
            name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, value in (message.get("MessageAttributes") or {}).items()
            if name not in DEAD_LETTER_ATTRIBUTES
        }
        if len(attributes) < 10:
            attributes[REDRIVEN_ATTRIBUTE] = {"DataType": "String", "StringValue": message["MessageId"]}
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": message.get("Body") or "(empty)"}
        if attributes:
            params["MessageAttributes"] = attributes
        if url.endswith(".fifo"):
            group = (message.get("Attributes") or {}).get("MessageGroupId") or "qps"
            params["MessageGroupId"] = group
            params["MessageDeduplicationId"] = message["MessageId"]  # a resend after an interruption is dropped
        self._call("send_message", **params)

    def _delete(self, message: dict[str, Any]) -> None:
        self._call("delete_message", QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])

    def retry(self, message_id: str, actor: str) -> None:
        """Send one dead letter back to the source queue, then delete it from the DLQ."""
        message = self._find(message_id)
        try:
            self._send_back(message)
        except DeadLetterError:
            self._release([message])
            raise
        self._delete(message)
        self._audit(actor, f"dead letter {message_id} sent back to the queue")

    def delete(self, message_id: str, actor: str) -> None:
        message = self._find(message_id)
        self._delete(message)
        self._audit(actor, f"dead letter {message_id} deleted")

    def redrive(self, actor: str) -> dict[str, Any]:
        """Every dead letter back to the source queue: SQS's move task in AWS, else moved here."""
        dlq = self.depth(self.dlq_url)
        source = self.depth(self.source_url)
        assert dlq is not None and source is not None
        if not self.endpoint_url:
            try:
                reply = self.sqs.start_message_move_task(SourceArn=dlq["arn"], DestinationArn=source["arn"])
            except Exception as exc:
                code = aws.error_code(exc) or type(exc).__name__
                if code not in MOVE_UNAVAILABLE_CODES and not isinstance(exc, NotImplementedError):
                    raise DeadLetterError(f"SQS StartMessageMoveTask on {dlq['arn']}: {code or one_line(exc)}") from exc
                log.warning("StartMessageMoveTask is unavailable here (%s): moving the messages one by one", code)
            else:
                self._audit(actor, "redrive of every dead letter started (SQS move task)")
                return {"method": "move-task", "task_handle": reply.get("TaskHandle"), "moved": None}
        moved = self._move_all()
        self._audit(actor, f"{moved} dead letter(s) moved back to the queue")
        return {"method": "moved", "task_handle": None, "moved": moved}

    def _move_all(self) -> int:
        moved = 0
        empty = 0
        while empty < 2:
            batch = self._receive(HOLD_SECONDS)
            empty = empty + 1 if not batch else 0
            for position, message in enumerate(batch):
                try:
                    self._send_back(message)  # first send ...
                    self._delete(message)  # ... then delete: an interruption in between loses nothing
                except DeadLetterError:
                    self._release(batch[position:])  # visible again at once for the next redrive
                    raise
                moved += 1
        return moved
