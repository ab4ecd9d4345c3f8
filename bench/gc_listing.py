"""What full garbage collections cost while a large folder is listed (not a test; no S3).

    python -m bench.gc_listing [--objects 1000000]

Two fresh processes list the same generated ListObjectVersions pages (1,000 versions each, as
`listing.lean_pages` yields them) through the packager's `listing.list_folder`, give every object a
hash string as hashing does, and compute the top hash: one as before, one inside
`gcpause.no_full_collections()` as the packager now runs. Per process: CPU, full (generation 2)
collections and their total and longest pause, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import datetime, gc, json, sys, time
from qps_core.packaging import checksums, listing
from qps_core.packaging.gcpause import no_full_collections
from qps_core.packaging.manifest import Manifest
from qps_core.s3paths import parse_folder
n, paused = int(sys.argv[1]), sys.argv[2] == "1"
full = {"count": 0, "seconds": 0.0, "longest": 0.0}
started = [0.0]
def watch(phase, info):
    if info["generation"] != 2:
        return
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        took = time.perf_counter() - started[0]
        full["count"] += 1
        full["seconds"] += took
        full["longest"] = max(full["longest"], took)
gc.callbacks.append(watch)
stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
def pages(bucket, prefix):
    for start in range(0, n, 1000):
        yield {"Versions": [
            {"Key": f"{prefix}p{i // 1000:04d}/obj-{i:07d}.bin", "VersionId": f"v000-{i:07d}-3ecc4f449c3573b72122f16e",
             "IsLatest": True, "Size": 1024, "ETag": None, "LastModified": stamp, "ChecksumAlgorithm": ["SHA256"]}
            for i in range(start, min(start + 1000, n))]}
digest = checksums.empty_checksum()
def work():
    folder = parse_folder("s3://bucket/data/")
    objects = listing.list_folder(None, folder, lister=pages)
    for i, obj in enumerate(objects):
        obj.checksum = digest[:-9] + f"{i:08d}="
    return Manifest(folder.bucket, objects, {}).top_hash
c0, t0 = time.process_time(), time.perf_counter()
if paused:
    with no_full_collections():
        work()
else:
    work()
cpu, wall = time.process_time() - c0, time.perf_counter() - t0
rss = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]) / 1024
print(json.dumps({"cpu": cpu, "wall": wall, "rss_mb": rss, **{f"full_{k}": v for k, v in full.items()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"listing {args.objects:,} generated objects, top hash (no S3), one fresh process each:")
    print(f"  {'':34}{'CPU s':>8}{'wall s':>8}{'full GCs':>10}{'in them s':>11}{'longest s':>11}{'RSS MiB':>9}")
    for paused, label in ((False, "full collections as before"), (True, "paused while packaging (now)")):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.objects), "1" if paused else "0"],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {label:<34}{r['cpu']:8.1f}{r['wall']:8.1f}{r['full_count']:10d}{r['full_seconds']:11.2f}"
            f"{r['full_longest']:11.2f}{r['rss_mb']:9.0f}"
        )


if __name__ == "__main__":
    main()
