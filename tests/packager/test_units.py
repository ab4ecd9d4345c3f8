"""Pure parts of the packager: checksum reuse decisions and the RO-Crate summary."""

from __future__ import annotations

import base64
import hashlib
import os

from qps_core.packaging import checksums
from tests.packager.pkghelpers import quilt_hash

MiB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_single_part_checksum_is_converted() -> None:
    data = os.urandom(1234)
    assert checksums.from_head({"ChecksumSHA256": b64(sha(data))}, len(data)) == quilt_hash(data)
    assert checksums.from_head({"ChecksumSHA256": b64(sha(b""))}, 0) == quilt_hash(b"")
    exact = b"x" * (8 * MiB)
    assert checksums.from_head({"ChecksumSHA256": b64(sha(exact))}, len(exact)) == quilt_hash(exact)


def test_unusable_or_absent_checksums() -> None:
    assert checksums.from_head({}, 10) is None
    assert checksums.from_head({"ChecksumCRC32": "AAAAAA=="}, 10) is None
    big = 8 * MiB + 1
    assert checksums.from_head({"ChecksumSHA256": "abc-3"}, big) is None  # 3 parts, quilt3 wants 2
    assert checksums.from_head({"ChecksumSHA256": "abc"}, big) == checksums.NeedParts(None)
    assert checksums.from_head({"ChecksumSHA256": "abc-2"}, big) == checksums.NeedParts("abc")
    assert checksums.from_head({"ChecksumSHA256": "abc", "ChecksumType": "COMPOSITE"}, 5) == checksums.NeedParts("abc")


def test_one_part_composite_is_used_as_is() -> None:
    data = os.urandom(3000)
    composite = b64(sha(sha(data)))
    assert checksums.from_head({"ChecksumSHA256": f"{composite}-1"}, len(data)) == quilt_hash(data)


def test_parts_must_match_quilt_chunks() -> None:
    data = os.urandom(2 * 8 * MiB + 5)
    chunks = [data[i : i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]
    parts = [{"PartNumber": i, "Size": len(c), "ChecksumSHA256": b64(sha(c))} for i, c in enumerate(chunks, 1)]
    assert checksums.from_parts(parts, len(data), None) == quilt_hash(data)
    assert checksums.from_parts(list(reversed(parts)), len(data), None) == quilt_hash(data)
    no_part_sums = [{k: p[k] for k in ("PartNumber", "Size")} for p in parts]
    assert checksums.from_parts(no_part_sums, len(data), "composite") == "composite"
    assert checksums.from_parts(parts[:2], len(data), None) is None  # too few parts
    odd = [{"PartNumber": 1, "Size": 5 * MiB}, {"PartNumber": 2, "Size": 11 * MiB + 5}, {"PartNumber": 3, "Size": 5}]
    assert checksums.from_parts(odd, len(data), "composite") is None


def test_stream_matches_hashlib() -> None:
    for size in (0, 1, 8 * MiB, 8 * MiB + 17):
        data = os.urandom(size)
        pos = 0

        def read(n: int, data: bytes = data) -> bytes:
            nonlocal pos
            out = data[pos : pos + n]
            pos += len(out)
            return out

        assert checksums.from_stream(read, size) == quilt_hash(data)
        assert checksums.checksum_bytes(data) == quilt_hash(data)
    assert checksums.empty_checksum() == quilt_hash(b"")


def test_one_part_multipart_checksum_without_suffix_is_not_hashed_twice() -> None:
    # moto (and some S3-compatible stores) report a multipart upload's composite SHA-256 without `-N`;
    # the ETag's `-1` says it is composite: sha256(sha256(part)) is already quilt3's hash.
    data = b"q" * (8 * 1024 * 1024)
    composite = b64(sha(sha(data)))
    head = {"ChecksumSHA256": composite, "ETag": '"0123456789abcdef0123456789abcdef-1"'}
    assert checksums.from_head(head, len(data)) == quilt_hash(data)
    big = 8 * 1024 * 1024 + 1
    two = {"ChecksumSHA256": "abc", "ETag": '"0123456789abcdef0123456789abcdef-2"'}
    assert checksums.from_head(two, big) == checksums.NeedParts("abc")
