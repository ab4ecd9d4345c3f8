"""Shared test helpers: fixture loading and planning with fresh settings (no AWS, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qps_core import testing
from qps_core.outcomes import Plan
from qps_core.runner import Runner
from qps_core.testing import fresh_settings as fresh_settings  # re-exported for the tests
from qps_core.testing import sqs_batch as sqs_batch

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
