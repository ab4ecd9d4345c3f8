"""The queue path reports too: a job for every planned request the SQS handler or `qps worker` runs.

A message sent by the API carries its job's id in the message attribute `qps-job-id`: that job is
updated. Any other message's requests get ids derived from the SQS message id and the request's
index, so a redelivery updates the same job instead of adding one. `attempts` is SQS's receive
count; a transient failure leaves the job `queued` (SQS retries it) until `job_max_attempts`
receives, then `failed`. Recording never stops packaging: a store that does not answer is logged.

The job model is imported only when there is a store to record into: a Lambda without a jobs table
does not pay for it at cold start.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import metrics

if TYPE_CHECKING:
    from ..outcomes import RunOutcome
    from .store import JobStore

log = logging.getLogger("qps.jobs")
JOB_ID_ATTRIBUTE = "qps-job-id"


def job_id_attribute(record: dict[str, Any]) -> str | None:
    """The `qps-job-id` message attribute of a Lambda SQS record, if any."""
    attrs = record.get("messageAttributes") or {}
    value = (attrs.get(JOB_ID_ATTRIBUTE) or {}).get("stringValue") or (attrs.get(JOB_ID_ATTRIBUTE) or {}).get(
        "StringValue"
    )
    return str(value) if value else None


def _receive_count(record: dict[str, Any]) -> int:
    try:
        return max(1, int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1


class JobRecorder:
    """Records the jobs of the queue path into a `JobStore` (None: records nothing)."""

    def __init__(self, store: JobStore | None, max_attempts: int = 3) -> None:
        self.store = store
        self.max_attempts = max_attempts

    def started(self, record: dict[str, Any]) -> None:
        """A message sent by the API is about to run: its job becomes `running`."""
        job_id = job_id_attribute(record)
        if self.store is None or not job_id:
            return
        from .model import now_iso

        try:
            self.store.transition(
                job_id, {"queued", "running"}, status="running", started_at=now_iso(), attempts=_receive_count(record)
            )
        except Exception as exc:
            log.warning("could not mark job %s running: %s", job_id, exc)

    def finished(self, record: dict[str, Any], outcomes: list[RunOutcome]) -> None:
        """Record every planned request of the message (and close an API job whose message
        was rejected before anything could be packaged)."""
        if self.store is None:
            return
        from .model import queue_job_id

        message_id = str(record.get("messageId") or "")
        api_job = job_id_attribute(record)
        requested = [o for o in outcomes if o.request is not None]
        try:
            if api_job and not requested:
                self._close_unplanned(api_job, outcomes)
            for index, outcome in enumerate(requested):
                job_id = api_job if api_job and index == 0 else queue_job_id(message_id, index)
                self._record(job_id, record, outcome)
        except Exception as exc:
            log.warning("could not record the jobs of message %s: %s", message_id, exc)

    def _record(self, job_id: str, record: dict[str, Any], outcome: RunOutcome) -> None:
        assert self.store is not None and outcome.request is not None
        from .execute import finish_changes
        from .model import Job, Trigger, now_iso

        attempts = _receive_count(record)
        changes = finish_changes(outcome, attempts, self.max_attempts)
        existing = self.store.get(job_id)
        if existing is None:
            existing = Job(
                id=job_id,
                trigger=Trigger(kind="sqs", adapter=outcome.adapter, event_id=record.get("messageId")),
                request=outcome.request.normalised(),
            )
        started = existing.started_at if existing.status == "running" and existing.started_at else now_iso()
        self.store.put(existing.model_copy(update={"attempts": attempts, "started_at": started, **changes}))
        metrics.job_status(changes["status"])

    def _close_unplanned(self, job_id: str, outcomes: list[RunOutcome]) -> None:
        assert self.store is not None
        from .execute import problem_of
        from .model import Problem, now_iso

        first = outcomes[0] if outcomes else None
        problem = (
            problem_of(first)
            if first is not None
            else Problem(title="Invalid request", status=422, detail="the message held no request")
        )
        if self.store.transition(
            job_id, {"queued", "running"}, status="failed", finished_at=now_iso(), error=problem, result=None
        ):
            metrics.job_status("failed")
