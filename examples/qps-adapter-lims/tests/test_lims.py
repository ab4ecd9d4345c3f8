"""The example adapter, tested the way its author would: an event in, the request out."""

from __future__ import annotations

import json
from pathlib import Path

import qps_adapter_lims

from qps_core.events import Event
from qps_core.settings import Settings

HERE = Path(__file__).parent


def test_export_completed_becomes_a_package_of_the_export_folder() -> None:
    event = Event("eventbridge", json.loads((HERE / "export-completed.json").read_text()))
    [request] = qps_adapter_lims.qps_describe_event(event=event, settings=Settings())
    assert request.source_prefix == "s3://lims-exports/batches/batch-0412/"
    assert request.registry == "lims-exports"
    assert request.package_name == "batches/batch-0412"
    assert request.metadata == {"lims": {"batch": "0412", "operator": "j.doe"}}


def test_other_events_are_left_to_other_adapters() -> None:
    event = Event("eventbridge", {"source": "aws.s3", "detail-type": "Object Created", "detail": {}})
    assert qps_adapter_lims.qps_describe_event(event=event, settings=Settings()) is None
