"""Each checksum path, counted on the wire: requests by operation and bucket, and object bytes read.

A shimmed moto server (ObjectParts and part checksums as AWS returns them) behind the S3 front with
no latency, which counts every request whichever client sent it (the lean HEAD path bypasses
botocore). Every package built here is verified with quilt3 (`Package.verify` against the folder,
and `get_bytes`). docs/design.md §9.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import quilt3
from botocore.config import Config

from qps_core.errors import PermanentError, TransientError
from qps_core.packaging.checksum_io import SCRATCH_PREFIX
from qps_core.packaging.packager import Packager, PackageResult
from qps_core.settings import Settings
from tests.packager.pkghelpers import fail_operation, make_bucket, read_manifest, request
from tests.support.motoserver import MotoShimServer
from tests.support.s3front import S3Front

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MotoShimServer, S3Front]]:
    with MotoShimServer.start() as moto, S3Front.start(moto.url, latency=0.0) as front:
        yield moto, front


@pytest.fixture
def front(servers: tuple[MotoShimServer, S3Front], monkeypatch: pytest.MonkeyPatch) -> S3Front:
    monkeypatch.setenv("AWS_ENDPOINT_URL", servers[1].url)
    return servers[1]


@pytest.fixture
def moto(servers: tuple[MotoShimServer, S3Front]) -> MotoShimServer:
    return servers[0]


@pytest.fixture
def s3(front: S3Front) -> Any:
    return boto3.client("s3", config=Config(max_pool_connections=16))


_counter = iter(range(10**6))


def buckets(s3: Any, *, versioned: bool = True) -> tuple[str, str]:
    n = next(_counter)
    return make_bucket(s3, f"paths-src-{n}", versioned=versioned), make_bucket(s3, f"paths-reg-{n}")


def package(front: S3Front, src: str, reg: str, **settings: Any) -> tuple[PackageResult, dict[str, Any]]:
    config = Settings(**settings)
    front.reset()
    result = Packager(config).package(request(config, source_prefix=f"s3://{src}/data/", registry=reg, message="m"))
    return result, front.stats()


def source_ops(stats: dict[str, Any], src: str) -> dict[str, int]:
    return dict(stats["by_bucket"].get(src, {}))


def read_bytes(stats: dict[str, Any], src: str) -> int:
    return int(stats["bytes"].get(f"GetObject:{src}", 0))


def verify(s3: Any, src: str, reg: str, result: PackageResult, data: dict[str, bytes], hash_type: str) -> None:
    """quilt3 reads the package back: every hash checks against the folder, and the bytes come back."""
    pkg = quilt3.Package.browse(result.package_name, registry=f"s3://{reg}", top_hash=result.top_hash)
    assert pkg.verify(f"s3://{src}/data/")
    for key, value in data.items():
        assert pkg[key].hash["type"] == hash_type
        assert pkg[key].get_bytes() == value
        pkg[key]._verify_hash(value)
    _, entries = read_manifest(s3, reg, result.top_hash)
    assert {e["hash"]["type"] for e in entries.values()} == {hash_type}


def no_scratch_left(s3: Any, reg: str) -> None:
    versions = s3.list_object_versions(Bucket=reg, Prefix=SCRATCH_PREFIX)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    assert not s3.list_multipart_uploads(Bucket=reg).get("Uploads")


def put_multipart(s3: Any, bucket: str, key: str, data: bytes, part: int, algorithm: str) -> None:
    extra: dict[str, Any] = {"ChecksumAlgorithm": algorithm}
    if algorithm == "CRC64NVME":
        extra["ChecksumType"] = "FULL_OBJECT"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), part), start=1):
        resp = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=data[start : start + part],
            ChecksumAlgorithm=algorithm,
        )
        parts.append({"PartNumber": number, "ETag": resp["ETag"], f"Checksum{algorithm}": resp[f"Checksum{algorithm}"]})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})


def test_reuse_sha256_whole_object(front: S3Front, s3: Any) -> None:
    src, reg = buckets(s3)
    data = {f"f{i}.txt": f"file {i}".encode() * 50 for i in range(5)}
    for key, value in data.items():
        s3.put_object(Bucket=src, Key=f"data/{key}", Body=value, ChecksumAlgorithm="SHA256")

    result, stats = package(front, src, reg)

    assert source_ops(stats, src) == {"ListObjectVersions": 1, "HeadObject": 5}
    assert read_bytes(stats, src) == 0
    verify(s3, src, reg, result, data, "sha2-256-chunked")


def test_reuse_sha256_parts(front: S3Front, s3: Any) -> None:
    src, reg = buckets(s3)
    data = {"big.bin": os.urandom(2 * 8 * MiB + 1234)}
    put_multipart(s3, src, "data/big.bin", data["big.bin"], 8 * MiB, "SHA256")

    result, stats = package(front, src, reg)

    assert source_ops(stats, src) == {"ListObjectVersions": 1, "HeadObject": 1, "GetObjectAttributes": 1}
    assert read_bytes(stats, src) == 0
    verify(s3, src, reg, result, data, "sha2-256-chunked")


def test_reuse_crc64nvme_any_part_layout(front: S3Front, s3: Any) -> None:
    src, reg = buckets(s3)
    data = {"small.txt": b"tiny", "odd-parts.bin": os.urandom(3 * 5 * MiB + 77)}
    s3.put_object(Bucket=src, Key="data/small.txt", Body=data["small.txt"], ChecksumAlgorithm="CRC64NVME")
    put_multipart(s3, src, "data/odd-parts.bin", data["odd-parts.bin"], 5 * MiB, "CRC64NVME")

    result, stats = package(front, src, reg, hash_type="CRC64NVME")

    assert source_ops(stats, src) == {"ListObjectVersions": 1, "HeadObject": 2}
    assert read_bytes(stats, src) == 0
    verify(s3, src, reg, result, data, "CRC64NVME")


@pytest.mark.parametrize("versioned", [True, False])
def test_server_side_checksum_by_part_copies(front: S3Front, s3: Any, versioned: bool) -> None:
    src, reg = buckets(s3, versioned=versioned)
    data = {"crc32.bin": os.urandom(2 * 8 * MiB + 99)}
    put_multipart(s3, src, "data/crc32.bin", data["crc32.bin"], 8 * MiB, "CRC32")

    result, stats = package(front, src, reg, server_checksum_threshold=16 * MiB)

    # the listing says CRC32 only: no HEAD; S3 hashes each 8 MiB chunk while copying it; nothing is read
    assert source_ops(stats, src) == {"ListObjectVersions": 1}
    scratch = {k: v for k, v in source_ops(stats, reg).items() if k not in ("GetObject", "PutObject", "HeadObject")}
    assert scratch == {"CreateMultipartUpload": 1, "UploadPartCopy": 3, "AbortMultipartUpload": 1}
    assert stats["ops"].get("GetObject", 0) == source_ops(stats, reg).get("GetObject", 0)  # registry reads only
    assert read_bytes(stats, src) == 0
    no_scratch_left(s3, reg)
    verify(s3, src, reg, result, data, "sha2-256-chunked")


@pytest.mark.parametrize(("hash_type", "size"), [("CRC64NVME", 9 * MiB), ("sha2-256-chunked", 3000)])
def test_server_side_checksum_by_copy_object(front: S3Front, s3: Any, hash_type: str, size: int) -> None:
    src, reg = buckets(s3)
    data = {"crc32.bin": os.urandom(size)}
    s3.put_object(Bucket=src, Key="data/crc32.bin", Body=data["crc32.bin"], ChecksumAlgorithm="CRC32")

    result, stats = package(front, src, reg, hash_type=hash_type, server_checksum_threshold=1)

    assert source_ops(stats, src) == {"ListObjectVersions": 1}
    assert {k: source_ops(stats, reg).get(k) for k in ("CopyObject", "DeleteObject")} == {
        "CopyObject": 1,
        "DeleteObject": 1,
    }
    assert read_bytes(stats, src) == 0
    no_scratch_left(s3, reg)
    verify(s3, src, reg, result, data, hash_type)


def test_read_below_threshold_in_parallel_ranges(front: S3Front, s3: Any) -> None:
    src, reg = buckets(s3)
    data = {"mid.bin": os.urandom(2 * 8 * MiB + 5), "small.bin": b"s" * 3000}
    put_multipart(s3, src, "data/mid.bin", data["mid.bin"], 6 * MiB, "CRC32")
    s3.put_object(Bucket=src, Key="data/small.bin", Body=data["small.bin"], ChecksumAlgorithm="CRC32")

    result, stats = package(front, src, reg)  # default threshold: 32 MiB

    assert source_ops(stats, src) == {"ListObjectVersions": 1, "GetObject": 3 + 1}  # 3 ranges of 8 MiB, 1 whole
    assert read_bytes(stats, src) == sum(len(v) for v in data.values())
    assert "CopyObject" not in stats["ops"] and "UploadPartCopy" not in stats["ops"]
    verify(s3, src, reg, result, data, "sha2-256-chunked")


def test_no_reusable_checksum_and_no_listing_hint_heads_first(front: S3Front, s3: Any, moto: MotoShimServer) -> None:
    """Objects whose listing names no algorithm (seeded without one): HEAD, then read (small)."""
    src, reg = buckets(s3)
    moto.seed(src, "data/", 3, 100, algorithm=None)

    result, stats = package(front, src, reg)

    assert source_ops(stats, src) == {"ListObjectVersions": 1, "HeadObject": 3, "GetObject": 3}
    assert read_bytes(stats, src) == 300
    assert result.files == 3


def test_scratch_access_denied_falls_back_to_reading(front: S3Front, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    src, reg = buckets(s3)
    data = {"crc32.bin": os.urandom(3000)}
    s3.put_object(Bucket=src, Key="data/crc32.bin", Body=data["crc32.bin"], ChecksumAlgorithm="CRC32")
    config = Settings(server_checksum_threshold=1)
    packager = Packager(config)
    fail_operation(packager.s3, "CopyObject", 403, "AccessDenied")
    front.reset()

    result = packager.package(request(config, source_prefix=f"s3://{src}/data/", registry=reg, message="m"))

    stats = front.stats()
    assert source_ops(stats, src) == {"ListObjectVersions": 1, "GetObject": 1}
    verify(s3, src, reg, result, data, "sha2-256-chunked")


def test_failed_part_copy_aborts_the_upload_and_is_transient(front: S3Front, s3: Any) -> None:
    src, reg = buckets(s3)
    put_multipart(s3, src, "data/crc32.bin", os.urandom(2 * 8 * MiB + 1), 8 * MiB, "CRC32")
    config = Settings(server_checksum_threshold=1)
    packager = Packager(config)
    fail_operation(packager.s3, "UploadPartCopy", 503, "SlowDown", when=lambda p: p.get("PartNumber") == 2)

    with pytest.raises(TransientError, match="UploadPartCopy"):
        packager.package(request(config, source_prefix=f"s3://{src}/data/", registry=reg, message="m"))

    no_scratch_left(s3, reg)
    assert not s3.list_objects_v2(Bucket=reg, Prefix=".quilt/named_packages/").get("Contents")


def test_max_objects_fails_while_listing(front: S3Front, s3: Any, moto: MotoShimServer) -> None:
    src, reg = buckets(s3)
    moto.seed(src, "data/", 2500, 10)

    with pytest.raises(PermanentError, match=r"more than 1,000 objects, over the max_objects setting"):
        package(front, src, reg, max_objects=1000)

    stats = front.stats()
    assert source_ops(stats, src)["ListObjectVersions"] == 2  # stopped at the page that went over
    assert not stats["by_bucket"].get(reg, {}).get("PutObject")


def test_lean_listing_and_heads_with_awkward_keys_across_pages(front: S3Front, s3: Any, moto: MotoShimServer) -> None:
    """Keys with spaces, `+`, `%`, `#`, `?` and non-ASCII survive the lean listing (pages of 1,000) and HEADs."""
    src, reg = buckets(s3)
    moto.seed(src, "data/", 1500, 10)
    data = {name: name.encode() for name in ("a b.txt", "c+d.txt", "50%.txt", "x#y?z.txt", "ünï/çødé.txt")}
    for key, value in data.items():
        s3.put_object(Bucket=src, Key=f"data/{key}", Body=value, ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=src, Key="data/a b.txt", Body=b"newer", ChecksumAlgorithm="SHA256")  # two versions
    data["a b.txt"] = b"newer"

    result, stats = package(front, src, reg)

    assert result.files == 1505
    assert source_ops(stats, src) == {"ListObjectVersions": 2, "HeadObject": 1505}
    pkg = quilt3.Package.browse(result.package_name, registry=f"s3://{reg}", top_hash=result.top_hash)
    for key, value in data.items():
        assert pkg[key].get_bytes() == value
        pkg[key]._verify_hash(value)
