"""Contract tests: schemathesis over /openapi.json, in process. No 5xx, every response matches its
schema, and a status code the schema does not document fails the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from qps_core.jobs.model import Job
from qps_core.settings import Settings
from tests.api.conftest import Api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class Accepting:
    """A dispatcher that accepts every job and runs none (the contract is about the HTTP layer)."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def submit(self, job: Job) -> None:
        self.jobs.append(job)


OPERATIONS = [
    ("POST", "/v1/packages"),
    ("POST", "/v1/plan"),
    ("POST", "/v1/events"),
    ("POST", "/v1/reconcile"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/{job_id}"),
    ("POST", "/v1/jobs/{job_id}/retry"),
    ("GET", "/v1/packages/{registry}/{prefix}/{suffix}"),
    ("GET", "/v1/packages/{registry}/{prefix}/{suffix}/revisions/{top_hash}"),
    ("GET", "/v1/adapters"),
    ("GET", "/v1/settings"),
    ("PATCH", "/v1/settings"),
    ("GET", "/v1/settings/audit"),
    ("GET", "/v1/sources"),
    ("PUT", "/v1/sources/{source_id}"),
    ("POST", "/v1/sources/{source_id}/apply"),
    ("GET", "/v1/health"),
    ("GET", "/metrics"),
    ("GET", "/v1/dead-letters"),
    ("POST", "/v1/dead-letters/redrive"),
    ("POST", "/v1/dead-letters/{message_id}/retry"),
    ("DELETE", "/v1/dead-letters/{message_id}"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_keeps_its_contract(
    make_api: Callable[..., Api], tmp_path: Path, method: str, path: str
) -> None:
    # schemathesis calls an ASGI app as host "testserver": allow it as a real deployment would its name
    api = make_api(dispatcher=Accepting(), settings=Settings(data_dir=tmp_path / "data", allowed_hosts=["testserver"]))
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    assert sorted((op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()) == sorted(OPERATIONS)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def test_the_document_is_openapi_3_1_with_problem_bodies(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    for path, method in [
        ("/v1/packages", "post"),
        ("/v1/plan", "post"),
        ("/v1/events", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/{job_id}", "get"),
        ("/v1/jobs/{job_id}/retry", "post"),
        ("/v1/packages/{registry}/{prefix}/{suffix}", "get"),
        ("/v1/packages/{registry}/{prefix}/{suffix}/revisions/{top_hash}", "get"),
        ("/v1/adapters", "get"),
        ("/v1/settings", "get"),
        ("/v1/health", "get"),
    ]:
        assert method in paths[path], (path, method)
    create = paths["/v1/packages"]["post"]
    assert {"200", "202", "400", "403", "422"} <= set(create["responses"])
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert {"PackageDescription", "UriRequest", "Problem", "JobOut"} <= set(spec["components"]["schemas"])
    assert "409" in paths["/v1/jobs/{job_id}/retry"]["post"]["responses"]
    assert "404" in paths["/v1/jobs/{job_id}"]["get"]["responses"]
    # the protections every operation has (api.guard, JsonBody): JSON bodies only, no cross-site writes
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert "421" in operation["responses"], (path, method)
            if method != "get":
                assert "403" in operation["responses"], (path, method)
            if "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"], (path, method)
                assert "415" in operation["responses"], (path, method)
    bodies = {(p, m) for p, ops in paths.items() for m, op in ops.items() if "requestBody" in op}
    assert {("/v1/packages", "post"), ("/v1/settings", "patch"), ("/v1/sources/{source_id}", "put")} <= bodies


def test_docs_page_works_offline_from_vendored_swagger_ui(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
    assert not re.findall(r"https?://", page.text), "the docs page must not load anything from the network"
    for asset, kind in [("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")]:
        response = api.client.get(f"/docs/static/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert len(response.content) > 10_000
    assert api.client.get("/docs/static/..%2Fapp.py").status_code == 404
    assert api.client.get("/docs/static/VENDORED.txt").status_code == 404
