"""AWS: hand a queued job to the QuiltPackager queue; the queue's function runs it (docs/design.md §7).

The message body is the job's normalised request (a native package description, so any consumer
of the queue understands it); the attribute `qps-job-id` names the job, so the queue handler
updates that job rather than making a new one. Transient send failures are retried with backoff.
"""

from __future__ import annotations

import json
from typing import Any

from .. import aws
from ..errors import TransientError
from .model import Job
from .recorder import JOB_ID_ATTRIBUTE
from .store import with_retries


class QueueDispatcher:
    sqs = aws.LazyClient("sqs")

    def __init__(self, queue_url: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.queue_url = queue_url
        self.endpoint_url = endpoint_url
        self._sqs = client

    def submit(self, job: Job) -> None:
        params: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MessageBody": json.dumps(job.request, ensure_ascii=False, separators=(",", ":")),
            "MessageAttributes": {JOB_ID_ATTRIBUTE: {"DataType": "String", "StringValue": job.id}},
        }
        if self.queue_url.endswith(".fifo"):
            params["MessageGroupId"] = job.request.get("source_prefix", "qps")[:128]
            params["MessageDeduplicationId"] = job.id
        try:
            send = lambda: self.sqs.send_message(**params)  # noqa: E731
            with_retries(send, is_transient=aws.is_transient, what="send to the queue")
        except Exception as exc:
            raise TransientError(f"could not send job {job.id} to the queue: {type(exc).__name__}") from exc
