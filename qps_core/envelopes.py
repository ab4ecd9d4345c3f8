"""Unwrap transport envelopes, recursively, into events (docs/design.md §3).

Lambda SQS batches (standard and FIFO), SNS notifications (as SQS bodies) and SNS Lambda records,
S3 notification records, EventBridge events (direct or as SQS bodies), and bare bodies. A record
that cannot be unwrapped becomes a `broken` event on its own; its neighbours go on.

This module is the one place that knows what a Lambda SQS batch looks like (`lambda_sqs_records`);
the SQS code unwraps each of its records with `unwrap_sqs_record`. One input (a file, a directly
delivered event, one SQS message) unwraps to at most `max_events` events: a larger one becomes a
single `broken` event saying so, and nothing of it is planned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import jsonstrict
from .errors import InvalidInput, shown
from .events import Event
from .s3paths import is_quilt_internal

_SNS_CONFIRMATIONS = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
_FIFO_ATTRIBUTES = ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")
DEFAULT_MAX_EVENTS = 10_000


class _TooManyEvents(Exception):
    """Raised inside the unwrapper as soon as an input holds more events than allowed."""


@dataclass(frozen=True)
class _Where:
    """Where an event came from: the envelopes crossed, the SQS message, its FIFO attributes."""

    via: tuple[str, ...] = ()
    record_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def inside(self, envelope: str, **changes: Any) -> _Where:
        return replace(self, via=(*self.via, envelope), **changes)


class _Unwrapper:
    def __init__(self, max_depth: int, max_events: int) -> None:
        self.max_depth = max_depth
        self.max_events = max_events
        self.events: list[Event] = []

    def emit(self, kind: Any, payload: Any, where: _Where, note: str | None = None) -> None:
        if len(self.events) >= self.max_events:
            raise _TooManyEvents  # stop at once: a 5-million-item input costs no more than the limit
        event = Event(
            kind, payload, record_id=where.record_id, via=where.via, attributes=dict(where.attributes), note=note
        )
        s3obj = event.s3_object if kind in ("s3", "eventbridge") else None
        if s3obj is not None and is_quilt_internal(s3obj.key):  # written by package pushes: never offered
            event.kind, event.note = "skipped", f"{shown(s3obj.key)} is under .quilt/, where package pushes write"
        self.events.append(event)

    def value(self, value: Any, where: _Where) -> None:
        if isinstance(value, list) and not where.via:
            for item in value:
                self.value(item, _Where(via=("batch",)))
            return
        if not isinstance(value, dict):
            self.emit("body", value, where)
            return
        records = value.get("Records")
        if isinstance(records, list) and _looks_like_records(value):
            if not records:
                self.emit("skipped", value, where, "the envelope holds no records")
            for record in records:
                self.record(record, where)
            return
        if _is_sqs_record(value):  # an EventBridge Pipes item from an SQS source, passed on whole
            self.record(value, where)
        elif value.get("Type") == "Notification" and "Message" in value and "TopicArn" in value:
            self.text(value["Message"], "SNS Message", where.inside("sns"))
        elif value.get("Type") in _SNS_CONFIRMATIONS and "TopicArn" in value:
            self.emit("skipped", value, where, f"SNS {value['Type']} (confirm subscriptions out of band)")
        elif value.get("Event") == "s3:TestEvent":
            self.emit("skipped", value, where, "S3 test event (s3:TestEvent)")
        elif "detail-type" in value and ("source" in value or "detail" in value):
            # An EventBridge event; input transformers (the spec's custom rule) may drop `source`.
            self.emit("eventbridge", value, where)
        else:
            self.emit("body", value, where)

    def record(self, record: Any, where: _Where) -> None:
        if not isinstance(record, dict):
            self.emit("broken", record, where, "a record is not a JSON object")
            return
        source = record.get("eventSource") or record.get("EventSource")
        if source == "aws:sqs" or ("messageId" in record and "body" in record):
            message_id = record.get("messageId")
            attrs = record.get("attributes")
            attrs = attrs if isinstance(attrs, dict) else {}
            fifo = {k: attrs[k] for k in _FIFO_ATTRIBUTES if k in attrs}
            # The outermost SQS message is the one to retry (a Pipes item may sit inside one).
            own_id = message_id if isinstance(message_id, str) else None
            self.text(
                record.get("body"),
                "SQS body",
                where.inside("sqs", record_id=where.record_id or own_id, attributes={**where.attributes, **fifo}),
            )
        elif source == "aws:sns" or isinstance(record.get("Sns"), dict):
            self.text((record.get("Sns") or {}).get("Message"), "SNS Message", where.inside("sns"))
        elif source == "aws:s3" or isinstance(record.get("s3"), dict):
            self.emit("s3", record, where.inside("s3"))
        else:
            self.emit("skipped", record, where, f"unsupported record (eventSource {shown(source)})")

    def text(self, text: Any, what: str, where: _Where) -> None:
        if not isinstance(text, str):
            self.emit("broken", text, where, f"{what} is not a string")
            return
        try:
            value = jsonstrict.loads(text, max_depth=self.max_depth)
        except InvalidInput as exc:
            self.emit("broken", text, where, f"{what}: {exc}")
            return
        if isinstance(value, list) and value and all(_is_sqs_record(item) for item in value):
            for item in value:  # an EventBridge Pipes batch of SQS items
                self.record(item, where)
        elif isinstance(value, list):
            self.emit("body", value, where)
        else:
            self.value(value, where)


def unwrap(value: Any, *, max_depth: int = jsonstrict.MAX_DEPTH, max_events: int = DEFAULT_MAX_EVENTS) -> list[Event]:
    """Every event inside `value`, numbered from 0 depth first."""
    unwrapper = _Unwrapper(max_depth, max_events)
    return _numbered(unwrapper, lambda: unwrapper.value(value, _Where()), None)


def unwrap_bytes(
    data: bytes | str, *, max_depth: int = jsonstrict.MAX_DEPTH, max_events: int = DEFAULT_MAX_EVENTS
) -> list[Event]:
    """Parse strictly, then unwrap; unparseable input is one `broken` event."""
    try:
        value = jsonstrict.loads(data, max_depth=max_depth)
    except InvalidInput as exc:
        return [Event("broken", None, note=str(exc))]
    return unwrap(value, max_depth=max_depth, max_events=max_events)


def lambda_sqs_records(event: Any) -> list[dict[str, Any]] | None:
    """The records of a Lambda SQS event-source-mapping batch, or None when `event` is not one.

    Each record is one SQS message: the unit that is acknowledged, dead-lettered or retried.
    """
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return None
    if all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
        return records
    return None


def unwrap_sqs_record(
    record: dict[str, Any], *, max_depth: int = jsonstrict.MAX_DEPTH, max_events: int = DEFAULT_MAX_EVENTS
) -> list[Event]:
    """Every event inside one SQS record of a Lambda batch (its body, unwrapped), numbered from 0."""
    unwrapper = _Unwrapper(max_depth, max_events)
    message_id = record.get("messageId")
    return _numbered(
        unwrapper, lambda: unwrapper.record(record, _Where()), message_id if isinstance(message_id, str) else None
    )


def _numbered(unwrapper: _Unwrapper, run: Callable[[], None], record_id: str | None) -> list[Event]:
    try:
        run()
    except _TooManyEvents:
        limit = unwrapper.max_events
        note = (
            f"the input holds more than {limit:,} events (the max_events_per_input setting); "
            "nothing of it was processed: split it into smaller inputs"
        )
        return [Event("broken", None, record_id=record_id, note=note)]
    for index, event in enumerate(unwrapper.events):
        event.index = index
    return unwrapper.events


def _is_sqs_record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("eventSource") == "aws:sqs"
        and isinstance(value.get("messageId"), str)
        and "body" in value
    )


_RECORD_MARKERS = ("eventSource", "EventSource", "s3", "Sns")


def _looks_like_records(value: dict[str, Any]) -> bool:
    """`{"Records": [...]}` is an AWS envelope; a request body that happens to hold `Records` is not."""
    if set(value) == {"Records"}:
        return True
    records = value["Records"]
    return (
        bool(records)
        and all(
            isinstance(r, dict) and (any(m in r for m in _RECORD_MARKERS) or ("messageId" in r and "body" in r))
            for r in records
        )
        and not any(k in value for k in ("uri", "source_prefix"))
    )
