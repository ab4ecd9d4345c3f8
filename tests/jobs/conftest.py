"""Job store fixtures: the same tests run against SQLite and DynamoDB (moto in process)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from qps_core.jobs.dynamodb import DynamoJobStore, table_definition
from qps_core.jobs.sqlite import SqliteJobStore
from qps_core.jobs.store import JobStore
from tests.helpers import isolate_aws


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path)


class OneRequestAtATime:
    """A DynamoDB client whose requests moto handles one at a time.

    Real DynamoDB applies each request (a transaction included) atomically. moto in process does not
    under threads: a failed TransactWriteItems restores a copy of the whole table taken when it
    began, erasing what concurrent requests wrote meanwhile. Serialising the calls restores the
    service's per-request atomicity; the store's own concurrency logic (conditions, transactions,
    optimistic versions) is still what the concurrent tests exercise, interleaved between requests.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def make_dynamo_store(name: str = "qps-jobs", **kwargs: Any) -> DynamoJobStore:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_definition(name))
    return DynamoJobStore(name, client=OneRequestAtATime(client), **kwargs)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        yield SqliteJobStore(tmp_path / "jobs.sqlite3")
        return
    with moto.mock_aws():
        yield make_dynamo_store()
