"""The example adapter, tested the way its author would: an event in, the request out."""

from __future__ import annotations

from pathlib import Path

import pytest
import qps_adapter_lims

from qps_core.testing import Runner, load_event, make_runner, only_request, plan_one, rejection_of

EXPORT = Path(__file__).parent / "export-completed.json"


@pytest.fixture
def runner() -> Runner:
    # Only the adapter under test, registered directly: works before the package is even installed.
    return make_runner(plugins={"lims": qps_adapter_lims})


def test_export_completed_becomes_a_package_of_the_export_folder(runner: Runner) -> None:
    result = plan_one(EXPORT, runner)
    assert result.adapter == "lims"
    request = only_request(result)
    assert request.source_prefix == "s3://lims-exports/batches/batch-0412/"
    assert request.registry == "lims-exports"
    assert request.package_name == "batches/batch-0412"
    assert request.metadata == {"lims": {"batch": "0412", "operator": "j.doe"}}
    assert request.message == "LIMS export of batch 0412"


def test_export_without_its_uri_is_rejected_naming_the_field(runner: Runner) -> None:
    event = load_event(EXPORT)
    del event["detail"]["exportUri"]
    assert rejection_of(plan_one(event, runner)).startswith("detail.exportUri: ")


def test_export_uri_that_is_not_s3_is_rejected_naming_the_field(runner: Runner) -> None:
    event = load_event(EXPORT)
    event["detail"]["exportUri"] = "https://lims.example.com/batches/0412"
    assert rejection_of(plan_one(event, runner)).startswith("detail.exportUri: ")


def test_other_events_are_left_to_other_adapters(runner: Runner) -> None:
    result = plan_one({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}, runner)
    assert (result.status, result.adapter) == ("ignored", None)
