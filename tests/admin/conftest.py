"""Fixtures for the settings store, sources and admin page tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from qps_core.settings.dynamodb_store import DynamoSettingsStore, create_table
from qps_core.settings.sqlite_store import SqliteSettingsStore
from tests.admin.adminhelpers import ADMIN_TOKEN, API_TOKEN
from tests.helpers import isolate_aws

REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path)


@pytest.fixture
def mock_aws(aws_env: None) -> Iterator[None]:
    with moto.mock_aws():
        yield


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each settings store implementation: the conformance suite runs against both."""
    if request.param == "sqlite":
        yield SqliteSettingsStore(tmp_path / "state" / "settings.sqlite3")
        return
    request.getfixturevalue("mock_aws")
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, "qps-settings")
    yield DynamoSettingsStore("qps-settings", client=AtomicCalls(client))


class AtomicCalls:
    """A DynamoDB client whose calls run one at a time. DynamoDB applies each call (a conditional
    put, a transaction) atomically; moto in process does not when threads race (its transactions
    can interleave), so the concurrency tests give each call the atomicity AWS guarantees and test
    QPS's own logic (read the version, write only if it is still that version)."""

    _lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**params: Any) -> Any:
            with self._lock:
                return method(**params)

        return call


class Recorder:
    """A dispatcher that only records what it was given (jobs are not run in these tests)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.submitted: list[Any] = []

    def submit(self, job: Any) -> None:
        self.submitted.append(job)


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QPS_DATA_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def make_app(app_env: Path) -> Any:
    """Build the API app (with the admin router) from settings given by hand; returns (app, context)."""
    from qps_core.api.app import create_app
    from qps_core.api.auth import hash_token
    from qps_core.api.context import ApiContext
    from qps_core.jobs.sqlite import SqliteJobStore
    from qps_core.runner import Runner
    from qps_core.settings import load_settings

    def build(tokens: bool = True, **overrides: Any) -> tuple[Any, Any]:
        if tokens:
            overrides.setdefault("admin_tokens", [hash_token(ADMIN_TOKEN)])
            overrides.setdefault("api_tokens", [hash_token(API_TOKEN)])
        settings = load_settings(**overrides)
        runner = Runner(settings)
        context = ApiContext(settings, runner, SqliteJobStore(app_env / "jobs.sqlite3"), Recorder(runner))
        return create_app(context), context

    return build
