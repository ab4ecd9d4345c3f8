"""What the runner reports: a `Plan` per event (what the adapters decided) and a `RunOutcome` per
package request (what packaging did). Plain data, imported by the runner, the notices, the SQS batch
code, the Lambda handler and the CLI; it depends only on the request model and the event type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .events import Event
    from .models import PackageRequest
    from .packaging import PackageResult

PlanStatus = Literal["planned", "ignored", "rejected"]
RunStatus = Literal["created", "unchanged", "planned", "ignored", "rejected", "failed"]


@dataclass
class Plan:
    """What the adapters decided about one event."""

    event: Event
    status: PlanStatus
    adapter: str | None = None
    requests: list[PackageRequest] = field(default_factory=list)
    reason: str | None = None  # when ignored
    error: str | None = None  # when rejected
    also_claimed_by: list[str] = field(default_factory=list)
    adapter_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "adapter": self.adapter,
            "packages": [r.normalised() for r in self.requests],
        }
        if self.status == "ignored":
            out["reason"] = self.reason
        if self.status == "rejected":
            out["error"] = self.error
        if self.also_claimed_by:
            out["also_claimed_by"] = self.also_claimed_by
        if self.adapter_errors:
            out["adapter_errors"] = self.adapter_errors
        return out


@dataclass
class RunOutcome:
    """What happened to one package request (or to an event that produced none)."""

    status: RunStatus
    adapter: str | None = None
    request: PackageRequest | None = None
    top_hash: str | None = None
    files: int | None = None
    bytes: int | None = None
    error: str | None = None
    reason: str | None = None
    retryable: bool = False
    retry_after: int | None = None  # seconds, when the source folder is not ready yet
    changes: dict[str, Any] | None = None  # on `created`: counts and keys per kind (docs/design.md §12)
    rocrate: dict[str, Any] | None = None  # a crate-directed package: {mode, parts, validation}

    @classmethod
    def packaged(cls, adapter: str | None, result: PackageResult) -> RunOutcome:
        """The outcome of a request the packager built or found unchanged (the request as packaged)."""
        outcome = cls(result.status, adapter, result.request, result.top_hash, result.files, result.bytes)
        outcome.changes = changes_of(result)
        outcome.rocrate = result.rocrate
        return outcome

    def as_dict(self) -> dict[str, Any]:
        req = self.request
        return {
            "status": self.status,
            "adapter": self.adapter,
            "registry": req.registry if req else None,
            "package_name": req.package_name if req else None,
            "source_prefix": req.source_prefix if req else None,
            "top_hash": self.top_hash,
            "files": self.files,
            "bytes": self.bytes,
            "error": self.error or self.reason,
            **({"retryable": True} if self.retryable else {}),
            **({"changes": change_counts(self.changes)} if self.changes is not None else {}),
            **({"rocrate": self.rocrate} if self.rocrate is not None else {}),
        }


CHANGE_KINDS = ("added", "removed", "modified", "unchanged")


def changes_of(result: PackageResult) -> dict[str, Any] | None:
    """A created result's changes as plain data (None when unchanged or not computed)."""
    changes = getattr(result, "changes", None)
    return None if changes is None or result.status != "created" else changes.as_dict()


def change_counts(changes: dict[str, Any]) -> dict[str, int]:
    """The counts only (what `qps replay --json` and the completion notice carry)."""
    return {kind: int(changes.get(kind, 0)) for kind in CHANGE_KINDS}
