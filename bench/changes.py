"""Benchmark: what `changes` costs when the previous revision is large (docs/design.md §12; not a test).

    .venv/bin/python bench/changes.py [--entries 1000000] [--mbps 100]

Writes a previous manifest of `--entries` entries in quilt3's JSONL (`Manifest.dump`, as QPS writes
it) to a temporary file, makes a new revision that modifies 1%, removes 0.5% and adds 0.5% of them,
and streams the previous manifest through botocore's `StreamingBody.iter_lines` (the registry's
code path: `Registry.changes_against`) into `changes.diff_manifest`. Prints:

- the manifest's size and its transfer time at `--mbps` MB/s (the one GetObject it adds);
- the CPU time of streaming and comparing it (no tracing), in seconds and entries per second;
- peak Python memory while comparing (tracemalloc), split into the new revision's logical key -> hash
  map (the comparison's only per-entry state) and everything else (the streamed lines: bounded by
  the chunk size, not by the manifest), beside what reading the manifest whole would hold.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from botocore.response import StreamingBody

from qps_core.packaging.changes import diff_manifest
from qps_core.packaging.listing import SourceObject
from qps_core.packaging.manifest import Manifest

CHUNK = 1024 * 1024  # what the registry asks iter_lines for


def objects(count: int, salt: str = "") -> list[SourceObject]:
    out = []
    for n in range(count):
        key = f"run/sample-{n // 1000:04}/reads/part-{n:07}.fastq.gz"
        digest = hashlib.sha256(f"{salt}{n}".encode()).hexdigest()
        out.append(SourceObject(key, key[4:], 1000 + n, f"v{n:08}", None, None, checksum=digest))
    return out


def entries(objs: list[SourceObject]) -> list[tuple[str, tuple[str, str]]]:
    return [(o.logical_key, (o.hash_type, o.checksum or "")) for o in objs]


def body(path: Path) -> StreamingBody:
    size = path.stat().st_size
    return StreamingBody(path.open("rb"), size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--mbps", type=float, default=100.0, help="S3 read throughput assumed for the transfer")
    args = parser.parse_args()
    count = args.entries

    t0 = time.perf_counter()
    previous = objects(count)
    new = list(previous)
    step_mod, step_del = 100, 200
    for i in range(0, count, step_mod):  # 1% modified
        o = new[i]
        new[i] = SourceObject(o.key, o.logical_key, o.size, o.version_id, None, None, checksum="0" * 64)
    removed = set(range(1, count, step_del))  # 0.5% removed
    new = [o for i, o in enumerate(new) if i not in removed]
    added = objects(count // step_del, salt="new")  # 0.5% added, under fresh keys
    for n, o in enumerate(added):
        o.logical_key = f"added/{n:07}.bin"
    new += added
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.jsonl"
        with path.open("wb") as out:
            Manifest("bench", previous, {"bench": True}).dump(out)
        size = path.stat().st_size
        del previous
        new_entries = entries(new)
        setup = time.perf_counter() - t0

        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        stream = body(path)
        changes = diff_manifest(stream.iter_lines(chunk_size=CHUNK), new_entries)
        stream.close()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0

        gc.collect()
        tracemalloc.start()
        map_only = dict(new_entries)
        map_bytes = tracemalloc.get_traced_memory()[0]
        del map_only
        gc.collect()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        stream = body(path)
        diff_manifest(stream.iter_lines(chunk_size=CHUNK), new_entries)
        stream.close()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()

    whole = size  # reading it whole holds at least its bytes, before any parsing
    mb = 1024 * 1024
    print(f"previous manifest: {count:,} entries, {size / mb:,.1f} MiB of JSONL (setup {setup:.1f} s)")
    print(f"changes: {changes.counts()}")
    print(f"transfer of the one added GetObject at {args.mbps:g} MB/s: {size / (args.mbps * 1e6):.2f} s")
    print(f"stream + compare: {wall:.2f} s wall, {cpu:.2f} s CPU, {count / max(wall, 1e-9):,.0f} entries/s")
    print(
        f"peak memory while comparing: {peak / mb:,.1f} MiB, of which the new key->hash map "
        f"{map_bytes / mb:,.1f} MiB; streaming itself {max(peak - map_bytes, 0) / mb:,.1f} MiB "
        f"(reading the manifest whole: >= {whole / mb:,.1f} MiB)"
    )
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
