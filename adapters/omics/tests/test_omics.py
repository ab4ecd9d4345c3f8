"""omics adapter: a HealthOmics run that becomes COMPLETED is packaged from its runOutputUri (docs/design.md §3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qps_core.testing import load_event, make_runner, only_request, plan, plan_one

EVENTS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "events"

ONLY: dict[str, Any] = {"enable_adapters": ["omics"]}
BOTH = pytest.mark.parametrize("settings", [ONLY, {}], ids=["omics-only", "all-adapters"])

# What planning keeps of the event: its documented fields (plus runId); never runName/workflowName,
# which the documented event does not carry (GetRun gives them at packaging time).
DOC_RUN_DETAIL = {
    "arn": "arn:aws:omics:us-east-1:123456789012:run/3395667",
    "runId": "3395667",
    "uuid": "1e250c70-dff6-4e52-8690-a9c144e7cf0f",
    "status": "COMPLETED",
    "runOutputUri": "s3://quilt-example/omics-quilt/3395667",
    "omicsVersion": "1.0.0",
}


@BOTH
def test_spec_example_completed_run_becomes_package_in_same_bucket(settings):
    # Spec: runOutputUri s3://quilt-example/omics-quilt/3395667 → package omics-quilt/3395667 in that bucket.
    result = plan_one(EVENTS / "omics-run-completed-doc-fields.json", make_runner(**settings))
    assert result.adapter == "omics"
    assert result.also_claimed_by == []
    assert only_request(result).normalised() == {
        "source_prefix": "s3://quilt-example/omics-quilt/3395667/",
        "registry": "quilt-example",
        "package_name": "omics-quilt/3395667",
        "metadata": {"omics": DOC_RUN_DETAIL},
        "metadata_uri": None,
        "message": "HealthOmics run 3395667 COMPLETED",
        "workflow": None,
        "should_copy": False,
    }


def test_metadata_and_message_are_deterministic_across_redelivery():
    first = load_event(EVENTS / "omics-run-completed-doc-fields.json")
    again = load_event(EVENTS / "omics-run-completed-redelivered.json")
    assert (first["id"], first["time"]) != (again["id"], again["time"])
    assert first["detail"] == again["detail"]
    one = only_request(plan_one(EVENTS / "omics-run-completed-doc-fields.json")).normalised()
    two = only_request(plan_one(EVENTS / "omics-run-completed-redelivered.json")).normalised()
    assert one == two
    text = json.dumps(one)
    for volatile in (first["id"], first["time"], again["id"], again["time"]):
        assert volatile not in text


def test_redelivery_with_fresh_id_and_time_built_inline_is_identical():
    event = load_event(EVENTS / "omics-run-completed-doc-fields.json")
    redelivered = {**event, "id": "0f1e2d3c-4b5a-4968-8776-655443322110", "time": "2025-03-15T00:00:00Z"}
    assert plan(event)[0].requests == plan(redelivered)[0].requests


@BOTH
def test_deep_output_uri_uses_last_two_components(settings):
    # docs/design.md §4: s3://bkt/a/b/c/3395667/ → c/3395667 (here through an SQS body).
    request = only_request(plan_one(EVENTS / "sqs-ebc-omics-completed.json", make_runner(**settings))).normalised()
    assert (request["registry"], request["package_name"], request["source_prefix"]) == (
        "quilt-example",
        "c/3395668",
        "s3://quilt-example/a/b/c/3395668/",
    )


@BOTH
def test_completed_run_through_sns_lambda_record(settings):
    result = plan_one(EVENTS / "sns-lambda-omics-completed.json", make_runner(**settings))
    assert result.adapter == "omics"
    assert result.event.via == ("sns",)
    request = only_request(result).normalised()
    assert request["registry"] == "omics-output-123456789012"
    assert request["package_name"] == "runs/4012345"
    assert request["source_prefix"] == "s3://omics-output-123456789012/runs/4012345/"
    assert request["message"] == "HealthOmics run 4012345 COMPLETED"
    assert request["metadata"]["omics"]["runId"] == "4012345"


@BOTH
@pytest.mark.parametrize(
    "name, status",
    [
        ("omics-run-running.json", "RUNNING"),
        ("ignore-omics-failed.json", "FAILED"),
    ],
)
def test_other_statuses_are_ignored(settings, name, status):
    result = plan_one(EVENTS / name, make_runner(**settings))
    assert (result.status, result.adapter) == ("ignored", "omics")
    assert status in result.reason
    assert result.requests == [] and result.error is None


def test_every_non_completed_status_is_ignored():
    results = plan(EVENTS / "ignore-omics-other-statuses.json")
    assert [r.status for r in results] == ["ignored"] * 5
    assert [r.event.detail["status"] for r in results] == ["PENDING", "STARTING", "STOPPING", "CANCELLED", "DELETED"]
    assert all(r.event.detail["status"] in r.reason for r in results)


@BOTH
def test_task_status_change_is_ignored_even_when_completed(settings):
    result = plan_one(EVENTS / "omics-task-completed.json", make_runner(**settings))
    assert (result.status, result.adapter) == ("ignored", "omics")
    assert "Task Status Change" in result.reason


@pytest.mark.parametrize("index, detail", [(1, "https://"), (2, "'Omics_Output'")])
@pytest.mark.parametrize("settings", [ONLY, {}], ids=["omics-only", "all-adapters"])
def test_completed_run_with_invalid_output_uri_is_rejected(settings, index, detail):
    result = plan(EVENTS / "reject-omics-completed-no-output-uri.json", make_runner(**settings))[index]
    assert (result.status, result.adapter) == ("rejected", "omics")
    assert result.error.startswith("runOutputUri: ")
    assert detail in result.error


@pytest.mark.parametrize("settings", [ONLY, {}], ids=["omics-only", "all-adapters"])
def test_completed_run_without_output_uri_is_planned_with_a_deferred_folder(settings):
    # docs/design.md §3/§11: the folder comes from GetRun at packaging time; planning stays offline.
    result = plan(EVENTS / "reject-omics-completed-no-output-uri.json", make_runner(**settings))[0]
    assert (result.status, result.adapter) == ("planned", "omics")
    request = only_request(result)
    assert request.deferred
    assert request.source_prefix == "s3://sthree-qps-deferred/omics/3395672/"
    assert request.metadata == {
        "omics": {
            "arn": "arn:aws:omics:us-east-1:123456789012:run/3395672",
            "runId": "3395672",
            "uuid": "5c533f0e-f870-4993-a23a-8070d56f9d26",
            "status": "COMPLETED",
            "omicsVersion": "1.0.0",
        }
    }


def test_documented_event_with_only_arn_status_and_version_is_planned_from_the_arn():
    event = load_event(EVENTS / "omics-run-completed-doc-fields.json")
    event["detail"] = {k: event["detail"][k] for k in ("arn", "omicsVersion", "status")}
    request = only_request(plan(event)[0])
    assert request.deferred and (request.metadata or {})["omics"]["runId"] == "3395667"
    event["detail"]["arn"] = "arn:aws:omics:us-east-1:123456789012:workflow/1"
    result = plan(event)[0]
    assert result.status == "rejected" and result.error.startswith("arn: ")


def test_disabled_omics_adapter_claims_nothing():
    result = plan_one(EVENTS / "omics-run-completed-doc-fields.json", make_runner(disable_adapters=["omics"]))
    assert (result.status, result.adapter) == ("ignored", None)
    assert "aws.omics" in result.reason


def test_registry_outside_allow_list_is_rejected():
    result = plan_one(
        EVENTS / "omics-run-completed-doc-fields.json", make_runner(allowed_registries=["quilt-packages"])
    )
    assert (result.status, result.adapter) == ("rejected", "omics")
    assert "registry" in result.error and "'quilt-example'" in result.error


def test_run_output_uri_with_trailing_slash_is_the_same_package():
    event = load_event(EVENTS / "omics-run-completed-doc-fields.json")
    event["detail"]["runOutputUri"] += "/"
    request = plan(event)[0].requests[0]
    assert request.source_prefix == "s3://quilt-example/omics-quilt/3395667/"
    assert request.package_name == "omics-quilt/3395667"


def test_other_sources_are_not_claimed_by_omics():
    for name in ("s3eb-rocrate-metadata-depth2.json", "ebc-package-objects-ready-edp.json", "sqs-uri-query.json"):
        assert plan_one(EVENTS / name, make_runner(**ONLY)).status == "ignored"


@pytest.mark.parametrize("uri", ["s3://quilt-example", "s3://quilt-example/", "s3://quilt-example//"])
def test_run_output_uri_naming_only_a_bucket_is_rejected(uri):
    event = load_event(EVENTS / "omics-run-completed-doc-fields.json")
    event["detail"]["runOutputUri"] = uri
    result = plan(event)[0]
    assert (result.status, result.adapter) == ("rejected", "omics")
    assert result.error.startswith("runOutputUri:")
