"""API fixtures: the app as `qps serve` builds it (SQLite jobs, a local worker pool) over moto in process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
from fastapi.testclient import TestClient

from qps_core.api.app import create_app
from qps_core.api.context import ApiContext
from qps_core.jobs.pool import LocalPool
from qps_core.jobs.sqlite import SqliteJobStore
from qps_core.runner import Runner
from qps_core.settings import Settings
from tests.helpers import LOCAL, isolate_aws

DATA = "lab-data"
REGISTRY = "lab-packages"
FOLDER = "instrument-f/batch-0301"
FILES = {
    f"{FOLDER}/SampleSheet.csv": "[Data]\nSample_ID,Index\nS1,ACGT\n",
    f"{FOLDER}/reads/S1_R1.fastq": "@r1\nACGT\n+\nIIII\n",
    f"{FOLDER}/RunInfo.xml": "<RunInfo Version='6'/>\n",
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path)


@pytest.fixture
def s3() -> Iterator[Any]:
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (DATA, REGISTRY):
            client.create_bucket(Bucket=bucket)
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for key, body in FILES.items():
            client.put_object(Bucket=DATA, Key=key, Body=body.encode(), ChecksumAlgorithm="SHA256")
        yield client


@dataclass
class Api:
    client: TestClient
    context: ApiContext
    pool: LocalPool | None
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> SqliteJobStore:
        return self.context.jobs  # type: ignore[return-value]

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.client.post(path, json=body, **kwargs)

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll GET /v1/jobs/{id} until the job has finished."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(0.05)


def build_api(
    tmp_path: Path,
    *,
    settings: Settings | None = None,
    runner: Runner | None = None,
    start_pool: bool = True,
    dispatcher: Any = None,
    store: Any = None,
) -> Api:
    settings = settings or Settings(data_dir=tmp_path / "data")
    runner = runner or Runner(settings)
    store = store or SqliteJobStore(tmp_path / "data" / "jobs.sqlite3")
    pool = LocalPool(store, runner, workers=2, max_attempts=settings.job_max_attempts, poll_seconds=0.05)
    context = ApiContext(settings, runner, store, dispatcher or pool)
    if start_pool and dispatcher is None:
        pool.start()
    return Api(TestClient(create_app(context), base_url=LOCAL, raise_server_exceptions=False), context, pool)


@pytest.fixture
def make_api(s3: Any, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    made: list[Api] = []

    def make(**kwargs: Any) -> Api:
        api = build_api(tmp_path, **kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        if api.pool is not None:
            api.pool.stop(5)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()
