"""rocrate adapter: a new RO-Crate sentinel file makes a package of its folder (docs/design.md §3, §4)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from qps_core.testing import fresh_settings, load_event, make_runner, only_request, plan, plan_one

EVENTS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "events"

ONLY: dict[str, Any] = {"enable_adapters": ["rocrate"]}
BOTH = pytest.mark.parametrize("settings", [ONLY, {}], ids=["rocrate-only", "all-adapters"])


def _target(result):
    request = only_request(result).normalised()
    return request["registry"], request["package_name"], request["source_prefix"]


def _s3eb_with_key(key: str, bucket: str = "quilt-example") -> dict:
    event = copy.deepcopy(load_event(EVENTS / "s3eb-rocrate-metadata-depth2.json"))
    event["detail"]["object"]["key"] = key
    event["detail"]["bucket"]["name"] = bucket
    return event


def _s3n_with_key(raw_key: str, event_name: str = "ObjectCreated:Put") -> dict:
    batch = copy.deepcopy(load_event(EVENTS / "s3n-direct-two-crates.json"))
    record = batch["Records"][0]
    record["s3"]["object"]["key"] = raw_key
    record["eventName"] = event_name
    return {"Records": [record]}


@BOTH
def test_eventbridge_object_created_sentinel_packages_its_folder(settings):
    result = plan_one(EVENTS / "s3eb-rocrate-metadata-depth2.json", make_runner(**settings))
    assert result.adapter == "rocrate"
    assert result.also_claimed_by == []
    assert only_request(result).normalised() == {
        "source_prefix": "s3://quilt-example/nextflow/rnaseq-nf-20250314/",
        "registry": "quilt-example",
        "package_name": "nextflow/rnaseq-nf-20250314",
        "metadata": None,
        "metadata_uri": None,
        "message": "QPS: package s3://quilt-example/nextflow/rnaseq-nf-20250314/",
        "workflow": None,
        "should_copy": False,
    }


@BOTH
def test_url_encoded_notification_keys_are_decoded_with_unquote_plus(settings):
    # `my+project/run%3D9/ro-crate-metadata.json` is the key `my project/run=9/ro-crate-metadata.json`.
    first, second = plan(EVENTS / "s3n-direct-two-crates.json", make_runner(**settings))
    assert first.event.payload["s3"]["object"]["key"] == "my+project/run%3D9/ro-crate-metadata.json"
    assert only_request(first).normalised() == {
        "source_prefix": "s3://quilt-example/my project/run=9/",
        "registry": "quilt-example",
        "package_name": "my-project/run-9",
        "metadata": None,
        "metadata_uri": None,
        "message": "QPS: package s3://quilt-example/my project/run=9/",
        "workflow": None,
        "should_copy": False,
    }
    # The spec's name for the sentinel works too (multipart upload of a large manifest).
    assert _target(second) == ("quilt-example", "nf-prov/rnaseq", "s3://quilt-example/nf-prov/rnaseq/")
    assert second.requests[0].message == "QPS: package s3://quilt-example/nf-prov/rnaseq/"


def test_encoded_plus_and_percent_in_keys():
    # A literal '+' arrives as %2B and a literal '%' as %25; neither may be decoded twice.
    plus = plan(_s3n_with_key("runs/run%2B1/ro-crate-metadata.json"))[0]
    assert _target(plus) == ("quilt-example", "runs/run-1", "s3://quilt-example/runs/run+1/")
    percent = plan(_s3n_with_key("runs/gc%2550/ro-crate-metadata.json"))[0]
    assert _target(percent) == ("quilt-example", "runs/gc-50", "s3://quilt-example/runs/gc%50/")


@BOTH
@pytest.mark.parametrize(
    "name, target",
    [
        ("s3n-sqs-rocrate.json", ("quilt-example", "rnaseq/run-0054", "s3://quilt-example/projects/rnaseq/run-0054/")),
        (
            "s3n-sns-sqs-rocrate.json",
            ("quilt-example", "rnaseq/run-0055", "s3://quilt-example/projects/rnaseq/run-0055/"),
        ),
        (
            "sqs-s3eb-rocrate.json",
            ("quilt-example", "results/run-2025-03-14", "s3://quilt-example/results/run.2025-03-14/"),
        ),
    ],
)
def test_sentinel_through_sqs_and_sns(settings, name, target):
    result = plan_one(EVENTS / name, make_runner(**settings))
    assert result.adapter == "rocrate"
    assert _target(result) == target


def test_bucket_root_and_single_component_use_default_prefix_and_suffix():
    assert _target(plan_one(EVENTS / "s3eb-rocrate-manifest-root.json")) == (
        "lab-crates",
        "package/root",
        "s3://lab-crates/",
    )
    assert _target(plan_one(EVENTS / "s3eb-rocrate-one-level.json")) == (
        "quilt-example",
        "package/run-0042",
        "s3://quilt-example/run-0042/",
    )


def test_default_prefix_and_suffix_are_settings():
    custom: dict[str, Any] = {"default_prefix": "crates", "default_suffix": "top"}
    assert _target(plan_one(EVENTS / "s3eb-rocrate-manifest-root.json", make_runner(**custom)))[1] == "crates/top"
    assert _target(plan_one(EVENTS / "s3eb-rocrate-one-level.json", make_runner(**custom)))[1] == "crates/run-0042"


def test_sentinel_names_are_configurable():
    runner = make_runner(sentinel_names=["crate.json"])
    assert plan_one(EVENTS / "s3eb-rocrate-metadata-depth2.json", runner).status == "ignored"
    result = plan(_s3eb_with_key("lab/run-0099/crate.json"), runner)[0]
    assert (result.status, result.adapter) == ("planned", "rocrate")
    assert _target(result) == ("quilt-example", "lab/run-0099", "s3://quilt-example/lab/run-0099/")
    assert result.requests[0].message == "QPS: package s3://quilt-example/lab/run-0099/"


def test_sentinel_names_from_environment_are_comma_separated(monkeypatch):
    from qps_core.settings import load_settings

    for name in [n for n in os.environ if n.startswith("QPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("QPS_SENTINEL_NAMES", "crate.json, ro-crate-metadata.json")
    assert load_settings().sentinel_names == ["crate.json", "ro-crate-metadata.json"]


def test_default_sentinels_are_both_names():
    assert fresh_settings().sentinel_names == ["ro-crate-metadata.json", "ro-crate-manifest.json"]


@BOTH
@pytest.mark.parametrize(
    "key",
    [
        "projects/rnaseq/run-0056/x-ro-crate-metadata.json",
        "projects/rnaseq/run-0056/ro-crate-metadata.json.bak",
        "projects/rnaseq/run-0056/RO-CRATE-METADATA.JSON",
        "projects/rnaseq/run-0056/ro-crate-metadata.json/",
        "projects/rnaseq/run-0056/fastq/S1_R1.fastq.gz",
    ],
)
def test_basename_must_match_exactly(settings, key):
    result = plan(_s3eb_with_key(key), make_runner(**settings))[0]
    assert (result.status, result.adapter, result.requests) == ("ignored", None, [])


def test_detached_crate_fixtures_are_ignored():
    assert plan_one(EVENTS / "ignore-s3eb-detached-crate.json").status == "ignored"
    assert [r.status for r in plan(EVENTS / "ignore-s3n-not-sentinel-names.json")] == ["ignored"] * 4


@pytest.mark.parametrize("settings", [{}, {"sentinel_names": ["ro-crate-metadata.json", "1741945267", "latest"]}])
def test_quilt_internal_keys_are_never_claimed(settings):
    for result in plan(EVENTS / "ignore-s3n-quilt-prefix.json", make_runner(**settings)):
        assert (result.status, result.adapter) == ("ignored", None)
        assert ".quilt/" in result.reason
    result = plan(_s3eb_with_key(".quilt/ro-crate-metadata.json"), make_runner(**settings))[0]
    assert (result.status, result.adapter) == ("ignored", None)


def test_quilt_folder_below_the_root_is_ordinary_data():
    result = plan(_s3eb_with_key("projects/.quilt/ro-crate-metadata.json"))[0]
    assert _target(result) == ("quilt-example", "projects/-quilt", "s3://quilt-example/projects/.quilt/")


@BOTH
@pytest.mark.parametrize(
    "name, what",
    [
        ("ignore-s3eb-object-deleted-sentinel.json", "Object Deleted"),
        ("ignore-sqs-s3n-object-removed-sentinel.json", "ObjectRemoved:Delete"),
    ],
)
def test_deleting_a_sentinel_is_ignored(settings, name, what):
    result = plan_one(EVENTS / name, make_runner(**settings))
    assert (result.status, result.adapter) == ("ignored", "rocrate")
    assert what in result.reason


@pytest.mark.parametrize(
    "event_name",
    ["ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload"],
)
def test_every_object_created_kind_counts(event_name):
    result = plan(_s3n_with_key("a/b/ro-crate-metadata.json", event_name))[0]
    assert _target(result) == ("quilt-example", "a/b", "s3://quilt-example/a/b/")


@pytest.mark.parametrize(
    "event_name", ["ObjectRemoved:DeleteMarkerCreated", "ObjectRestore:Completed", "ObjectTagging:Put"]
)
def test_other_s3_notifications_of_a_sentinel_are_ignored(event_name):
    result = plan(_s3n_with_key("a/b/ro-crate-metadata.json", event_name))[0]
    assert (result.status, result.adapter) == ("ignored", "rocrate")


def test_mixed_records_are_decided_one_by_one():
    results = plan(EVENTS / "s3n-direct-mixed-records.json")
    assert [(r.status, r.adapter) for r in results] == [
        ("planned", "rocrate"),
        ("ignored", "rocrate"),
        ("ignored", None),
        ("ignored", None),
    ]
    assert [r.event.index for r in results] == [0, 1, 2, 3]


def test_dot_segments_in_the_key_are_rejected_not_packaged():
    result = plan(_s3eb_with_key("a/../ro-crate-metadata.json"))[0]
    assert (result.status, result.adapter) == ("rejected", "rocrate")
    assert result.error.startswith("s3.object.key: ")


def test_disabled_rocrate_claims_nothing():
    result = plan_one(EVENTS / "s3eb-rocrate-metadata-depth2.json", make_runner(disable_adapters=["rocrate"]))
    assert (result.status, result.adapter) == ("ignored", None)


def test_registry_allow_list_applies():
    result = plan_one(EVENTS / "s3eb-rocrate-metadata-depth2.json", make_runner(allowed_registries=["quilt-packages"]))
    assert (result.status, result.adapter) == ("rejected", "rocrate")
    assert "registry" in result.error


@pytest.mark.parametrize(
    "raw, folder, name",
    [
        ("runs/plate%231/ro-crate-metadata.json", "runs/plate#1/", "runs/plate-1"),
        ("runs/sample%3F1/ro-crate-metadata.json", "runs/sample?1/", "runs/sample-1"),
        ("runs/caf%C3%A9+lab/ro-crate-metadata.json", "runs/café lab/", "runs/café-lab"),
    ],
)
def test_keys_with_hash_question_mark_or_unicode_are_packaged(raw, folder, name):
    result = plan(_s3n_with_key(raw))[0]
    assert _target(result) == ("quilt-example", name, f"s3://quilt-example/{folder}")
