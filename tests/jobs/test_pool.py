"""The local worker pool: bounded retries with backoff, a restart loses no queued job, Ctrl-C loses none."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from qps_core.errors import NotReadyError, PermanentError, TransientError
from qps_core.jobs import execute
from qps_core.jobs.model import Job, Trigger, new_job_id
from qps_core.jobs.pool import LocalPool
from qps_core.jobs.sqlite import SqliteJobStore
from qps_core.models import PackageRequest
from qps_core.packaging import PackageResult as Result
from qps_core.runner import Runner
from qps_core.settings import Settings


class FakePackager:
    """Answers like the packager; fails as scripted first (a list of exceptions, consumed in order)."""

    def __init__(self, failures: list[Exception] | None = None, gate: threading.Event | None = None) -> None:
        self.failures = list(failures or [])
        self.calls = 0
        self.gate = gate
        self.started = threading.Event()

    def package(self, request: PackageRequest) -> Result:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            self.gate.wait(30)
        if self.failures:
            raise self.failures.pop(0)
        return Result("created", "f" * 64, 2, 20, request)


class NoNotices:
    def publish(self, outcome: Any) -> None:
        pass


def queued_job(n: int = 0) -> Job:
    request = PackageRequest.parse({"source_prefix": f"s3://data-bucket/run/{n}", "registry": "reg-bucket"})
    return Job(id=new_job_id(), trigger=Trigger(kind="api"), request=request.normalised())


def make_pool(tmp_path: Path, packager: FakePackager, **kwargs: Any) -> tuple[LocalPool, SqliteJobStore]:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    runner = Runner(Settings(), packager=packager, notifier=NoNotices())
    return LocalPool(store, runner, poll_seconds=0.02, **kwargs), store


def wait_finished(store: SqliteJobStore, job_id: str, timeout: float = 20) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        assert job is not None
        if job.finished:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {store.get(job_id)}")


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    asked: list[tuple[int, int | None]] = []

    def backoff(attempts: int, retry_after: int | None = None) -> float:
        asked.append((attempts, retry_after))
        return 0.05

    monkeypatch.setattr(execute, "backoff_seconds", backoff)
    return asked


def run_one_job(tmp_path: Path, packager: FakePackager, max_attempts: int = 3) -> Job:
    """One queued job through a started pool (three attempts at most), as it finished."""
    pool, store = make_pool(tmp_path, packager, max_attempts=max_attempts)
    job, _ = store.create(queued_job())
    pool.start()
    try:
        return wait_finished(store, job.id)
    finally:
        pool.stop(5)


def test_transient_failures_are_retried_with_backoff_then_succeed(tmp_path: Path, fast_backoff: list[Any]) -> None:
    packager = FakePackager([TransientError("SlowDown"), NotReadyError("still writing", retry_after=7)])
    done = run_one_job(tmp_path, packager)
    assert done.status == "succeeded" and done.attempts == 3 and packager.calls == 3
    assert done.error is None and done.result is not None and done.result.top_hash == "f" * 64
    assert fast_backoff == [(1, None), (2, 7)]  # the packager's retry-after hint is honoured


def test_retries_are_bounded_then_the_job_fails_retryable(tmp_path: Path) -> None:
    packager = FakePackager([TransientError("SlowDown")] * 5)
    done = run_one_job(tmp_path, packager)
    assert done.status == "failed" and done.attempts == 3 and packager.calls == 3
    assert done.error is not None and done.error.retryable is True and done.error.detail == "SlowDown"


def test_a_permanent_failure_is_not_retried(tmp_path: Path) -> None:
    packager = FakePackager([PermanentError("access denied to s3://data-bucket/run/0/")])
    done = run_one_job(tmp_path, packager)
    assert done.status == "failed" and done.attempts == 1 and packager.calls == 1
    assert done.error is not None and done.error.retryable is False


def test_queued_jobs_survive_a_restart(tmp_path: Path) -> None:
    gate = threading.Event()
    blocked = FakePackager(gate=gate)
    first, store = make_pool(tmp_path, blocked, workers=1)
    jobs = [store.create(queued_job(n))[0] for n in range(3)]
    first.start()
    assert blocked.started.wait(10)
    left = first.stop(grace_seconds=0)  # Ctrl-C while one job runs: it is queued again, the rest stay queued
    assert len(left) == 1
    assert [store.get(j.id).status for j in jobs] == ["queued"] * 3
    gate.set()

    second, _ = make_pool(tmp_path, FakePackager(), workers=2)
    second.start()
    try:
        assert [wait_finished(store, j.id).status for j in jobs] == ["succeeded"] * 3
    finally:
        second.stop(5)


def test_stop_lets_a_running_job_finish_within_the_grace_period(tmp_path: Path) -> None:
    gate = threading.Event()
    blocked = FakePackager(gate=gate)
    pool, store = make_pool(tmp_path, blocked, workers=1)
    job, _ = store.create(queued_job())
    pool.start()
    assert blocked.started.wait(10)
    threading.Timer(0.2, gate.set).start()
    assert pool.stop(grace_seconds=10) == []
    assert store.get(job.id).status == "succeeded"


def test_jobs_left_running_by_a_dead_process_run_again(tmp_path: Path) -> None:
    pool, store = make_pool(tmp_path, FakePackager())
    job, _ = store.create(queued_job())
    store.transition(job.id, {"queued"}, status="running", attempts=1)  # that process died here
    assert pool.start() == 1
    try:
        done = wait_finished(store, job.id)
    finally:
        pool.stop(5)
    assert done.status == "succeeded" and done.attempts == 2


def test_the_pool_is_bounded(tmp_path: Path) -> None:
    gate = threading.Event()
    pool, store = make_pool(tmp_path, FakePackager(gate=gate), workers=2)
    for n in range(5):
        store.create(queued_job(n))
    pool.start()
    try:
        time.sleep(0.5)
        assert pool.busy == 2
        assert len(store.list(status="running").items) == 2
        assert len(store.list(status="queued").items) == 3
    finally:
        gate.set()
        pool.stop(10)
