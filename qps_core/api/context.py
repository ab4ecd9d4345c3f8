"""What the API app is built from: one explicit object, so the same app runs under `qps serve`
(SQLite + an in-process worker pool), in Lambda (DynamoDB + the QuiltPackager queue) and in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..jobs.model import Job
    from ..jobs.store import JobStore
    from ..runner import Runner
    from ..settings import Settings


class Dispatcher(Protocol):
    """Hands a stored `queued` job to whatever runs it.

    `LocalPool` (qps_core/jobs/pool.py) wakes its worker threads; `QueueDispatcher`
    (qps_core/jobs/dispatch.py) sends the request to the QuiltPackager queue with the job id as a
    message attribute. `submit` raises (a QPSError) when the job could not be handed over: the API
    then removes the job again and answers 503, so nothing is left queued that nobody will run.
    """

    def submit(self, job: Job) -> None: ...


@dataclass
class ApiContext:
    """Everything a request handler needs. Built once per process (per Lambda cold start)."""

    settings: Settings
    runner: Runner
    jobs: JobStore
    dispatcher: Dispatcher
    # S3 health probe: returns None when S3 answers, else a one-line reason. None skips the check.
    s3_probe: Any = None
    # Free-form extras for routers mounted later (the admin page keeps its settings store here).
    extras: dict[str, Any] = field(default_factory=dict)
