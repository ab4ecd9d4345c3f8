"""Fuzzing (issue 7): envelopes, requests and the Lambda handler under generated input.

- Any envelope plans to a package, an ignore or a typed rejection: never an exception, never an
  adapter crash, every message one bounded line.
- Any request body is a valid `PackageRequest` or one `InvalidInput` sentence.
- Any Lambda SQS batch: every record is acknowledged, dead-lettered exactly once with its reason,
  or returned for retry, and what goes to the dead-letter queue is what SQS accepts.
- Any directly delivered event: a bounded response, or a raise that makes Lambda retry it.

The packager here is a deterministic stand-in (its answer depends on the package name) so that
thousands of examples run in seconds; the real packager is tested against S3 elsewhere. The SQS
client is a stand-in that checks what SQS checks and can refuse every send.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qps_core import jsonstrict, lambda_handler
from qps_core.adapter_api import request_from_body
from qps_core.errors import InvalidInput, NotReadyError, PermanentError, TransientError
from qps_core.models import PackageRequest
from qps_core.outcomes import RunOutcome
from qps_core.runner import Runner
from qps_core.runtime.sqs_batch import BatchProcessor
from qps_core.settings import Settings

RULES = Path(__file__).parents[1] / "fixtures" / "mapped" / "rules.yaml"
BOUND = 600
SQS_ACCEPTS = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")

# -- strategies -------------------------------------------------------------------------------------
any_text = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates included
path_text = st.text(alphabet="ab/._- %?#+é\x00\ud800", max_size=24)
buckets = st.sampled_from(["bkt", "lab-data", "quilt-packages", "BAD_BUCKET", "a", "x" * 70, "xn--b", "1.2.3.4"])
s3_uris = st.builds(lambda b, p: f"s3://{b}/{p}", buckets, path_text) | st.sampled_from(
    ["s3://", "s3://bkt", "ftp://bkt/x", "bkt/x", "s3://bkt/.quilt/x", "s3://bkt/a/../b"]
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=10,
)
field_values = {
    "source_prefix": s3_uris | json_values,
    "registry": buckets | s3_uris | json_values,
    "package_name": st.sampled_from(["a/b", "runs/run-1", "a", "a/b/c", "a/b\n", "é/ß"]) | any_text,
    "metadata": st.dictionaries(any_text, json_values, max_size=3) | json_values,
    "metadata_uri": path_text | s3_uris | json_values,
    "message": any_text | json_values,
    "commit_message": any_text,
    "workflow": any_text | st.none(),
    "should_copy": st.booleans() | json_values,
    "uri": s3_uris | json_values,
    "unknown": json_values,
}
requests = st.fixed_dictionaries(
    {"source_prefix": s3_uris}, optional={k: v for k, v in field_values.items() if k != "source_prefix"}
) | st.fixed_dictionaries({}, optional=field_values)
uri_bodies = st.builds(lambda u: {"uri": u}, s3_uris)
keys = (
    st.sampled_from(
        ["runs/run-1/ro-crate-metadata.json", "a/ro-crate-manifest.json", ".quilt/x/ro-crate-metadata.json", "x.csv"]
    )
    | path_text
)
s3_records = st.builds(
    lambda bucket, key, name: {
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
    },
    buckets,
    keys,
    st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", "x"]) | any_text,
)
omics_details = st.fixed_dictionaries(
    {"status": st.sampled_from(["COMPLETED", "RUNNING", "FAILED"]) | json_values},
    optional={"runOutputUri": s3_uris | json_values, "runId": any_text, "runName": any_text | json_values},
)
edp_details = st.fixed_dictionaries(
    {}, optional={"version": any_text | json_values, "bucket": buckets | json_values, "prefix": path_text}
)
eventbridge = st.builds(
    lambda source, kind, detail: {"source": source, "detail-type": kind, "detail": detail},
    st.sampled_from(["aws.omics", "aws.s3", "com.quiltdata.edp", "com.example.lims", "other"]) | any_text,
    st.sampled_from(["Run Status Change", "package-objects-ready", "Object Created", "Run Finished"]) | any_text,
    omics_details | edp_details | requests | uri_bodies | json_values,
)
leaves = requests | uri_bodies | eventbridge | s3_records | json_values


def _wrap(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    text = st.builds(json.dumps, inner) | any_text
    return st.one_of(
        st.builds(lambda records: {"Records": records}, st.lists(s3_records | inner, max_size=3)),
        st.builds(lambda m: {"Type": "Notification", "TopicArn": "arn:aws:sns:x", "Message": m}, text),
        st.builds(lambda m: {"EventSource": "aws:sns", "Sns": {"Message": m}}, text),
        st.builds(lambda b: {"messageId": "m", "eventSource": "aws:sqs", "body": b}, text),
        st.lists(inner, max_size=3),
    )


envelopes = st.recursive(leaves, _wrap, max_leaves=6)


# -- stand-ins --------------------------------------------------------------------------------------
class FakePackager:
    """Answers by the package name: created, unchanged, permanent, transient or not ready."""

    def package(self, request: PackageRequest) -> Any:
        fate = hashlib.sha256(request.package_name.encode()).digest()[0] % 5
        if fate == 2:
            raise PermanentError(f"no such bucket {request.registry}")
        if fate == 3:
            raise TransientError("SlowDown")
        if fate == 4:
            raise NotReadyError("an object is still being written", retry_after=30)
        return SimpleNamespace(
            status="created" if fate == 0 else "unchanged",
            request=request,
            top_hash="0" * 64,
            files=1,
            bytes=1,
        )


class FakeSQS:
    """Checks what SQS checks on SendMessage; `refuse=True` makes every send fail."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **params: Any) -> dict[str, Any]:
        texts = [params["MessageBody"]] + [a["StringValue"] for a in params["MessageAttributes"].values()]
        assert all(t and SQS_ACCEPTS.fullmatch(t) for t in texts), "SQS would refuse this message"
        if self.refuse:
            raise RuntimeError("simulated SendMessage failure")
        self.sent.append(params)
        return {"MessageId": "dlq"}

    def get_queue_url(self, **_: Any) -> dict[str, Any]:
        return {"QueueUrl": "https://sqs/queue"}

    def change_message_visibility(self, **_: Any) -> dict[str, Any]:
        return {}


SETTINGS = Settings(rules_file=RULES, dead_letter_queue_url="https://sqs/dlq")
RUNNER = Runner(SETTINGS, packager=FakePackager(), notifier=SimpleNamespace(publish=lambda outcome: None))


def processor(refuse: bool) -> tuple[BatchProcessor, FakeSQS, dict[str | None, list[RunOutcome]]]:
    sqs = FakeSQS(refuse)
    proc = BatchProcessor(RUNNER, sqs=sqs)
    seen: dict[str | None, list[RunOutcome]] = {}
    real_ran = proc.ran

    def ran(message_id: str | None, plan: Any, outcomes: list[RunOutcome]) -> None:
        seen.setdefault(message_id, []).extend(outcomes)
        real_ran(message_id, plan, outcomes)

    proc.ran = ran  # type: ignore[method-assign]
    return proc, sqs, seen


def one_bounded_line(text: Any) -> None:
    assert isinstance(text, str) and text, f"not a message: {text!r}"
    assert len(text) <= BOUND and "\n" not in text and "\r" not in text, text[:300]


def is_retry(outcome: RunOutcome) -> bool:
    return outcome.status == "failed" and outcome.retryable


def is_permanent(outcome: RunOutcome) -> bool:
    return outcome.status == "rejected" or (outcome.status == "failed" and not outcome.retryable)


# -- properties ----------------------------------------------------------------------------------------
@given(envelopes)
def test_fuzz_any_envelope_plans_to_package_ignore_or_typed_rejection(value: Any) -> None:
    for plan in RUNNER.plan_value(value):
        assert plan.status in ("planned", "ignored", "rejected")
        assert plan.adapter_errors == [], "an adapter crashed"
        if plan.status == "planned":
            assert plan.requests and all(isinstance(r, PackageRequest) for r in plan.requests)
        elif plan.status == "rejected":
            one_bounded_line(plan.error)
        else:
            one_bounded_line(plan.reason)


@given(requests | uri_bodies | json_values)
def test_fuzz_any_request_body_is_a_request_or_one_invalid_input_sentence(body: Any) -> None:
    for parse in (lambda: PackageRequest.parse(body), lambda: request_from_body(body, SETTINGS)):
        try:
            request = parse()
        except InvalidInput as exc:
            one_bounded_line(str(exc))
        else:
            assert isinstance(request, PackageRequest)
            assert PackageRequest.parse(request.normalised()) == request  # a valid request stays valid


@given(st.binary(max_size=64) | st.builds(json.dumps, json_values) | any_text)
def test_fuzz_any_bytes_parse_strictly_or_are_one_invalid_input(data: Any) -> None:
    try:
        jsonstrict.loads(data)
    except InvalidInput as exc:
        one_bounded_line(str(exc))


@given(
    st.lists(st.builds(json.dumps, envelopes) | any_text, min_size=1, max_size=5),
    st.booleans(),
)
def test_fuzz_every_record_of_a_batch_is_acknowledged_dead_lettered_once_or_retried(
    bodies: list[str], dlq_refuses: bool
) -> None:
    proc, sqs, seen = processor(dlq_refuses)
    arn = "arn:aws:sqs:us-east-1:123456789012:QuiltPackager"
    records = [
        {"messageId": f"m{n}", "receiptHandle": f"h{n}", "body": body, "eventSource": "aws:sqs", "eventSourceARN": arn}
        for n, body in enumerate(bodies)
    ]
    lambda_handler._PROCESSOR, saved = proc, lambda_handler._PROCESSOR
    try:
        response = lambda_handler.handler({"Records": records}, None)
    finally:
        lambda_handler._PROCESSOR = saved
    retried = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    dead = Counter(m["MessageAttributes"]["qps-source-message-id"]["StringValue"] for m in sqs.sent)
    assert len(retried) == len(set(retried))
    for record in records:
        mid = record["messageId"]
        outcomes = seen[mid]
        must_retry = any(map(is_retry, outcomes)) or (any(map(is_permanent, outcomes)) and dlq_refuses)
        must_dead_letter = not must_retry and any(map(is_permanent, outcomes))
        assert (mid in retried) == must_retry, (mid, outcomes)
        assert dead[mid] == (1 if must_dead_letter else 0), (mid, outcomes)
    for message in sqs.sent:
        one_bounded_line(message["MessageAttributes"]["qps-error"]["StringValue"])
        source = message["MessageAttributes"]["qps-source-message-id"]["StringValue"]
        original = records[int(source[1:])]["body"]
        if original and SQS_ACCEPTS.fullmatch(original):
            assert message["MessageBody"] == original  # as it came, ready for redrive
        elif original:
            assert "qps-body-escaped" in message["MessageAttributes"]
        else:
            assert message["MessageBody"] == "(empty)"


@given(envelopes, st.booleans())
def test_fuzz_a_direct_event_gets_a_bounded_response_or_raises_for_retry(value: Any, dlq_refuses: bool) -> None:
    proc, sqs, seen = processor(dlq_refuses)
    lambda_handler._PROCESSOR, saved = proc, lambda_handler._PROCESSOR
    try:
        response = lambda_handler.handler(value, None)
    except lambda_handler.DeadLetterFailed:
        assert dlq_refuses and sqs.sent == []
        assert any(map(is_permanent, seen[None]))
        return
    except TransientError as exc:
        assert any(map(is_retry, seen[None])) and sqs.sent == []
        one_bounded_line(str(exc))
        return
    finally:
        lambda_handler._PROCESSOR = saved
    if "batchItemFailures" in response:  # the value happened to be a Lambda SQS batch
        return
    outcomes = seen.get(None, [])
    assert not any(map(is_retry, outcomes))
    assert len(sqs.sent) == (1 if any(map(is_permanent, outcomes)) else 0)
    assert len(response["results"]) <= lambda_handler.MAX_RESULTS
    assert sum(response["counts"].values()) == len(outcomes)
    if sqs.sent:
        assert json.loads(sqs.sent[0]["MessageBody"]) == value  # the exact event


@pytest.mark.parametrize("refuse", [False, True])
def test_fuzz_stand_in_sqs_refuses_what_sqs_refuses(refuse: bool) -> None:
    """The stand-in is strict: a body SQS would refuse fails the test, so the properties above mean it."""
    with pytest.raises(AssertionError, match="SQS would refuse"):
        FakeSQS(refuse).send_message(MessageBody="\uffff", MessageAttributes={})
