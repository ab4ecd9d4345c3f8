"""Running processes pick up stored settings within settings_refresh_seconds, without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qps_core import lambda_handler
from qps_core.settings_store.live import LiveRunner
from qps_core.settings_store.sqlite import SqliteSettingsStore

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


def _status(live: LiveRunner) -> tuple[str, str | None]:
    (plan,) = live.current().plan_value(ROCRATE_EVENT)
    return plan.status, plan.reason


def test_change_applies_after_the_refresh_interval(store: SqliteSettingsStore, monkeypatch: Any) -> None:
    monkeypatch.setenv("QPS_SETTINGS_REFRESH_SECONDS", "5")
    clock = Clock()
    live = LiveRunner(clock=clock)
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
    live = LiveRunner(clock=clock)
    first = live.current()
    clock.now += 31
    assert live.current() is first


def test_store_failure_keeps_the_current_settings(store: SqliteSettingsStore, caplog: Any) -> None:
    clock = Clock()
    live = LiveRunner(clock=clock)

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
