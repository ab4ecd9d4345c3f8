"""Shared test helpers: fixture loading and planning with fresh settings (no AWS, no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

from qps_core.runner import Plan, Runner
from qps_core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
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
    return json.loads(fixture_path(name).read_bytes())


def fresh_settings(**overrides: Any) -> Settings:
    """Settings built from defaults plus `overrides`, ignoring any QPS_* variable of the caller."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")}
    with mock.patch.dict(os.environ, clean, clear=True):
        return load_settings(**overrides)


def runner(**overrides: Any) -> Runner:
    return Runner(fresh_settings(**overrides))


def plan(name: str, **overrides: Any) -> list[Plan]:
    """Plan every event of a fixture file, as `qps plan` would (bytes in, strict JSON)."""
    return runner(**overrides).plan_bytes(fixture_path(name).read_bytes())


def plan_one(name: str, **overrides: Any) -> Plan:
    plans = plan(name, **overrides)
    assert len(plans) == 1, f"{name} holds {len(plans)} events"
    return plans[0]


def plan_value(value: Any, **overrides: Any) -> list[Plan]:
    """Plan an already-built event value (dict/list) or raw text."""
    if isinstance(value, str | bytes):
        return runner(**overrides).plan_bytes(value)
    return runner(**overrides).plan_value(value)


def requests(result: Plan) -> list[dict[str, Any]]:
    """The normalised requests of a plan (all fields)."""
    return [r.normalised() for r in result.requests]


def only_request(result: Plan) -> dict[str, Any]:
    assert result.status == "planned", (result.status, result.error or result.reason)
    assert len(result.requests) == 1
    return result.requests[0].normalised()


def sqs_batch(*bodies: Any) -> dict[str, Any]:
    """A minimal Lambda SQS batch carrying these bodies (JSON-encoded unless already strings)."""
    records = []
    for n, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": f"00000000-0000-4000-8000-{n:012d}",
                "receiptHandle": "AQEB",
                "body": text,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:quilt-prod-PackagerQueue-1N4X2QZ7RLF3D",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}
