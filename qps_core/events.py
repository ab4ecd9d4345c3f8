"""The unit adapters see: one event, unwrapped from whatever envelopes carried it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from .errors import shown
from .s3paths import decode_event_key

EventKind = Literal["eventbridge", "s3", "body", "broken", "skipped"]
READY_DETAIL_TYPES = frozenset({"package-objects-ready", "package-object-request"})


@dataclass(frozen=True, slots=True)
class S3ObjectEvent:
    """An S3 object event in either AWS shape (EventBridge `Object …` or a notification record)."""

    bucket: str
    key: str  # decoded with unquote_plus
    created: bool
    event_name: str
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "created": self.created,
            "event_name": self.event_name,
            "version_id": self.version_id,
            "size": self.size,
            "etag": self.etag,
        }


@dataclass(eq=False)
class Event:
    """One event. `kind` says its shape:

    - `eventbridge`: an EventBridge event (`source`, `detail-type`, `detail`);
    - `s3`: one S3 notification record (`eventName`, `s3.bucket.name`, `s3.object.key`);
    - `body`: a bare JSON value sent straight to QPS (SQS body, REST body, CLI file);
    - `broken`: a record that could not be unwrapped (`note` says why): rejected;
    - `skipped`: a record QPS never handles, such as `s3:TestEvent` (`note` says why): ignored.
    """

    kind: EventKind
    payload: Any
    index: int = 0
    record_id: str | None = None
    via: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    @property
    def source(self) -> str | None:
        return self._eb_field("source")

    @property
    def detail_type(self) -> str | None:
        return self._eb_field("detail-type")

    @property
    def detail(self) -> Any:
        return self.payload.get("detail") if self.kind == "eventbridge" else None

    def _eb_field(self, name: str) -> str | None:
        if self.kind != "eventbridge":
            return None
        value = self.payload.get(name)
        return value if isinstance(value, str) else None

    @property
    def is_ready_event(self) -> bool:
        """`package-objects-ready` (or its alias `package-object-request`) from any source."""
        return self.detail_type in READY_DETAIL_TYPES

    @property
    def addressed_body(self) -> tuple[bool, Any]:
        """(True, body) when the event is meant for QPS as a request: a bare body or a ready-event detail."""
        if self.kind == "body":
            return True, self.payload
        if self.is_ready_event:
            return True, self.detail
        return False, None

    @cached_property
    def s3_object(self) -> S3ObjectEvent | None:
        """The S3 object this event is about, in one shape for both AWS formats; else None."""
        try:
            if self.kind == "s3":
                s3 = self.payload["s3"]
                obj = s3["object"]
                name = str(self.payload.get("eventName", ""))
                return S3ObjectEvent(
                    bucket=s3["bucket"]["name"],
                    key=decode_event_key(obj["key"]),
                    created=name.startswith("ObjectCreated:"),
                    event_name=name,
                    version_id=obj.get("versionId"),
                    size=obj.get("size"),
                    etag=obj.get("eTag"),
                )
            if self.kind == "eventbridge" and self.source == "aws.s3":
                detail = self.payload["detail"]
                obj = detail["object"]
                return S3ObjectEvent(
                    bucket=detail["bucket"]["name"],
                    key=decode_event_key(obj["key"]),
                    created=self.detail_type == "Object Created",
                    event_name=self.detail_type or "",
                    version_id=obj.get("version-id"),
                    size=obj.get("size"),
                    etag=obj.get("etag"),
                )
        except (KeyError, TypeError, AttributeError):
            return None
        return None

    def describe(self) -> str:
        """A short label for messages: what kind of event this is."""
        if self.kind == "eventbridge":
            return f"EventBridge event source={shown(self.source)} detail-type={shown(self.detail_type)}"
        if self.kind == "s3":
            return f"S3 notification {shown(self.payload.get('eventName'))}"
        return f"{self.kind} event"
