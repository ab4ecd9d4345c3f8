"""Test-wide environment: private quilt3 dirs, no telemetry, no stray QPS_* or AWS settings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# quilt3 fixes its config and cache paths at import time: point them somewhere private first.
_XDG = Path(tempfile.mkdtemp(prefix="qps-tests-"))
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = str(_XDG / _var.lower())
os.environ["QUILT_DISABLE_USAGE_METRICS"] = "true"
os.environ["QUILT_MINIMIZE_STDOUT"] = "true"


@pytest.fixture(autouse=True)
def _no_ambient_qps_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("QPS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def fake_omics_session():
    """One local HealthOmics endpoint for the session (qps_core/demo/omics_fake.py): it knows no run
    unless a test adds one, so packaging an omics event never reaches AWS from a test."""
    from qps_core.demo.omics_fake import FakeOmics

    with FakeOmics() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _omics_endpoint_is_local(fake_omics_session, monkeypatch: pytest.MonkeyPatch):
    fake_omics_session.runs.clear()
    fake_omics_session.failures.clear()
    fake_omics_session.calls.clear()
    fake_omics_session.page_size = 100
    monkeypatch.setenv("AWS_ENDPOINT_URL_OMICS", fake_omics_session.url)
    return fake_omics_session
