"""The layout's promises (docs/design.md §1): what importing costs, one list of request fields, the
API following stored settings on its own, routes and pages going through the jobs intake, and a
wheel without the test support."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qps_core.api.app import create_app
from qps_core.api.context import ApiContext
from qps_core.api.schemas import NormalisedRequest, PackageDescription
from qps_core.jobs.sqlite import SqliteJobStore
from qps_core.models import ALIASES, BODY_KEYS, REQUEST_FIELDS, PackageRequest
from qps_core.runner import Runner
from qps_core.settings import Settings, open_store
from tests.helpers import LOCAL
from tests.test_import_graph import import_graph

ROOT = Path(__file__).resolve().parents[1]
ROCRATE_EVENT = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": "lab-data"}, "object": {"key": "study/crate-1/ro-crate-metadata.json"}},
}


def test_importing_the_adapter_api_installs_no_import_hook_and_loads_no_sdk() -> None:
    code = (
        "import sys; before = list(sys.meta_path); import qps_core.adapter_api, qps_core.runner; "
        "assert sys.meta_path == before, sys.meta_path; "
        "heavy = sorted(m for m in ('quilt3', 'boto3', 'botocore', 'fastapi') if m in sys.modules); "
        "assert not heavy, heavy; "
        "import qps_core.packaging; assert len(sys.meta_path) == len(before) + 1; "
        "assert 'quilt3' not in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_request_fields_are_one_list_that_the_api_schema_follows() -> None:
    assert tuple(PackageRequest.model_fields) == REQUEST_FIELDS
    assert tuple(NormalisedRequest.model_fields) == REQUEST_FIELDS
    assert set(PackageDescription.model_fields) == set(REQUEST_FIELDS) | set(ALIASES)
    assert set(BODY_KEYS) == {"uri", *REQUEST_FIELDS, *ALIASES}


def _context(tmp_path: Path, **values: Any) -> ApiContext:
    settings = Settings(data_dir=tmp_path / "state", settings_refresh_seconds=0, **values)
    runner = Runner(settings)

    class Recorder:
        def submit(self, job: Any) -> None:
            pass

    return ApiContext(settings, runner, SqliteJobStore(tmp_path / "jobs.sqlite3"), Recorder())


def test_the_api_follows_stored_settings_without_the_admin_page(tmp_path: Path) -> None:
    context = _context(tmp_path)
    client = TestClient(create_app(context, include_admin=False), base_url=LOCAL)
    assert client.get("/admin/sources").status_code == 404
    planned = client.post("/v1/plan", json=ROCRATE_EVENT).json()["results"][0]
    assert planned["status"] == "planned"
    store = open_store(context.settings)
    store.update({"sources": {"rocrate": False}}, expected_version=store.version(), actor="test")
    ignored = client.post("/v1/plan", json=ROCRATE_EVENT).json()["results"][0]
    assert (ignored["status"], ignored["reason"]) == (
        "ignored",
        "the RO-Crate source (adapter 'rocrate') is switched off",
    )


def test_routes_and_pages_make_jobs_only_through_the_intake() -> None:
    """No admin page reaches into the API's routes; no route stores or dispatches a job itself."""
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("qps_core.admin"):
            assert not {t for t in targets if t.startswith("qps_core.api.routes")}, module
    for route in (m for m in graph if m.startswith("qps_core.api.routes")):
        text = (ROOT / (route.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        assert ".jobs.create(" not in text and ".dispatcher." not in text, route


@pytest.mark.slow
@pytest.mark.network  # pip fetches the build backend (setuptools >= 77) into an isolated environment
def test_the_wheel_holds_the_core_and_no_test_support(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("qps_core-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "qps_core/packaging/packager.py" in names and "qps_core/runtime/compose.py" in names
    assert "qps_core/admin/templates/sources.html" in names
    shipped = [n for n in names if n.startswith(("tests/", "bench/")) or "devtools" in n or "motoshim" in n]
    assert not shipped, shipped
