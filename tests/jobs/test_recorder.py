"""The queue path reports too: the SQS handler and `qps worker` record a job per planned request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qps_core.errors import PermanentError, TransientError
from qps_core.jobs.model import Job, Trigger, new_job_id, queue_job_id
from qps_core.jobs.recorder import JobRecorder
from qps_core.jobs.sqlite import SqliteJobStore
from qps_core.runner import Runner
from qps_core.runtime.sqs_batch import BatchProcessor
from qps_core.settings import Settings
from tests.jobs.test_pool import FakePackager, NoNotices

ROOT = Path(__file__).resolve().parents[2]
TWO_CRATES = json.loads((ROOT / "tests" / "fixtures" / "events" / "s3n-direct-two-crates.json").read_text())


def record(body: Any, message_id: str = "m-1", receive_count: int = 1, job_id: str | None = None) -> dict[str, Any]:
    attributes = {"qps-job-id": {"stringValue": job_id, "dataType": "String"}} if job_id else {}
    return {
        "messageId": message_id,
        "receiptHandle": "rh",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": attributes,
        "eventSource": "aws:sqs",
    }


def processor(tmp_path: Path, packager: FakePackager, max_attempts: int = 3) -> tuple[BatchProcessor, SqliteJobStore]:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    runner = Runner(Settings(), packager=packager, notifier=NoNotices())
    return BatchProcessor(runner, jobs=JobRecorder(store, max_attempts)), store


def test_every_planned_request_of_a_message_gets_a_job_and_redelivery_updates_them(tmp_path: Path) -> None:
    proc, store = processor(tmp_path, FakePackager())
    assert proc.process_record(record(TWO_CRATES)).decision == "done"
    ids = [queue_job_id("m-1", 0), queue_job_id("m-1", 1)]
    jobs = [store.get(i) for i in ids]
    assert [j.status for j in jobs if j] == ["succeeded", "succeeded"]
    assert {j.package_name for j in jobs if j} == {"my-project/run-9", "nf-prov/rnaseq"}
    assert jobs[0].trigger == Trigger(kind="sqs", adapter="rocrate", event_id="m-1")

    proc.process_record(record(TWO_CRATES, receive_count=2))  # SQS delivers it again
    assert sorted(j.id for j in store.list().items) == sorted(ids)
    assert [store.get(i).attempts for i in ids] == [2, 2]


def test_a_transient_failure_stays_queued_until_sqs_gives_up(tmp_path: Path) -> None:
    body = {"source_prefix": "s3://data-bucket/run/1", "registry": "reg-bucket"}
    proc, store = processor(tmp_path, FakePackager([TransientError("SlowDown")] * 3), max_attempts=2)
    job_id = queue_job_id("m-9", 0)
    assert proc.process_record(record(body, "m-9", 1)).decision == "retry"
    first = store.get(job_id)
    assert first is not None and first.status == "queued" and first.error is not None and first.error.retryable
    assert proc.process_record(record(body, "m-9", 2)).decision == "retry"
    last = store.get(job_id)
    assert last is not None and last.status == "failed" and last.attempts == 2 and last.error.retryable


def test_a_permanent_failure_fails_the_job(tmp_path: Path) -> None:
    body = {"source_prefix": "s3://data-bucket/run/1", "registry": "reg-bucket"}
    proc, store = processor(tmp_path, FakePackager([PermanentError("the folder is empty")]))
    assert proc.process_record(record(body, "m-2")).decision == "dead-lettered"
    job = store.get(queue_job_id("m-2", 0))
    assert job is not None and job.status == "failed" and job.error is not None
    assert job.error.retryable is False and job.error.detail == "the folder is empty"


def test_a_message_from_the_api_updates_its_job(tmp_path: Path) -> None:
    proc, store = processor(tmp_path, FakePackager())
    request = {"source_prefix": "s3://data-bucket/run/1/", "registry": "reg-bucket", "package_name": "run/1"}
    job, _ = store.create(Job(id=new_job_id(), trigger=Trigger(kind="api"), request=request))
    proc.process_record(record(request, "m-3", job_id=job.id))
    done = store.get(job.id)
    assert done is not None and done.status == "succeeded" and done.trigger.kind == "api" and done.attempts == 1
    assert [j.id for j in store.list().items] == [job.id]  # no second job for the same request


def test_an_api_message_rejected_before_packaging_fails_its_job(tmp_path: Path) -> None:
    proc, store = processor(tmp_path, FakePackager())
    job, _ = store.create(Job(id=new_job_id(), trigger=Trigger(kind="api"), request={"source_prefix": "s3://x/y/"}))
    proc.process_record(record({"source_prefix": "ftp://x/y"}, "m-4", job_id=job.id))
    failed = store.get(job.id)
    assert failed is not None and failed.status == "failed" and failed.error is not None
    assert failed.error.detail.startswith("source_prefix:") and not failed.error.retryable


def test_ignored_and_rejected_events_are_not_jobs(tmp_path: Path) -> None:
    proc, store = processor(tmp_path, FakePackager())
    proc.process_record(record({"source_prefix": "ftp://x/y"}, "m-5"))
    proc.process_record(record({"source": "aws.omics", "detail-type": "Run Status Change", "detail": {}}, "m-6"))
    assert store.list().items == []


def test_a_job_store_that_fails_never_stops_packaging(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Down:
        def __getattr__(self, name: str) -> Any:
            def fail(*args: Any, **kwargs: Any) -> Any:
                raise TransientError("the job store did not answer")

            return fail

    packager = FakePackager()
    runner = Runner(Settings(), packager=packager, notifier=NoNotices())
    proc = BatchProcessor(runner, jobs=JobRecorder(Down()))
    body = {"source_prefix": "s3://data-bucket/run/1", "registry": "reg-bucket"}
    assert proc.process_record(record(body, "m-7", job_id="j1")).decision == "done"
    assert packager.calls == 1 and "could not record" in caplog.text
