"""Benchmark: Lambda cold start (not a test).

    .venv/bin/python bench/cold_start.py [--runs 5]

Each figure is the median over fresh interpreters (one per run), measured inside the process:
- import of `qps_core.lambda_handler` (what a cold start pays before the first event);
- the first invocation on an ignored event (adapter discovery and settings happen here, once);
- the first invocation that packages a small folder (quilt3 and boto3 load here), against a local
  moto server;
- for scale: `import quilt3` and `import boto3` alone, and the interpreter's own start.
With `--baseline REV` the same probes also run `qps_core` as it was at REV (from `git archive`, on
PYTHONPATH; the installed adapters are shared), alternating with this tree run by run, so both columns
see the same machine load. With `--bundle ZIP` (`make lambda`'s dist/qps-lambda.zip) the bundle
runs as Lambda runs it (`python -B -S -s`, PYTHONPATH = the bundle), once as built and once with its
byte code removed: Lambda's task root is read-only, so a bundle without .pyc compiles on every cold start.
The same three as process CPU time too: on a shared machine CPU time varies far less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qps_core.demo.endpoint import FAKE_CREDENTIALS, LocalEndpoint

ROOT = Path(__file__).resolve().parent.parent

IGNORED = {"source": "aws.omics", "detail-type": "Run Status Change", "detail": {"status": "RUNNING"}}

PROBE = r"""
import json, sys, time
c0, t0 = time.process_time(), time.perf_counter()
from qps_core.lambda_handler import handler
c1, t1 = time.process_time(), time.perf_counter()
import qps_core
handler(json.loads(sys.argv[1]), None)
c2, t2 = time.process_time(), time.perf_counter()
result = handler(json.loads(sys.argv[2]), None) if sys.argv[2] != "null" else None
c3, t3 = time.process_time(), time.perf_counter()
print(json.dumps({"import": t1 - t0, "ignored": t2 - t1, "package": t3 - t2,
                  "import cpu": c1 - c0, "ignored cpu": c2 - c1, "package cpu": c3 - c2,
                  "status": result and [r["status"] for r in result["results"]],
                  "from": qps_core.__file__}))
"""


@dataclass
class Variant:
    """One column: which qps_core the probe must import, with what environment and interpreter flags."""

    name: str
    qps_core: Path
    env: dict[str, str]
    flags: tuple[str, ...] = ()


def run(code: str, *args: str, env: dict[str, str] | None = None, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    # Not run from the checkout: `python -c` puts the working directory before PYTHONPATH.
    out = subprocess.run(
        [sys.executable, *flags, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path.home(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_import(module: str) -> str:
    return (
        f"import time, json; t=time.perf_counter(); import {module}; "
        f"print(json.dumps({{'import': time.perf_counter() - t}}))"
    )


def baseline_tree(rev: str, into: Path) -> Path:
    """`qps_core` as it was at `rev` (git archive) with its byte code, for PYTHONPATH: the installed
    adapters stay."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "qps_core"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into)], check=True)
    return into


def bundle_variants(bundle: Path, scratch: Path, env: dict[str, str]) -> list[Variant]:
    """The Lambda bundle as built, and the same bundle without byte code, each run as Lambda runs it:
    `python -B -S -s` (read-only task root, no site-packages), PYTHONPATH = the bundle alone."""
    out = []
    for name, keep_pyc in (("bundle", True), ("bundle, no .pyc", False)):
        target = scratch / name.replace(" ", "").replace(",", "-").replace(".", "")
        with zipfile.ZipFile(bundle) as zf:
            zf.extractall(target)
        if not keep_pyc:
            for folder in sorted(target.rglob("__pycache__"), reverse=True):
                shutil.rmtree(folder)
        bundle_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        out.append(Variant(name, target / "qps_core", {**bundle_env, "PYTHONPATH": str(target)}, ("-B", "-S", "-s")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--baseline", metavar="REV", help="also measure qps_core as of this git revision, interleaved run by run"
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        metavar="ZIP",
        help="also measure this Lambda bundle (`make lambda`), with and without its .pyc",
    )
    args = parser.parse_args()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("QPS_") and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(FAKE_CREDENTIALS, QUILT_DISABLE_USAGE_METRICS="true", QUILT_MINIMIZE_STDOUT="true")
    with LocalEndpoint.start() as endpoint, tempfile.TemporaryDirectory() as scratch_dir:
        import boto3

        scratch = Path(scratch_dir)
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
        variants = [Variant("this tree", ROOT / "qps_core", env)]
        if args.baseline:
            tree = baseline_tree(args.baseline, scratch / "baseline")
            variants.append(Variant(args.baseline, tree / "qps_core", {**env, "PYTHONPATH": str(tree)}))
        if args.bundle:
            variants += bundle_variants(args.bundle, scratch, env)
        run(PROBE, json.dumps(IGNORED), "null", env=env)  # writes this tree's byte code if it is stale
        figures: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
        for n in range(args.runs):
            order = variants[n % len(variants) :] + variants[: n % len(variants)]  # rotated run by run
            for v in order:
                name = f"bench/cold-{n}-{variants.index(v)}"  # each probe creates a new package
                request = json.dumps({"source_prefix": "s3://bench-cold/run/", "package_name": name})
                probe = run(PROBE, json.dumps(IGNORED), request, env=v.env, flags=v.flags)
                assert probe["status"] == ["created"], probe
                assert Path(probe["from"]).parent == v.qps_core, f"{v.name} imported qps_core from {probe['from']}"
                for key in ("import", "ignored", "package", "import cpu", "ignored cpu", "package cpu"):
                    figures[v.name].setdefault(key, []).append(probe[key])
            for module in ("quilt3", "boto3"):
                figures["this tree"].setdefault(f"import {module}", []).append(
                    run(timed_import(module), env=env)["import"]
                )
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            figures["this tree"].setdefault("interpreter", []).append(time.perf_counter() - t)
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
    width = max(12, *(len(v.name) for v in variants))
    print(f"Cold start, median of {args.runs} fresh interpreters ({sys.platform}, {os.cpu_count()} cores), in ms:")
    print(f"  {'':<40} " + " ".join(f"{v.name:>{width}}" for v in variants))
    for key, label in labels.items():
        cells = [figures[v.name].get(key) for v in variants]
        print(
            f"  {label:<40} "
            + " ".join(f"{statistics.median(c) * 1000:{width}.1f}" if c else " " * width for c in cells)
        )


if __name__ == "__main__":
    main()
