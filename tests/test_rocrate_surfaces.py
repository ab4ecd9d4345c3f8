"""What an RO-Crate package reports beside the package itself: the replay JSON line and table, the job
result, the completion notice and the admin job page all carry `rocrate: {mode, parts, validation}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qps_core.jobs.execute import finish_changes
from qps_core.jobs.model import Job, JobResult, Trigger
from qps_core.models import PackageRequest
from qps_core.notices import notice_for
from qps_core.outcomes import RunOutcome
from qps_core.packaging import PackageResult
from qps_core.report import crate_detail
from tests.helpers import LOCAL

CRATE = {
    "mode": "parts",
    "parts": 8,
    "validation": {
        "level": "error",
        "issues": [
            {"level": "error", "id": "data.txt", "message": "contentSize is 5 but the object holds 6 bytes"},
            {"level": "warning", "id": "./", "message": "the root Dataset has no name (RECOMMENDED)"},
        ],
    },
}


def outcome(rocrate: dict[str, Any] | None) -> RunOutcome:
    request = PackageRequest.parse({"source_prefix": "s3://lab/run/1/", "message": "m"})
    result = PackageResult("created", "ab" * 32, 9, 100, request, rocrate=rocrate)
    return RunOutcome.packaged("rocrate", result)


def test_replay_line_notice_and_job_result_carry_the_crate() -> None:
    out = outcome(CRATE)
    assert out.as_dict()["rocrate"] == CRATE
    kind, detail = notice_for(out) or ("", {})
    assert kind == "package-created" and detail["rocrate"] == CRATE
    changes = finish_changes(out, 1, 3)
    assert changes["status"] == "succeeded" and changes["result"].rocrate == CRATE
    # a package of a folder without a crate says nothing about crates
    plain = outcome(None)
    assert "rocrate" not in plain.as_dict()
    assert "rocrate" not in (notice_for(plain) or ("", {}))[1]
    assert finish_changes(plain, 1, 3)["result"].rocrate is None


def test_replay_table_detail() -> None:
    text = crate_detail(CRATE)
    assert text == ("ro-crate parts: 8 parts, error: data.txt: contentSize is 5 but the object holds 6 bytes (+1 more)")
    assert crate_detail(None) == ""
    assert crate_detail({"mode": "folder", "parts": 3, "validation": {"level": "ok", "issues": []}}) == (
        "ro-crate folder: 3 parts, ok"
    )


@pytest.fixture
def admin_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from fastapi.testclient import TestClient

    from qps_core.api.app import create_app
    from qps_core.api.auth import hash_token
    from qps_core.api.context import ApiContext
    from qps_core.jobs.sqlite import SqliteJobStore
    from qps_core.runner import Runner
    from qps_core.settings import load_settings

    monkeypatch.setenv("QPS_DATA_DIR", str(tmp_path / "state"))
    settings = load_settings(admin_tokens=[hash_token("qps_admin-crate")])
    runner = Runner(settings)
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")

    class Dispatch:
        def submit(self, job: Any) -> None: ...

    client = TestClient(
        create_app(ApiContext(settings, runner, store, Dispatch())), base_url=LOCAL, follow_redirects=False
    )
    client.post("/admin/login", data={"token": "qps_admin-crate", "next": "/admin/jobs"})
    return client, store


def test_admin_job_page_shows_mode_parts_level_and_issues(admin_client: Any) -> None:
    client, store = admin_client
    result = JobResult(
        status="created",
        registry="lab",
        package_name="run/1",
        top_hash="ab" * 32,
        files=9,
        bytes=100,
        quilt_uri="quilt+s3://lab#package=run/1@" + "ab" * 32,
        rocrate=CRATE,
    )
    job = Job(id="0" * 32, status="succeeded", trigger=Trigger(kind="api"), request={}, result=result)
    store.put(job)
    page = client.get(f"/admin/jobs/{job.id}")
    assert page.status_code == 200
    assert "RO-Crate" in page.text and "8 parts" in page.text and "<strong>error</strong>" in page.text
    assert "contentSize is 5 but the object holds 6 bytes" in page.text
    assert "the root Dataset has no name (RECOMMENDED)" in page.text
    # the job result round-trips through the store and the API's JSON
    stored = store.get(job.id)
    assert stored is not None and stored.result is not None
    assert json.loads(stored.result.model_dump_json())["rocrate"] == CRATE


def test_rocrate_settings_are_on_the_admin_page_and_stored_like_the_others(admin_client: Any) -> None:
    client, _ = admin_client
    page = client.get("/admin/settings")
    assert page.status_code == 200
    for name in ("rocrate_contents", "rocrate_validation", "rocrate_missing_part_seconds"):
        assert name in page.text
    assert "hasPart" in page.text  # the description is shown
    headers = {"Authorization": "Bearer qps_admin-crate", "If-Match": '"0"'}
    body = {"rocrate_validation": "strict", "rocrate_missing_part_seconds": 60}
    ok = client.patch("/v1/settings", headers=headers, json=body)
    assert ok.status_code == 200, ok.text
    values = ok.json()["settings"]
    assert values["rocrate_validation"]["value"] == "strict" and values["rocrate_validation"]["origin"] == "stored"
    bad = client.patch("/v1/settings", headers={**headers, "If-Match": '"1"'}, json={"rocrate_contents": "all"})
    assert bad.status_code == 422
