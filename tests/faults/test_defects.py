"""Regression tests, one per packager defect of issue 7 (a fault proxy between QPS and a moto server)."""

from __future__ import annotations

from typing import Any

import pytest

from qps_core.errors import TransientError
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.faults.proxy import FaultProxy
from tests.faults.registry_check import inspect
from tests.faults.scenario import deliver, unique


def _buckets(s3: Any, *names: str, versioned: bool = True) -> list[str]:
    out = []
    for name in names:
        bucket = unique(name)
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        out.append(bucket)
    return out


def _files(s3: Any, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for key, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}{key}", Body=data)


FILES = {"a.txt": b"alpha", "sub/b.txt": b"bravo", "c.bin": bytes(range(256)) * 64}


def test_defect_latest_reset_after_applied_keeps_the_copies(s3: Any, proxy: FaultProxy) -> None:
    """Before: a `latest` write S3 applied but whose answer was lost made QPS delete the copies the live
    package names (NoSuchVersion), and the retry said `unchanged`."""
    src, reg = _buckets(s3, "src", "reg")
    _files(s3, src, "run/", FILES)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": "cp/run", "should_copy": True}
    proxy.add("reset-after", "PutObject", key=r"/latest$", times=5)

    out = deliver(Packager(Settings(), endpoint_url=proxy.url), body)

    assert out.statuses.count("created") == 1 and out.notices.count("package-created") == 1, out
    state = inspect(s3, reg, "cp/run", copies=True)
    assert state.problems == [] and state.orphans == []
    assert len(state.revisions) == 1
    import quilt3

    pkg = quilt3.Package.browse("cp/run", registry=f"s3://{reg}")
    assert {lk: pkg[lk].get_bytes() for lk in FILES} == FILES


def test_defect_two_copied_packages_share_a_manifest_that_is_never_rewritten(s3: Any, proxy: FaultProxy) -> None:
    """Before: the second copied package of one folder rewrote the manifest the first one's pointers
    name, and a failure of that push deleted copies under the first package."""
    src, reg = _buckets(s3, "src", "reg")
    _files(s3, src, "run/", FILES)
    packager = Packager(Settings(), endpoint_url=proxy.url)
    base = {"source_prefix": f"s3://{src}/run/", "registry": reg, "should_copy": True, "message": "m"}
    first = deliver(packager, {**base, "package_name": "one/run"})
    (manifest_key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=reg, Prefix=".quilt/packages/")["Contents"]]
    before = s3.list_object_versions(Bucket=reg, Prefix=manifest_key)["Versions"]

    proxy.add("403", "PutObject", key=r"two/run/latest$", times=1)  # the second push fails for good
    failed = deliver(packager, {**base, "package_name": "two/run"})
    second = deliver(packager, {**base, "package_name": "two/run"})

    assert first.statuses == ["created"] and failed.final == "failed" and second.statuses == ["created"]
    assert s3.list_object_versions(Bucket=reg, Prefix=manifest_key)["Versions"] == before  # never rewritten
    for name in ("one/run", "two/run"):
        state = inspect(s3, reg, name)
        assert state.problems == [], name
    assert s3.list_objects_v2(Bucket=reg, Prefix="two/run/").get("KeyCount", 0) == 0  # it reused one/run's data


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_defect_should_copy_refuses_to_overwrite_foreign_objects(s3: Any, proxy: FaultProxy, versioned: bool) -> None:
    """Before: a folder `archive/results/run-7/` copied into its own bucket as `results/run-7` overwrote
    unrelated objects already at `results/run-7/...` (gone for good on an unversioned bucket)."""
    (bucket,) = _buckets(s3, "both", versioned=versioned)
    _files(s3, bucket, "archive/results/run-7/", {"a.txt": b"archived"})
    s3.put_object(Bucket=bucket, Key="results/run-7/a.txt", Body=b"someone else's bytes")
    body = {"source_prefix": f"s3://{bucket}/archive/results/run-7/", "should_copy": True}

    out = deliver(Packager(Settings(), endpoint_url=proxy.url), body)

    assert out.final == "failed" and out.retryable == [False], out
    assert "refusing to overwrite" in out.errors[-1]
    assert s3.get_object(Bucket=bucket, Key="results/run-7/a.txt")["Body"].read() == b"someone else's bytes"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=".quilt/named_packages/").get("KeyCount", 0) == 0
    if versioned:
        assert len(s3.list_object_versions(Bucket=bucket, Prefix="results/run-7/a.txt")["Versions"]) == 1


def test_defect_failed_latest_write_leaves_no_second_revision(s3: Any, proxy: FaultProxy) -> None:
    """Before: a failed `latest` write left a revision pointer without `latest`, and the retry added a
    second revision for the same top hash."""
    src, reg = _buckets(s3, "src", "reg")
    _files(s3, src, "run/", FILES)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": "lt/run"}
    proxy.add("500", "PutObject", key=r"/latest$", times=10_000)  # S3 refuses `latest` for a while
    packager = Packager(Settings(), endpoint_url=proxy.url)

    failed = deliver(packager, body, attempts=1)
    proxy.clear()
    out = deliver(packager, body)

    assert failed.statuses == ["failed"] and failed.retryable == [True], failed
    assert out.statuses == ["created"] and out.notices.count("package-created") == 1, out
    state = inspect(s3, reg, "lt/run")
    assert state.problems == [] and len(state.revisions) == 1 and state.latest == state.revision_hashes[0]


def test_defect_failed_copy_of_one_file_leaves_no_orphans(s3: Any, proxy: FaultProxy) -> None:
    """Before: a failed copy of one file left the other files' copies behind."""
    src, reg = _buckets(s3, "src", "reg")
    _files(s3, src, "run/", FILES)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": "or/run", "should_copy": True}
    proxy.add("403", "CopyObject", key=r"c\.bin$", times=1)

    out = deliver(Packager(Settings(), endpoint_url=proxy.url), body)

    assert out.statuses == ["failed"] and out.retryable == [False], out
    assert s3.list_object_versions(Bucket=reg, Prefix="or/run/").get("Versions", []) == []
    assert s3.list_objects_v2(Bucket=reg, Prefix=".quilt/named_packages/").get("KeyCount", 0) == 0


@pytest.mark.parametrize("fault", ["reset-after", "cut-body"])
def test_defect_ambiguous_final_write_reports_created_exactly_once(s3: Any, proxy: FaultProxy, fault: str) -> None:
    """Before: after an ambiguous final write no attempt ever reported `created` (no notice was sent)."""
    src, reg = _buckets(s3, "src", "reg")
    _files(s3, src, "run/", FILES)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": "amb/run"}
    proxy.add(fault, "PutObject", key=r"named_packages/amb/run/\d+$", times=5)

    out = deliver(Packager(Settings(), endpoint_url=proxy.url), body)

    assert out.statuses.count("created") == 1 and out.notices.count("package-created") == 1, out
    assert len(inspect(s3, reg, "amb/run").revisions) == 1


def test_defect_cut_off_get_body_is_transient(s3: Any, proxy: FaultProxy) -> None:
    """Before: a GetObject answer cut off mid-body (urllib3 ProtocolError) was a permanent failure."""
    (src,) = _buckets(s3, "src")
    _files(s3, src, "run/", {"big.bin": b"x" * 100_000})
    packager = Packager(Settings(), endpoint_url=proxy.url)
    proxy.add("cut-body", "GetObject", key=r"big\.bin$", times=1)

    with pytest.raises(TransientError) as err:
        packager.package(_request(f"s3://{src}/run/"))
    assert "retry" in str(err.value) or "connection" in str(err.value)
    assert packager.package(_request(f"s3://{src}/run/")).status == "created"


def _request(uri: str) -> Any:
    from qps_core.models import PackageRequest

    return PackageRequest.parse({"source_prefix": uri, "message": "m"})


@pytest.mark.parametrize("fault", ["500", "reset-before"])
def test_a_manifest_write_that_keeps_failing_leaves_no_stray_copies(s3: Any, proxy: FaultProxy, fault: str) -> None:
    src, reg = _buckets(s3, "src", "reg")
    _files(s3, src, "run/", FILES)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": "mf/run", "should_copy": True}
    proxy.add(fault, "PutObject", key=r"^\.quilt/packages/", times=10_000)
    packager = Packager(Settings(), endpoint_url=proxy.url)

    failed = deliver(packager, body, attempts=1)
    assert s3.list_object_versions(Bucket=reg, Prefix="mf/run/").get("Versions", []) == []
    proxy.clear()
    out = deliver(packager, body)

    assert failed.statuses == ["failed"] and failed.retryable == [True], failed
    assert out.statuses == ["created"], out
    state = inspect(s3, reg, "mf/run", copies=True)
    assert state.problems == [] and state.orphans == [] and len(state.revisions) == 1


def test_a_cleanup_delete_that_keeps_failing_leaves_only_marked_copies(
    s3: Any, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """DeleteObject is best effort (docs/reliability.md, limits): the failure stays clean and permanent,
    no pointer is written, and what is left is marked as this package's copies."""
    src, reg = _buckets(s3, "src", "reg")
    _files(s3, src, "run/", FILES)
    body = {"source_prefix": f"s3://{src}/run/", "registry": reg, "package_name": "dl/run", "should_copy": True}
    proxy.add("403", "CopyObject", key=r"c\.bin$", times=1)
    proxy.add("503", "DeleteObject", times=10_000)

    out = deliver(Packager(Settings(), endpoint_url=proxy.url), body)

    assert out.statuses == ["failed"] and out.retryable == [False], out
    assert any("could not remove" in r.getMessage() for r in caplog.records)
    assert s3.list_objects_v2(Bucket=reg, Prefix=".quilt/named_packages/").get("KeyCount", 0) == 0
    left = s3.list_object_versions(Bucket=reg, Prefix="dl/run/").get("Versions", [])
    assert left, "the deletes were refused: the copies are still there"
    for version in left:
        head = s3.head_object(Bucket=reg, Key=version["Key"], VersionId=version["VersionId"])
        assert head["Metadata"]["qps-package"] == "dl/run"
