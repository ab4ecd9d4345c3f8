"""quilt3 entry hashes (docs/design.md §9): from what S3 already holds, from chunks, or from a stream.

Two hash types: `sha2-256-chunked` (the default) and `CRC64NVME` (quilt3 >= 7.2), which equals S3's
full-object `ChecksumCRC64NVME` whatever the part layout (`from_head_crc64nvme`).

A quilt3 hash is sha256 over the concatenated sha256 digests of the object's chunks, with the chunk
size of `quilt3.checksums.get_checksum_chunksize` (8 MiB, doubled until there are at most 10,000
chunks); an empty object hashes to sha256(b""). S3's SHA-256 checksums map onto it:

- a single-part object (full-object SHA-256) of at most one chunk: sha256 of the S3 digest
  (`quilt3.checksums._simple_s3_to_quilt_checksum`);
- a multipart object (composite SHA-256, `digest-N`) whose parts are exactly the quilt3 chunks:
  the composite digest itself, or equivalently the combination of the part digests.

Anything else is computed by reading the object. This module is pure: no S3 calls.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from quilt3 import checksums as _q3

HASH_TYPE: str = _q3.SHA256_CHUNKED_HASH_NAME
CRC64NVME: str = _q3.CRC64NVME_HASH_NAME
READ_SIZE = 1024 * 1024
S3_ALGORITHM = {HASH_TYPE: "SHA256", CRC64NVME: "CRC64NVME"}  # the S3 checksum each hash type reuses

_Calculator = _q3.SHA256MultiPartChecksumCalculator
Part = _q3.ChecksumPart


def chunksize(size: int) -> int:
    return int(_q3.get_checksum_chunksize(size))


def expected_parts(size: int) -> int:
    """How many chunks quilt3 hashes an object of `size` bytes in (0 for an empty object)."""
    return math.ceil(size / chunksize(size)) if size > 0 else 0


def calculator(hash_type: str = HASH_TYPE) -> type[_q3.MultiPartChecksumCalculator[Any]]:
    return _q3.MultiPartChecksumCalculator.get_calculator_cls(hash_type)


def empty_checksum(hash_type: str = HASH_TYPE) -> str:
    return str(_q3.calculate_multipart_checksum_bytes(b"", checksum_type=hash_type))


def checksum_bytes(data: bytes, hash_type: str = HASH_TYPE) -> str:
    """The quilt3 hash of bytes already in memory (quilt3's own function)."""
    return str(_q3.calculate_multipart_checksum_bytes(data, checksum_type=hash_type))


def chunks(size: int) -> list[tuple[int, int]]:
    """(start, length) of quilt3's chunks of an object of `size` bytes (the unit of ranged reads and part copies)."""
    step = chunksize(size)
    return [(start, min(step, size - start)) for start in range(0, size, step)]


def part_digest(data: bytes, hash_type: str = HASH_TYPE) -> _q3.ChecksumPart[Any]:
    """One chunk's digest, to `combine` with the others."""
    calc = calculator(hash_type)()
    calc.update(data)
    return calc.digest(len(data))


def part_from_s3(value: str, size: int, hash_type: str = HASH_TYPE) -> _q3.ChecksumPart[Any]:
    """A part's digest from the checksum S3 reports for it (UploadPartCopy: SHA256 or CRC64NVME)."""
    raw = base64.b64decode(value, validate=True)
    return _q3.ChecksumPart(raw if hash_type == HASH_TYPE else int.from_bytes(raw, "big"), size)


def combine(parts: list[_q3.ChecksumPart[Any]], hash_type: str = HASH_TYPE) -> str:
    return str(calculator(hash_type).combine_parts(parts))


def from_full_object_sha256(value: str) -> str:
    """The quilt3 hash of an object of at most one chunk from its full-object SHA-256 (e.g. a CopyObject's)."""
    return str(_q3._simple_s3_to_quilt_checksum(value))


def from_head_crc64nvme(head: Mapping[str, Any]) -> str | None:
    """The `CRC64NVME` hash from a HeadObject response: S3's CRC64NVME is always of the full object."""
    value = head.get("ChecksumCRC64NVME")
    if not isinstance(value, str) or not value or head.get("ChecksumType") == "COMPOSITE":
        return None
    try:
        if len(base64.b64decode(value, validate=True)) != 8:
            return None
    except (binascii.Error, ValueError):
        return None
    return value


@dataclass(frozen=True, slots=True)
class NeedParts:
    """The S3 checksum may be reusable once the part layout is known (GetObjectAttributes)."""

    composite_digest: str | None


Reuse = str | NeedParts | None


def from_head(head: Mapping[str, Any], size: int) -> Reuse:
    """What a HeadObject (ChecksumMode=ENABLED) response tells us about the quilt3 hash.

    Returns the hash, `NeedParts` when the part layout must be checked first, or None when the
    object must be read.
    """
    value = head.get("ChecksumSHA256")
    if not isinstance(value, str) or not value:
        return None
    kind = head.get("ChecksumType")
    want = expected_parts(size)
    etag_parts = _etag_part_count(head.get("ETag"))
    if "-" not in value and etag_parts and kind != "FULL_OBJECT":
        # A multipart upload's SHA-256 is composite even when the endpoint leaves out `-N`
        # (moto does): never hash it again as if it were a full-object digest.
        value = f"{value}-{etag_parts}"
    if "-" in value:
        digest, _, count = value.partition("-")
        if not count.isdigit() or int(count) != want:
            return None
        if want == 1:
            # A one-part composite is sha256(sha256(part)): exactly quilt3's one-chunk hash.
            return digest
        return NeedParts(digest)
    if kind == "COMPOSITE":
        return NeedParts(value)
    if want <= 1:
        return str(_q3._simple_s3_to_quilt_checksum(value))
    # A large object with a full-object checksum, or a composite one whose part count S3 did not
    # say: only the part layout can tell.
    return NeedParts(None)


def _etag_part_count(etag: Any) -> int | None:
    """N for a multipart upload's ETag `"<md5>-N"`, else None."""
    if not isinstance(etag, str):
        return None
    _, dash, count = etag.strip('"').rpartition("-")
    return int(count) if dash and count.isdigit() else None


def from_parts(parts: Iterable[Mapping[str, Any]], size: int, composite_digest: str | None) -> str | None:
    """The quilt3 hash from a multipart object's parts (GetObjectAttributes ObjectParts.Parts).

    Reusable only when the parts are exactly quilt3's chunks: numbered 1..N, N == expected_parts,
    every part but the last of the chunk size.
    """
    ordered = sorted(parts, key=lambda p: int(p.get("PartNumber", 0)))
    want = expected_parts(size)
    if want == 0 or len(ordered) != want:
        return None
    step = chunksize(size)
    digests: list[_q3.ChecksumPart] = []
    for index, part in enumerate(ordered, start=1):
        part_size = part.get("Size")
        expected_size = step if index < want else size - step * (want - 1)
        if int(part.get("PartNumber", 0)) != index or part_size != expected_size:
            return None
        value = part.get("ChecksumSHA256")
        if isinstance(value, str) and value:
            try:
                digests.append(_q3.ChecksumPart(base64.b64decode(value, validate=True), expected_size))
            except (binascii.Error, ValueError):
                return None
    if len(digests) == want:
        return str(_Calculator.combine_parts(digests))
    return composite_digest


def from_stream(read: Callable[[int], bytes], size: int, hash_type: str = HASH_TYPE) -> str:
    """Hash `size` bytes read with `read(n)` (e.g. a GetObject body) chunk by chunk."""
    step = chunksize(size)
    calc_cls = calculator(hash_type)
    parts: list[_q3.ChecksumPart[Any]] = []
    remaining = size
    while remaining > 0:
        length = min(step, remaining)
        calc = calc_cls()
        done = 0
        while done < length:
            buf = read(min(READ_SIZE, length - done))
            if not buf:
                raise EOFError(f"object ended after {size - remaining + done} of {size} bytes")
            calc.update(buf)
            done += len(buf)
        parts.append(calc.digest(length))
        remaining -= length
    return str(calc_cls.combine_parts(parts))
