"""description adapter: native package-request bodies and package-objects-ready details (docs/design.md §2, §4)."""

from __future__ import annotations

import pytest

from tests.helpers import fixture_path, load_event, only_request, plan, plan_one, plan_value, sqs_batch

ONLY = {"enable_adapters": ["description"]}
BOTH = pytest.mark.parametrize("settings", [ONLY, {}], ids=["description-only", "all-adapters"])


def _plan_body(body, **settings):
    return plan_value(sqs_batch(body), **settings)[0]


@BOTH
def test_full_description_in_an_sqs_body_is_taken_as_given(settings):
    result = plan_one("sqs-package-description-full.json", **settings)
    assert result.adapter == "description"
    assert only_request(result) == {
        "source_prefix": "s3://quilt-example/instrument-a/experiment-17/",
        "registry": "quilt-packages",
        "package_name": "instrument-a/experiment-17",
        "metadata": {
            "instrument": "Xenium",
            "operator": "j.doe",
            "run_date": "2025-03-12",
            "samples": 12,
            "qc": {"passed": True, "reads_m": 412.7},
        },
        "metadata_uri": None,
        "message": "Automated package for experiment 17",
        "workflow": "alpha",
        "should_copy": False,
    }


@BOTH
def test_description_as_package_objects_ready_detail(settings):
    result = plan_one("ebc-package-objects-ready-description.json", **settings)
    assert result.adapter == "description"
    assert only_request(result) == {
        "source_prefix": "s3://quilt-example/instrument-f/batch-0301/",
        "registry": "quilt-packages",
        "package_name": "instrument-f/batch-0301",
        "metadata": {"instrument": "NovaSeq X", "flowcell": "22FJKLLT3", "lanes": [1, 2]},
        "metadata_uri": None,
        "message": "Batch 301 demultiplexed",
        "workflow": "alpha",
        "should_copy": False,
    }


@BOTH
def test_minimal_body_gets_every_default(settings):
    # registry = the source bucket; name derived from the folder; deterministic message; reference in place.
    assert only_request(plan_one("body-description-minimal.json", **settings)) == {
        "source_prefix": "s3://quilt-example/instrument-e/run-0204/",
        "registry": "quilt-example",
        "package_name": "instrument-e/run-0204",
        "metadata": None,
        "metadata_uri": None,
        "message": "QPS: package s3://quilt-example/instrument-e/run-0204/",
        "workflow": None,
        "should_copy": False,
    }


DERIVED = [
    ("package/run-0042", "s3://quilt-example/run-0042/"),
    ("package/root", "s3://quilt-example/"),
    ("package/root", "s3://quilt-example/"),
    ("results/run-2025-03-14", "s3://quilt-example/results/run.2025-03-14/"),
    ("my-project/run-7", "s3://quilt-example/my project/run 7/"),
    ("données/été-2025", "s3://quilt-example/données/été-2025/"),
    ("c/3395667", "s3://quilt-example/a/b/c/3395667/"),
    ("instrument-e/run-0205", "s3://quilt-example/instrument-e/run-0205/"),
]


def test_derived_package_names_follow_design_section_4():
    results = plan("body-description-derived-names.json")
    assert [(r.requests[0].package_name, r.requests[0].source_prefix) for r in results] == DERIVED
    assert {r.requests[0].registry for r in results} == {"quilt-example"}


def test_default_prefix_and_suffix_are_settings():
    results = plan("body-description-derived-names.json", default_prefix="lab", default_suffix="all")
    assert [r.requests[0].package_name for r in results[:3]] == ["lab/run-0042", "lab/all", "lab/all"]
    assert results[3].requests[0].package_name == "results/run-2025-03-14"


def test_null_fields_mean_absent():
    with_nulls = plan("body-description-derived-names.json")[7]
    assert only_request(with_nulls) == {
        "source_prefix": "s3://quilt-example/instrument-e/run-0205/",
        "registry": "quilt-example",
        "package_name": "instrument-e/run-0205",
        "metadata": None,
        "metadata_uri": None,
        "message": "QPS: package s3://quilt-example/instrument-e/run-0205/",
        "workflow": None,
        "should_copy": False,
    }


def test_fifo_batch_alias_empty_workflow_copy_and_relative_metadata_uri():
    first, second = plan("sqs-fifo-description.json")
    assert first.event.attributes == {
        "MessageGroupId": "instrument-b",
        "MessageDeduplicationId": "instrument-b-run-0311",
        "SequenceNumber": "18849496460467696128",
    }
    assert second.event.attributes["SequenceNumber"] == "18849496460467696129"
    assert only_request(first) == {
        "source_prefix": "s3://quilt-example/instrument-b/run-0311/",
        "registry": "quilt-example",
        "package_name": "instrument-b/run-0311",
        "metadata": {"operator": "a.lee", "samples": 24},
        "metadata_uri": None,
        "message": "Run 311 finished",  # commit_message is an alias of message
        "workflow": "",  # "" means explicitly no workflow, unlike null
        "should_copy": True,
    }
    assert only_request(second) == {
        "source_prefix": "s3://quilt-example/instrument-b/run-0312/",
        "registry": "quilt-packages",  # s3://quilt-packages normalised to the bare bucket
        "package_name": "instrument-b/run-0312",
        "metadata": None,
        "metadata_uri": "s3://quilt-example/instrument-b/run-0312/qc/summary.json",
        "message": "QPS: package s3://quilt-example/instrument-b/run-0312/",
        "workflow": None,
        "should_copy": False,
    }


@pytest.mark.parametrize("name", ["sqs-sns-certurl-lowercase-description.json", "s3n-sns-sqs-rocrate.json"])
def test_sns_notifications_unwrap_with_either_signing_cert_spelling(name):
    body = load_event(name)["Records"][0]["body"]
    assert ("SigningCertUrl" in body) != ("SigningCertURL" in body)
    assert plan_one(name).status == "planned"


def test_sns_lowercase_cert_url_description():
    result = plan_one("sqs-sns-certurl-lowercase-description.json")
    assert result.event.via == ("sqs", "sns")
    request = only_request(result)
    assert (request["registry"], request["package_name"]) == ("quilt-example", "instrument-c/run-0078")


@pytest.mark.parametrize(
    "metadata_uri, resolved",
    [
        ("metadata.json", "s3://quilt-example/instrument-a/experiment-17/metadata.json"),
        ("./qc/summary.json", "s3://quilt-example/instrument-a/experiment-17/qc/summary.json"),
        ("qc/../metadata.json", "s3://quilt-example/instrument-a/experiment-17/metadata.json"),
        ("s3://lims-exports/runs/17/metadata.json", "s3://lims-exports/runs/17/metadata.json"),
    ],
)
def test_metadata_uri_resolves_inside_the_source_folder_or_is_absolute_s3(metadata_uri, resolved):
    request = only_request(
        _plan_body({"source_prefix": "s3://quilt-example/instrument-a/experiment-17", "metadata_uri": metadata_uri})
    )
    assert request["metadata_uri"] == resolved
    assert request["metadata"] is None


def test_explicit_package_name_is_never_rewritten():
    request = only_request(
        _plan_body({"source_prefix": "s3://quilt-example/a/b/c/", "package_name": "données/été_2025"})
    )
    assert request["package_name"] == "données/été_2025"


REJECTIONS = [
    ("reject-body-should-copy-string.json", None, ["should_copy", "boolean"]),
    ("reject-body-package-name-trailing-newline.json", None, ["package_name", "experiment-17\\n"]),
    ("reject-body-bad-package-name.json", 0, ["package_name", "'instrument-a'"]),
    ("reject-body-bad-package-name.json", 2, ["package_name", "'instrument a/experiment 17'"]),
    (
        "reject-body-unknown-field.json",
        None,
        [
            "'bucket'",
            "'packageName'",
            "source_prefix, registry, package_name, metadata, metadata_uri, message, workflow, should_copy",
        ],
    ),
    ("reject-body-metadata-and-metadata-uri.json", None, ["metadata", "metadata_uri"]),
    ("reject-body-metadata-not-object.json", 0, ["metadata", "JSON object"]),
    ("reject-body-metadata-not-object.json", 1, ["metadata", "JSON object"]),
    ("reject-body-metadata-uri-http.json", None, ["metadata_uri", "'https'"]),
    ("reject-body-metadata-uri-climbs-out.json", 0, ["metadata_uri", "inside the source folder"]),
    ("reject-body-metadata-uri-climbs-out.json", 1, ["metadata_uri", "inside the source folder"]),
    ("reject-body-message-and-commit-message.json", None, ["message", "commit_message"]),
    ("reject-body-invalid-bucket-names.json", 0, ["source_prefix", "'Quilt-Example'"]),
    ("reject-body-invalid-bucket-names.json", 7, ["registry", "'Quilt_Packages'"]),
    ("reject-body-invalid-bucket-names.json", 8, ["registry"]),
    ("reject-body-non-s3-scheme.json", 0, ["source_prefix", "'https'"]),
    ("reject-body-dotdot-segment.json", 0, ["source_prefix", "'..'"]),
    ("reject-ebc-ready-neither-form.json", 0, ["'folder'"]),
    ("reject-ebc-ready-neither-form.json", 1, ["JSON object"]),
    ("reject-ebc-ready-neither-form.json", 2, ["source_prefix", "required"]),
]


@BOTH
@pytest.mark.parametrize("name, index, parts", REJECTIONS, ids=[f"{n}#{i}" for n, i, _ in REJECTIONS])
def test_invalid_requests_are_rejected_with_a_one_line_error_naming_the_field(settings, name, index, parts):
    results = plan(name, **settings)
    result = results[0] if index is None else results[index]
    assert (result.status, result.adapter) == ("rejected", "description")
    assert "\n" not in result.error
    for part in parts:
        assert part in result.error


@pytest.mark.parametrize(
    "name, part",
    [
        ("reject-body-nan.json", "NaN"),
        ("reject-body-duplicate-keys.json", "duplicate key 'package_name'"),
        ("reject-body-lone-surrogate.json", "lone surrogate"),
        ("reject-body-non-utf8.json", "UTF-8"),
        ("reject-body-too-deep.json", "nesting"),
        ("reject-body-malformed-json.json", "invalid JSON"),
    ],
)
def test_strict_json_rejects_before_any_adapter(name, part):
    assert fixture_path(name).read_bytes()  # the raw bytes are the point; never re-encoded
    result = plan_one(name, **ONLY)
    assert (result.status, result.adapter) == ("rejected", None)
    assert part in result.error


def test_one_bad_record_never_fails_its_neighbours():
    results = plan("sqs-strict-json-batch.json")
    assert [r.status for r in results] == ["rejected"] * 4 + ["planned"]
    assert [r.event.record_id for r in results] == [
        r["messageId"] for r in load_event("sqs-strict-json-batch.json")["Records"]
    ]
    assert only_request(results[4])["package_name"] == "instrument-e/run-0215"


@pytest.mark.parametrize(
    "value, part",
    [
        ({"message": 17}, "message"),
        ({"workflow": False}, "workflow"),
        ({"should_copy": 1}, "should_copy"),
        ({"registry": ""}, "registry"),
        ({"source_prefix": 7}, "source_prefix"),
        ({"metadata_uri": ""}, "metadata_uri"),
    ],
)
def test_wrong_types_are_rejected(value, part):
    result = _plan_body({"source_prefix": "s3://quilt-example/a/b/", **value})
    assert (result.status, result.adapter) == ("rejected", "description")
    assert part in result.error


def test_metadata_size_limit_is_a_setting():
    body = {"source_prefix": "s3://quilt-example/a/b/", "metadata": {"notes": "x" * 200}}
    assert _plan_body(body).status == "planned"
    result = _plan_body(body, max_metadata_bytes=100)
    assert (result.status, result.adapter) == ("rejected", "description")
    assert "metadata" in result.error and "100" in result.error


def test_registry_allow_list():
    body = {"source_prefix": "s3://quilt-example/a/b/", "registry": "quilt-packages"}
    assert _plan_body(body, allowed_registries=["quilt-packages"]).status == "planned"
    result = _plan_body({"source_prefix": "s3://quilt-example/a/b/"}, allowed_registries=["quilt-packages"])
    assert (result.status, result.adapter) == ("rejected", "description")
    assert "registry" in result.error and "'quilt-example'" in result.error


def test_uri_bodies_are_left_to_the_uri_adapter():
    result = plan_one("sqs-uri-query.json", **ONLY)
    assert (result.status, result.adapter) == ("ignored", None)


def test_body_that_is_not_an_object_is_rejected():
    for body in ('"s3://quilt-example/a/b/"', "[1, 2]", "17"):
        result = plan_value(sqs_batch(body))[0]
        assert (result.status, result.adapter) == ("rejected", "description")
        assert "JSON object" in result.error


@pytest.mark.parametrize("records", [[], [{"eventSource": "aws:sqs"}]], ids=["empty", "dicts"])
def test_request_body_with_a_stray_records_field_is_rejected_not_ignored(records):
    result = _plan_body({"source_prefix": "s3://quilt-example/a/b/", "Records": records})
    assert (result.status, result.adapter) == ("rejected", "description")
    assert "'Records'" in result.error
