"""Benchmark: the API's overhead (not a test).

    .venv/bin/python -m bench.api [--requests 500] [--runs 5]     # from the repository root

- requests per second on `qps serve` (uvicorn, SQLite jobs) for `POST /v1/packages?dry_run=true`,
  `GET /v1/jobs/{id}` and `GET /v1/packages/{registry}/{name}` (a 3-file package): one keep-alive
  connection, then 4 concurrent connections; and each one's median latency (p50) on one connection,
  side by side with the package route's one S3 request made alone; twice: over a moto server with
  the demo's data, then over the synthetic S3 of `bench/synth_s3.py`, which answers in a fraction
  of a millisecond (what is left is the route's own cost);
- the Lambda cold start of the API handler (`qps_core.api.lambda_api.handler`, Mangum): import,
  then the first request (a Function URL `GET /v1/jobs/{id}` against DynamoDB on a local moto
  server), median over fresh interpreters; for scale, `import fastapi` alone and the queue
  handler's import.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from qps_core.api.auth import mint_token
from qps_core.demo.endpoint import FAKE_CREDENTIALS, LocalEndpoint, free_port

ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as `python bench/api.py`: `bench.synth_s3` and `tests.support` import as with `-m`
    sys.path.insert(0, str(ROOT))
TOKEN, TOKEN_HASH = mint_token()  # what a client of a deployed API sends (auth is part of the overhead)

BOTO_CREDENTIALS = {
    "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
}
QPS = str(Path(sys.executable).parent / "qps")
BODY = json.dumps({"source_prefix": "s3://qps-demo-data/lims/batch-0301/", "registry": "qps-demo-packages"})


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {TOKEN}"} | ({"Content-Type": "application/json"} if body else {})
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def _rate(port: int, method: str, path: str, body: str | None, n: int, connections: int) -> float:
    def worker(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(count):
            status, data = _call(conn, method, path, body)
            assert status < 300, (status, data[:200])
        conn.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(worker, [n // connections] * connections))
    return (n // connections * connections) / (time.perf_counter() - start)


def _p50(port: int, method: str, path: str, body: str | None, n: int) -> float:
    """Median seconds per request on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        status, data = _call(conn, method, path, body)
        times.append(time.perf_counter() - start)
        assert status < 300, (status, data[:200])
    conn.close()
    return statistics.median(times)


@dataclass
class Endpoint:
    """Where `qps serve` finds S3 for one block of figures: its URL, the package request the jobs
    make, and the package the read route reads."""

    label: str
    url: str
    body: str
    registry: str
    name: str


def _s3_floor(where: Endpoint, n: int) -> float:
    """Median seconds of the route's one S3 request (ListObjectsV2 of the package's pointers), made alone."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=where.url, region_name="us-east-1", **BOTO_CREDENTIALS)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        s3.list_objects_v2(Bucket=where.registry, Prefix=f".quilt/named_packages/{where.name}/")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextmanager
def moto_endpoint() -> Iterator[Endpoint]:
    """A moto server in this process with the demo's data (what `qps demo` and the tests use)."""
    import boto3

    from qps_core.demo import seed

    with LocalEndpoint.start() as endpoint:
        seed(boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1", **BOTO_CREDENTIALS))
        yield Endpoint("a local moto S3 endpoint", endpoint.url, BODY, "qps-demo-packages", "lims/batch-0301")


@contextmanager
def synthetic_endpoint() -> Iterator[Endpoint]:
    """`bench/synth_s3.py` (no latency): an S3 that answers in a fraction of a millisecond."""
    from bench.synth_s3 import SOURCE, SynthS3

    body = json.dumps({"source_prefix": f"s3://{SOURCE}/data/", "registry": "synth-registry", "package_name": "b/p"})
    with SynthS3.start(3, 0.0) as synth:
        yield Endpoint("the synthetic S3 (bench/synth_s3.py, no latency)", synth.url, body, "synth-registry", "b/p")


def serve_figures(where: Endpoint, n: int) -> tuple[list[tuple[str, float, float, float]], float]:
    """The three routes' rates and p50s, and the p50 of the package route's one S3 request alone.

    The S3 endpoint runs outside `qps serve`'s process, as S3 does when deployed; the floor is
    measured against that same endpoint."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "AWS_"))}
    env.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=where.url, AWS_DEFAULT_REGION="us-east-1")
    env["QPS_DATA_DIR"] = tempfile.mkdtemp(prefix="qps-bench-api-")
    env["QPS_API_TOKENS"] = TOKEN_HASH
    proc = subprocess.Popen(
        [QPS, "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 60
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if _call(conn, "GET", "/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("qps serve did not start")
            time.sleep(0.2)
        _, data = _call(conn, "POST", "/v1/packages", where.body)
        job_id = json.loads(data)["id"]
        while (status := json.loads(_call(conn, "GET", f"/v1/jobs/{job_id}")[1])["status"]) not in (
            "succeeded",
            "failed",
        ):
            time.sleep(0.1)
        assert status == "succeeded", status
        rows = []
        for label, method, path, body in (
            ("POST /v1/packages?dry_run=true", "POST", "/v1/packages?dry_run=true", where.body),
            ("GET /v1/jobs/{id}", "GET", f"/v1/jobs/{job_id}", None),
            ("GET /v1/packages/{registry}/{name}", "GET", f"/v1/packages/{where.registry}/{where.name}", None),
        ):
            _rate(port, method, path, body, 50, 1)  # warm up
            rows.append(
                (
                    label,
                    _rate(port, method, path, body, n, 1),
                    _rate(port, method, path, body, n, 4),
                    _p50(port, method, path, body, min(n, 200)),
                )
            )
        return rows, _s3_floor(where, min(n, 200))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
from qps_core.api.lambda_api import handler
t1 = time.perf_counter()
response = handler(json.loads(sys.argv[1]), None)
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
response = handler(json.loads(sys.argv[1]), None)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
"""


def _fresh(code: str, *args: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def cold_start_figures(runs: int) -> dict[str, float]:
    import boto3

    from qps_core.jobs.dynamodb import DynamoJobStore, table_definition
    from qps_core.jobs.model import Job, Trigger, new_job_id

    with LocalEndpoint.start() as endpoint:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "AWS_"))}
        env.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint.url, QPS_JOBS_TABLE="qps-jobs", QPS_LOG_LEVEL="WARNING")
        os.environ.update(FAKE_CREDENTIALS)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint.url)
        dynamodb.create_table(**table_definition("qps-jobs"))
        env["QPS_QUEUE_URL"] = boto3.client("sqs", endpoint_url=endpoint.url).create_queue(QueueName="QuiltPackager")[
            "QueueUrl"
        ]
        job = Job(id=new_job_id(), trigger=Trigger(kind="api"), request={"source_prefix": "s3://b/f/"})
        DynamoJobStore("qps-jobs", client=dynamodb).create(job)
        event = json.loads((ROOT / "tests" / "fixtures" / "api" / "function-url-request.json").read_text())
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/jobs/{job.id}"
        event["requestContext"]["http"]["method"] = "GET"
        event.pop("body")
        samples = [_fresh(PROBE, json.dumps(event), env=env) for _ in range(runs)]
        fastapi = [
            _fresh(
                "import time,json;t=time.perf_counter();import fastapi;print(json.dumps({'t':time.perf_counter()-t}))",
                env=env,
            )
            for _ in range(runs)
        ]
        queue = [
            _fresh(
                "import time,json;t=time.perf_counter();import qps_core.lambda_handler;"
                "print(json.dumps({'t':time.perf_counter()-t}))",
                env=env,
            )
            for _ in range(runs)
        ]
    return {
        "import qps_core.api.lambda_api": statistics.median(s["import"] for s in samples),
        "first request (app, settings, adapters, DynamoDB GetItem)": statistics.median(s["first"] for s in samples),
        "a warm request": statistics.median(s["second"] for s in samples),
        "for scale: import fastapi alone": statistics.median(s["t"] for s in fastapi),
        "for scale: import qps_core.lambda_handler (the queue function)": statistics.median(s["t"] for s in queue),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per figure")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters for the cold start")
    args = parser.parse_args()

    for endpoint in (moto_endpoint, synthetic_endpoint):
        with endpoint() as where:
            rows, floor = serve_figures(where, args.requests)
        print(f"qps serve (uvicorn, SQLite jobs) over {where.label}, {args.requests} requests each")
        print(f"{'request':<36} {'req/s, 1 connection':>20} {'req/s, 4 connections':>22} {'p50, ms':>9}")
        for label, one, four, p50 in rows:
            print(f"{label:<36} {one:>20.0f} {four:>22.0f} {p50 * 1000:>9.1f}")
        print(f"{'  its one S3 request alone':<36} {'':>20} {'':>22} {floor * 1000:>9.1f}")
        jobs, package = rows[1][3], rows[2][3]
        print(
            f"GET /v1/packages/... beyond its one S3 request: {(package - floor) * 1000:.1f} ms;"
            f" GET /v1/jobs/{{id}} (no S3 request): {jobs * 1000:.1f} ms"
        )
        print()
    figures = cold_start_figures(args.runs)
    print(f"API Lambda cold start (median of {args.runs} fresh interpreters, DynamoDB on a local moto server)")
    for label, seconds in figures.items():
        print(f"{label:<66} {seconds * 1000:>8.0f} ms")


if __name__ == "__main__":
    main()
