"""Completion notices: after every package request, an EventBridge event and (optionally) an SNS message.

Schema (also in docs/notices.md): source `com.quiltdata.qps`, detail-type `package-created`,
`package-unchanged` or `package-failed`, detail:
`{"status", "registry", "package_name", "top_hash", "source_prefix", "adapter", "files", "bytes",
"error", "retryable"}`, plus `"changes"` (counts `added`, `removed`, `modified`, `unchanged`) on
`package-created`, and `rocrate: {mode, parts, validation}` for a package that followed an
RO-Crate. The SNS message is the same JSON: `{"detail-type": ..., "detail": {...}}`.
Publishing is best effort: a failure is logged and never affects the package.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from . import metrics
from .outcomes import RunOutcome, change_counts
from .settings import Settings

SOURCE = "com.quiltdata.qps"
log = logging.getLogger("qps.notices")


def notice_for(outcome: RunOutcome) -> tuple[str, dict[str, Any]] | None:
    """(detail-type, detail) for an outcome about a package request; None for events without one."""
    if outcome.request is None or outcome.status in ("planned", "ignored"):
        return None
    kind = {"created": "package-created", "unchanged": "package-unchanged"}.get(outcome.status, "package-failed")
    data = outcome.as_dict()
    detail = {
        "status": outcome.status,
        "registry": data["registry"],
        "package_name": data["package_name"],
        "top_hash": data["top_hash"],
        "source_prefix": data["source_prefix"],
        "adapter": outcome.adapter,
        "files": data["files"],
        "bytes": data["bytes"],
        "error": outcome.error,
        "retryable": outcome.retryable,
    }
    if outcome.changes is not None:
        detail["changes"] = change_counts(outcome.changes)
    if outcome.rocrate is not None:
        detail["rocrate"] = outcome.rocrate  # {mode, parts, validation}: what the crate decided
    return kind, detail


class Notifier:
    """Publishes notices on `settings.event_bus_name` and `settings.notice_topic_arn` (each optional)."""

    def __init__(self, settings: Settings, *, session: Any = None) -> None:
        self.settings = settings
        self._session = session
        self._events: Any = None
        self._sns: Any = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.event_bus_name or self.settings.notice_topic_arn)

    def _client(self, service: str) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session()
        return self._session.client(service, endpoint_url=self.settings.endpoint_url)

    def publish(self, outcome: RunOutcome) -> None:
        notice = notice_for(outcome)
        if notice is None or not self.enabled:
            return
        kind, detail = notice
        body = json.dumps(detail, ensure_ascii=False)
        if self.settings.event_bus_name:
            try:
                if self._events is None:
                    self._events = self._client("events")
                resp = self._events.put_events(
                    Entries=[
                        {
                            "Source": SOURCE,
                            "DetailType": kind,
                            "Detail": body,
                            "EventBusName": self.settings.event_bus_name,
                        }
                    ]
                )
                if resp.get("FailedEntryCount"):
                    metrics.notice_not_published()
                    entry = resp["Entries"][0]
                    log.warning(
                        "notice %s not published on bus %s: %s %s",
                        kind,
                        self.settings.event_bus_name,
                        entry.get("ErrorCode"),
                        entry.get("ErrorMessage"),
                    )
            except Exception as exc:
                metrics.notice_not_published()
                log.warning("notice %s not published on bus %s: %s", kind, self.settings.event_bus_name, exc)
        if self.settings.notice_topic_arn:
            try:
                if self._sns is None:
                    self._sns = self._client("sns")
                self._sns.publish(
                    TopicArn=self.settings.notice_topic_arn,
                    Subject=f"QPS {kind}: {detail['package_name']}"[:100],
                    Message=json.dumps({"detail-type": kind, "source": SOURCE, "detail": detail}, ensure_ascii=False),
                    MessageAttributes={"detail-type": {"DataType": "String", "StringValue": kind}},
                )
            except Exception as exc:
                metrics.notice_not_published()
                log.warning("notice %s not published on topic %s: %s", kind, self.settings.notice_topic_arn, exc)
