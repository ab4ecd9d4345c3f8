"""Scan for unbounded echoes of input (issue 7): every string of every fixture event, every request
field and every key is replaced in turn by a huge or hostile value and run through the envelopes,
every adapter (the mapped one with the fixture rules) and request validation. Every error, ignore
reason and note must stay within the bound, whatever the input held."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qps_core.adapter_api import request_from_body
from qps_core.envelopes import unwrap, unwrap_bytes
from qps_core.errors import InvalidInput
from qps_core.models import REQUEST_FIELDS, PackageRequest
from qps_core.outcomes import Plan
from qps_core.runner import Runner
from qps_core.settings import Settings

FIXTURES = Path(__file__).parents[1] / "fixtures"
#: The longest message QPS may write about one event, whatever the event holds.
BOUND = 600
HUGE = "Z" * 100_000
HOSTILE = [HUGE, "s3://" + "b" * 70_000 + "/" + "\x00\n" * 5_000, "é\ud800" * 30_000]


def fixture_events() -> list[tuple[str, Any]]:
    files = sorted((FIXTURES / "events").glob("*.json")) + sorted((FIXTURES / "mapped").glob("*.json"))
    out = []
    for path in files:
        try:
            out.append((path.name, json.loads(path.read_text())))
        except ValueError:
            continue  # the malformed-JSON fixtures: their bytes are scanned in the bytes test
    return out


def variants(value: Any, replacement: Any) -> Iterator[Any]:
    """`value` with one string leaf (or one dict's new key) replaced, for every position in turn."""
    if isinstance(value, str):
        yield replacement
    elif isinstance(value, dict):
        yield {**value, replacement if isinstance(replacement, str) else HUGE: 1}
        for key, child in value.items():
            for changed in variants(child, replacement):
                yield {**value, key: changed}
    elif isinstance(value, list):
        for n, child in enumerate(value):
            for changed in variants(child, replacement):
                yield [*value[:n], changed, *value[n + 1 :]]


def messages(plan: Plan) -> list[str]:
    found = [plan.error, plan.reason, plan.event.note, *plan.adapter_errors]
    return [m for m in found if m]


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(Settings(rules_file=FIXTURES / "mapped" / "rules.yaml"))


def check(where: str, texts: list[str]) -> None:
    for text in texts:
        assert len(text) <= BOUND, f"{where}: a {len(text)}-character message echoes input: {text[:200]}…"
        assert "\n" not in text, f"{where}: a message spans lines: {text[:200]}…"


def test_every_fixture_event_with_hostile_strings_gets_bounded_messages(runner: Runner) -> None:
    scanned = 0
    for name, event in fixture_events():
        for replacement in [*HOSTILE, [HUGE] * 3, {"k": HUGE}]:
            for variant in variants(event, replacement):
                for plan in runner.plan_value(variant):
                    check(name, messages(plan))
                    scanned += 1
    assert scanned > 5_000  # the sweep really ran over every position


@pytest.mark.parametrize("field", [*REQUEST_FIELDS, "commit_message", "uri", HUGE])
def test_every_request_field_with_hostile_values_gets_a_bounded_rejection(runner: Runner, field: str) -> None:
    base = {"uri": "s3://bkt/x"} if field == "uri" else {"source_prefix": "s3://bkt/x/"}
    values: list[Any] = [*HOSTILE, [HUGE] * 50, {HUGE: HUGE}, 1e308, None, True]
    for value in values:
        body = {**base, field: value}
        for attempt in (
            lambda b=body: PackageRequest.parse(b),
            lambda b=body: request_from_body(b, runner.settings),
        ):
            try:
                attempt()
            except InvalidInput as exc:
                check(f"field {field[:20]}", [str(exc)])


def test_hostile_bytes_get_bounded_notes() -> None:
    key = "k" * 100_000
    inputs: list[str | bytes] = [
        '{"' + key + '": 1, "' + key + '": 2}',
        "[" * 100_000,
        '{"a": ' + "9" * 100_000 + "}",
        '{"a": 1e' + "9" * 1000 + "}",
        '"' + "\\ud800" * 10 + '"',
        b"\xff" * 100_000,
        "{" + " " * 100_000,
        (FIXTURES / "events" / "reject-body-malformed-json.json").read_bytes(),
    ]
    for data in inputs:
        for event in unwrap_bytes(data):
            check("bytes", [event.note or ""])


def test_hostile_envelopes_get_bounded_notes(runner: Runner) -> None:
    values = [
        {"Records": [{"eventSource": HUGE}]},
        {"Records": [{"messageId": HUGE, "body": HUGE}]},
        {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{" + HUGE}}]},
        {"Type": "Notification", "TopicArn": HUGE, "Message": HUGE},
        {"Type": "SubscriptionConfirmation", "TopicArn": HUGE},
        {"detail-type": HUGE, "source": HUGE, "detail": HUGE},
        {"detail-type": "package-objects-ready", "source": HUGE, "detail": {HUGE: HUGE}},
    ]
    for value in values:
        for plan in runner.plan_value(value):
            check("envelope", messages(plan))
        for event in unwrap(value):
            check("describe", [event.describe()])
