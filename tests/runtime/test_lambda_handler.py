"""The Lambda handler: SQS partial batches, DLQ for permanent failures, retries for transient ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qps_core import lambda_handler
from tests.packager.pkghelpers import fail_operation
from tests.runtime.rthelpers import Stack

SAMPLES = Path(__file__).parents[1] / "fixtures" / "events"


def sqs_record(body: str | dict[str, Any], message_id: str, arn: str) -> dict[str, Any]:
    """A record exactly as Lambda's SQS event source mapping delivers it."""
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}==",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1741945267123",
            "SenderId": "AIDAIT2UOQQY3AUEKVGXU",
            "ApproximateFirstReceiveTimestamp": "1741945267466",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1",
    }


def test_mixed_batch_reports_only_transient_failures_and_dead_letters_permanent_ones(stack: Stack) -> None:
    good = {"source_prefix": "s3://lab-data/runs/run-1/", "package_name": "runs/run-1"}
    malformed = '{"uri": "s3://lab-data/runs/run-2/"'
    permanent = {"source_prefix": "s3://lab-data/runs/empty-folder/"}
    transient = {"uri": "s3://lab-data/runs/run-2"}
    records = [
        sqs_record(good, "m-good", stack.queue_arn),
        sqs_record(malformed, "m-malformed", stack.queue_arn),
        sqs_record(permanent, "m-permanent", stack.queue_arn),
        sqs_record(transient, "m-transient", stack.queue_arn),
    ]
    packager = lambda_handler.processor().runner.packager
    fail_operation(packager.s3, "ListObjectVersions", 503, "SlowDown", when=lambda p: p.get("Prefix") == "runs/run-2/")

    response = lambda_handler.handler({"Records": records}, None)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-transient"}]}
    dead = stack.receive(stack.dlq_url)
    by_source = {m["MessageAttributes"]["qps-source-message-id"]["StringValue"]: m for m in dead}
    assert set(by_source) == {"m-malformed", "m-permanent"}
    assert by_source["m-malformed"]["Body"] == malformed  # the original body, ready for redrive
    assert "invalid JSON" in by_source["m-malformed"]["MessageAttributes"]["qps-error"]["StringValue"]
    assert "empty-folder" in by_source["m-permanent"]["MessageAttributes"]["qps-error"]["StringValue"]
    latest = stack.s3.get_object(Bucket="lab-data", Key=".quilt/named_packages/runs/run-1/latest")
    assert len(latest["Body"].read()) == 64
    kinds = sorted((kind, d["package_name"]) for kind, d in stack.notices())
    assert kinds == [
        ("package-created", "runs/run-1"),
        ("package-failed", "runs/empty-folder"),
        ("package-failed", "runs/run-2"),
    ]


def test_redelivered_batch_changes_nothing_and_says_unchanged(stack: Stack) -> None:
    body = {"source_prefix": "s3://lab-data/runs/run-1/"}
    first = lambda_handler.handler({"Records": [sqs_record(body, "m1", stack.queue_arn)]}, None)
    versions_before = stack.s3.list_object_versions(Bucket="lab-data", Prefix=".quilt/").get("Versions", [])
    second = lambda_handler.handler({"Records": [sqs_record(body, "m1", stack.queue_arn)]}, None)
    versions_after = stack.s3.list_object_versions(Bucket="lab-data", Prefix=".quilt/").get("Versions", [])
    assert first == second == {"batchItemFailures": []}
    assert len(versions_after) == len(versions_before)
    assert [k for k, _ in stack.notices()] == ["package-created", "package-unchanged"]


def test_eventbridge_event_delivered_directly(stack: Stack) -> None:
    event = json.loads((SAMPLES / "omics-run-completed-doc-fields.json").read_text())
    event["detail"]["runOutputUri"] = "s3://lab-data/runs/run-1"
    result = lambda_handler.handler(event, None)
    [outcome] = result["results"]
    assert outcome["status"] == "created" and outcome["adapter"] == "omics"
    assert outcome["package_name"] == "runs/run-1" and outcome["files"] == 2


def test_bare_package_request_delivered_directly(stack: Stack) -> None:
    result = lambda_handler.handler({"uri": "s3://lab-data/runs/run-2?shift=night"}, None)
    assert [r["status"] for r in result["results"]] == ["created"]


def test_direct_transient_failure_raises_for_lambda_retry(stack: Stack) -> None:
    packager = lambda_handler.processor().runner.packager
    fail_operation(packager.s3, "ListObjectVersions", 500, "InternalError")
    with pytest.raises(Exception, match=r"InternalError|500"):
        lambda_handler.handler({"uri": "s3://lab-data/runs/run-2"}, None)
    assert stack.receive(stack.dlq_url) == []


def test_direct_permanent_failure_goes_to_the_dlq_and_is_not_raised(stack: Stack) -> None:
    result = lambda_handler.handler({"source_prefix": "s3://no-such-bucket-qps/x/"}, None)
    assert [r["status"] for r in result["results"]] == ["failed"]
    [dead] = stack.receive(stack.dlq_url)
    assert json.loads(dead["Body"]) == {"source_prefix": "s3://no-such-bucket-qps/x/"}


def test_sns_notice_carries_the_same_json(stack: Stack) -> None:
    lambda_handler.handler({"source_prefix": "s3://lab-data/runs/run-1/"}, None)
    [message] = stack.receive(stack.sns_notices_url)
    notice = json.loads(message["Body"])
    assert notice["detail-type"] == "package-created"
    assert notice["detail"]["registry"] == "lab-data" and len(notice["detail"]["top_hash"]) == 64
    [(kind, detail)] = stack.notices()
    assert kind == "package-created"
    assert detail == notice["detail"]


def test_failing_notices_never_lose_the_package(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("QPS_EVENT_BUS_NAME", "no-such-bus")
    monkeypatch.setenv("QPS_NOTICE_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    result = lambda_handler.handler({"source_prefix": "s3://lab-data/runs/run-1/"}, None)
    assert [r["status"] for r in result["results"]] == ["created"]
    assert "not published" in caplog.text


# What a cold start that only ignores events must not import (each costs milliseconds to tens of them;
# see bench/cold_start.py): the packager's SDKs, asyncio (pydantic-settings pulled it in), the job
# model (only with a jobs table), sqlite3 (only when settings are stored), the rules engine (only with
# a rules file), http.client (26 ms; only to classify a cut-off body).
NOT_FOR_IGNORED_EVENTS = {
    "quilt3",
    "boto3",
    "botocore",
    "asyncio",
    "pydantic_settings",
    "qps_core.jobs.model",
    "sqlite3",
    "jmespath",
    "tomllib",
    "qps_core.builtin.jmespath_rules",
    "http",
}


def test_ignored_events_never_import_the_packager_sdks_or_what_they_do_not_use(tmp_path: Path) -> None:
    event = (SAMPLES / "omics-run-running.json").read_text()
    code = (
        "import json, sys\n"
        "from qps_core.lambda_handler import handler\n"
        f"print(json.dumps(handler(json.loads({event!r}), None)))\n"
        "print(json.dumps(sorted(set(sys.modules))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")} | {"XDG_DATA_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.splitlines()
    out = [line for line in out if not line.startswith('{"_aws"')]  # the EMF metric lines (stdout, as Lambda wants)
    assert json.loads(out[0])["results"][0]["status"] == "ignored"
    loaded = set(json.loads(out[1]))
    assert "qps_adapter_omics" in loaded  # the adapters did load
    assert {m for m in loaded if m in NOT_FOR_IGNORED_EVENTS or m.split(".")[0] in NOT_FOR_IGNORED_EVENTS} == set()


def test_adapters_and_settings_load_once_per_cold_start(stack: Stack) -> None:
    first = lambda_handler.processor()
    lambda_handler.handler({"source_prefix": "s3://lab-data/runs/run-1/"}, None)
    assert lambda_handler.processor() is first


def test_a_folder_still_being_written_is_retried_later_not_packaged(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QPS_QUIET_PERIOD_SECONDS", "3600")
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"uri": "s3://lab-data/runs/run-1"}))
    [message] = stack.sqs.receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=1)["Messages"]
    record = sqs_record(message["Body"], message["MessageId"], stack.queue_arn)
    record["receiptHandle"] = message["ReceiptHandle"]

    response = lambda_handler.handler({"Records": [record]}, None)

    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    # The visibility was pushed out to the remaining quiet period (about an hour), not the queue's 1 s.
    import time

    time.sleep(1.5)
    assert stack.sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=0).get("Messages", []) == []
    listed = stack.s3.list_objects_v2(Bucket="lab-data", Prefix=".quilt/")
    assert listed.get("KeyCount", 0) == 0  # nothing was written
    assert stack.receive(stack.dlq_url) == []


def test_direct_events_get_the_strict_json_rules_too(stack: Stack) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    event = {"source_prefix": "s3://lab-data/runs/run-1/", "metadata": deep}
    result = lambda_handler.handler(event, None)
    [outcome] = result["results"]
    assert outcome["status"] == "rejected" and "nesting deeper" in outcome["error"]
    [dead] = stack.receive(stack.dlq_url)
    assert "nesting deeper" in dead["MessageAttributes"]["qps-error"]["StringValue"]
    assert stack.s3.list_objects_v2(Bucket="lab-data", Prefix=".quilt/").get("KeyCount", 0) == 0


def test_fifo_batch_stops_at_the_first_record_to_retry(stack: Stack) -> None:
    arn = stack.queue_arn + ".fifo"
    records = [
        sqs_record({"source_prefix": "s3://lab-data/runs/run-1/"}, "f1", arn),
        sqs_record({"uri": "s3://lab-data/runs/run-2"}, "f2", arn),
        sqs_record({"source_prefix": "s3://lab-data/runs/run-1/", "package_name": "runs/other"}, "f3", arn),
    ]
    for record in records:
        record["attributes"].update(
            MessageGroupId="lab", SequenceNumber="1", MessageDeduplicationId=record["messageId"]
        )
    packager = lambda_handler.processor().runner.packager
    fail_operation(packager.s3, "ListObjectVersions", 503, "SlowDown", when=lambda p: p.get("Prefix") == "runs/run-2/")
    response = lambda_handler.handler({"Records": records}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "f2"}, {"itemIdentifier": "f3"}]}
    # f3 was not even tried: its package does not exist yet, so the order is kept
    with pytest.raises(stack.s3.exceptions.NoSuchKey):
        stack.s3.get_object(Bucket="lab-data", Key=".quilt/named_packages/runs/other/latest")


def test_an_unexpected_packager_bug_is_retried_not_dead_lettered(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    packager = lambda_handler.processor().runner.packager

    def bug(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug in the packager")

    monkeypatch.setattr(packager.hasher, "run", bug)
    response = lambda_handler.handler(
        {"Records": [sqs_record({"uri": "s3://lab-data/runs/run-1"}, "m1", stack.queue_arn)]}, None
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert stack.receive(stack.dlq_url) == []
    [(kind, detail)] = stack.notices()
    assert kind == "package-failed" and detail["retryable"] is True and "RuntimeError" in detail["error"]


def test_the_runner_publishes_notices_for_every_entry_point(stack: Stack) -> None:
    from qps_core.envelopes import unwrap
    from qps_core.runner import Runner
    from qps_core.settings import load_settings

    runner = Runner(load_settings())  # as `qps replay` builds it
    [event] = unwrap({"uri": "s3://lab-data/runs/run-2"})
    _, [outcome] = runner.run_event(event)
    assert outcome.status == "created"
    assert [kind for kind, _ in stack.notices()] == ["package-created"]
