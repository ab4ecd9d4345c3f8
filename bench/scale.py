"""Scale benchmark: a real package of N objects through `qps replay`, on the synthetic S3 (not a test).

    python -m bench.scale [--objects 100000] [--latency 0.02] [--cpu 0]

`bench.synth_s3` generates the folder (N x 1 KiB, versioned, SHA-256 checksums, `--latency` per
request) and keeps the registry in memory. Three runs of `qps replay --json` in fresh processes
(pinned to one core with `--cpu`, as a 1,769 MB Lambda has one vCPU; the synthetic S3 on the other):

1. new:       the first revision (one listing, N HEADs, the commit); the manifest is then read back
              and every entry's hash checked against the object's bytes (quilt3's sha2-256-chunked);
2. unchanged: the same folder again: `unchanged`, hashes from the previous revision, no HEAD;
3. one changed: one object gets new bytes of the same size (a new version): `created`, exactly that
              object HEADed, `changes` = 1 modified.

Per run: wall time of the process, its CPU (user + system), peak RSS, and requests by operation.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.synth_s3 import SOURCE, SynthS3, body_of

ROOT = Path(__file__).resolve().parents[1]  # this tree's qps_core
REGISTRY = "synth-registry"
NAME = "bench/scale"


def quilt_hash(data: bytes) -> str:
    """quilt3's sha2-256-chunked of an object under 8 MiB: SHA-256 of its one chunk's SHA-256."""
    return base64.b64encode(hashlib.sha256(hashlib.sha256(data).digest()).digest()).decode()


RUN = """
import atexit, os, sys
def _peak():  # this process's own peak RSS (wait4's ru_maxrss also counts the parent's pages at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(os.environ["BENCH_PEAK_FILE"], "w").write(line.split()[1])
atexit.register(_peak)
try:
    import qps_core.packaging.gcpause as gcpause
    gcpause.ENABLED = {gc_pause}
except ImportError:  # a baseline from before it
    pass
from qps_core.cli import app
sys.argv = ["qps", "replay", "--json", {event!r}]
app()
"""


def replay(event: Path, env: dict[str, str], cpu: int | None, gc_pause: bool = True) -> dict[str, Any]:
    """`qps replay --json event` in a fresh process (`gc_pause=False`: full collections as without it)."""
    argv = [sys.executable, "-c", RUN.format(gc_pause=gc_pause, event=str(event))]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    peak_file = Path(tempfile.mkstemp(prefix="qps-scale-peak-")[1])
    env = {**env, "BENCH_PEAK_FILE": str(peak_file)}
    start = time.perf_counter()
    # cwd: not the repository (`python -c` puts the cwd first on sys.path, before a baseline on PYTHONPATH)
    proc = subprocess.Popen(argv, env=env, cwd=event.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if status != 0:
        raise SystemExit(f"qps replay failed:\n{err[-3000:]}{out[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    peak_kb = peak_file.read_text().strip()
    peak_file.unlink()
    return {
        "result": result,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": int(peak_kb) / 1024 if peak_kb else usage.ru_maxrss / 1024,
    }


def verify(endpoint: str, top_hash: str, objects: int, changed: dict[int, int]) -> None:
    """Read the manifest back: N entries, each hash that of the object's bytes, pinned to its version."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    body = s3.get_object(Bucket=REGISTRY, Key=f".quilt/packages/{top_hash}")["Body"]
    count = 0
    for line in body.iter_lines(chunk_size=1024 * 1024):
        record = json.loads(line)
        if "logical_key" not in record:
            continue
        i = int(record["logical_key"].rsplit("obj-", 1)[1][:-4])
        expected = quilt_hash(body_of(i, changed.get(i, 0)))
        if record["hash"]["value"] != expected or "?versionId=" not in record["physical_keys"][0]:
            raise SystemExit(f"manifest entry {record['logical_key']} is wrong: {record}")
        count += 1
    if count != objects:
        raise SystemExit(f"the manifest holds {count} entries, not {objects}")


def compare_gc(scratch: Path, env: dict[str, str], cpu: int | None, synth: SynthS3) -> None:
    """Two new packages of the folder (other names), without and with the pause of full collections."""
    for pause in (False, True):
        event = scratch / f"gc-{pause}.json"
        body = {"source_prefix": f"s3://{SOURCE}/data/", "registry": REGISTRY, "package_name": f"bench/gc-{pause}"}
        event.write_text(json.dumps(body))
        synth.reset()
        run = replay(event, env, cpu, gc_pause=pause)
        label = "full collections paused (now)" if pause else "full collections as before"
        print(f"  new, {label:<32}{run['wall']:8.1f} s wall{run['cpu']:8.1f} s CPU{run['rss_mb']:8.0f} MiB")


def baseline_code(rev: str) -> Path:
    """`qps_core` as of a git revision, extracted to a temporary directory (for a before/after run)."""
    root = Path(tempfile.mkdtemp(prefix="qps-baseline-"))
    archive = subprocess.run(["git", "archive", rev, "qps_core"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def run(
    n: int, latency: float = 0.02, cpu: int | None = None, gc: bool = False, code: Path | None = None
) -> list[dict[str, Any]]:
    """The three runs (and the before/after pair of full collections with `gc`); prints a table.
    `code`: run `qps_core` from there (a baseline: its figures are printed, its behaviour not checked)."""
    scratch = Path(tempfile.mkdtemp(prefix="qps-scale-"))
    event = scratch / "request.json"
    event.write_text(json.dumps({"source_prefix": f"s3://{SOURCE}/data/", "registry": REGISTRY, "package_name": NAME}))
    synth_cpu = None if cpu is None else (cpu + 1) % (os.cpu_count() or 1)
    rows: list[dict[str, Any]] = []
    with SynthS3.start(n, latency, cpu=synth_cpu) as synth:
        from bench.packaging import child_env

        env = child_env(synth.url, scratch)  # the same isolated environment as `make bench`'s tools
        env["PYTHONPATH"] = os.pathsep.join([str(code or ROOT), env.get("PYTHONPATH", "")])
        os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
        pinned = f"pinned to core {cpu}" if cpu is not None else "not pinned"
        which = f"baseline {code.name}" if code is not None else "this tree"
        print(f"{n:,} objects x 1 KiB on the synthetic S3, {latency * 1000:.0f} ms per request, {which}, {pinned}")
        header = f"  {'run':<13}{'status':<11}{'wall s':>8}{'CPU s':>8}{'RSS MiB':>9}{'src HEAD':>9}{'req/obj':>9}"
        print(header + "  changes")
        if gc:
            compare_gc(scratch, env, cpu, synth)
        changed: dict[int, int] = {}
        for label in ("new", "unchanged", "one changed"):
            if label == "one changed":
                synth.change(n // 2)
                changed[n // 2] = 1
            synth.reset()
            done = replay(event, env, cpu)
            stats = synth.stats()
            result = done["result"]
            changes = result.get("changes") or {}
            counts = {k: changes[k] for k in ("added", "removed", "modified", "unchanged") if k in changes}
            ops = stats["by_bucket"].get(SOURCE, {})
            print(
                f"  {label:<13}{result['status']:<11}{done['wall']:8.1f}{done['cpu']:8.1f}{done['rss_mb']:9.0f}"
                f"{ops.get('HeadObject', 0):9d}{stats['requests'] / n:9.4f}  {counts}"
            )
            rows.append({"label": label, **done, "heads": ops.get("HeadObject", 0), "requests": stats["requests"]})
            if result["status"] != {"new": "created", "unchanged": "unchanged", "one changed": "created"}[label]:
                raise SystemExit(f"{label}: unexpected status {result['status']}: {result.get('error')}")
            if label != "unchanged":
                verify(synth.url, result["top_hash"], n, changed)
        if code is None and (rows[1]["heads"] != 0 or rows[2]["heads"] != 1):
            raise SystemExit("the unchanged folder was HEADed, or more than the changed object")
        print("  manifests verified: every entry's hash is that of its object's bytes, pinned to its version")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--cpu", type=int, default=None, help="pin `qps replay` to this core (taskset)")
    parser.add_argument(
        "--compare-gc",
        action="store_true",
        help="first two new packages of the folder under other names: full collections paused, and not",
    )
    parser.add_argument("--baseline", metavar="REV", help="first the same runs with qps_core as of this git revision")
    args = parser.parse_args()
    if args.baseline:
        run(args.objects, args.latency, args.cpu, code=baseline_code(args.baseline))
    run(args.objects, args.latency, args.cpu, args.compare_gc)


if __name__ == "__main__":
    main()
