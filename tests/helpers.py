"""Shared test helpers: fixture loading, planning with fresh settings (no AWS), and the rule for tests
that need the network."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from qps_core import testing
from qps_core.demo.endpoint import FAKE_CREDENTIALS
from qps_core.outcomes import Plan
from qps_core.runner import Runner
from qps_core.testing import fresh_settings as fresh_settings  # re-exported for the tests
from qps_core.testing import sqs_batch as sqs_batch

ROOT = Path(__file__).resolve().parents[1]
LOCAL = "http://localhost"  # in-process test clients: a host the API answers (not TestClient's "testserver")
FIXTURES = ROOT / "tests" / "fixtures"
EVENTS = FIXTURES / "events"
MAPPED = FIXTURES / "mapped"
CRATES = FIXTURES / "crates"


def fixture_path(name: str) -> Path:
    """`name` relative to tests/fixtures/events, or to tests/fixtures (e.g. `mapped/x.json`)."""
    for base in (EVENTS, FIXTURES):
        path = base / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"no fixture {name!r} under {FIXTURES}")


def load_event(name: str) -> Any:
    """The parsed JSON of a fixture file."""
    return testing.load_event(fixture_path(name))


def runner(**overrides: Any) -> Runner:
    return testing.make_runner(**overrides)


def plan(name: str, **overrides: Any) -> list[Plan]:
    """Plan every event of a fixture file, as `qps plan` would (bytes in, strict JSON)."""
    return testing.plan(fixture_path(name), runner(**overrides))


def plan_one(name: str, **overrides: Any) -> Plan:
    return testing.plan_one(fixture_path(name), runner(**overrides))


def plan_value(value: Any, **overrides: Any) -> list[Plan]:
    """Plan an already-built event value (dict/list) or raw text."""
    return testing.plan(value, runner(**overrides))


def requests(result: Plan) -> list[dict[str, Any]]:
    """The normalised requests of a plan (all fields)."""
    return [r.normalised() for r in result.requests]


def only_request(result: Plan) -> dict[str, Any]:
    return testing.only_request(result).normalised()


# pip's words when it cannot reach a package index at all (as opposed to a real resolution failure)
OFFLINE = re.compile(
    r"Failed to establish a new connection|Temporary failure in name resolution|Name or service not known"
    r"|Network is unreachable|Max retries exceeded|ProxyError|Could not fetch URL|Connection refused",
)


def stop_if_offline(pip_output: str, doing: str) -> None:
    """pip could not reach a package index: skip, saying the test needs the network; fail under CI
    (`CI=true`), where nothing may be skipped. Any other pip failure is left to the caller."""
    offline = OFFLINE.search(pip_output)
    if offline is None:
        return
    needs = f"{doing} needs the network (pip cannot reach a package index: {offline[0]})"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(needs)  # never a silent pass in CI
    pytest.skip(needs)


def isolate_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, endpoint_url: str | None = None) -> None:
    """Fake credentials in us-east-1, and nothing from the developer's machine: no profile, no endpoint
    (unless `endpoint_url`), AWS config and credentials files that do not exist."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    if endpoint_url is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment for a `qps` subprocess, without any QPS_ or AWS_ variable and with
    home, state, data and AWS config files under `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "AWS_"))}
    env.update(
        HOME=str(tmp_path),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        AWS_CONFIG_FILE=str(tmp_path / "cfg"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "creds"),
        **extra,
    )
    return env
