"""docs/design.md §5 invariants under injected faults: a moto server behind the project's fault proxy.

Every scenario packages a folder once cleanly (so `latest` exists), changes a file, then delivers
the request again while one kind of S3 call fails, more often than botocore retries it (so QPS's
own handling is reached); the request is redelivered until it succeeds, as SQS would. Afterwards
the registry is read with quilt3 and directly.
"""

from __future__ import annotations

from typing import Any

import pytest
from proxy import FaultProxy
from registry_check import inspect
from scenario import deliver, unique

from qps_core.packager import Packager
from qps_core.settings import Settings

FAULTS = ["503", "500", "reset-before", "reset-after", "cut-body"]
NAME = "pkg/run"
TIMES = 6  # one more than botocore's 5 attempts (max_attempts=4 retries): the failure reaches QPS

# (operation, key regex, should_copy): every kind of S3 call a commit makes
TARGETS = [
    ("ListObjectVersions", None, False),
    ("HeadObject", r"^d/", False),  # reusing a source object's checksum
    ("GetObject", r"^d/b", False),  # reading a source object to hash it
    ("GetObject", r"meta\.json$", False),  # metadata_uri
    ("GetObject", r"/latest$", False),
    ("HeadObject", r"^\.quilt/packages/", False),
    ("PutObject", r"^\.quilt/packages/", False),
    ("PutObject", r"/latest$", False),
    ("HeadObject", r"/\d+$", False),
    ("PutObject", r"/\d+$", False),
    ("HeadObject", r"^pkg/run/", True),  # a copy's destination
    ("CopyObject", None, True),
    ("PutObject", r"^\.quilt/packages/", True),
    ("PutObject", r"/latest$", True),
    ("PutObject", r"/\d+$", True),
]


def seed(s3: Any, *, copy: bool, versioned: bool = True) -> dict[str, Any]:
    src, reg = unique("src"), unique("reg")
    for bucket in (src, reg):
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=src, Key="d/a.txt", Body=b"alpha", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=src, Key="d/b.txt", Body=b"bravo")
    s3.put_object(Bucket=src, Key="d/meta.json", Body=b'{"run": 7}')
    return {
        "source_prefix": f"s3://{src}/d/",
        "registry": reg,
        "package_name": NAME,
        "metadata_uri": "meta.json",
        "message": "fault test",
        "should_copy": copy,
    }


def _matrix() -> list[Any]:
    """Every fault on every kind of call; a rotation covering each call and each fault runs by default,
    the rest is marked slow (`make test` and CI run it all)."""
    cases = []
    for i, (operation, key, copy) in enumerate(TARGETS):
        for j, fault in enumerate(FAULTS):
            marks = [] if j == i % len(FAULTS) else [pytest.mark.slow]
            cases.append(pytest.param(operation, key, copy, fault, marks=marks, id=f"{operation}-{key}-{copy}-{fault}"))
    return cases


@pytest.mark.parametrize(("operation", "key", "copy", "fault"), _matrix())
def test_a_fault_on_any_call_converges_to_one_revision(
    s3: Any, proxy: FaultProxy, operation: str, key: str | None, copy: bool, fault: str
) -> None:
    body = seed(s3, copy=copy)
    packager = Packager(Settings(), endpoint_url=proxy.url)
    first = deliver(packager, body)
    assert first.statuses == ["created"]
    src = body["source_prefix"][5:].split("/")[0]
    s3.put_object(Bucket=src, Key="d/b.txt", Body=b"bravo, changed")

    proxy.add(fault, operation, key=key, times=TIMES)
    second = deliver(packager, body)

    assert proxy.injected() > 0, f"no {operation} call matched {key!r}"
    assert second.statuses.count("created") == 1, second
    assert second.final == "created" or second.statuses[-1] == "unchanged", second
    assert all(s in ("failed", "created", "unchanged") for s in second.statuses), second
    assert all(r for s, r in zip(second.statuses, second.retryable, strict=True) if s == "failed"), second
    assert second.notices.count("package-created") == 1, second.notices
    state = inspect(s3, body["registry"], NAME, copies=copy)
    assert state.problems == []
    assert state.orphans == []
    assert len(state.revisions) == 2, state.revisions
    assert state.latest == state.revision_hashes[-1] or state.latest in state.revision_hashes
    assert len(set(state.revision_hashes)) == 2
