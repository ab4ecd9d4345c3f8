"""Benchmark: QPS's Packager versus plain quilt3 through an S3 front that answers like S3 (not a test).

    .venv/bin/python bench/packaging.py [--latency 0.02] [--reps 3] [--only a,b,c,d,head]

One shimmed moto server (`tests.support.motoserver`: ObjectParts and part checksums as AWS
returns them) behind `tests.support.s3front` (each request held `--latency` seconds, keep-alive,
no capacity limit; repeated identical reads served from its cache after an unmeasured warm-up run
of each tool, so moto's own per-request CPU is not what is measured). Scenarios:

  (a) 1,000 x 1 KiB objects with SHA-256          (c) 8 x 64 MiB multipart, CRC32 only (boto3's default)
  (b) 8 x 64 MiB multipart, SHA-256 8 MiB parts    (d) 20,000 x 1 KiB, seeded straight into moto's backend

Each tool runs in a fresh process (as a CLI or a cold Lambda would): QPS = `Packager.package(...)`,
quilt3 = `Package().set_dir(...).push(...)` in place (a `selector_fn` that copies nothing, as QPS
references objects in place). Per tool and scenario, median of `--reps` runs (order rotated): the
packaging span (first S3 request to last response, counted at the front), the whole process's wall
time, start-up (process wall minus span), S3 requests per object by operation, bytes of object data
downloaded (GetObject bodies), client CPU and peak RSS of the process. Then the HeadObject client
CPU of boto3 versus QPS's lean path (`qps_core.packaging.s3head`), and a projection to 1M objects.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
SCENARIOS: dict[str, dict[str, Any]] = {
    "a": {"label": "(a) 1,000 x 1 KiB, SHA-256", "count": 1000, "size": 1024, "algorithm": "SHA256"},
    "b": {"label": "(b) 8 x 64 MiB multipart, SHA-256", "count": 8, "size": 64 * MiB, "algorithm": "SHA256"},
    "c": {"label": "(c) 8 x 64 MiB multipart, CRC32 only", "count": 8, "size": 64 * MiB, "algorithm": "CRC32"},
    "d": {"label": "(d) 20,000 x 1 KiB, SHA-256", "count": 20000, "size": 1024, "algorithm": "SHA256"},
}
REGISTRY = "bench-registry"

CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
tool, bucket, prefix, registry, name, message, extra = sys.argv[1:8]
extra = json.loads(extra)
def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
if tool == "qps":
    from qps_core.models import PackageRequest
    from qps_core.packaging.packager import Packager
    from qps_core.settings import Settings
    settings = Settings(**extra)
    t1 = time.perf_counter(); c1 = usage()
    req = PackageRequest.parse({"source_prefix": f"s3://{bucket}/{prefix}", "registry": registry,
                                "package_name": name, "message": message}, **settings.request_context())
    result = Packager(settings).package(req)
    top_hash, status = result.top_hash, result.status
else:
    import quilt3
    t1 = time.perf_counter(); c1 = usage()
    pkg = quilt3.Package().set_dir("/", f"s3://{bucket}/{prefix}")
    pushed = pkg.push(name, registry=f"s3://{registry}", message=message, selector_fn=lambda lk, e: False, force=True)
    top_hash, status = pushed.top_hash, "created"
t2 = time.perf_counter()
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]  # peak RSS of this process image
rss_mb = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"import": t1 - t0, "work": t2 - t1, "cpu": usage() - c1, "status": status, "top_hash": top_hash,
                  "rss_mb": rss_mb}))
"""

HEAD_CHILD = r"""
import json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config
from qps_core.packaging.s3head import S3Head
bucket, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
s3 = boto3.client("s3", config=Config(max_pool_connections=64))
pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
keys = [o["Key"] for p in pages for o in p["Contents"]][:count]
lean = boto3.client("s3", config=Config(max_pool_connections=64, parameter_validation=False,
                                        retries={"mode": "standard"}))
heads = S3Head()
def boto(client):
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(lambda k: client.head_object(Bucket=bucket, Key=k, ChecksumMode="ENABLED"), keys))
def crt():
    for f in [heads.head(bucket, k) for k in keys]:
        f.result()
out = {}
for label, fn in (("boto3 default client, 64 threads", lambda: boto(s3)),
                  ("boto3 tuned (no param validation), 64 threads", lambda: boto(lean)),
                  ("qps_core.packaging.s3head (awscrt HTTP + CRT SigV4), 64 connections", crt)):
    fn()  # warm: connections, caches
    c, t = usage(), time.perf_counter()
    fn()
    out[label] = {"cpu_ms": (usage() - c) / len(keys) * 1000, "wall": time.perf_counter() - t}
print(json.dumps({"objects": len(keys), "results": out}))
"""


SCALE_CHILD = r"""
import datetime, json, sys, tempfile, time
from qps_core.packaging import checksums, listing as source
from qps_core.packaging.manifest import Manifest
from qps_core.s3paths import parse_folder
def rss(field):
    return int([l for l in open("/proc/self/status") if l.startswith(field)][0].split()[1]) / 1024
n = int(sys.argv[1])
base = rss("VmRSS:")
c0 = time.process_time()
digest = checksums.empty_checksum()
def pages(bucket, prefix):  # ListObjectVersions pages as source.lean_pages yields them (versioned bucket)
    for start in range(0, n, 1000):
        yield {"Versions": [
            {"Key": f"{prefix}part-{i // 1000:04d}/obj-{i:07d}.bin",
             "VersionId": f"{i:08d}-3ecc-4f44-9c35-73b72122f16e", "IsLatest": True, "Size": 1024,
             "ETag": '"4dcf3cf8ebc87ce511d0d9c76d88d0a7"',
             "LastModified": datetime.datetime.fromisoformat(f"2026-01-01T00:00:{i % 60:02d}.000+00:00"),
             "ChecksumAlgorithm": ["SHA256"]}
            for i in range(start, min(start + 1000, n))]}
folder = parse_folder("s3://bucket/runs/run-0001/")
objects = source.list_folder(None, folder, lister=pages)  # the listing as the packager keeps it
for i, obj in enumerate(objects):
    obj.checksum = digest[:-8] + f"{i:07d}="  # what hashing stores (a distinct string per object)
listed = rss("VmRSS:")
# What the packager does with the hashed objects (qps_core.packaging.packager / registry._write_manifest).
manifest = Manifest(folder.bucket, objects, {"bench": True})
manifest.set_message("bench")
top_hash = manifest.top_hash
with tempfile.TemporaryFile() as out:
    manifest.dump(out)
    size = out.tell()
print(json.dumps({"objects": n, "cpu": time.process_time() - c0, "base_mb": base, "listed_mb": listed - base,
                  "peak_mb": rss("VmHWM:"), "manifest_mb": size / 2**20}))
"""


def child_env(endpoint: str, scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "AWS_"))}
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        QUILT_DISABLE_USAGE_METRICS="true",
        QUILT_MINIMIZE_STDOUT="true",
        XDG_CONFIG_HOME=str(scratch / "config"),
        XDG_DATA_HOME=str(scratch / "data"),
        XDG_CACHE_HOME=str(scratch / "cache"),
        AWS_CONFIG_FILE=str(scratch / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(scratch / "aws-credentials"),
    )
    return env


def run_child(code: str, args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed ({args[:1]}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def seed(moto: Any, s3: Any, bucket: str, spec: dict[str, Any]) -> str:
    """Fill `bucket` for a scenario; small objects go straight into moto's backend."""
    prefix = "data/"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if spec["size"] <= 8 * MiB:
        moto.seed(bucket, prefix, spec["count"], spec["size"], algorithm=spec["algorithm"])
        return prefix
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)

    def upload(i: int) -> None:
        import io

        data = os.urandom(MiB) * (spec["size"] // MiB)
        extra = {"ChecksumAlgorithm": spec["algorithm"]}
        s3.upload_fileobj(io.BytesIO(data), bucket, f"{prefix}big-{i:02d}.bin", ExtraArgs=extra, Config=config)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(upload, range(spec["count"])))
    return prefix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the front holds each request")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default="a,b,c,d,head,scale", help="comma list of a,b,c,d,head,scale")
    parser.add_argument(
        "--scale-objects", type=int, default=20_000, help="objects in the synthetic-S3 scale step (bench/scale.py)"
    )
    parser.add_argument(
        "--quilt3-reps-d", type=int, default=1, help="quilt3 runs in (d) after its warm-up run (0: skip quilt3 in (d))"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))

    import boto3
    from botocore.config import Config

    from tests.support.motoserver import MotoShimServer
    from tests.support.s3front import S3Front

    scratch = Path(tempfile.mkdtemp(prefix="qps-bench-"))
    started = time.perf_counter()
    with MotoShimServer.start() as moto, S3Front.start(moto.url, latency=args.latency) as front:
        env = child_env(front.url, scratch)
        direct = boto3.client(
            "s3",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(max_pool_connections=16),
        )
        direct.create_bucket(Bucket=REGISTRY)
        direct.put_bucket_versioning(Bucket=REGISTRY, VersioningConfiguration={"Status": "Enabled"})
        print(machine())
        print(f"S3 front: {args.latency * 1000:.0f} ms per request, keep-alive, no capacity limit, in front of moto")
        print(f"median of {args.reps} runs per tool (order rotated) after one unmeasured warm-up run each\n")
        figures: dict[str, dict[str, Any]] = {}
        for sid, spec in SCENARIOS.items():
            if sid not in only:
                continue
            bucket = f"bench-src-{sid}"
            t = time.perf_counter()
            prefix = seed(moto, direct, bucket, spec)
            seeded = time.perf_counter() - t
            reps_q3 = args.quilt3_reps_d if sid == "d" else args.reps
            figures[sid] = run_scenario(sid, spec, bucket, prefix, front, env, args.reps, reps_q3, seeded)
        if "head" in only:
            head_cpu(moto, direct, env)
        scale = None
        if "scale" in only:
            scale, _ = run_child(SCALE_CHILD, ["100000"], env)
            per_obj_kb = (scale["peak_mb"] - scale["base_mb"]) / scale["objects"] * 1024
            print(
                f"QPS in-process packaging work at {scale['objects']:,} objects (listing parsed pages, top hash, "
                f"manifest streamed to a temporary file; no S3): {scale['cpu']:.1f} s CPU\n"
                f"  RSS at {scale['objects']:,} objects: peak {scale['peak_mb']:.0f} MiB = interpreter and imports "
                f"{scale['base_mb']:.0f} MiB + {per_obj_kb:.2f} KiB per object (objects as listed: "
                f"{scale['listed_mb']:.0f} MiB; manifest on disk, not in memory: {scale['manifest_mb']:.0f} MiB)\n"
                f"  projected peak RSS at 1M objects: {scale['base_mb'] + per_obj_kb / 1024 * 1_000_000:.0f} MiB "
                "(limit 1,536 MiB)\n"
            )
        if "a" in figures and "d" in figures:
            projection(figures, scale, args.latency)
    if "scale" in only and args.scale_objects:
        from bench import scale as synthetic

        print()
        synthetic.run(args.scale_objects, args.latency, cpu=0 if (os.cpu_count() or 1) > 1 else None)
    print(f"\nbenchmark wall time: {time.perf_counter() - started:.0f} s")


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"machine: {model}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def run_scenario(
    sid: str,
    spec: dict[str, Any],
    bucket: str,
    prefix: str,
    front: Any,
    env: dict[str, str],
    reps: int,
    reps_q3: int,
    seeded: float,
) -> dict[str, Any]:
    count = spec["count"]
    print(f"{spec['label']}  [{count} objects, {count * spec['size'] / MiB:,.1f} MiB, seeded in {seeded:.1f} s]")
    runs: dict[str, list[dict[str, Any]]] = {"QPS": [], "quilt3": []}
    tops: dict[int, dict[str, str]] = {}  # per run: a digest of each tool's entries (same folder)
    tools = [("QPS", "qps"), ("quilt3", "quilt3")]
    for rep in range(-1, max(reps, reps_q3)):
        order = tools if rep % 2 == 0 else tools[::-1]
        for label, tool in order:
            limit = reps if label == "QPS" else reps_q3
            if rep >= limit or limit == 0:
                continue
            front.reset()
            name = f"bench/{sid}-{tool}-{rep + 1}"  # a new package each run: the same folder again would be cheap
            message = f"bench {sid} run {rep}"
            child, wall = run_child(CHILD, [tool, bucket, prefix, REGISTRY, name, message, "{}"], env)
            stats = front.stats()
            tops.setdefault(rep, {})[label] = entries_of(env, child["top_hash"])  # after the counted span
            if rep >= 0:
                runs[label].append({**child, **stats, "wall": wall})
    out: dict[str, Any] = {}
    for label, rows in runs.items():
        if not rows:
            continue
        best = sorted(rows, key=lambda r: r["span"])[len(rows) // 2]
        out[label] = best | {"span": statistics.median(r["span"] for r in rows), "n": len(rows)}
    header = f"  {'':8}{'span s':>9}{'process s':>11}{'start-up s':>11}{'req/obj':>9}{'MiB read':>10}"
    header += f"{'CPU ms/obj':>11}{'RSS MiB':>9}  requests by operation"
    print(header)
    for label, row in out.items():
        ops = ", ".join(f"{op} {n / count:.3g}" for op, n in sorted(row["ops"].items(), key=lambda kv: -kv[1]))
        runs_note = "" if row["n"] == reps else f"  ({row['n']} run)"
        print(
            f"  {label:8}{row['span']:9.2f}{row['wall']:11.2f}{row['wall'] - row['span']:11.2f}"
            f"{row['requests'] / count:9.3f}{row['object_bytes'] / MiB:10.1f}{row['cpu'] * 1000 / count:11.3f}"
            f"{row['rss_mb']:9.0f}  {ops}{runs_note}"
        )
    if "quilt3" in out:
        q3, qps = out["quilt3"], out["QPS"]
        both = [t for t in tops.values() if len(t) == 2]
        if any(t["QPS"] != t["quilt3"] for t in both):
            raise SystemExit(f"{spec['label']}: QPS's entries differ from quilt3's for the same folder")
        print(f"  quilt3 / QPS: span {q3['span'] / qps['span']:.1f}x, process {q3['wall'] / qps['wall']:.1f}x")
        print(f"  entries identical to quilt3's in all {len(both)} runs (logical key, physical key, size, hash)\n")
    else:
        print("  (quilt3 not run: --quilt3-reps-d 0)\n")
    return out


def entries_of(env: dict[str, str], top_hash: str) -> str:
    """A digest of a revision's entries (every manifest line but the package metadata's, which differs:
    quilt3's `set_dir` records `"user_meta": null`, QPS leaves it out as `Package()` does)."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    body = s3.get_object(Bucket=REGISTRY, Key=f".quilt/packages/{top_hash}")["Body"]
    digest = hashlib.sha256()
    for line in body.iter_lines(chunk_size=1024 * 1024):
        record = json.loads(line)
        if "logical_key" in record:
            digest.update(json.dumps(record, sort_keys=True).encode())
    return digest.hexdigest()


def head_cpu(moto: Any, direct: Any, env: dict[str, str]) -> None:
    bucket = "bench-src-d" if _exists(direct, "bench-src-d") else "bench-src-a"
    result, _ = run_child(HEAD_CHILD, [bucket, "data/", "2000"], env)
    print(f"HeadObject client CPU, {result['objects']} objects through the front (whole-process CPU / object):")
    for label, row in result["results"].items():
        print(f"  {label:<58}{row['cpu_ms']:7.3f} ms CPU/object  {row['wall']:6.2f} s wall")
    print()


def _exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except Exception:
        return False


def projection(figures: dict[str, dict[str, Any]], scale: dict[str, Any] | None, latency: float) -> None:
    """1M objects in one folder, from the measured per-object costs (docs/design.md §6 for the limits)."""
    from qps_core.packaging.s3head import MAX_CONNECTIONS

    a, d = figures["a"]["QPS"], figures["d"]["QPS"]
    na, nd = SCENARIOS["a"]["count"], SCENARIOS["d"]["count"]
    per_obj_span = (d["span"] - a["span"]) / (nd - na)
    per_obj_cpu = (d["cpu"] - a["cpu"]) / (nd - na)
    per_obj_rss = max(0.0, (d["rss_mb"] - a["rss_mb"]) / (nd - na))
    million = 1_000_000
    print("QPS scaling, (a) 1,000 -> (d) 20,000 objects:")
    print(f"  span per object:   {a['span'] / na * 1000:.3f} ms at 1k, {d['span'] / nd * 1000:.3f} ms at 20k")
    print(f"  client CPU/object: {a['cpu'] / na * 1000:.3f} ms at 1k, {d['cpu'] / nd * 1000:.3f} ms at 20k")
    print(f"  peak RSS:          {a['rss_mb']:.0f} MiB at 1k, {d['rss_mb']:.0f} MiB at 20k")
    io_bound = million / MAX_CONNECTIONS * latency
    cpu_bound = per_obj_cpu * million
    print(
        f"  projected 1M objects, QPS alone on one vCPU (Lambda >= 1,769 MB): max(client CPU "
        f"{per_obj_cpu * 1000:.3f} ms x 1M = {cpu_bound:.0f} s, {MAX_CONNECTIONS} connections x "
        f"{latency * 1000:.0f} ms = {io_bound:.0f} s) = {max(cpu_bound, io_bound):.0f} s (limit 720 s)"
    )
    print(
        f"  (the span measured here, with the front and moto on the same 2 cores, extrapolates to "
        f"{a['span'] + per_obj_span * (million - na):.0f} s: an upper bound)"
    )
    rss = a["rss_mb"] + per_obj_rss * (million - na)
    line = f"  projected peak RSS at 1M: {rss:.0f} MiB from the 1k -> 20k runs"
    if scale is not None:
        per_obj_mb = (scale["peak_mb"] - scale["base_mb"]) / scale["objects"]
        line += (
            f"; {scale['base_mb'] + per_obj_mb * million:.0f} MiB from the 100k in-process run "
            f"(+{scale['cpu'] / scale['objects'] * million:.0f} s CPU for entries, top hash and manifest)"
        )
    print(line + " (limit 1,536 MiB)")


if __name__ == "__main__":
    main()
