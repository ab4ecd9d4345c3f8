"""Fixtures for the fault and concurrency tests: one moto server (a subprocess) behind a fault proxy."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_XDG = Path(tempfile.mkdtemp(prefix="qps-fault-tests-"))
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ.setdefault(_var, str(_XDG / _var.lower()))
os.environ["QUILT_DISABLE_USAGE_METRICS"] = "true"
os.environ["QUILT_MINIMIZE_STDOUT"] = "true"


import boto3  # noqa: E402
import botocore.retries.standard  # noqa: E402

from qps_core.demo.endpoint import FAKE_CREDENTIALS, LocalEndpoint  # noqa: E402
from tests.faults.proxy import FaultProxy  # noqa: E402
from tests.helpers import isolate_aws  # noqa: E402


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server in its own process (the other core does S3's work)."""
    for key, value in FAKE_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    with LocalEndpoint.start() as endpoint:
        yield endpoint.url


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_url: str) -> None:
    isolate_aws(monkeypatch, tmp_path, endpoint_url=moto_url)  # quilt3 (the checks) reads S3 directly
    for var in ("QPS_ALLOWED_REGISTRIES", "QPS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    # botocore's retry backoff (up to seconds) would dominate: the retries themselves still happen.
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.01)


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as p:
        yield p


@pytest.fixture
def s3(moto_url: str) -> Any:
    """A plain client straight to moto, for setting up and inspecting buckets."""
    return boto3.client("s3", endpoint_url=moto_url)
