"""Issue 18 at the entry points: filters in SQS bodies, EventBridge details and CLI files (`qps plan`
shows them normalised); `changes` in `qps replay` (JSON and table) and in the completion notice."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qps_core.events import Event
from qps_core.models import PackageRequest
from qps_core.notices import notice_for
from qps_core.outcomes import Plan, RunOutcome
from qps_core.report import replay_events
from qps_core.runner import Runner
from qps_core.settings import Settings
from tests.test_cli import QPS, clean_env

BODY = {"source_prefix": "s3://bkt/runs/7/", "include": ["data/**"], "exclude": ["*.tmp"]}


def sqs(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m1",
                "receiptHandle": "r",
                "body": json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:QuiltPackager",
                "awsRegion": "us-east-1",
            }
        ]
    }


def eventbridge(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e1",
        "detail-type": "package-objects-ready",
        "source": "com.example.lims",
        "time": "2026-12-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


@pytest.mark.parametrize("wrap", [sqs, eventbridge, lambda body: body], ids=["sqs", "eventbridge", "bare"])
def test_every_envelope_carries_the_filters(wrap: Any) -> None:
    (plan,) = Runner(Settings()).plan_value(wrap(BODY))
    assert plan.status == "planned", plan.as_dict()
    (request,) = plan.requests
    assert (request.include, request.exclude) == (["data/**"], ["*.tmp"])
    (bad,) = Runner(Settings()).plan_value(wrap({**BODY, "exclude": ["ok", None]}))
    assert bad.status == "rejected" and bad.error == "exclude[1]: must be a string (a glob pattern), not NoneType"


def test_source_filters_apply_to_their_adapters_requests_only() -> None:
    settings = Settings(source_filters={"description": {"exclude": ["work/"]}, "rocrate": {"include": ["x"]}})
    (plan,) = Runner(settings).plan_value({"source_prefix": "s3://bkt/runs/7/"})
    assert plan.adapter == "description"
    assert (plan.requests[0].include, plan.requests[0].exclude) == (None, ["work/"])


def test_qps_plan_shows_the_normalised_filters(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"source_prefix": "s3://bkt/runs/7", "exclude": ["*.tmp"]}))
    env = clean_env(QPS_SOURCE_FILTERS='{"description": {"include": ["data/**"], "exclude": ["logs/"]}}')
    as_json = subprocess.run([str(QPS), "plan", "--json", str(path)], capture_output=True, text=True, env=env)
    assert as_json.returncode == 0, as_json.stderr
    (package,) = json.loads(as_json.stdout)["packages"]
    assert (package["include"], package["exclude"]) == (["data/**"], ["*.tmp"])
    table = subprocess.run([str(QPS), "plan", str(path)], capture_output=True, text=True, env=env)
    assert "s3://bkt/runs/7/ (include data/**; exclude *.tmp)" in table.stdout


CHANGES = {"added": 2, "removed": 1, "modified": 3, "unchanged": 4, "keys": {"added": ["a", "b"]}}


def created() -> RunOutcome:
    request = PackageRequest.parse({"source_prefix": "s3://bkt/runs/7/"})
    outcome = RunOutcome("created", "description", request, "f" * 64, 9, 90)
    outcome.changes = CHANGES
    return outcome


def test_the_completion_notice_carries_the_counts() -> None:
    notice = notice_for(created())
    assert notice is not None
    kind, detail = notice
    assert kind == "package-created"
    assert detail["changes"] == {"added": 2, "removed": 1, "modified": 3, "unchanged": 4}
    unchanged = created()
    unchanged.status, unchanged.changes = "unchanged", None
    notice = notice_for(unchanged)
    assert notice is not None and "changes" not in notice[1]


class StubRunner:
    def run_event(self, event: Event, *, dry_run: bool = False) -> tuple[Plan, list[RunOutcome]]:
        return Plan(event, "planned"), [created()]


@pytest.mark.parametrize("json_out", [True, False])
def test_replay_shows_the_changes(json_out: bool, capsys: pytest.CaptureFixture[str]) -> None:
    event = Event(kind="body", payload={})
    replay_events(StubRunner(), [("one.json", event)], json_out, dry_run=False)
    out = capsys.readouterr().out
    if json_out:
        line = json.loads(out)
        assert line["changes"] == {"added": 2, "removed": 1, "modified": 3, "unchanged": 4}
    else:
        header = out.splitlines()[0]
        assert "CHANGES" in header
        assert "+2 -1 ~3 =4" in out


def test_qps_settings_shows_source_filters_as_json() -> None:
    value = {"rocrate": {"exclude": ["work/"]}}
    env = clean_env(QPS_SOURCE_FILTERS=json.dumps(value))
    shown = subprocess.run([str(QPS), "settings"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    line = next(line for line in shown.stdout.splitlines() if line.startswith("source_filters"))
    assert json.dumps(value) in line
