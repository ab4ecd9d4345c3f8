"""Run one job through the runner's packager, and turn a run outcome into the job's new state.

Shared by the local pool (`pool.py`) and the queue path's recorder (`recorder.py`), so a job ends the
same way whichever process ran it.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Any

from .. import logs, metrics
from ..errors import InvalidInput
from ..models import PackageRequest
from .model import Job, JobResult, Problem, now_iso, quilt_uri

if TYPE_CHECKING:
    from ..outcomes import RunOutcome
    from ..runner import Runner
    from .store import JobStore

log = logging.getLogger("qps.jobs")
MAX_BACKOFF_SECONDS = 300


def backoff_seconds(attempts: int, retry_after: int | None = None) -> float:
    """Seconds before the next try: the packager's hint, else 2, 4, 8 … (jittered, bounded)."""
    if retry_after:
        return float(min(retry_after, MAX_BACKOFF_SECONDS))
    return min(2.0 ** max(attempts, 1), MAX_BACKOFF_SECONDS) * (0.75 + random.random() / 2)


def problem_of(outcome: RunOutcome) -> Problem:
    detail = outcome.error or outcome.reason or outcome.status
    if outcome.status == "rejected":
        return Problem(
            type="urn:qps:problem:invalid-request", title="Invalid request", status=422, detail=detail, retryable=False
        )
    if outcome.retryable:
        return Problem(
            type="urn:qps:problem:packaging-unavailable",
            title="Packaging failed (transient)",
            status=503,
            detail=detail,
            retryable=True,
        )
    return Problem(
        type="urn:qps:problem:packaging-failed", title="Packaging failed", status=422, detail=detail, retryable=False
    )


def finish_changes(outcome: RunOutcome, attempts: int, max_attempts: int) -> dict[str, Any]:
    """The job fields after a run: succeeded, queued again (transient, tries left) or failed."""
    if outcome.status in ("created", "unchanged") and outcome.request is not None and outcome.top_hash:
        req = outcome.request
        result = JobResult(
            status=outcome.status,
            registry=req.registry,
            package_name=req.package_name,
            top_hash=outcome.top_hash,
            files=outcome.files or 0,
            bytes=outcome.bytes or 0,
            quilt_uri=quilt_uri(req.registry, req.package_name, outcome.top_hash),
            changes=outcome.changes,
        )
        if outcome.rocrate is not None:
            result.rocrate = outcome.rocrate
        return {"status": "succeeded", "finished_at": now_iso(), "result": result, "error": None}
    problem = problem_of(outcome)
    if outcome.status == "failed" and outcome.retryable and attempts < max_attempts:
        delay = backoff_seconds(attempts, outcome.retry_after)
        return {"status": "queued", "error": problem, "run_after": time.time() + delay}
    return {"status": "failed", "finished_at": now_iso(), "error": problem, "result": None}


def run_request(runner: Runner, job: Job) -> RunOutcome:
    """Package the job's request (it was parsed when accepted) and publish the completion notice."""
    from ..outcomes import RunOutcome

    try:
        request = PackageRequest.parse(job.request, **runner.settings.request_context())
    except InvalidInput as exc:  # the settings changed since it was accepted (allowed_registries)
        return RunOutcome("rejected", job.trigger.adapter, error=str(exc))
    return runner.package(request, job.trigger.adapter)


def run_claimed(runner: Runner, store: JobStore, job: Job, max_attempts: int) -> Job | None:
    """Run a job this process has moved to `running`; record its end. None if someone else moved it."""
    with logs.bound(job_id=job.id):
        return _run_claimed(runner, store, job, max_attempts)


def _run_claimed(runner: Runner, store: JobStore, job: Job, max_attempts: int) -> Job | None:
    try:
        outcome = run_request(runner, job)
    except Exception as exc:  # a bug: keep the job, count it as a transient failure
        from ..errors import describe_exception
        from ..outcomes import RunOutcome

        log.exception("job %s failed unexpectedly", job.id)
        outcome = RunOutcome("failed", job.trigger.adapter, error=describe_exception(exc), retryable=True)
    changes = finish_changes(outcome, job.attempts, max_attempts)
    ended = store.transition(job.id, {"running"}, **changes)
    if ended is not None:
        metrics.job_status(ended.status)
        log.info("job %s %s", job.id, ended.status)
    return ended
