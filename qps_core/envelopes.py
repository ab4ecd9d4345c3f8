"""Unwrap transport envelopes, recursively, into events (DESIGN §3).

Lambda SQS batches (standard and FIFO), SNS notifications (as SQS bodies) and SNS Lambda records,
S3 notification records, EventBridge events (direct or as SQS bodies), and bare bodies. A record
that cannot be unwrapped becomes a `broken` event on its own; its neighbours go on.
"""

from __future__ import annotations

from typing import Any

from . import jsonstrict
from .errors import InvalidInput
from .events import Event

_FIFO_ATTRIBUTES = ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")


def unwrap(value: Any, *, max_depth: int = jsonstrict.MAX_DEPTH) -> list[Event]:
    """Every event inside `value`, numbered from 0 depth first."""
    events: list[Event] = []
    _unwrap(value, events, via=(), record_id=None, attributes={}, max_depth=max_depth)
    for index, event in enumerate(events):
        event.index = index
    return events


def unwrap_bytes(data: bytes | str, *, max_depth: int = jsonstrict.MAX_DEPTH) -> list[Event]:
    """Parse strictly, then unwrap; unparseable input is one `broken` event."""
    try:
        value = jsonstrict.loads(data, max_depth=max_depth)
    except InvalidInput as exc:
        return [Event("broken", None, note=str(exc))]
    return unwrap(value, max_depth=max_depth)


def _unwrap(
    value: Any,
    out: list[Event],
    *,
    via: tuple[str, ...],
    record_id: str | None,
    attributes: dict[str, Any],
    max_depth: int,
) -> None:
    def emit(kind: Any, payload: Any, note: str | None = None) -> None:
        out.append(Event(kind, payload, record_id=record_id, via=via, attributes=dict(attributes), note=note))

    if isinstance(value, list) and not via:
        for item in value:
            _unwrap(item, out, via=("batch",), record_id=None, attributes={}, max_depth=max_depth)
        return
    if not isinstance(value, dict):
        emit("body", value)
        return
    records = value.get("Records")
    if isinstance(records, list) and _looks_like_records(value):
        if not records:
            emit("skipped", value, "the envelope holds no records")
        for record in records:
            _unwrap_record(record, out, via=via, record_id=record_id, attributes=attributes, max_depth=max_depth)
        return
    if value.get("Type") == "Notification" and "Message" in value and "TopicArn" in value:
        _unwrap_text(value["Message"], "SNS Message", out, via=(*via, "sns"), record_id=record_id,
                     attributes=attributes, max_depth=max_depth)
        return
    if value.get("Event") == "s3:TestEvent":
        emit("skipped", value, "S3 test event (s3:TestEvent)")
        return
    if "detail-type" in value and ("source" in value or "detail" in value):
        # An EventBridge event; input transformers (the spec's custom rule) may drop `source`.
        emit("eventbridge", value)
        return
    emit("body", value)


_RECORD_MARKERS = ("eventSource", "EventSource", "s3", "Sns")


def _looks_like_records(value: dict[str, Any]) -> bool:
    """`{"Records": [...]}` is an AWS envelope; a request body that happens to hold `Records` is not."""
    if set(value) == {"Records"}:
        return True
    records = value["Records"]
    return bool(records) and all(
        isinstance(r, dict) and (any(m in r for m in _RECORD_MARKERS) or ("messageId" in r and "body" in r))
        for r in records
    ) and not any(k in value for k in ("uri", "source_prefix"))


def _unwrap_record(
    record: Any,
    out: list[Event],
    *,
    via: tuple[str, ...],
    record_id: str | None,
    attributes: dict[str, Any],
    max_depth: int,
) -> None:
    if not isinstance(record, dict):
        out.append(Event("broken", record, record_id=record_id, via=via, note="a record is not a JSON object"))
        return
    source = record.get("eventSource") or record.get("EventSource")
    if source == "aws:sqs" or ("messageId" in record and "body" in record):
        rid = record.get("messageId") if isinstance(record.get("messageId"), str) else None
        attrs = record.get("attributes")
        attrs = attrs if isinstance(attrs, dict) else {}
        fifo = {k: attrs[k] for k in _FIFO_ATTRIBUTES if k in attrs}
        _unwrap_text(record.get("body"), "SQS body", out, via=(*via, "sqs"), record_id=rid,
                     attributes={**attributes, **fifo}, max_depth=max_depth)
    elif source == "aws:sns" or isinstance(record.get("Sns"), dict):
        sns = record.get("Sns") or {}
        _unwrap_text(sns.get("Message"), "SNS Message", out, via=(*via, "sns"), record_id=record_id,
                     attributes=attributes, max_depth=max_depth)
    elif source == "aws:s3" or isinstance(record.get("s3"), dict):
        out.append(Event("s3", record, record_id=record_id, via=(*via, "s3"), attributes=attributes))
    else:
        out.append(Event("skipped", record, record_id=record_id, via=via, attributes=attributes,
                         note=f"unsupported record (eventSource {source!r})"))


def _unwrap_text(
    text: Any,
    what: str,
    out: list[Event],
    *,
    via: tuple[str, ...],
    record_id: str | None,
    attributes: dict[str, Any],
    max_depth: int,
) -> None:
    if not isinstance(text, str):
        out.append(Event("broken", text, record_id=record_id, via=via, attributes=attributes,
                         note=f"{what} is not a string"))
        return
    try:
        value = jsonstrict.loads(text, max_depth=max_depth)
    except InvalidInput as exc:
        out.append(Event("broken", text, record_id=record_id, via=via, attributes=attributes,
                         note=f"{what}: {exc}"))
        return
    if isinstance(value, list):
        out.append(Event("body", value, record_id=record_id, via=via, attributes=attributes))
        return
    _unwrap(value, out, via=via, record_id=record_id, attributes=attributes, max_depth=max_depth)
