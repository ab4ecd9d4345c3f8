"""`qps serve` and `qps token`: the real console script in subprocesses with a clean environment."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from qps_core.api.auth import hash_token
from qps_core.demo.endpoint import free_port
from tests.helpers import clean_env

QPS = str(Path(sys.executable).parent / "qps")


def test_token_prints_a_token_and_its_hash(tmp_path: Path) -> None:
    out = subprocess.run([QPS, "token"], capture_output=True, text=True, env=clean_env(tmp_path), timeout=60)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines()[:2])
    token, digest = lines["token"].strip(), lines["hash"].strip()
    assert hash_token(token) == digest and "QPS_API_TOKENS" in out.stdout


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_serve_refuses_a_public_bind_without_tokens(tmp_path: Path, host: str) -> None:
    out = subprocess.run(
        [QPS, "serve", "--host", host, "--port", "1"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(
        f"qps: error: refusing to listen on {host} without tokens"
    )


def _request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_serve_embedded_creates_a_demo_package_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [QPS, "serve", "--embedded", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(tmp_path, QPS_DATA_DIR=str(tmp_path / "jobs")),
    )
    try:
        banner = [proc.stdout.readline() for _ in range(5)]
        base = f"http://127.0.0.1:{port}"
        assert any(f"{base}/docs" in line for line in banner), banner
        assert any(f"{base}/admin" in line for line in banner), banner
        assert any(f"{base}/admin/login?code=" in line for line in banner), banner  # one-time login link
        # --embedded without tokens mints an admin token for the run (the admin page needs a login)
        (minted,) = [line.rsplit(" ", 1)[1].strip() for line in banner if line.startswith("Admin token for this run")]
        auth = {"Authorization": f"Bearer {minted}"}
        deadline = time.monotonic() + 60
        while True:
            try:
                if _request("GET", f"{base}/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.2)

        body = {"source_prefix": "s3://qps-demo-data/lims/batch-0301/", "registry": "qps-demo-packages"}
        status, job = _request("POST", f"{base}/v1/packages", body, {"Idempotency-Key": "demo-1", **auth})
        assert status == 202, job
        deadline = time.monotonic() + 120
        while job["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
            job = _request("GET", f"{base}/v1/jobs/{job['id']}", headers=auth)[1]
        assert job["status"] == "succeeded", job
        assert len(job["result"]["top_hash"]) == 64 and job["result"]["files"] == 3
        status, again = _request("POST", f"{base}/v1/packages", body, {"Idempotency-Key": "demo-1", **auth})
        assert (status, again["id"], again["status"]) == (202, job["id"], "succeeded")
        status, package = _request("GET", f"{base}/v1/packages/qps-demo-packages/lims/batch-0301", headers=auth)
        assert status == 200 and package["top_hash"] == job["result"]["top_hash"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [QPS, "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=clean_env(tmp_path, QPS_DATA_DIR=str(tmp_path / "jobs")),
            timeout=60,
        )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"qps: error: cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize("module", ["qps_core.cli", "qps_core.lambda_handler", "qps_core.jobs.recorder"])
def test_the_web_framework_loads_only_where_it_is_used(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn', 'mangum')); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
