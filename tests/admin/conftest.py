"""Fixtures for the settings store, sources and admin page tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from qps_core.settings_store.dynamodb import DynamoSettingsStore, create_table
from qps_core.settings_store.sqlite import SqliteSettingsStore

REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


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
    yield DynamoSettingsStore("qps-settings", client=client)
