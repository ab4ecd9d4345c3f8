"""Fixtures for the fault and concurrency tests: one moto server (a subprocess) behind a fault proxy."""

from __future__ import annotations

import os
import sys
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

sys.path.insert(0, str(Path(__file__).parent))

import boto3  # noqa: E402
import botocore.retries.standard  # noqa: E402
from proxy import FaultProxy  # noqa: E402

from qps_core.local_endpoint import FAKE_CREDENTIALS, LocalEndpoint  # noqa: E402


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server in its own process (the other core does S3's work)."""
    for key, value in FAKE_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    with LocalEndpoint.start() as endpoint:
        yield endpoint.url


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_url: str) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "QPS_ALLOWED_REGISTRIES", "QPS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)  # quilt3 (the checks) reads S3 directly
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
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
