"""Benchmark: QPS's Packager versus plain quilt3 on one folder of small objects (not a test).

    .venv/bin/python bench/packaging.py [--objects 1000] [--quilt3-copy]

Starts a moto server on a free loopback port (stopped on exit), uploads N small objects with
ChecksumAlgorithm=SHA256, then packages the folder twice in one run: with QPS's Packager (objects
referenced in place) and with `quilt3.Package().set_dir(...)` + `.push(...)` under another name (by
default also in place, `selector_fn` copying nothing; `--quilt3-copy` lets quilt3 copy as it does by
default across buckets). Prints wall time, the ratio, and S3 requests per object for each, counted
with a botocore `before-send` hook (one count per HTTP request, retries included).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class RequestCounter:
    """Counts HTTP requests sent by any client it is attached to (thread-safe)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send.s3.*", self._count)
        return client

    def _count(self, event_name: str = "", **_: Any) -> None:
        op = event_name.rsplit(".", 1)[-1] or "?"
        with self._lock:
            self.counts[op] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024, help="bytes per object")
    parser.add_argument("--quilt3-copy", action="store_true", help="let quilt3 copy the objects into the registry")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="qps-bench-"))
    sys.path.insert(0, str(ROOT))
    from qps_core.local_endpoint import LocalEndpoint

    local = LocalEndpoint.start()
    endpoint = local.url
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        QUILT_DISABLE_USAGE_METRICS="true",
        QUILT_MINIMIZE_STDOUT="true",
        XDG_CONFIG_HOME=str(scratch / "config"),
        XDG_DATA_HOME=str(scratch / "data"),
        XDG_CACHE_HOME=str(scratch / "cache"),
    )
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(var, None)
    with local:
        run(args, endpoint)


def run(args: argparse.Namespace, endpoint: str) -> None:
    import boto3
    import quilt3
    from quilt3 import hooks

    from qps_core.models import PackageRequest
    from qps_core.packager import Packager
    from qps_core.settings import Settings

    s3 = boto3.client("s3")
    src, reg = "bench-src", "bench-reg"
    for bucket in (src, reg):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    prefix = "runs/run-0001/"
    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(
                    Bucket=src,
                    Key=f"{prefix}part-{i // 100:02d}/obj-{i:05d}.txt",
                    Body=(f"object {i} ".encode() * args.size)[: args.size],
                    ChecksumAlgorithm="SHA256",
                ),
                range(args.objects),
            )
        )
    print(f"moto server at {endpoint}; uploaded {args.objects} objects in {time.perf_counter() - t0:.1f}s")

    # --- QPS
    settings = Settings()
    qps_counter = RequestCounter()
    t0 = time.perf_counter()
    packager = Packager(settings)
    qps_counter.attach(packager.s3)
    req = PackageRequest.parse(
        {"source_prefix": f"s3://{src}/{prefix}", "registry": reg, "package_name": "bench/qps", "message": "bench"},
        **settings.request_context(),
    )
    result = packager.package(req)
    qps_time = time.perf_counter() - t0
    assert result.status == "created" and result.files == args.objects, result

    # --- plain quilt3 (every client quilt3 builds gets the counter through quilt3's own hook)
    q3_counter = RequestCounter()

    def hook(build_client_base: Any, session: Any, client_kwargs: Any, **kwargs: Any) -> Any:
        return q3_counter.attach(build_client_base(session, client_kwargs, **kwargs))

    old_hook = hooks.set_build_s3_client_hook(hook)
    try:
        t0 = time.perf_counter()
        pkg = quilt3.Package().set_dir("/", f"s3://{src}/{prefix}")
        selector = None if args.quilt3_copy else (lambda _lk, _entry: False)
        pushed = pkg.push("bench/quilt3", registry=f"s3://{reg}", message="bench", selector_fn=selector, force=True)
        q3_time = time.perf_counter() - t0
    finally:
        hooks.set_build_s3_client_hook(old_hook)

    qps_entries = {lk: e.hash for lk, e in quilt3.Package.browse("bench/qps", registry=f"s3://{reg}").walk()}
    q3_entries = {lk: e.hash for lk, e in pushed.walk()}
    print()
    print(f"{'':14}{'seconds':>10}{'requests':>10}{'req/object':>12}")
    for label, secs, counter in (("QPS Packager", qps_time, qps_counter), ("quilt3 push", q3_time, q3_counter)):
        print(f"{label:14}{secs:10.2f}{counter.total:10d}{counter.total / args.objects:12.2f}")
    print(f"\nquilt3 / QPS time ratio: {q3_time / qps_time:.1f}x")
    print(f"QPS requests by operation:    {dict(qps_counter.counts.most_common())}")
    print(f"quilt3 requests by operation: {dict(q3_counter.counts.most_common())}")
    print(f"entry hashes identical in both packages: {qps_entries == q3_entries}")
    if not args.quilt3_copy:
        print("(quilt3 ran with a selector_fn that copies nothing, to match QPS's in-place references)")


if __name__ == "__main__":
    main()
