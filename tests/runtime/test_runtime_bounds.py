"""Issue 7 regressions in the Lambda runtime: nothing dropped when the DLQ refuses, only what SQS
accepts written to it, one input bounded in events, response size and log line length."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from qps_core import lambda_handler
from qps_core.lambda_handler import DeadLetterFailed
from qps_core.runtime.sqs_batch import RecordResult, sqs_text
from tests.runtime.rthelpers import Stack
from tests.runtime.test_lambda_handler import sqs_record

#: What SQS accepts in a message body or a String attribute (AWS SendMessage documentation):
#: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
SQS_ACCEPTS = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def test_sqs_text_escapes_exactly_the_characters_sqs_refuses() -> None:
    """Every code point: escaped by `sqs_text` if and only if SQS's documented set refuses it."""
    for code in range(0x110000):
        char = chr(code)
        escaped, changed = sqs_text(char)
        accepted = SQS_ACCEPTS.fullmatch(char) is not None
        assert changed is not accepted, f"U+{code:04X}"
        assert escaped == (char if accepted else f"\\u{code:04x}"), f"U+{code:04X}"


def sqs_error(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    """What a `before-call` handler returns to make botocore see this SQS error response."""

    class _Http:
        status_code = status
        headers: dict[str, str] = {}  # noqa: RUF012
        content = b""

    return _Http(), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }


def sqs_refuses_what_aws_refuses(client: Any) -> list[str]:
    """Make `client` answer SendMessage as SQS does when a body or an attribute holds a refused
    character (moto does not check). Returns the list of refusals, for the test to inspect."""
    refusals: list[str] = []

    def check(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        texts = [params.get("MessageBody", "")]
        texts += [a.get("StringValue", "") for a in (params.get("MessageAttributes") or {}).values()]
        context["qps_refused"] = any(not SQS_ACCEPTS.fullmatch(t) for t in texts)

    def respond(context: dict[str, Any], **_: Any) -> Any:
        if not context.get("qps_refused"):
            return None
        refusals.append("InvalidMessageContents")
        return sqs_error(400, "InvalidMessageContents", "Invalid characters found.")

    client.meta.events.register("before-parameter-build.sqs.SendMessage", check)
    client.meta.events.register("before-call.sqs.SendMessage", respond)
    return refusals


def send_message_fails(client: Any) -> None:
    def respond(**_: Any) -> Any:
        return sqs_error(500, "InternalError", "simulated")

    client.meta.events.register("before-call.sqs.SendMessage", respond)


# -- the dead-letter queue ------------------------------------------------------------------------
def test_direct_permanent_failure_raises_when_the_dead_letter_send_fails(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    send_message_fails(lambda_handler.processor().sqs)
    with pytest.raises(DeadLetterFailed, match=r"could not be sent to the dead-letter queue.*s3://"):
        lambda_handler.handler({"source_prefix": "ftp://lab-data/x/"}, None)
    assert stack.receive(stack.dlq_url) == []


def test_sqs_record_whose_dead_letter_send_fails_is_returned_for_retry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    send_message_fails(lambda_handler.processor().sqs)
    record = sqs_record("not json", "m-bad", stack.queue_arn)
    assert lambda_handler.handler({"Records": [record]}, None) == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}


def test_direct_dead_letter_body_with_a_lone_surrogate_is_ascii_json_sqs_accepts(stack: Stack) -> None:
    refusals = sqs_refuses_what_aws_refuses(lambda_handler.processor().sqs)
    event = {"source_prefix": "s3://lab-data/runs/run-1/", "metadata": {"note": "half a pair: \ud800"}}
    result = lambda_handler.handler(event, None)
    assert [r["status"] for r in result["results"]] == ["rejected"]
    assert refusals == []
    [dead] = stack.receive(stack.dlq_url)
    assert dead["Body"].isascii()
    assert json.loads(dead["Body"]) == event  # the exact event, ready to inspect or redrive
    assert "lone surrogate" in dead["MessageAttributes"]["qps-error"]["StringValue"]


def test_direct_dead_letter_body_with_characters_sqs_refuses_round_trips(stack: Stack) -> None:
    refusals = sqs_refuses_what_aws_refuses(lambda_handler.processor().sqs)
    event = {"source_prefix": "ftp://lab-data/x/", "metadata": {"\uffff": "\ufffe \x7f \U0001f600 é"}}
    lambda_handler.handler(event, None)
    assert refusals == []
    [dead] = stack.receive(stack.dlq_url)
    assert json.loads(dead["Body"]) == event


def test_sqs_record_body_with_refused_characters_is_escaped_and_flagged(stack: Stack) -> None:
    refusals = sqs_refuses_what_aws_refuses(lambda_handler.processor().sqs)
    record = sqs_record("not json \uffff\x01", "m-odd", stack.queue_arn)
    assert lambda_handler.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert refusals == []
    [dead] = stack.receive(stack.dlq_url)
    assert dead["Body"] == "not json \\uffff\\u0001"
    assert "qps-body-escaped" in dead["MessageAttributes"]
    assert "invalid JSON" in dead["MessageAttributes"]["qps-error"]["StringValue"]


def test_qps_error_attribute_keeps_the_reason_when_it_holds_refused_characters(stack: Stack) -> None:
    proc = lambda_handler.processor()
    refusals = sqs_refuses_what_aws_refuses(proc.sqs)
    reason = "adapter 'x' failed: ValueError: bad \uffff\x00 value"
    assert proc.dead_letter('{"a": 1}', RecordResult("m1", "dead-lettered", errors=[reason]))
    assert refusals == []
    [dead] = stack.receive(stack.dlq_url)
    assert dead["MessageAttributes"]["qps-error"]["StringValue"] == (
        "adapter 'x' failed: ValueError: bad \\uffff\\u0000 value"
    )


def test_qps_error_attribute_of_many_failures_is_one_bounded_summary(stack: Stack) -> None:
    proc = lambda_handler.processor()
    errors = [f"reason number {n} " + "x" * 200 for n in range(500)]
    assert proc.dead_letter("{}", RecordResult("m1", "dead-lettered", errors=errors))
    [dead] = stack.receive(stack.dlq_url)
    text = dead["MessageAttributes"]["qps-error"]["StringValue"]
    assert text.startswith("500 failures: reason number 0 ")
    assert len(text) <= 1000


# -- one input, bounded -----------------------------------------------------------------------------
TEST_EVENT = {"Event": "s3:TestEvent", "Service": "Amazon S3", "Bucket": "lab-data"}
S3_RECORD = {
    "eventSource": "aws:s3",
    "eventName": "ObjectCreated:Put",
    "s3": {"bucket": {"name": "lab-data"}, "object": {"key": "runs/run-1/a.csv", "size": 1}},
}


def test_settings_cap_events_per_input_at_10000_by_default() -> None:
    from qps_core.settings import load_settings

    assert load_settings().max_events_per_input == 10_000


def test_direct_event_over_the_event_cap_is_rejected_whole_not_truncated(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QPS_MAX_EVENTS_PER_INPUT", "5")
    bodies = [{"source_prefix": "s3://lab-data/runs/run-1/", "package_name": f"runs/n{n}"} for n in range(6)]
    result = lambda_handler.handler(bodies, None)
    [outcome] = result["results"]
    assert outcome["status"] == "rejected"
    assert "more than 5 events" in outcome["error"] and "max_events_per_input" in outcome["error"]
    assert stack.s3.list_objects_v2(Bucket="lab-data", Prefix=".quilt/").get("KeyCount", 0) == 0  # nothing made
    [dead] = stack.receive(stack.dlq_url)
    assert json.loads(dead["Body"]) == bodies


def test_direct_event_at_the_event_cap_is_processed_whole(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_MAX_EVENTS_PER_INPUT", "5")
    result = lambda_handler.handler([TEST_EVENT] * 5, None)
    assert result["counts"] == {"ignored": 5}


def test_sqs_record_over_the_event_cap_is_dead_lettered_once_with_its_reason(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QPS_MAX_EVENTS_PER_INPUT", "3")
    records = [
        sqs_record(json.dumps({"Records": [S3_RECORD] * 4}), "m-big", stack.queue_arn),
        sqs_record(json.dumps({"Records": [S3_RECORD] * 3}), "m-ok", stack.queue_arn),
    ]
    assert lambda_handler.handler({"Records": records}, None) == {"batchItemFailures": []}
    [dead] = stack.receive(stack.dlq_url)
    assert dead["MessageAttributes"]["qps-source-message-id"]["StringValue"] == "m-big"
    assert "more than 3 events" in dead["MessageAttributes"]["qps-error"]["StringValue"]


def test_lambda_response_and_log_lines_stay_bounded_for_a_large_direct_event(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qps")
    huge = "k" * 50_000
    events = [{"Records": [{"eventSource": huge, "eventName": huge}]}] + [TEST_EVENT] * 9_999
    result = lambda_handler.handler(events, None)
    assert len(result["results"]) == lambda_handler.MAX_RESULTS
    assert result["omitted"] == 10_000 - lambda_handler.MAX_RESULTS
    assert result["counts"] == {"ignored": 10_000}
    assert len(json.dumps(result)) < 100_000
    assert max(len(r.getMessage()) for r in caplog.records) <= 2_100
