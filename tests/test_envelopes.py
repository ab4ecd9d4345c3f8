"""Envelope unwrapping (qps_core.envelopes, docs/design.md §3): every AWS transport shape → events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qps_core.envelopes import unwrap, unwrap_bytes

OMICS = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Run Status Change",
    "source": "aws.omics",
    "account": "123456789012",
    "time": "2025-03-14T12:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"runId": "3395667", "status": "COMPLETED", "runOutputUri": "s3://bkt/omics/3395667"},
}


def s3_record(key: str, bucket: str = "bkt", name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-03-14T12:00:00.000Z",
        "eventName": name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "qps",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": 12, "eTag": "abc", "versionId": "v1", "sequencer": "00"},
        },
    }


def s3_notification(*keys: str) -> dict[str, Any]:
    return {"Records": [s3_record(k) for k in keys]}


def eb_object_created(key: str, bucket: str = "bkt") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2025-03-14T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 5, "etag": "e", "version-id": "v2", "sequencer": "1"},
            "reason": "PutObject",
        },
    }


def sqs_record(body: Any, message_id: str = "msg-1", **attributes: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "rh",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1710000000000",
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "1710000000001",
            **attributes,
        },
        "messageAttributes": {},
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:qps",
        "awsRegion": "us-east-1",
    }


def sqs_batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sns_notification(message: Any, cert_key: str = "SigningCertURL") -> dict[str, Any]:
    """An SNS notification as it arrives in an SQS body (raw delivery off)."""
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:qps",
        "Subject": None,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2025-03-14T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        cert_key: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
        "UnsubscribeURL" if cert_key.endswith("URL") else "UnsubscribeUrl": "https://sns.example/unsub",
    }


def sns_lambda_event(message: Any) -> dict[str, Any]:
    """SNS → Lambda: records with EventSource aws:sns and an `Sns` object."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:qps:sub",
                "Sns": {**sns_notification(message, "SigningCertUrl"), "MessageAttributes": {}},
            }
        ]
    }


TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2025-03-14T12:00:00.000Z",
    "Bucket": "bkt",
    "RequestId": "r",
    "HostId": "h",
}


def kinds(events):
    return [e.kind for e in events]


# -- SQS ----------------------------------------------------------------------------------------


def test_sqs_batch_unwraps_each_body():
    events = unwrap(sqs_batch(sqs_record({"source_prefix": "s3://bkt/a/"}, "m1"), sqs_record(OMICS, "m2")))
    assert kinds(events) == ["body", "eventbridge"]
    assert events[0].payload == {"source_prefix": "s3://bkt/a/"}
    assert events[1].source == "aws.omics"
    assert events[1].detail_type == "Run Status Change"
    assert events[1].detail["status"] == "COMPLETED"
    assert [e.record_id for e in events] == ["m1", "m2"]
    assert all(e.via == ("sqs",) for e in events)


def test_sqs_record_without_event_source_still_recognised():
    record = {"messageId": "m", "body": json.dumps({"uri": "s3://bkt/a"})}
    (event,) = unwrap({"Records": [record]})
    assert event.kind == "body" and event.record_id == "m"


def test_fifo_attributes_kept_on_event():
    record = sqs_record(
        {"uri": "s3://bkt/a"},
        "fifo-1",
        MessageGroupId="group-1",
        MessageDeduplicationId="dedupe-1",
        SequenceNumber="1800000",
    )
    (event,) = unwrap(sqs_batch(record))
    assert event.attributes == {
        "MessageGroupId": "group-1",
        "MessageDeduplicationId": "dedupe-1",
        "SequenceNumber": "1800000",
    }


def test_standard_queue_has_no_fifo_attributes():
    (event,) = unwrap(sqs_batch(sqs_record({"uri": "s3://bkt/a"})))
    assert event.attributes == {}


def test_fifo_attributes_reach_nested_events():
    record = sqs_record(s3_notification("a/x.json", "b/y.json"), "f", MessageGroupId="g")
    events = unwrap(sqs_batch(record))
    assert [e.attributes for e in events] == [{"MessageGroupId": "g"}] * 2


def test_sqs_body_json_list_is_one_body_event():
    (event,) = unwrap(sqs_batch(sqs_record([1, 2], "m")))
    assert event.kind == "body" and event.payload == [1, 2] and event.record_id == "m"


def test_sqs_body_scalar_is_a_body_event():
    (event,) = unwrap(sqs_batch(sqs_record('"s3://bkt/a/"')))
    assert event.kind == "body" and event.payload == "s3://bkt/a/"


def test_sqs_body_not_a_string_is_broken():
    record = sqs_record("x")
    record["body"] = {"already": "parsed"}
    (event,) = unwrap(sqs_batch(record))
    assert event.kind == "broken" and event.note and "\n" not in event.note


# -- SNS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cert_key", ["SigningCertURL", "SigningCertUrl"])
def test_sns_notification_as_sqs_body(cert_key):
    events = unwrap(sqs_batch(sqs_record(sns_notification(OMICS, cert_key), "m-sns")))
    assert kinds(events) == ["eventbridge"]
    assert events[0].payload == OMICS
    assert events[0].via == ("sqs", "sns")
    assert events[0].record_id == "m-sns"


@pytest.mark.parametrize("cert_key", ["SigningCertURL", "SigningCertUrl"])
def test_sns_notification_direct(cert_key):
    (event,) = unwrap(sns_notification({"source_prefix": "s3://bkt/a/"}, cert_key))
    assert event.kind == "body" and event.payload == {"source_prefix": "s3://bkt/a/"}
    assert event.via == ("sns",)


def test_sns_lambda_record():
    events = unwrap(sns_lambda_event(OMICS))
    assert kinds(events) == ["eventbridge"]
    assert events[0].source == "aws.omics"
    assert events[0].via == ("sns",)


def test_sns_lambda_record_carrying_s3_notification():
    events = unwrap(sns_lambda_event(s3_notification("a/ro-crate-metadata.json", "b/c.txt")))
    assert kinds(events) == ["s3", "s3"]
    assert [e.s3_object.key for e in events] == ["a/ro-crate-metadata.json", "b/c.txt"]
    assert all(e.via == ("sns", "s3") for e in events)


def test_sns_message_invalid_json_is_broken():
    events = unwrap(sqs_batch(sqs_record(sns_notification("{oops"), "m")))
    assert kinds(events) == ["broken"]
    assert "SNS Message" in events[0].note and "\n" not in events[0].note
    assert events[0].record_id == "m"


def test_sns_message_not_a_string_is_broken():
    lambda_event = sns_lambda_event("x")
    lambda_event["Records"][0]["Sns"]["Message"] = {"not": "a string"}
    (event,) = unwrap(lambda_event)
    assert event.kind == "broken"


# -- S3 notifications ---------------------------------------------------------------------------


def test_s3_notification_several_records_several_events():
    events = unwrap(s3_notification("a/one.json", "b/two.json", "c/three.json"))
    assert kinds(events) == ["s3", "s3", "s3"]
    assert [e.index for e in events] == [0, 1, 2]
    assert [e.s3_object.key for e in events] == ["a/one.json", "b/two.json", "c/three.json"]


def test_s3_notification_keys_are_form_decoded():
    (event,) = unwrap(s3_notification("my+folder/run%2B1/ro-crate-metadata.json"))
    obj = event.s3_object
    assert obj.key == "my folder/run+1/ro-crate-metadata.json"
    assert obj.bucket == "bkt"
    assert obj.created is True
    assert obj.event_name == "ObjectCreated:Put"
    assert (obj.version_id, obj.size, obj.etag) == ("v1", 12, "abc")
    assert event.payload["s3"]["object"]["key"] == "my+folder/run%2B1/ro-crate-metadata.json"


def test_s3_notification_removed_is_not_created():
    (event,) = unwrap({"Records": [s3_record("a/b.json", name="ObjectRemoved:Delete")]})
    assert event.kind == "s3" and event.s3_object.created is False


def test_s3_notification_inside_sqs():
    events = unwrap(sqs_batch(sqs_record(s3_notification("a/x", "a/y"), "m-s3")))
    assert kinds(events) == ["s3", "s3"]
    assert [e.record_id for e in events] == ["m-s3", "m-s3"]
    assert all(e.via == ("sqs", "s3") for e in events)


def test_s3_record_with_missing_fields_has_no_s3_object():
    record = s3_record("a")
    del record["s3"]["object"]
    (event,) = unwrap({"Records": [record]})
    assert event.kind == "s3"
    assert event.s3_object is None


def test_s3_test_event_is_skipped():
    (event,) = unwrap(TEST_EVENT)
    assert event.kind == "skipped"
    assert "s3:TestEvent" in event.note


def test_s3_test_event_in_sqs_is_skipped():
    events = unwrap(sqs_batch(sqs_record(TEST_EVENT, "t"), sqs_record({"uri": "s3://bkt/a"}, "u")))
    assert kinds(events) == ["skipped", "body"]
    assert events[0].record_id == "t"


def test_empty_records_envelope_is_skipped():
    (event,) = unwrap({"Records": []})
    assert event.kind == "skipped"


def test_unsupported_record_source_is_skipped():
    (event,) = unwrap({"Records": [{"eventSource": "aws:dynamodb", "dynamodb": {}}]})
    assert event.kind == "skipped" and "aws:dynamodb" in event.note


def test_non_object_record_is_broken():
    events = unwrap({"Records": [s3_record("a/x"), 7]})
    assert kinds(events) == ["s3", "broken"]


# -- EventBridge --------------------------------------------------------------------------------


def test_eventbridge_direct():
    (event,) = unwrap(OMICS)
    assert event.kind == "eventbridge"
    assert event.via == ()
    assert event.record_id is None
    assert event.s3_object is None


def test_eventbridge_as_sqs_body_without_account():
    body = {k: v for k, v in OMICS.items() if k != "account"}  # moto's rule → SQS shape
    (event,) = unwrap(sqs_batch(sqs_record(body, "eb")))
    assert event.kind == "eventbridge" and event.record_id == "eb"


def test_eventbridge_s3_object_created_decodes_key():
    (event,) = unwrap(eb_object_created("x+y/z%21/ro-crate-metadata.json"))
    obj = event.s3_object
    assert obj.key == "x y/z!/ro-crate-metadata.json"
    assert obj.created is True and obj.event_name == "Object Created"
    assert (obj.bucket, obj.version_id, obj.size, obj.etag) == ("bkt", "v2", 5, "e")


def test_eventbridge_s3_object_deleted_not_created():
    event_ = eb_object_created("a/b")
    event_["detail-type"] = "Object Deleted"
    (event,) = unwrap(event_)
    assert event.s3_object.created is False


def test_eventbridge_non_s3_source_has_no_s3_object():
    event_ = eb_object_created("a/b")
    event_["source"] = "my.app"
    (event,) = unwrap(event_)
    assert event.s3_object is None


def test_ready_event_detail_is_addressed_body():
    ready = {"source": "com.example", "detail-type": "package-objects-ready", "detail": {"uri": "s3://bkt/a"}}
    (event,) = unwrap(ready)
    assert event.is_ready_event
    assert event.addressed_body == (True, {"uri": "s3://bkt/a"})
    alias = {**ready, "detail-type": "package-object-request"}
    assert unwrap(alias)[0].is_ready_event


def test_non_ready_eventbridge_is_not_addressed():
    (event,) = unwrap(OMICS)
    assert event.addressed_body == (False, None)


def test_bare_body_is_addressed():
    (event,) = unwrap({"source_prefix": "s3://bkt/a/"})
    assert event.kind == "body"
    assert event.addressed_body == (True, {"source_prefix": "s3://bkt/a/"})
    assert event.source is None and event.detail_type is None and event.detail is None


# -- isolation of bad records -------------------------------------------------------------------


def test_bad_record_is_one_broken_event_neighbours_fine():
    events = unwrap(
        sqs_batch(
            sqs_record(OMICS, "good-1"),
            sqs_record("{not json", "bad"),
            sqs_record(s3_notification("a/x", "a/y"), "good-2"),
        )
    )
    assert kinds(events) == ["eventbridge", "broken", "s3", "s3"]
    broken = events[1]
    assert broken.record_id == "bad"
    assert broken.payload == "{not json"
    assert broken.note.startswith("SQS body") and "\n" not in broken.note


@pytest.mark.parametrize(
    "body",
    ['{"a": NaN}', '{"a": 1, "a": 2}', '"\\ud800"', "[" * 1000, "{} {}", ""],
)
def test_strict_json_applies_to_bodies(body):
    events = unwrap(sqs_batch(sqs_record(body, "bad"), sqs_record({"uri": "s3://bkt/a"}, "ok")))
    assert kinds(events) == ["broken", "body"]
    assert "\n" not in events[0].note


def test_unwrap_bytes_invalid_is_one_broken_event():
    (event,) = unwrap_bytes(b"\xff{")
    assert event.kind == "broken" and event.index == 0 and "UTF-8" in event.note


def test_unwrap_bytes_valid():
    events = unwrap_bytes(json.dumps(s3_notification("a", "b")).encode())
    assert kinds(events) == ["s3", "s3"]


# -- numbering and record ids -------------------------------------------------------------------


def test_numbering_depth_first_from_zero():
    batch = sqs_batch(
        sqs_record(s3_notification("r0/a", "r0/b"), "m1"),  # 0, 1
        sqs_record(OMICS, "m2"),  # 2
        sqs_record(sns_notification(s3_notification("r2/a", "r2/b", "r2/c")), "m3"),  # 3, 4, 5
        sqs_record("oops", "m4"),  # 6
        sqs_record(TEST_EVENT, "m5"),  # 7
    )
    events = unwrap(batch)
    assert [e.index for e in events] == list(range(8))
    assert [e.record_id for e in events] == ["m1", "m1", "m2", "m3", "m3", "m3", "m4", "m5"]
    assert [e.s3_object.key for e in events[3:6]] == ["r2/a", "r2/b", "r2/c"]
    assert kinds(events) == ["s3", "s3", "eventbridge", "s3", "s3", "s3", "broken", "skipped"]


def test_record_id_propagates_through_sns_into_s3_records():
    events = unwrap(sqs_batch(sqs_record(sns_notification(s3_notification("a", "b")), "outer")))
    assert [e.record_id for e in events] == ["outer", "outer"]
    assert all(e.via == ("sqs", "sns", "s3") for e in events)


def test_top_level_list_is_a_batch():
    events = unwrap([{"source_prefix": "s3://bkt/a/"}, OMICS, s3_notification("x", "y"), "text"])
    assert kinds(events) == ["body", "eventbridge", "s3", "s3", "body"]
    assert [e.index for e in events] == [0, 1, 2, 3, 4]
    assert all(e.via[0] == "batch" for e in events)


def test_top_level_list_from_bytes_is_a_batch():
    events = unwrap_bytes(json.dumps([{"uri": "s3://bkt/a"}, {"uri": "s3://bkt/b"}]))
    assert kinds(events) == ["body", "body"]
    assert [e.index for e in events] == [0, 1]


def test_nested_list_inside_batch_is_one_body():
    events = unwrap([[1, 2], {"a": 1}])
    assert kinds(events) == ["body", "body"]
    assert events[0].payload == [1, 2]


def test_empty_batch_has_no_events():
    assert unwrap([]) == []


def test_single_event_index_zero():
    (event,) = unwrap({"uri": "s3://bkt/a"})
    assert event.index == 0


def test_describe_labels():
    assert "aws.omics" in unwrap(OMICS)[0].describe()
    assert "ObjectCreated:Put" in unwrap(s3_notification("a"))[0].describe()
    assert unwrap({"a": 1})[0].describe() == "body event"


def test_eventbridge_without_source_still_eventbridge():
    # An input transformer (the spec's custom rule) may drop `source`; detail-type + detail remain.
    (event,) = unwrap({"detail-type": "package-object-request", "detail": {"uri": "s3://bkt/a"}})
    assert event.kind == "eventbridge" and event.is_ready_event
    assert event.addressed_body == (True, {"uri": "s3://bkt/a"})


def test_body_with_detail_type_only_is_a_body():
    (event,) = unwrap({"detail-type": "x", "other": 1})
    assert event.kind == "body"


def test_request_body_holding_records_is_a_body():
    body = {"source_prefix": "s3://bkt/a/", "Records": [{"eventSource": "aws:s3", "s3": {}}]}
    (event,) = unwrap(body)
    assert event.kind == "body" and event.payload == body


def test_sns_subscription_confirmations_are_skipped_not_rejected():
    for kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        message = {
            "Type": kind,
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:quilt-example-s3-events",
            "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
            "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37",
            "Timestamp": "2025-03-14T09:41:07.214Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkk"
            "OxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-fde336129856c97d93ca61a1b0430402.pem",
        }
        [event] = unwrap({"Records": [{"messageId": "m1", "body": json.dumps(message), "eventSource": "aws:sqs"}]})
        assert event.kind == "skipped" and kind in (event.note or "")


def _pipes_item(message_id: str, body: str) -> dict:
    """An item of an EventBridge Pipes SQS source, as Pipes passes it on to a target unchanged."""
    return {
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1741945267123",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1741945267466",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lims-source",
        "awsRegion": "us-east-1",
    }


def test_eventbridge_pipes_sqs_items_are_unwrapped_inside_an_sqs_message():
    inner = _pipes_item("inner-1", json.dumps({"uri": "s3://bkt/runs/run-1"}))
    outer = {
        "Records": [
            {
                "messageId": "outer-1",
                "body": json.dumps(inner),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:QuiltPackager",
            }
        ]
    }
    [event] = unwrap(outer)
    assert event.kind == "body" and event.payload == {"uri": "s3://bkt/runs/run-1"}
    assert event.record_id == "outer-1"  # the message Lambda must retry is the outer one
    assert event.via == ("sqs", "sqs")
    batch = [_pipes_item(f"i-{n}", json.dumps({"uri": f"s3://bkt/runs/run-{n}"})) for n in range(3)]
    events = unwrap({"Records": [{"messageId": "outer-2", "body": json.dumps(batch), "eventSource": "aws:sqs"}]})
    assert [e.payload["uri"] for e in events] == [f"s3://bkt/runs/run-{n}" for n in range(3)]
    assert {e.record_id for e in events} == {"outer-2"}


# -- one place knows Lambda SQS batches; each record unwraps alone (issue 8) ------------------------


def test_lambda_sqs_records_is_the_one_place_that_recognises_a_lambda_sqs_batch():
    from qps_core.envelopes import lambda_sqs_records

    batch = sqs_batch(sqs_record({"uri": "s3://bkt/a"}, "m1"), sqs_record(OMICS, "m2"))
    assert lambda_sqs_records(batch) == batch["Records"]
    assert lambda_sqs_records(s3_notification("a/ro-crate-metadata.json")) is None
    assert lambda_sqs_records({"Records": []}) is None
    assert lambda_sqs_records({"Records": [sqs_record(OMICS, "m"), s3_record("k")]}) is None
    assert lambda_sqs_records([sqs_record(OMICS, "m")]) is None
    assert lambda_sqs_records(OMICS) is None


def test_unwrap_sqs_record_unwraps_one_record_as_the_batch_would():
    from qps_core.envelopes import unwrap_sqs_record

    record = sqs_record(s3_notification("a/x.csv", "a/ro-crate-metadata.json"), "m7")
    record["attributes"] = {"MessageGroupId": "g", "SequenceNumber": "1", "ApproximateReceiveCount": "1"}
    alone = unwrap_sqs_record(record)
    in_batch = unwrap(sqs_batch(record))
    assert [(e.kind, e.index, e.record_id, e.via, e.attributes, e.payload) for e in alone] == [
        (e.kind, e.index, e.record_id, e.via, e.attributes, e.payload) for e in in_batch
    ]
    assert [e.record_id for e in alone] == ["m7", "m7"]
    assert alone[0].attributes == {"MessageGroupId": "g", "SequenceNumber": "1"}


# -- bounds (issue 7) -------------------------------------------------------------------------------


def test_input_over_the_event_cap_is_one_broken_event_not_a_truncated_list():
    events = unwrap([{"uri": "s3://bkt/a"}] * 6, max_events=5)
    assert [(e.kind, e.payload) for e in events] == [("broken", None)]
    assert "more than 5 events" in (events[0].note or "")
    assert kinds(unwrap([{"uri": "s3://bkt/a"}] * 5, max_events=5)) == ["body"] * 5


def test_event_cap_counts_events_inside_nested_envelopes_and_stops_early():
    from qps_core.envelopes import unwrap_sqs_record

    huge = s3_notification(*[f"k{n}" for n in range(200_000)])
    [event] = unwrap_sqs_record(sqs_record(huge, "m-huge"), max_events=10_000)
    assert event.kind == "broken" and event.record_id == "m-huge"
    assert "more than 10,000 events" in (event.note or "")
    [event] = unwrap_bytes(json.dumps([1] * 50_001), max_events=50_000)
    assert event.kind == "broken"


def test_quilt_internal_keys_are_skipped_while_unwrapping_with_a_bounded_note():
    key = ".quilt/packages/" + "x" * 5000
    for value in (s3_notification(key), eb_object_created(key)):
        [event] = unwrap(value)
        assert event.kind == "skipped"
        assert ".quilt/" in (event.note or "") and len(event.note or "") < 200


def test_describe_and_unsupported_record_notes_are_bounded():
    huge = "s" * 100_000
    [event] = unwrap({"Records": [{"eventSource": huge}]})
    assert event.kind == "skipped" and len(event.note or "") < 200
    eb = {"source": huge, "detail-type": huge, "detail": {}}
    [event] = unwrap(eb)
    assert len(event.describe()) < 250
