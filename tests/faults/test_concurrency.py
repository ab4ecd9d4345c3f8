"""docs/design.md §5 invariants 4 and 5: concurrent deliveries, in threads and in processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.faults.registry_check import inspect
from tests.faults.scenario import Delivery, deliver, unique

NAME = "conc/run"
ROOT = Path(__file__).resolve().parents[2]


def _folder(s3: Any, *, versioned: bool = True, files: int = 3, tag: str = "", crate: bool = False) -> tuple[str, str]:
    src, reg = unique("src"), unique("reg")
    for bucket in (src, reg):
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(files):
        s3.put_object(Bucket=src, Key=f"run/f{i}.txt", Body=f"file {i} {tag}".encode())
    if crate:  # an RO-Crate listing every file but the last: the package is the crate's parts
        graph = [
            {"@id": "ro-crate-metadata.json", "about": {"@id": "./"}},
            {"@id": "./", "@type": "Dataset", "hasPart": [{"@id": f"f{i}.txt"} for i in range(files - 1)]},
        ]
        s3.put_object(Bucket=src, Key="run/ro-crate-metadata.json", Body=json.dumps({"@graph": graph}).encode())
    return src, reg


def _in_threads(url: str, bodies: list[dict[str, Any]]) -> list[Delivery]:
    barrier = threading.Barrier(len(bodies))
    packagers = [Packager(Settings(), endpoint_url=url) for _ in bodies]
    results: list[Delivery | BaseException] = [RuntimeError("not run")] * len(bodies)

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            results[i] = deliver(packagers[i], bodies[i])
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return [r for r in results if isinstance(r, Delivery)]


def _in_processes(url: str, bodies: list[dict[str, Any]]) -> list[Delivery]:
    """Each delivery in a fresh interpreter (`python -m tests.faults.workers`), all released at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.faults.workers", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in bodies
    ]
    try:
        for proc, body in zip(procs, bodies, strict=True):
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(body) + "\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", f"worker exited with {proc.wait(timeout=30)}"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        out = []
        for proc in procs:
            stdout, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, f"worker exited with {proc.returncode}"
            out.append(Delivery(**json.loads(stdout.strip().splitlines()[-1])))
        return out
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


RUNNERS = {"threads": _in_threads, "processes": _in_processes}


SLOW = pytest.mark.slow  # eight interpreters importing quilt3 on two cores: tens of seconds
HOW_N = [("threads", 2), ("threads", 8), ("processes", 2), pytest.param("processes", 8, marks=SLOW)]


@pytest.mark.parametrize("crate", [False, True], ids=["folder", "crate"])
@pytest.mark.parametrize("copy", [False, True], ids=["in-place", "copied"])
@pytest.mark.parametrize(("how", "n"), HOW_N)
def test_defect_concurrent_deliveries_of_one_request_make_one_revision(
    s3: Any, moto_url: str, how: str, n: int, copy: bool, crate: bool
) -> None:
    """Before: each of N deliveries reported `created`, published `package-created` and added a pointer.
    Also over a crate-directed package (`crate`: the folder's RO-Crate picks the files)."""
    src, reg = _folder(s3, crate=crate)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": NAME, "should_copy": copy}

    results = RUNNERS[how](moto_url, [body] * n)

    finals = sorted(r.statuses[-1] for r in results)
    assert finals == ["created"] + ["unchanged"] * (n - 1), [r.statuses for r in results]
    assert sum(r.notices.count("package-created") for r in results) == 1
    state = inspect(s3, reg, NAME, copies=copy)
    assert state.problems == [] and state.orphans == []
    assert len(state.revisions) == 1
    assert state.latest == state.revision_hashes[0]
    if crate:
        manifest = s3.get_object(Bucket=reg, Key=f".quilt/packages/{state.latest}")["Body"].read().decode()
        entries = {json.loads(line)["logical_key"] for line in manifest.splitlines()[1:]}
        assert entries == {"ro-crate-metadata.json", "f0.txt", "f1.txt"}


@pytest.mark.parametrize(("how", "n"), HOW_N)
def test_defect_different_contents_for_one_name_at_once_are_all_recorded(
    s3: Any, moto_url: str, how: str, n: int
) -> None:
    """Before: two folders mapped to one name within the same second lost a revision pointer."""
    reg = unique("reg")
    s3.create_bucket(Bucket=reg)
    bodies = []
    for i in range(n):
        src, _ = _folder(s3, tag=str(i))
        bodies.append({"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": NAME})

    results = RUNNERS[how](moto_url, bodies)

    assert [r.statuses[-1] for r in results] == ["created"] * n, [(r.statuses, r.errors) for r in results]
    assert sum(r.notices.count("package-created") for r in results) == n
    state = inspect(s3, reg, NAME)
    assert state.problems == []
    assert len(state.revisions) == n
    assert len(set(state.revision_hashes)) == n  # each delivery's own top hash, none lost
    assert state.latest in state.revision_hashes


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_copies_into_an_unversioned_registry(s3: Any, moto_url: str, n: int) -> None:
    src, reg = _folder(s3, versioned=False)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": NAME, "should_copy": True}

    results = _in_threads(moto_url, [body] * n)

    assert sorted(r.statuses[-1] for r in results) == ["created"] + ["unchanged"] * (n - 1)
    state = inspect(s3, reg, NAME, copies=True)
    assert state.problems == [] and state.orphans == [] and len(state.revisions) == 1
