"""uri adapter: {"uri": "s3://bucket/folder?k=v"} packages the folder, its query becoming metadata
(docs/design.md §2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qps_core.testing import load_event, make_runner, only_request, plan, plan_one, sqs_batch

EVENTS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "events"

ONLY: dict[str, Any] = {"enable_adapters": ["uri"]}
BOTH = pytest.mark.parametrize("settings", [ONLY, {}], ids=["uri-only", "all-adapters"])


def _plan_uri(uri, **settings):
    return plan(sqs_batch({"uri": uri}), make_runner(**settings))[0]


@BOTH
def test_spec_example_uri_with_query_in_an_sqs_body(settings):
    # Spec: aws sqs send-message --message-body '{"uri": "s3://bucket/path/to/data?key=value"}'
    result = plan_one(EVENTS / "sqs-uri-query.json", make_runner(**settings))
    assert result.adapter == "uri"
    assert only_request(result).normalised() == {
        "source_prefix": "s3://quilt-example/path/to/data/",
        "registry": "quilt-example",
        "package_name": "to/data",
        "metadata": {"key": "value"},
        "metadata_uri": None,
        "message": "QPS: package s3://quilt-example/path/to/data/",
        "workflow": None,
        "should_copy": False,
    }


@BOTH
def test_repeated_query_keys_become_lists_and_values_are_form_decoded(settings):
    result = plan_one(EVENTS / "sns-lambda-uri.json", make_runner(**settings))
    assert result.event.via == ("sns",)
    assert only_request(result).normalised() == {
        "source_prefix": "s3://quilt-example/sequencing/flowcell-22FJKLLT3/",
        "registry": "quilt-example",
        "package_name": "sequencing/flowcell-22FJKLLT3",
        "metadata": {"project": "alpha", "sample": ["S1", "S2"], "note": "first pass"},
        "metadata_uri": None,
        "message": "QPS: package s3://quilt-example/sequencing/flowcell-22FJKLLT3/",
        "workflow": None,
        "should_copy": False,
    }


@BOTH
def test_uri_in_an_sns_notification_delivered_by_sqs(settings):
    request = only_request(plan_one(EVENTS / "sqs-sns-uri.json", make_runner(**settings))).normalised()
    assert request["package_name"] == "instrument-c/run-0077"
    assert request["metadata"] == {"operator": "j.doe", "tag": ["rna", "qc"]}


@BOTH
@pytest.mark.parametrize(
    "name, target, metadata",
    [
        (
            "ebc-package-objects-ready-uri.json",
            ("quilt-example", "instrument-g/run-0500", "s3://quilt-example/instrument-g/run-0500/"),
            {"reviewed": "yes"},
        ),
        (
            "sqs-eventbridge-envelope-package-objects-ready.json",
            ("quilt-example", "instrument-d/run-0101", "s3://quilt-example/instrument-d/run-0101/"),
            None,
        ),
        # `package-object-request` (the spec's custom-rule example) is an alias; offline the path is a folder.
        (
            "ebc-package-object-request-uri.json",
            ("bkt", "folder/manifest-json", "s3://bkt/path/to/folder/manifest.json/"),
            None,
        ),
        (
            "sqs-input-transformer-package-object-request.json",
            ("bkt", "folder/manifest-json", "s3://bkt/path/to/folder/manifest.json/"),
            None,
        ),
    ],
)
def test_package_objects_ready_with_uri_detail(settings, name, target, metadata):
    result = plan_one(EVENTS / name, make_runner(**settings))
    assert result.adapter == "uri"
    request = only_request(result).normalised()
    assert (request["registry"], request["package_name"], request["source_prefix"]) == target
    assert request["metadata"] == metadata


def test_mixed_batch_neighbours_are_independent():
    results = plan(EVENTS / "sqs-mixed-batch.json")
    assert [(r.status, r.adapter) for r in results] == [
        ("planned", "description"),
        ("rejected", None),
        ("planned", "uri"),
    ]
    assert only_request(results[2]).normalised()["metadata"] == {"shift": "night"}


def test_percent_encoded_path_is_decoded_once():
    request = only_request(_plan_uri("s3://quilt-example/my%20project/run%3D7?x=1")).normalised()
    assert request["source_prefix"] == "s3://quilt-example/my project/run=7/"
    assert request["package_name"] == "my-project/run-7"
    literal_percent = only_request(_plan_uri("s3://quilt-example/gc%2550")).normalised()
    assert literal_percent["source_prefix"] == "s3://quilt-example/gc%50/"


def test_trailing_slash_and_empty_query_change_nothing():
    a = only_request(_plan_uri("s3://quilt-example/runs/run-7")).normalised()
    b = only_request(_plan_uri("s3://quilt-example/runs/run-7/?")).normalised()
    assert a == b
    assert a["metadata"] is None


def test_query_with_percent_and_plus_escapes():
    request = only_request(_plan_uri("s3://quilt-example/runs/run-7?a%20b=c%2Bd&e=f+g&empty=")).normalised()
    assert request["metadata"] == {"a b": "c+d", "e": "f g", "empty": ""}


def test_query_field_without_equals_sign_is_a_blank_value():
    request = only_request(_plan_uri("s3://quilt-example/runs/run-7?reviewed&tag=a")).normalised()
    assert request["metadata"] == {"reviewed": "", "tag": "a"}


def test_query_that_is_not_utf8_is_rejected():
    result = _plan_uri("s3://quilt-example/runs/run-7?name=%FF")
    assert (result.status, result.adapter) == ("rejected", "uri")
    assert result.error.startswith("uri: ")


@BOTH
@pytest.mark.parametrize(
    "name, index, parts",
    [
        ("reject-body-uri-extra-field.json", None, ["uri", "'package_name'"]),
        ("reject-body-uri-bucket-only.json", 0, ["uri:", "bucket"]),
        ("reject-body-uri-bucket-only.json", 1, ["uri:", "bucket"]),
        ("reject-body-uri-bucket-only.json", 2, ["uri:", "bucket"]),
        ("reject-body-non-s3-scheme.json", 3, ["uri:", "s3://", "'https'"]),
        ("reject-body-dotdot-segment.json", 3, ["uri:", "'..'"]),
    ],
)
def test_invalid_uri_bodies_are_rejected_by_uri(settings, name, index, parts):
    results = plan(EVENTS / name, make_runner(**settings))
    result = results[0] if index is None else results[index]
    assert (result.status, result.adapter) == ("rejected", "uri")
    for part in parts:
        assert part in result.error


@pytest.mark.parametrize(
    "uri, part",
    [
        (None, "uri: must be a string"),
        (17, "uri: must be a string"),
        ("s3://Quilt_Example/run-7", "'Quilt_Example'"),
        ("s3://quilt-example/run-7#frag", "fragment"),
        ("s3://quilt-example//run-7", "empty segments"),
    ],
)
def test_malformed_uri_values(uri, part):
    result = _plan_uri(uri)
    assert (result.status, result.adapter) == ("rejected", "uri")
    assert part in result.error


def test_uri_adapter_does_not_claim_package_descriptions():
    for name in ("sqs-package-description-full.json", "ebc-package-objects-ready-description.json"):
        result = plan_one(EVENTS / name, make_runner(**ONLY))
        assert (result.status, result.adapter) == ("ignored", None)


def test_uri_form_in_a_ready_event_from_the_edp_source_is_the_uri_adapters():
    event = load_event(EVENTS / "ebc-package-objects-ready-uri.json")
    event["source"] = "com.quiltdata.edp"
    result = plan(event)[0]
    # EDP leaves a {"uri": ...} detail from its own source to the uri adapter.
    assert (result.status, result.adapter) == ("planned", "uri")
    assert result.also_claimed_by == []
