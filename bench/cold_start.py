"""Benchmark: Lambda cold start (not a test).

    .venv/bin/python bench/cold_start.py [--runs 5]

Each figure is the median over fresh interpreters (one per run), measured inside the process:
- import of `qps_core.lambda_handler` (what a cold start pays before the first event);
- the first invocation on an ignored event (adapter discovery and settings happen here, once);
- the first invocation that packages a small folder (quilt3 and boto3 load here), against a local
  moto server;
- for scale: `import quilt3` and `import boto3` alone, and the interpreter's own start.
The same three as process CPU time too: on a shared machine CPU time varies far less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from qps_core.local_endpoint import FAKE_CREDENTIALS, LocalEndpoint

ROOT = Path(__file__).resolve().parent.parent

IGNORED = {"source": "aws.omics", "detail-type": "Run Status Change", "detail": {"status": "RUNNING"}}

PROBE = r"""
import json, sys, time
c0, t0 = time.process_time(), time.perf_counter()
from qps_core.lambda_handler import handler
c1, t1 = time.process_time(), time.perf_counter()
handler(json.loads(sys.argv[1]), None)
c2, t2 = time.process_time(), time.perf_counter()
result = handler(json.loads(sys.argv[2]), None) if sys.argv[2] != "null" else None
c3, t3 = time.process_time(), time.perf_counter()
print(json.dumps({"import": t1 - t0, "ignored": t2 - t1, "package": t3 - t2,
                  "import cpu": c1 - c0, "ignored cpu": c2 - c1, "package cpu": c3 - c2,
                  "status": result and [r["status"] for r in result["results"]]}))
"""


def run(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_import(module: str) -> str:
    return (
        f"import time, json; t=time.perf_counter(); import {module}; "
        f"print(json.dumps({{'import': time.perf_counter() - t}}))"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")}
    env.update(FAKE_CREDENTIALS, QUILT_DISABLE_USAGE_METRICS="true", QUILT_MINIMIZE_STDOUT="true")
    with LocalEndpoint.start() as endpoint:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="bench-cold")
        s3.put_bucket_versioning(Bucket="bench-cold", VersioningConfiguration={"Status": "Enabled"})
        for i in range(5):
            s3.put_object(Bucket="bench-cold", Key=f"run/file-{i}.txt", Body=b"x" * 1000, ChecksumAlgorithm="SHA256")
        env["AWS_ENDPOINT_URL"] = endpoint.url
        figures: dict[str, list[float]] = {}
        for n in range(runs):
            request = json.dumps({"source_prefix": "s3://bench-cold/run/", "package_name": f"bench/cold-{n}"})
            probe = run(PROBE, json.dumps(IGNORED), request, env=env)
            assert probe["status"] == ["created"], probe
            for key in ("import", "ignored", "package", "import cpu", "ignored cpu", "package cpu"):
                figures.setdefault(key, []).append(probe[key])
            for module in ("quilt3", "boto3"):
                figures.setdefault(f"import {module}", []).append(run(timed_import(module), env=env)["import"])
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            figures.setdefault("interpreter", []).append(time.perf_counter() - t)
    labels = {
        "import": "import qps_core.lambda_handler",
        "ignored": "first invocation, ignored event",
        "package": "first invocation, 5-object package",
        "import cpu": "  the same, CPU time: import",
        "ignored cpu": "  CPU time: ignored event",
        "package cpu": "  CPU time: 5-object package",
        "import quilt3": "import quilt3 alone (for scale)",
        "import boto3": "import boto3 alone (for scale)",
        "interpreter": "python -c pass (whole process)",
    }
    print(f"Cold start, median of {runs} fresh interpreters ({sys.platform}, {os.cpu_count()} cores):")
    for key, label in labels.items():
        print(f"  {label:<40} {statistics.median(figures[key]) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
