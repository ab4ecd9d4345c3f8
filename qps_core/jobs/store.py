"""The job store interface (docs/design.md §7) and how the configured one is opened.

Two implementations: `SqliteJobStore` (the local default, a file in QPS's data directory) and
`DynamoJobStore` (AWS). Both pass the same conformance suite (tests/jobs/test_store_conformance.py).
Neither imports a web framework; `DynamoJobStore` imports boto3 only when used. `open_job_store`
(in `qps_core.jobs.opening`) picks the configured one.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..errors import QPSError, TransientError
from .model import Job

T = TypeVar("T")
IDEMPOTENCY_SECONDS = 48 * 3600  # keys are kept at least 24 h (docs/design.md §7); we keep 48 h
MAX_PAGE = 100


class JobStoreError(QPSError):
    """The job store refused or failed an operation (permanent)."""


class JobStoreUnavailable(TransientError):
    """The job store did not answer (retried with backoff before this is raised)."""


class IdempotencyMismatch(JobStoreError):
    """The Idempotency-Key was used before with a different body."""


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key as the store keeps it: scoped to the caller, bound to the body."""

    scope: str  # who asked: a token's hash prefix, an IAM principal, or "anonymous"
    key: str
    fingerprint: str

    @property
    def store_key(self) -> str:
        return f"{self.scope}\x1f{self.key}"


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    next_cursor: str | None


@runtime_checkable
class JobStore(Protocol):
    """Where jobs live. Every method is safe to call from several threads and processes."""

    def create(self, job: Job, idempotency: IdempotencyClaim | None = None) -> tuple[Job, bool]:
        """Store a new job. With a claim, atomically: if the claim's key exists, return
        `(existing job, False)` when the fingerprint matches, raise `IdempotencyMismatch` when not;
        two concurrent creates with one key make one job. Otherwise `(job, True)`."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def put(self, job: Job) -> None:
        """Create or overwrite (the queue path: a redelivery updates the same job)."""
        ...

    def transition(
        self, job_id: str, expected: Iterable[str], *, when: Callable[[Job], bool] | None = None, **changes: Any
    ) -> Job | None:
        """Apply `changes` only if the job's status is one of `expected` (and `when(job)` holds);
        the updated job, or None when it does not exist or did not match (someone else moved it
        first). A change may be a function of the current job (e.g. `attempts=lambda job:
        job.attempts + 1`); both are evaluated atomically with the update."""
        ...

    def list(
        self,
        *,
        status: str | None = None,
        registry: str | None = None,
        package_name: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> JobPage:
        """Jobs newest first (or oldest first), filtered; `cursor` is opaque (from `next_cursor`)."""
        ...

    def delete(self, job_id: str, idempotency: IdempotencyClaim | None = None) -> None:
        """Remove a job (and its key) that could not be queued after all."""
        ...

    def ping(self) -> None:
        """Raise if the store does not answer (health check)."""
        ...


class BadCursor(JobStoreError):
    """A cursor that this store did not hand out."""


def apply_changes(current: Job, changes: dict[str, Any]) -> Job:
    """`current` with `changes` applied (callables get the current job; models become JSON)."""
    plain: dict[str, Any] = {}
    for name, value in changes.items():
        if callable(value):
            value = value(current)
        plain[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    return Job.model_validate({**current.as_document(), **plain})


def encode_cursor(created_at: str, job_id: str, oldest_first: bool) -> str:
    raw = json.dumps([created_at, job_id, "asc" if oldest_first else "desc"], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, oldest_first: bool) -> tuple[str, str]:
    """The (created_at, id) a page ended at; `BadCursor` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        created_at, job_id, direction = json.loads(raw)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise BadCursor("cursor: is not a cursor this API handed out") from None
    if not (isinstance(created_at, str) and isinstance(job_id, str)) or direction != (
        "asc" if oldest_first else "desc"
    ):
        raise BadCursor("cursor: is not a cursor this API handed out")
    return created_at, job_id


def with_retries(
    operation: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    what: str,
    attempts: int = 4,
    base_delay: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `operation`; retry transient failures with jittered exponential backoff (bounded), then
    raise `JobStoreUnavailable` with one line naming `what`."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except Exception as exc:
            if isinstance(exc, QPSError) or not is_transient(exc):
                raise
            if attempt == attempts:
                raise JobStoreUnavailable(f"the job store did not answer ({what}): {type(exc).__name__}") from exc
            sleep(base_delay * (2 ** (attempt - 1)) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover
