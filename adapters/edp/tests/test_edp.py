"""edp adapter: package-objects-ready events {version, bucket, prefix} from com.quiltdata.edp (docs/design.md §3)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from qps_core.testing import load_event, make_runner, only_request, plan, plan_one

EVENTS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "events"

ONLY: dict[str, Any] = {"enable_adapters": ["edp"]}
BOTH = pytest.mark.parametrize("settings", [ONLY, {}], ids=["edp-only", "all-adapters"])


def _edp(**detail):
    event = copy.deepcopy(load_event(EVENTS / "ebc-package-objects-ready-edp.json"))
    event["detail"] = detail
    return event


def test_edp_event_packages_bucket_prefix_in_that_bucket():
    result = plan_one(EVENTS / "ebc-package-objects-ready-edp.json")
    assert result.adapter == "edp"
    # description also looks at a package-objects-ready detail, but its rejection is no competing claim.
    assert result.also_claimed_by == []
    assert only_request(result).normalised() == {
        "source_prefix": "s3://quilt-example/instrument-name/experiment-id/",
        "registry": "quilt-example",
        "package_name": "instrument-name/experiment-id",
        "metadata": None,
        "metadata_uri": None,
        "message": "QPS: package s3://quilt-example/instrument-name/experiment-id/",
        "workflow": None,
        "should_copy": False,
    }


def test_edp_alone_claims_it_without_rivals():
    result = plan_one(EVENTS / "ebc-package-objects-ready-edp.json", make_runner(**ONLY))
    assert (result.status, result.adapter, result.also_claimed_by) == ("planned", "edp", [])


@BOTH
def test_edp_event_piped_through_sqs(settings):
    request = only_request(plan_one(EVENTS / "sqs-ebc-edp.json", make_runner(**settings))).normalised()
    assert (request["registry"], request["package_name"], request["source_prefix"]) == (
        "quilt-example",
        "instrument-h/exp-2025-03-14T20-00",
        "s3://quilt-example/instrument-h/exp-2025-03-14T20-00/",
    )


def test_prefix_without_trailing_slash_and_bucket_root():
    request = only_request(plan(_edp(version="0.1", bucket="quilt-example", prefix="lab/run-17"))[0]).normalised()
    assert (request["source_prefix"], request["package_name"]) == ("s3://quilt-example/lab/run-17/", "lab/run-17")
    root = only_request(plan(_edp(version="0.1", bucket="quilt-example", prefix=""))[0]).normalised()
    assert (root["source_prefix"], root["package_name"]) == ("s3://quilt-example/", "package/root")


def test_prefix_is_a_decoded_key_prefix():
    request = only_request(plan(_edp(version="0.1", bucket="quilt-example", prefix="gc%50/run 7/"))[0]).normalised()
    assert request["source_prefix"] == "s3://quilt-example/gc%50/run 7/"
    assert request["package_name"] == "gc-50/run-7"


@BOTH
def test_missing_prefix_is_rejected(settings):
    result = plan_one(EVENTS / "reject-edp-missing-prefix.json", make_runner(**settings))
    assert (result.status, result.adapter) == ("rejected", "edp")
    assert result.error.startswith("detail: ") and "prefix" in result.error


@BOTH
@pytest.mark.parametrize(
    "detail, parts",
    [
        ({"version": "0.1", "bucket": "quilt-example", "prefix": "a/", "extra": 1}, ["detail", "'extra'"]),
        ({"version": "0.1", "prefix": "a/"}, ["detail", "bucket"]),
        ({"version": "0.1", "bucket": "quilt-example", "prefix": 7}, ["detail.prefix", "string"]),
        ({"version": "0.1", "bucket": "Quilt_Example", "prefix": "a/"}, ["detail.bucket", "'Quilt_Example'"]),
        ({"version": "0.1", "bucket": "quilt-example", "prefix": "a/../b/"}, ["detail.prefix", "'..'"]),
    ],
)
def test_invalid_edp_details_are_rejected_naming_the_field(settings, detail, parts):
    result = plan(_edp(**detail), make_runner(**settings))[0]
    assert (result.status, result.adapter) == ("rejected", "edp")
    for part in parts:
        assert part in result.error


def test_detail_that_is_not_an_object_is_rejected():
    event = load_event(EVENTS / "ebc-package-objects-ready-edp.json")
    event["detail"] = "s3://quilt-example/instrument-name/experiment-id/"
    result = plan(event)[0]
    assert (result.status, result.adapter) == ("rejected", "edp")


def test_other_edp_detail_types_are_not_claimed():
    event = load_event(EVENTS / "ebc-package-objects-ready-edp.json")
    event["detail-type"] = "objects-staged"
    result = plan(event, make_runner(**ONLY))[0]
    assert (result.status, result.adapter) == ("ignored", None)


def test_edp_shaped_detail_from_another_source_is_not_edp():
    event = load_event(EVENTS / "ebc-package-objects-ready-edp.json")
    event["source"] = "com.example.lims"
    assert plan(event, make_runner(**ONLY))[0].status == "ignored"
    # With every adapter, the ready event is meant for QPS: description rejects the unknown fields.
    result = plan(event)[0]
    assert (result.status, result.adapter) == ("rejected", "description")
    assert "'bucket'" in result.error and "'prefix'" in result.error


def test_disabled_edp_leaves_the_event_to_description_which_rejects_it():
    result = plan_one(EVENTS / "ebc-package-objects-ready-edp.json", make_runner(disable_adapters=["edp"]))
    assert (result.status, result.adapter) == ("rejected", "description")


def test_prefix_with_a_hash_is_packaged():
    result = plan(_edp(version="0.1", bucket="quilt-example", prefix="plates/plate#1/"))[0]
    assert result.status == "planned"
    assert result.requests[0].source_prefix == "s3://quilt-example/plates/plate#1/"


def test_prefix_under_quilt_internal_folder_is_ignored_not_rejected():
    result = plan(_edp(version="0.1", bucket="quilt-example", prefix=".quilt/named_packages/a/b/"))[0]
    assert (result.status, result.adapter) == ("ignored", "edp")
    assert ".quilt/" in result.reason
