"""Fixtures for the packager tests: fake AWS, moto (in process and over HTTP), helpers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# quilt3 fixes its config/cache paths at import time: point them somewhere private first.
_XDG = Path(tempfile.mkdtemp(prefix="qps-packager-tests-"))
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = str(_XDG / _var.lower())
os.environ["QUILT_DISABLE_USAGE_METRICS"] = "true"
os.environ["QUILT_MINIMIZE_STDOUT"] = "true"

import boto3  # noqa: E402
import moto  # noqa: E402

from qps_core.packaging.packager import Packager  # noqa: E402
from qps_core.settings import Settings  # noqa: E402
from tests.helpers import isolate_aws  # noqa: E402
from tests.packager.pkghelpers import CallLog  # noqa: E402


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("QUILT_DISABLE_USAGE_METRICS", "true")
    for var in ("QPS_ALLOWED_REGISTRIES", "QPS_CONFIG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def s3() -> Iterator[Any]:
    """In-process moto; yields a plain boto3 client for setting up and inspecting buckets."""
    with moto.mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def packager(s3: Any, settings: Settings) -> Packager:
    return Packager(settings)


@pytest.fixture
def call_log(packager: Packager) -> CallLog:
    return CallLog(packager.s3)
