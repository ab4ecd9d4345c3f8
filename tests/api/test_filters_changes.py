"""Filters and change counts through the REST API (docs/design.md §7, §12): the request fields, the
EventBridge `detail`, `source_filters`, the job result's `changes`, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from qps_core.models import PackageRequest
from qps_core.settings import Settings
from tests.api.conftest import DATA, FILES, FOLDER, REGISTRY, Api

BASE = {"source_prefix": f"s3://{DATA}/{FOLDER}/", "registry": REGISTRY, "package_name": FOLDER}


def ready(detail: dict[str, Any], event_id: str = "e1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "package-objects-ready",
        "source": "com.example.lims",
        "time": "2026-12-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def test_rest_filters_and_the_job_results_changes(api: Api, s3: Any) -> None:
    first = api.wait(api.post("/v1/packages", {**BASE, "exclude": ["reads/"]}).json()["id"])
    assert first["status"] == "succeeded", first
    assert first["request"]["exclude"] == ["reads/"]
    result = first["result"]
    assert result["files"] == len(FILES) - 1
    assert result["changes"] == {
        "added": 2,
        "removed": 0,
        "modified": 0,
        "unchanged": 0,
        "keys": {"added": ["RunInfo.xml", "SampleSheet.csv"], "removed": [], "modified": [], "unchanged": []},
    }
    s3.put_object(Bucket=DATA, Key=f"{FOLDER}/RunInfo.xml", Body=b"<RunInfo Version='7'/>\n")
    second = api.wait(api.post("/v1/packages", {**BASE, "include": ["*.xml", "reads/**"]}).json()["id"])
    changes = second["result"]["changes"]
    assert (changes["added"], changes["removed"], changes["modified"], changes["unchanged"]) == (1, 1, 1, 0)
    assert changes["keys"]["added"] == ["reads/S1_R1.fastq"]
    assert changes["keys"]["removed"] == ["SampleSheet.csv"]
    assert changes["keys"]["modified"] == ["RunInfo.xml"]
    same = api.wait(api.post("/v1/packages", {**BASE, "include": ["*.xml", "reads/**"]}).json()["id"])
    assert same["result"]["status"] == "unchanged" and same["result"]["changes"] is None


def test_bad_filters_are_422_naming_the_field(api: Api) -> None:
    for body, start in [
        ({**BASE, "include": "*.csv"}, "include: must be a list"),
        ({**BASE, "exclude": ["a", 1]}, "exclude[1]: must be a string"),
        ({**BASE, "exclude": ["x"] * 101}, "exclude: holds 101 patterns"),
    ]:
        response = api.post("/v1/packages", body)
        assert response.status_code == 422
        assert response.json()["detail"].startswith(start)


def test_eventbridge_detail_filters_and_source_filters(make_api: Callable[..., Api], tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "data", source_filters={"description": {"exclude": ["*.csv"]}})
    api = make_api(settings=settings)
    response = api.post("/v1/events", [ready(BASE, "e1"), ready({**BASE, "exclude": ["reads/"]}, "e2")])
    assert response.status_code == 202
    defaulted, explicit = response.json()["jobs"]
    first = api.wait(defaulted["id"])
    assert first["request"]["exclude"] == ["*.csv"]  # the source's default
    assert first["result"]["files"] == len(FILES) - 1
    second = api.wait(explicit["id"])
    assert second["request"]["exclude"] == ["reads/"]  # the request's own field wins
    planned = api.post("/v1/plan", ready(BASE)).json()["results"][0]["packages"][0]
    assert planned["exclude"] == ["*.csv"] and planned.get("include") is None


def test_openapi_documents_the_filters_and_changes(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    description = schemas["PackageDescription"]["properties"]
    for name in ("include", "exclude"):
        listed = next(s for s in description[name]["anyOf"] if s.get("type") == "array")
        assert listed["maxItems"] == 100
        assert listed["items"] == {"type": "string", "minLength": 1, "maxLength": 1024}
        assert "**" in description[name]["description"]
    changes = schemas["Changes"]["properties"]
    assert {"added", "removed", "modified", "unchanged", "keys"} <= set(changes)
    assert "changes" in schemas["JobResult"]["properties"]


pattern_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=40
).filter(lambda p: p.strip("/") != "")


@given(st.lists(pattern_text, max_size=100), st.lists(pattern_text, max_size=100))
@settings(max_examples=60, deadline=None)
def test_what_the_schema_allows_the_request_accepts(include: list[str], exclude: list[str]) -> None:
    """The OpenAPI bounds (≤ 100 strings of 1..1,024 characters) and the request's validation agree:
    a schema-valid filter list (without control characters or an empty path) is accepted as given."""
    req = PackageRequest.parse({**BASE, "include": include, "exclude": exclude})
    assert (req.include, req.exclude) == (include, exclude)
