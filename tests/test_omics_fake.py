"""The local HealthOmics endpoint answers in the service's own shapes (botocore's omics model is the
reference): every field it sends is a member of the operation's output, of the right type."""

from __future__ import annotations

import datetime as dt
from typing import Any

import botocore.session
import pytest

from qps_core.demo.endpoint import FAKE_CREDENTIALS
from qps_core.demo.omics_fake import ERRORS, LIST_FIELDS, FakeOmics, demo_run

MODEL = botocore.session.get_session().get_service_model("omics")
PYTHON_TYPES: dict[str, Any] = {
    "list": list,
    "string": str,
    "integer": int,
    "timestamp": dt.datetime,
    "map": dict,
    "structure": dict,
    "boolean": bool,
}


def check(shape: Any, value: Any, where: str) -> None:
    if shape.type_name == "structure" and getattr(shape, "is_document_type", False):
        assert isinstance(value, dict), where  # RunParameters: a JSON document
        return
    assert isinstance(value, PYTHON_TYPES[shape.type_name]), (where, shape.type_name, value)
    if shape.type_name == "structure":
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where}: not in {shape.name}: {sorted(unknown)}"
        for name, item in value.items():
            check(shape.members[name], item, f"{where}.{name}")
    elif shape.type_name == "list":
        for n, item in enumerate(value):
            check(shape.member, item, f"{where}[{n}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            check(shape.value, item, f"{where}[{key}]")
    elif shape.type_name == "string" and shape.enum:
        assert value in shape.enum, (where, value)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)


def test_getrun_and_listruns_answers_parse_into_the_model_shapes(_omics_endpoint_is_local: FakeOmics) -> None:
    from qps_core import aws

    _omics_endpoint_is_local.runs.update({"1": demo_run("1"), "2": demo_run("2")})
    client = aws.service_client("omics")
    run = client.get_run(id="1")
    run.pop("ResponseMetadata")
    check(MODEL.operation_model("GetRun").output_shape, run, "GetRun")
    assert set(run) == set(demo_run("1")) - {"workflowName"}  # nothing dropped by the parser
    listed = client.list_runs(maxResults=1)
    listed.pop("ResponseMetadata")
    check(MODEL.operation_model("ListRuns").output_shape, listed, "ListRuns")
    assert listed["nextToken"] and set(listed["items"][0]) <= set(LIST_FIELDS)
    assert listed["items"][0]["workflowName"] == "nf-core-rnaseq"


def test_error_answers_are_the_models_errors() -> None:
    codes = {shape.name: shape.metadata.get("error", {}).get("httpStatusCode") for shape in MODEL.error_shapes}
    for status, code, _ in ERRORS.values():
        assert codes[code] == status, code
    assert codes["ResourceNotFoundException"] == 404
