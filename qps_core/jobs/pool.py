"""The local worker pool of `qps serve`: a bounded number of threads run queued jobs from the store.

The store is the queue: a job is claimed by moving it `queued → running` (a conditional update), so
queued jobs survive a restart and run after it. At start, jobs left `running` by a process that
died are queued again. `stop()` lets running jobs finish within a grace period and queues again the
ones that do not (packaging is idempotent: running one twice finds it `unchanged`). Nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from .execute import run_claimed
from .model import Job, now_iso

if TYPE_CHECKING:
    from ..runner import Runner
    from .store import JobStore

log = logging.getLogger("qps.jobs")


class LocalPool:
    """A dispatcher (`submit`) and executor in one: `workers` threads over a `JobStore`."""

    def __init__(
        self,
        store: JobStore,
        runner: Runner,
        *,
        workers: int = 2,
        max_attempts: int = 3,
        poll_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.runner = runner
        self.workers = workers
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, Job] = {}
        self._lock = threading.Lock()

    # -- dispatcher ---------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """The job is stored `queued` already: wake a worker."""
        with self._wake:
            self._wake.notify()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> int:
        """Queue again what a previous process left running; start the workers. Returns that count."""
        requeued = self.requeue_running()
        for n in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"qps-job-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return requeued

    def requeue_running(self) -> int:
        count = 0
        while True:
            page = self.store.list(status="running", limit=100)
            moved = [j for j in page.items if self.store.transition(j.id, {"running"}, status="queued")]
            count += len(moved)
            if not page.items or not moved:
                return count

    def stop(self, grace_seconds: float = 30.0) -> list[str]:
        """Stop claiming; wait for running jobs up to `grace_seconds`; queue again those still
        running. Returns the ids queued again."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = list(self._running)
        requeued = [job_id for job_id in left if self.store.transition(job_id, {"running"}, status="queued")]
        for job_id in requeued:
            log.warning("job %s did not finish before shutdown: queued again", job_id)
        return requeued

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._running)

    # -- workers ------------------------------------------------------------------------------
    def claim(self) -> Job | None:
        """The oldest queued job that is due, moved to `running` by this process; None if none."""
        cursor = None
        now = time.time()
        while True:
            page = self.store.list(status="queued", oldest_first=True, limit=100, cursor=cursor)
            for job in page.items:
                if job.run_after > now:
                    continue
                claimed = self.store.transition(
                    job.id, {"queued"}, when=_due, status="running", started_at=now_iso(), attempts=_one_more
                )
                if claimed is not None:
                    return claimed
            if page.next_cursor is None:
                return None
            cursor = page.next_cursor

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.claim()
            except Exception as exc:
                log.warning("could not claim a job: %s", type(exc).__name__)
                job = None
            if job is None:
                with self._wake:
                    self._wake.wait(self.poll_seconds)
                continue
            with self._lock:
                self._running[job.id] = job
            try:
                run_claimed(self.runner, self.store, job, self.max_attempts)
            except Exception:
                log.exception("job %s could not be recorded", job.id)
            finally:
                with self._lock:
                    self._running.pop(job.id, None)


def _due(job: Job) -> bool:
    """Checked again inside the claim: another worker may have run and delayed it since listing."""
    return job.run_after <= time.time()


def _one_more(job: Job) -> int:
    return job.attempts + 1
