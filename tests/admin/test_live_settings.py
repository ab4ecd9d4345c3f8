"""Running processes pick up stored settings within settings_refresh_seconds, without a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qps_core import lambda_handler
from qps_core.runtime.live import CurrentRunner
from qps_core.settings.sqlite_store import SqliteSettingsStore

ROCRATE_EVENT = {
    "version": "0",
    "id": "e1",
    "source": "aws.s3",
    "detail-type": "Object Created",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::lab-data"],
    "detail": {"bucket": {"name": "lab-data"}, "object": {"key": "study/crate-1/ro-crate-metadata.json", "size": 10}},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteSettingsStore:
    monkeypatch.setenv("QPS_DATA_DIR", str(tmp_path / "state"))
    return SqliteSettingsStore(tmp_path / "state" / "settings.sqlite3")


def _status(live: CurrentRunner) -> tuple[str, str | None]:
    (plan,) = live.current().plan_value(ROCRATE_EVENT)
    return plan.status, plan.reason


def test_change_applies_after_the_refresh_interval(store: SqliteSettingsStore, monkeypatch: Any) -> None:
    monkeypatch.setenv("QPS_SETTINGS_REFRESH_SECONDS", "5")
    clock = Clock()
    live = CurrentRunner(clock=clock)
    assert _status(live)[0] == "planned"
    store.update({"sources": {"rocrate": False}}, expected_version=0, actor="test")
    clock.now += 4
    assert _status(live)[0] == "planned"  # not re-read yet
    clock.now += 1.5
    assert _status(live) == ("ignored", "the RO-Crate source (adapter 'rocrate') is switched off")
    assert live.version == 1
    store.update({"sources": {"rocrate": True}}, expected_version=1, actor="test")
    clock.now += 6
    assert _status(live)[0] == "planned"


def test_unchanged_version_keeps_the_runner(store: SqliteSettingsStore) -> None:
    clock = Clock()
    live = CurrentRunner(clock=clock)
    first = live.current()
    clock.now += 31
    assert live.current() is first


def test_store_failure_keeps_the_current_settings(store: SqliteSettingsStore, caplog: Any) -> None:
    clock = Clock()
    live = CurrentRunner(clock=clock)

    class Broken:
        def version(self) -> int:
            raise OSError("disk gone")

    live.store = Broken()  # type: ignore[assignment]
    clock.now += 31
    assert _status(live)[0] == "planned"
    assert "could not refresh the stored settings: OSError: disk gone" in caplog.text


def test_warm_lambda_picks_up_a_switch(store: SqliteSettingsStore, monkeypatch: Any) -> None:
    """The Lambda handler (one processor per cold start) honours a switch stored after it started."""
    monkeypatch.setenv("QPS_SETTINGS_REFRESH_SECONDS", "0")
    monkeypatch.setattr(lambda_handler, "_PROCESSOR", None)
    store.update({"sources": {"rocrate": False}}, expected_version=0, actor="test")
    first = lambda_handler.handler(ROCRATE_EVENT)
    assert first["results"][0]["status"] == "ignored"
    assert "switched off" in first["results"][0]["error"]
    store.update({"sources": {"omics": False}}, expected_version=1, actor="test")  # rocrate back on (default)
    plan = lambda_handler.processor()._refresh()  # type: ignore[misc]
    (decided,) = plan.plan_value(ROCRATE_EVENT)
    assert decided.status == "planned"


def test_qps_worker_picks_up_a_switch(store: SqliteSettingsStore, monkeypatch: Any, mock_aws: None) -> None:
    """`qps worker`'s loop (Worker + BatchProcessor + CurrentRunner, as the CLI wires them): a switch
    stored while it runs applies to the next message within settings_refresh_seconds."""
    import boto3

    from qps_core.runtime.sqs_batch import BatchProcessor
    from qps_core.runtime.worker import Worker

    monkeypatch.setenv("QPS_SETTINGS_REFRESH_SECONDS", "5")
    clock = Clock()
    live = CurrentRunner(clock=clock)
    seen: list[Any] = []
    processor = BatchProcessor(live.runner, refresh=live.current)
    original = processor.process_events

    def record(events: Any, message_id: Any = None) -> Any:
        result = original(events, message_id)
        seen.extend(result.outcomes)
        return result

    processor.process_events = record  # type: ignore[method-assign]
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="qps-live")["QueueUrl"]
    worker = Worker(processor, url, wait_seconds=0)

    store.update({"sources": {"rocrate": False}}, expected_version=0, actor="admin")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(ROCRATE_EVENT))
    worker.run(max_polls=1)
    assert seen[-1].status == "failed"  # still on (not re-read yet): it tried to package (no such bucket)
    clock.now += 6
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(ROCRATE_EVENT))
    worker.run(max_polls=1)
    assert (seen[-1].status, seen[-1].reason) == ("ignored", "the RO-Crate source (adapter 'rocrate') is switched off")
