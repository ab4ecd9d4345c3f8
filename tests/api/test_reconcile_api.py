"""POST /v1/reconcile: a sweep batch becomes jobs (trigger kind `reconcile`), through the jobs intake."""

from __future__ import annotations

from typing import Any

import pytest

from qps_core.demo.omics_fake import LIST_KEY, FakeOmics, demo_run
from tests.api.conftest import DATA, FOLDER, Api


def crate(api: Any, s3: Any, folder: str) -> None:
    s3.put_object(Bucket=DATA, Key=f"{folder}/ro-crate-metadata.json", Body=b'{"@context": "x", "@graph": []}')


def test_reconcile_rocrate_queues_a_job_per_crate_then_they_come_back_unchanged(api: Api, s3: Any) -> None:
    crate(api, s3, FOLDER)
    body = {"source": "rocrate", "prefix": f"s3://{DATA}/instrument-f/"}
    first = api.post("/v1/reconcile", body)
    assert first.status_code == 202, first.text
    data = first.json()
    assert (data["found"], data["next_cursor"], len(data["jobs"])) == (1, None, 1)
    job = data["jobs"][0]
    assert job["trigger"]["kind"] == "reconcile" and job["trigger"]["adapter"] == "rocrate"
    assert job["request"]["source_prefix"] == f"s3://{DATA}/{FOLDER}/"
    done = api.wait(job["id"])
    assert done["status"] == "succeeded" and done["result"]["status"] == "created", done
    again = api.post("/v1/reconcile", body).json()["jobs"][0]
    assert api.wait(again["id"])["result"]["status"] == "unchanged"


def test_reconcile_omics_queues_completed_runs_enriched_when_packaged(
    api: Api, s3: Any, _omics_endpoint_is_local: FakeOmics
) -> None:
    fake = _omics_endpoint_is_local
    fake.runs["77"] = demo_run("77", bucket=DATA, prefix="instrument-f")
    fake.runs["77"]["runOutputUri"] = f"s3://{DATA}/{FOLDER}"
    running = demo_run("78")
    running["status"] = "RUNNING"
    fake.runs["78"] = running
    response = api.post("/v1/reconcile", {"source": "omics", "since": "5000d"})
    assert response.status_code == 202, response.text
    [job] = response.json()["jobs"]
    assert job["trigger"] == {"kind": "reconcile", "adapter": "omics", "event_id": "reconcile-omics-77"}
    done = api.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["package_name"] == "instrument-f/batch-0301"
    assert "GetRun 77" in fake.calls


def test_reconcile_returns_the_cursor_of_a_bounded_batch(api: Api, _omics_endpoint_is_local: FakeOmics) -> None:
    fake = _omics_endpoint_is_local
    fake.page_size = 2
    for n in range(5):
        fake.runs[str(n)] = demo_run(str(n))
    first = api.post("/v1/reconcile", {"source": "omics", "limit": 2}).json()
    assert first["found"] == 2 and first["next_cursor"]
    rest = api.post("/v1/reconcile", {"source": "omics", "cursor": first["next_cursor"]}).json()
    assert rest["found"] == 3 and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"source": "ftp"}, 422, "source: must be one of omics, rocrate"),
        ({"source": "rocrate"}, 422, "prefix: is required"),
        ({"source": "omics", "since": "soon"}, 422, "since: 'soon' is not a duration"),
        ({"source": "omics", "limit": 5000}, 422, "limit: must be an integer from 1 to 1000"),
        ({"source": "omics", "extra": 1}, 422, "unknown field 'extra'"),
        ({"source": "rocrate", "prefix": "s3://lab-data/x/", "since": "7d"}, 422, "since: applies to omics only"),
    ],
)
def test_reconcile_invalid_bodies_queue_nothing(api: Api, body: dict[str, Any], status: int, words: str) -> None:
    response = api.post("/v1/reconcile", body)
    assert response.status_code == status and words in response.json()["detail"]
    assert response.headers["content-type"] == "application/problem+json"
    assert api.client.get("/v1/jobs").json()["items"] == []


def test_reconcile_prefix_outside_the_allowed_sources_is_403(make_api: Any, tmp_path: Any) -> None:
    from qps_core.settings import Settings

    api = make_api(settings=Settings(data_dir=tmp_path / "d", allowed_sources=["s3://other-bucket/"]))
    response = api.post("/v1/reconcile", {"source": "rocrate", "prefix": f"s3://{DATA}/"})
    assert response.status_code == 403 and "not an allowed source" in response.json()["detail"]


@pytest.mark.parametrize(
    ("failure", "status", "retryable"), [("denied", 422, False), ("throttled", 503, True), ("reset", 503, True)]
)
def test_reconcile_listing_failures(
    api: Api, _omics_endpoint_is_local: FakeOmics, failure: str, status: int, retryable: bool
) -> None:
    _omics_endpoint_is_local.failures[LIST_KEY] = failure
    response = api.post("/v1/reconcile", {"source": "omics"})
    assert response.status_code == status and response.json()["retryable"] is retryable
    assert response.json()["detail"].startswith("HealthOmics ListRuns: ")
