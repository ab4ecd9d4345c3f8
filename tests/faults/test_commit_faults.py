"""docs/design.md §5 invariants under injected faults: a moto server behind the project's fault proxy.

Every scenario packages a folder once cleanly (so `latest` exists), changes a file (and writes the
others again, so that every object is a new version that must be hashed again), then delivers
the request again while one kind of S3 call fails, more often than botocore retries it (so QPS's
own handling is reached); the request is redelivered until it succeeds, as SQS would. Afterwards
the registry is read with quilt3 and directly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from qps_core.packaging import registry
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.faults.proxy import FaultProxy
from tests.faults.registry_check import inspect
from tests.faults.scenario import deliver, unique

FAULTS = ["503", "500", "reset-before", "reset-after", "cut-body"]
NAME = "pkg/run"
CHUNK = 8 * 1024 * 1024
TIMES = 6  # one more than botocore's 5 attempts (max_attempts=4 retries): the failure reaches QPS

# (operation, key regex, should_copy[, setup]): every kind of S3 call a commit makes.
# setup "lost-put": the create before the HEAD loses its answer once (S3 applied it), so the HEAD that
# resolves it is reached (a create is otherwise made without reading first);
# "unversioned": neither bucket is versioned (objects pinned by ETag, the ETags recorded beside the manifest);
# "multipart-copy": every copy goes through UploadPartCopy (as objects over 5 GiB do);
# "multipart-source": a source object uploaded in quilt3's chunks (its checksum read from its parts).
TARGETS: list[tuple[Any, ...]] = [
    ("ListObjectVersions", None, False),
    ("HeadObject", r"^d/", False),  # reusing a source object's checksum
    ("GetObject", r"^d/b", False),  # reading a source object to hash it
    ("GetObject", r"meta\.json$", False),  # metadata_uri
    ("GetObject", r"/latest$", False),
    ("HeadObject", r"^\.quilt/packages/", False, "lost-put"),  # resolving a create whose answer was lost
    ("HeadObject", r"^\.quilt/packages/", True),  # before copying: an existing manifest saves the copies
    ("PutObject", r"^\.quilt/packages/", False),
    ("PutObject", r"/latest$", False),
    ("HeadObject", r"/\d+$", False, "lost-put"),
    ("PutObject", r"/\d+$", False),
    ("PutObject", r"^\.quilt/qps/etags/", False, "unversioned"),  # best effort: never fails the commit
    ("PutObject", r"^\.quilt/packages/", False, "unversioned"),
    ("HeadObject", r"^pkg/run/", True),  # a copy's destination
    ("CopyObject", None, True),
    ("PutObject", r"^\.quilt/packages/", True),
    ("PutObject", r"/latest$", True),
    ("PutObject", r"/\d+$", True),
    ("CreateMultipartUpload", None, True, "multipart-copy"),
    ("UploadPartCopy", None, True, "multipart-copy"),
    ("CompleteMultipartUpload", None, True, "multipart-copy"),
    ("GetObjectAttributes", None, False, "multipart-source"),
    # "crate": the folder holds an RO-Crate; the package is its parts (one unlisted file left out)
    ("GetObject", r"ro-crate-metadata\.json$", False, "crate"),
    ("PutObject", r"^\.quilt/packages/", False, "crate"),
    ("CopyObject", None, True, "crate"),
    ("PutObject", r"/latest$", True, "crate"),
]


def seed(s3: Any, *, copy: bool, versioned: bool = True, setup: str = "") -> dict[str, Any]:
    src, reg = unique("src"), unique("reg")
    for bucket in (src, reg):
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    write_sources(s3, src, setup)
    return {
        "source_prefix": f"s3://{src}/d/",
        "registry": reg,
        "package_name": NAME,
        "metadata_uri": "meta.json",
        "message": "fault test",
        "should_copy": copy,
    }


def write_sources(s3: Any, src: str, setup: str, b: bytes = b"bravo") -> None:
    """The folder's objects. Written again before the faulty delivery: every object a new version, so
    each is hashed again (the previous revision's hash is reused only for the very version it names)."""
    s3.put_object(Bucket=src, Key="d/a.txt", Body=b"alpha", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=src, Key="d/b.txt", Body=b)
    s3.put_object(Bucket=src, Key="d/meta.json", Body=b'{"run": 7}')
    if setup == "multipart-source":
        upload = s3.create_multipart_upload(Bucket=src, Key="d/big.bin", ChecksumAlgorithm="SHA256")["UploadId"]
        parts = []
        for number, chunk in enumerate((b"1" * CHUNK, b"2" * 1000), start=1):
            part = s3.upload_part(
                Bucket=src, Key="d/big.bin", UploadId=upload, PartNumber=number, Body=chunk, ChecksumAlgorithm="SHA256"
            )
            parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]})
        s3.complete_multipart_upload(Bucket=src, Key="d/big.bin", UploadId=upload, MultipartUpload={"Parts": parts})
    if setup == "crate":
        s3.put_object(Bucket=src, Key="d/scratch.log", Body=b"not a part of the crate")
        crate = {
            "@context": "https://w3id.org/ro/crate/1.2/context",
            "@graph": [
                {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"}},
                {
                    "@id": "./",
                    "@type": "Dataset",
                    "name": "fault run",
                    "hasPart": [{"@id": "a.txt"}, {"@id": "b.txt"}, {"@id": "meta.json"}],
                },
                {"@id": "a.txt", "@type": "File", "encodingFormat": "text/plain"},
            ],
        }
        s3.put_object(Bucket=src, Key="d/ro-crate-metadata.json", Body=json.dumps(crate).encode())


def _matrix() -> list[Any]:
    """Every fault on every kind of call; a rotation covering each call and each fault runs by default,
    the rest is marked slow (`make test` and CI run it all)."""
    cases = []
    for i, (operation, key, copy, *rest) in enumerate(TARGETS):
        setup = rest[0] if rest else ""
        for j, fault in enumerate(FAULTS):
            marks = [] if j == i % len(FAULTS) else [pytest.mark.slow]
            name = f"{operation}-{key}-{copy}-{fault}{'-' + setup if setup else ''}"
            cases.append(pytest.param(operation, key, copy, setup, fault, marks=marks, id=name))
    return cases


@pytest.mark.parametrize(("operation", "key", "copy", "setup", "fault"), _matrix())
def test_a_fault_on_any_call_converges_to_one_revision(
    s3: Any,
    proxy: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    key: str | None,
    copy: bool,
    setup: str,
    fault: str,
) -> None:
    if setup == "multipart-copy":
        monkeypatch.setattr(registry, "MAX_COPY_OBJECT", 0)  # every non-empty copy in parts
    body = seed(s3, copy=copy, setup=setup, versioned=setup != "unversioned")
    packager = Packager(Settings(), endpoint_url=proxy.url)
    first = deliver(packager, body)
    assert first.statuses == ["created"]
    src = body["source_prefix"][5:].split("/")[0]
    write_sources(s3, src, setup, b=b"bravo, changed")

    if setup == "lost-put":
        proxy.add("reset-after", "PutObject", key=key, times=1)
    proxy.add(fault, operation, key=key, times=TIMES)
    second = deliver(packager, body)

    assert any(op == operation and fault for op, _, fault in proxy.calls), f"no {operation} call matched {key!r}"
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
    if setup == "crate":  # the crate decided: its parts and the crate file, never the unlisted file
        manifest = s3.get_object(Bucket=body["registry"], Key=f".quilt/packages/{state.latest}")["Body"].read()
        entries = {json.loads(line)["logical_key"] for line in manifest.decode().splitlines()[1:]}
        assert entries == {"a.txt", "b.txt", "meta.json", "ro-crate-metadata.json"}, entries
