"""Every fixture event, planned in process, against tests/fixtures/expected.jsonl (written from the spec)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from qps_core.event_files import read_events
from qps_core.runner import Runner
from qps_core.settings import load_settings

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EVENTS = FIXTURES / "events"
EXPECTED_FILE = FIXTURES / "expected.jsonl"


def _expected() -> list[dict[str, Any]]:
    lines = EXPECTED_FILE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


EXPECTED = _expected()


def _label(path_label: str) -> str:
    return path_label.removeprefix(str(EVENTS) + "/")


@functools.cache
def _actual() -> dict[str, dict[str, Any]]:
    # Called from inside a test, after the autouse fixture cleared QPS_* variables.
    runner = Runner(load_settings())
    return {_label(label): runner.plan_event(event).as_dict() for label, event in read_events([EVENTS])}


@pytest.fixture(autouse=True)
def _no_qps_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("QPS_"):
            monkeypatch.delenv(name)


def _params() -> list[Any]:
    params = []
    for row in EXPECTED:
        marks = [pytest.mark.xfail(strict=True, reason=row["xfail"])] if "xfail" in row else []
        params.append(pytest.param(row, id=row["input"], marks=marks))
    return params


@pytest.mark.parametrize("expected", _params())
def test_fixture_plan(expected: dict[str, Any]) -> None:
    actual = _actual().get(expected["input"])
    assert actual is not None, f"{expected['input']} was not produced by the runner"
    shown = json.dumps(actual, ensure_ascii=False)
    assert actual["status"] == expected["status"], shown
    assert actual["adapter"] == expected["adapter"], shown
    triples = [[p["registry"], p["package_name"], p["source_prefix"]] for p in actual["packages"]]
    assert triples == expected.get("packages", []), shown
    for part in expected.get("error", []):
        assert part in actual["error"], f"{part!r} not in error: {actual['error']!r}"
    for part in [expected["reason"]] if "reason" in expected else []:
        assert part in actual["reason"], f"{part!r} not in reason: {actual['reason']!r}"
    assert actual.get("also_claimed_by", []) == expected.get("also_claimed_by", []), shown
    assert not actual.get("adapter_errors"), shown
    if actual["status"] == "rejected":
        assert "\n" not in actual["error"] and "Traceback" not in actual["error"]


def test_every_fixture_is_expected_and_vice_versa() -> None:
    inputs = [row["input"] for row in EXPECTED]
    assert len(inputs) == len(set(inputs)), "expected.jsonl lists an input twice"
    produced = set(_actual())
    assert sorted(produced - set(inputs)) == [], "fixture events missing from expected.jsonl"
    assert sorted(set(inputs) - produced) == [], "expected.jsonl lists inputs that no fixture produces"
    files = {p.name for p in EVENTS.glob("*.json")}
    listed = {label.split("#", 1)[0] for label in inputs}
    assert files == listed


def test_fixture_files_are_not_nested() -> None:
    # The crates are data, not events: they live in tests/fixtures/crates, never under events/.
    assert [p for p in EVENTS.rglob("*.json") if p.parent != EVENTS] == []
    assert sorted(p.parent.name for p in (FIXTURES / "crates").glob("*/ro-crate-metadata.json")) == [
        "rocrate-1.1",
        "rocrate-nf-prov-wrroc",
    ]
