"""omics adapter at packaging time (docs/design.md §11): GetRun against the local HealthOmics fake
(qps_core/demo/omics_fake.py, botocore's REST-JSON shapes), every documented failure answer."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import qps_adapter_omics as omics

from qps_core import aws
from qps_core.demo.endpoint import FAKE_CREDENTIALS
from qps_core.demo.omics_fake import FakeOmics, demo_run
from qps_core.errors import PermanentError, TransientError
from qps_core.models import PackageRequest
from qps_core.testing import load_event, make_runner, only_request, plan

EVENTS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "events"
RUN = demo_run("3395667", bucket="quilt-example", prefix="omics-quilt")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def fake(_omics_endpoint_is_local: FakeOmics) -> FakeOmics:
    _omics_endpoint_is_local.runs["3395667"] = copy.deepcopy(RUN)
    return _omics_endpoint_is_local


def omics_of(request: PackageRequest) -> dict[str, Any]:
    """The request's `omics` metadata (which these requests always carry)."""
    assert request.metadata is not None
    return request.metadata["omics"]


def planned(detail_update: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **settings: Any) -> PackageRequest:
    event = load_event(EVENTS / "omics-run-completed-doc-fields.json")
    event["detail"].update(detail_update or {})
    for key in drop:
        event["detail"].pop(key, None)
    return only_request(plan(event, make_runner("omics", **settings))[0])


def prepared(request: PackageRequest, **settings: Any) -> PackageRequest:
    return make_runner("omics", **settings).prepare(request, "omics")


class Recorded:
    def __init__(self) -> None:
        self.requests: list[PackageRequest] = []

    def package(self, request: PackageRequest) -> Any:
        from qps_core.packaging import PackageResult

        self.requests.append(request)
        return PackageResult(status="created", top_hash="e" * 64, files=3, bytes=9, request=request)


class Silent:
    def publish(self, outcome: Any) -> None:
        return None


def test_qps_prepare_request_records_getrun_fields_under_omics(fake: FakeOmics) -> None:
    request = planned()
    assert fake.calls == []  # planning is offline
    enriched = prepared(request)
    assert fake.calls == ["GetRun 3395667"]
    run = omics_of(enriched)
    assert run["enrichment"] == "GetRun"
    assert (run["name"], run["workflowVersionName"], run["workflowUuid"]) == (
        "rnaseq-3395667",
        "3.14.0",
        RUN["workflowUuid"],
    )
    assert run["uuid"] == "1e250c70-dff6-4e52-8690-a9c144e7cf0f" and run["runId"] == "3395667"
    assert run["digest"] == RUN["digest"] and run["parameters"] == RUN["parameters"] and run["tags"] == RUN["tags"]
    assert run["resourceDigests"] == RUN["resourceDigests"] and run["logLocation"] == RUN["logLocation"]
    assert (run["creationTime"], run["startTime"], run["stopTime"]) == (
        "2025-03-14T09:58:01.123000Z",
        "2025-03-14T10:02:45Z",
        "2025-03-14T11:02:40Z",
    )
    assert set(run) <= {*omics.RUN_FIELDS, "runId", "enrichment"}
    assert "roleArn" not in run and "retentionMode" not in run and "omicsVersion" not in run
    assert enriched.message == "HealthOmics run 3395667 (rnaseq-3395667) COMPLETED"
    assert (enriched.source_prefix, enriched.registry, enriched.package_name) == (
        request.source_prefix,
        request.registry,
        request.package_name,
    )


def test_redelivered_event_and_reconciled_run_prepare_to_the_same_request(fake: FakeOmics) -> None:
    # Same run, three ways in: the event, its redelivery, and a thin event without runOutputUri
    # (what a reconcile sweep plans from ListRuns). One package: `unchanged` after the first.
    first = prepared(planned())
    again = prepared(planned({"uuid": RUN["uuid"]}))
    thin = planned(drop=("runOutputUri", "uuid", "runName", "workflowId", "workflowName"))
    assert thin.deferred
    assert first == again == prepared(thin)


def test_event_without_output_uri_takes_the_folder_from_getrun(fake: FakeOmics) -> None:
    request = planned(drop=("runOutputUri",), allowed_registries=["quilt-example"])
    assert request.deferred and fake.calls == []
    enriched = prepared(request, allowed_registries=["quilt-example"])
    assert (enriched.source_prefix, enriched.registry, enriched.package_name) == (
        "s3://quilt-example/omics-quilt/3395667/",
        "quilt-example",
        "omics-quilt/3395667",
    )


def test_folder_from_getrun_outside_the_allowed_registries_is_rejected(fake: FakeOmics) -> None:
    runner = make_runner("omics", allowed_registries=["other-bucket"])
    runner._packager, runner._notifier = Recorded(), Silent()
    [result] = plan(
        {
            **load_event(EVENTS / "omics-run-completed-doc-fields.json"),
            "detail": {"arn": RUN["arn"], "status": "COMPLETED", "omicsVersion": "1.0.0"},
        },
        runner,
    )
    assert result.status == "planned"  # the allow-list waits for the real folder
    outcome = runner.package(result.requests[0], "omics")
    assert outcome.status == "rejected" and "'quilt-example' is not an allowed registry" in (outcome.error or "")
    assert runner._packager.requests == []


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        ("denied", "GetRun was denied (AccessDeniedException): grant omics:GetRun to read the run"),
        (None, "GetRun found no such run (ResourceNotFoundException)"),
    ],
    ids=["AccessDeniedException", "ResourceNotFoundException"],
)
def test_unreadable_run_is_packaged_from_the_event_alone_saying_why(
    _omics_endpoint_is_local: FakeOmics, failure: str | None, words: str
) -> None:
    fake = _omics_endpoint_is_local  # no run 3395667: ResourceNotFoundException
    if failure:
        fake.runs["3395667"] = copy.deepcopy(RUN)
        fake.failures["3395667"] = failure
    request = planned()
    enriched = prepared(request)
    assert enriched.metadata == {"omics": {**omics_of(request), "enrichment": words}}
    assert enriched.source_prefix == request.source_prefix and enriched.message == request.message
    assert prepared(request) == enriched  # deterministic: a redelivery finds it unchanged


@pytest.mark.parametrize("failure", ["denied", None], ids=["AccessDeniedException", "ResourceNotFoundException"])
def test_unreadable_run_without_output_uri_fails_permanently(
    _omics_endpoint_is_local: FakeOmics, failure: str | None
) -> None:
    if failure:
        _omics_endpoint_is_local.runs["3395667"] = copy.deepcopy(RUN)
        _omics_endpoint_is_local.failures["3395667"] = failure
    with pytest.raises(
        PermanentError, match=r"^runOutputUri: the event of HealthOmics run 3395667 has none and GetRun"
    ):
        prepared(planned(drop=("runOutputUri",)))


@pytest.mark.parametrize(
    "failure", ["throttled", "500", "reset"], ids=["ThrottlingException", "500", "connection-reset"]
)
def test_throttling_5xx_and_reset_are_transient(fake: FakeOmics, failure: str) -> None:
    fake.failures["3395667"] = failure
    with pytest.raises(TransientError, match="retry later"):
        prepared(planned())
    runner = make_runner("omics")
    runner._packager, runner._notifier = Recorded(), Silent()
    outcome = runner.package(planned(), "omics")
    assert (outcome.status, outcome.retryable) == ("failed", True)
    assert runner._packager.requests == []
    del fake.failures["3395667"]  # the retry succeeds
    assert runner.package(planned(), "omics").status == "created"
    assert omics_of(runner._packager.requests[0])["enrichment"] == "GetRun"


def test_bounded_parameters_digests_and_strings(fake: FakeOmics) -> None:
    run = fake.runs["3395667"]
    run["parameters"] = {f"p{i:03d}": "x" * 5000 for i in range(150)}
    run["resourceDigests"] = {f"img{i:03d}": f"sha256:{i:064x}" for i in range(120)}
    recorded = omics_of(prepared(planned()))
    params = recorded["parameters"]
    assert len(params) == omics.MAX_MAP + 1 and params["…"] == "50 more not recorded"
    assert all(len(v) <= omics.MAX_STRING for k, v in params.items())
    assert len(recorded["resourceDigests"]) == omics.MAX_MAP + 1


def test_client_does_not_inject_the_host_prefix_when_an_endpoint_is_set(fake: FakeOmics, monkeypatch) -> None:
    # GetRun's model has hostPrefix "workflows-": injected, the request would go to workflows-127.0.0.1.
    client = aws.service_client("omics")
    assert client.meta.endpoint_url == fake.url and client.meta.config.inject_host_prefix is False
    assert client.get_run(id="3395667")["id"] == "3395667"
    monkeypatch.delenv("AWS_ENDPOINT_URL_OMICS")
    monkeypatch.setenv("AWS_ENDPOINT_URL", fake.url)
    assert aws.service_client("omics").meta.config.inject_host_prefix is False
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    real = aws.service_client("omics")
    assert real.meta.config.inject_host_prefix is True and "omics.us-east-1.amazonaws.com" in real.meta.endpoint_url


def test_other_adapters_requests_are_left_alone(fake: FakeOmics) -> None:
    request = PackageRequest.parse({"source_prefix": "s3://quilt-example/x/", "metadata": {"omics": "not a run"}})
    assert prepared(request) == request
    assert fake.calls == []


def test_getrun_without_run_output_uri_uses_output_uri_and_the_run_id(fake: FakeOmics) -> None:
    del fake.runs["3395667"]["runOutputUri"]
    enriched = prepared(planned(drop=("runOutputUri",)))
    assert enriched.source_prefix == "s3://quilt-example/omics-quilt/3395667/"


def test_a_reused_run_id_is_not_taken_for_the_run_of_the_event(fake: FakeOmics) -> None:
    # AWS reuses run ids (hence uuid): GetRun may now describe a newer run with the same id.
    fake.runs["3395667"]["uuid"] = "99999999-0000-4000-8000-000000000000"
    request = planned()
    enriched = prepared(request)
    assert omics_of(enriched)["enrichment"].startswith("GetRun describes another run now")
    assert omics_of(enriched)["uuid"] == omics_of(request)["uuid"]
    assert "name" not in omics_of(enriched)
    with pytest.raises(PermanentError, match="run id was reused"):
        prepared(planned(drop=("runOutputUri",)))
