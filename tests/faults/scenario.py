"""Deliveries as the queue makes them: the same request again after a transient failure, notices counted."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from qps_core import envelopes
from qps_core.notices import notice_for
from qps_core.packaging.packager import Packager
from qps_core.runner import Runner
from qps_core.settings import Settings


class NoticeLog:
    """A notifier that records the detail-type of every notice the runner publishes."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    def publish(self, outcome: Any) -> None:
        notice = notice_for(outcome)
        if notice is not None:
            self.kinds.append(notice[0])


@dataclass
class Delivery:
    statuses: list[str] = field(default_factory=list)  # per attempt: created / unchanged / failed / rejected
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    retryable: list[bool] = field(default_factory=list)

    @property
    def final(self) -> str:
        return self.statuses[-1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def deliver(
    packager: Packager, body: dict[str, Any], *, attempts: int = 8, settings: Settings | None = None
) -> Delivery:
    """Run `body` through the real runner until it succeeds or fails for good (as SQS redelivers)."""
    notices = NoticeLog()
    runner = Runner(settings or packager.settings, packager=packager, notifier=notices)
    (event,) = envelopes.unwrap(json.loads(json.dumps(body)))
    out = Delivery(notices=notices.kinds)
    for _ in range(attempts):
        _, (outcome,) = runner.run_event(event)
        out.statuses.append(outcome.status)
        out.errors.append(outcome.error or "")
        out.retryable.append(outcome.retryable)
        if not (outcome.status == "failed" and outcome.retryable):
            break
    return out
