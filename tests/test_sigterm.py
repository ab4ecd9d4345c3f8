"""SIGTERM (what systemd, `docker stop` and Kubernetes send) stops `qps serve` and `qps worker` as Ctrl-C
does: the running job gets the grace period, what does not finish is queued again, one line says so.
Real subprocesses over loopback: a moto server behind the S3 front (0.3 s per S3 request, so a job
is still running when the signal arrives)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from qps_core.demo.endpoint import FAKE_CREDENTIALS, free_port
from qps_core.jobs.sqlite import SqliteJobStore
from tests.helpers import clean_env
from tests.support.motoserver import MotoShimServer
from tests.support.s3front import S3Front

pytestmark = pytest.mark.slow
QPS = str(Path(sys.executable).parent / "qps")


@pytest.fixture(scope="module")
def slow_s3() -> Iterator[str]:
    """A moto server with s3://src/data/ (20 objects) and an empty registry s3://reg, behind a slow front."""
    with MotoShimServer.start() as moto:
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", **_creds())
        for bucket in ("src", "reg"):
            s3.create_bucket(Bucket=bucket)
        moto.seed("src", "data/", 20, 1000)
        with S3Front.start(moto.url, latency=0.3) as front:
            yield front.url


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": "testing"}


def _call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _serve(tmp_path: Path, endpoint: str, grace: int) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = clean_env(tmp_path, QPS_DATA_DIR=str(tmp_path / "jobs"), **FAKE_CREDENTIALS)
    proc = subprocess.Popen(
        [QPS, "serve", "--port", str(port), "--endpoint-url", endpoint, "--grace-seconds", str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if _call("GET", f"{base}/v1/health")[0] in (200, 503):
                return proc, base
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "qps serve did not start"
        time.sleep(0.2)


@pytest.mark.parametrize("grace", [120, 0])
def test_sigterm_gives_running_jobs_the_grace_period(tmp_path: Path, slow_s3: str, grace: int) -> None:
    proc, base = _serve(tmp_path, slow_s3, grace)
    try:
        status, job = _call("POST", f"{base}/v1/packages", {"source_prefix": "s3://src/data/", "registry": "reg"})
        assert status == 202, job
        deadline = time.monotonic() + 30
        while job["status"] != "running":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
            job = _call("GET", f"{base}/v1/jobs/{job['id']}")[1]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert f"Stopping: waiting up to {grace} s for 1 running job(s)" in err, err
    stored = SqliteJobStore(tmp_path / "jobs" / "jobs.sqlite3").get(job["id"])
    assert stored is not None
    if grace:  # the job finished inside the grace period
        assert stored.status == "succeeded" and stored.result is not None and stored.result.files == 20
        assert "queued again" not in err
    else:  # no grace: queued again for the next start, said in one line
        assert stored.status == "queued"
        assert "1 job(s) queued again; they run at the next start." in err


def test_sigterm_stops_an_idle_worker_at_once(tmp_path: Path) -> None:
    """A worker waiting in a 20 s long poll stops within seconds (before `docker stop`'s 10 s), saying so.
    (A message being processed finishes first: tests/runtime/test_worker.py.)"""
    with MotoShimServer.start() as moto:
        sqs = boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1", **_creds())
        queue_url = sqs.create_queue(QueueName="packager")["QueueUrl"]
        env = clean_env(tmp_path, **FAKE_CREDENTIALS)
        proc = subprocess.Popen(
            [QPS, "worker", "--queue-url", queue_url, "--endpoint-url", moto.url, "--wait-seconds", "20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            time.sleep(4)  # started and waiting in ReceiveMessage
            assert proc.poll() is None
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert took < 5, took
    assert "Traceback" not in err
    assert "received SIGTERM while waiting for messages: stopping" in err
    assert "qps worker: stopped after 0 message(s)" in err
