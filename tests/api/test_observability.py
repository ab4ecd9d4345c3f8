"""The API path's logs and `GET /metrics` (docs/design.md §13): a job's log lines carry its id and
package, and the Prometheus text (parsed by prometheus-client's own parser) counts it; the route
takes a token like every other route."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from qps_core import logs
from qps_core.api import prometheus
from qps_core.api.auth import mint_token
from qps_core.settings import Settings
from tests.api.conftest import DATA, FOLDER, REGISTRY, Api

TOKEN, TOKEN_HASH = mint_token()
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY = {"source_prefix": f"s3://{DATA}/{FOLDER}/", "registry": REGISTRY, "package_name": FOLDER}


def samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = api.client.get("/metrics", headers=AUTH)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def test_a_job_logs_its_ids_and_metrics_count_it(make_api: Callable[..., Api], tmp_path: Any) -> None:
    api = make_api(settings=Settings(api_tokens=[TOKEN_HASH], data_dir=tmp_path / "d"))
    api.client.headers.update(AUTH)
    prometheus.sink()  # as `qps serve` installs it (runtime.compose.serve_context)
    before = samples(api)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        job = api.wait(api.client.post("/v1/packages", json=BODY, headers=AUTH).json()["id"], timeout=60)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert job["status"] == "succeeded"

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    ended = [line for line in lines if line["message"] == f"job {job['id']} succeeded"]
    assert ended and ended[0]["job_id"] == job["id"]
    created = [line for line in lines if line["message"].startswith(f"created {FOLDER}@")]
    assert created and created[0]["job_id"] == job["id"]
    assert created[0]["registry"] == REGISTRY and created[0]["package_name"] == FOLDER
    assert "Bearer" not in out.getvalue() and TOKEN not in out.getvalue()

    after = samples(api)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    adapter = job["trigger"]["adapter"] or "none"
    assert grew("qps_packages_total", status="created", adapter=adapter) == 1
    assert grew("qps_objects_total", adapter=adapter) == 3
    assert grew("qps_jobs_total", status="succeeded") == 1
    assert grew("qps_checksum_objects_total", path="reused") == 3  # uploaded with SHA-256
    assert grew("qps_packaging_seconds_count", adapter=adapter) == 1

    running = {"source": "aws.omics", "detail-type": "Run Status Change", "detail": {"status": "RUNNING"}}
    assert api.client.post("/v1/events", json=running, headers=AUTH).json()["ignored"]
    ignored = samples(api)
    assert sum(
        v for (n, labels), v in ignored.items() if n == "qps_packages_total" and ("status", "ignored") in labels
    ) == (
        sum(v for (n, labels), v in after.items() if n == "qps_packages_total" and ("status", "ignored") in labels) + 1
    )


def test_metrics_need_a_token(make_api: Callable[..., Api], tmp_path: Any) -> None:
    api = make_api(settings=Settings(api_tokens=[TOKEN_HASH], data_dir=tmp_path / "d"))
    reply = api.client.get("/metrics")
    assert reply.status_code == 401 and reply.headers["content-type"] == "application/problem+json"
    assert api.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
