"""A job: one package request and what became of it (docs/design.md §7).

Pure data: no AWS, no web framework. The job stores, the API, the local worker pool and the queue
path's recorder all share these types.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "failed"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed"})


def now_iso() -> str:
    """UTC, millisecond precision, lexically sortable."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_last_stamp = 0
_stamp_lock = threading.Lock()


def new_job_id() -> str:
    """Time-ordered (strictly increasing within a process) and unguessable: 14 hex digits of
    microseconds, then 18 random ones."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns() // 1000, _last_stamp + 1)
        stamp = _last_stamp
    return f"{stamp:014x}{os.urandom(9).hex()}"


def queue_job_id(message_id: str, index: int) -> str:
    """The job of the `index`-th request of an SQS message: a redelivery finds the same job."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"qps:sqs:{message_id}#{index}").hex


class Trigger(BaseModel):
    """What asked for the package."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="api, sqs, eventbridge, cli, ... (the entry point that received the request)")
    adapter: str | None = Field(None, description="The adapter that planned the request, when one did.")
    event_id: str | None = Field(None, description="The SQS message id or event id, when there is one.")


class Changes(BaseModel):
    """What a created revision changed against the previous `latest`, by logical key and hash."""

    model_config = ConfigDict(extra="forbid")

    added: int = Field(ge=0, description="Entries whose logical key the previous revision did not have.")
    removed: int = Field(ge=0, description="Entries of the previous revision that are gone.")
    modified: int = Field(ge=0, description="Same logical key, another hash.")
    unchanged: int = Field(ge=0, description="Same logical key and hash.")
    keys: dict[Literal["added", "removed", "modified", "unchanged"], list[str]] = Field(
        default_factory=dict, description="Up to 100 logical keys per kind (the counts are exact)."
    )


class JobResult(BaseModel):
    """The packager's outcome for a succeeded job."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["created", "unchanged"]
    registry: str
    package_name: str
    top_hash: str
    files: int
    bytes: int
    quilt_uri: str = Field(description="quilt+s3://registry#package=name@top_hash")
    changes: Changes | None = Field(
        None, description="On `created`: what changed against the previous latest revision (first: all added)."
    )
    rocrate: dict[str, Any] | None = Field(
        None,
        description="A package that followed an RO-Crate: {mode: parts|folder, parts, validation: {level, issues}}.",
    )


class Problem(BaseModel):
    """RFC 9457 problem details, plus `retryable`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="A URI naming the kind of problem (see docs/api.md).")
    title: str
    status: int = Field(ge=100, le=599)
    detail: str = Field(description="One line, the same message the CLI prints.")
    retryable: bool = False


class Job(BaseModel):
    """A stored job. `run_after` (epoch seconds) delays a retried job; it is internal to the stores."""

    model_config = ConfigDict(extra="forbid")

    id: str
    status: JobStatus = "queued"
    created_at: str = Field(default_factory=now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    parent_id: str | None = None
    trigger: Trigger
    request: dict[str, Any]
    result: JobResult | None = None
    error: Problem | None = None
    run_after: float = 0.0

    @property
    def registry(self) -> str | None:
        return self.request.get("registry")

    @property
    def package_name(self) -> str | None:
        return self.request.get("package_name")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def as_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def quilt_uri(registry: str, package_name: str, top_hash: str) -> str:
    return f"quilt+s3://{registry}#package={package_name}@{top_hash}"


def body_fingerprint(body: Any) -> str:
    """What an Idempotency-Key is bound to: the parsed body as canonical JSON (key order and
    whitespace do not make two bodies different; any value does)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
