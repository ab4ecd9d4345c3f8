"""Make moto's S3 answer as AWS documents where QPS depends on it (docs/design.md §6).

`install()` patches moto in this process (in-process `mock_aws` or a moto server started by
`tests.support.motoserver`); it is idempotent. What it adds:

- `GetObjectAttributes` returns `ObjectParts` (part numbers, sizes, part checksums) for multipart
  objects, paged by `MaxParts` / `PartNumberMarker`;
- `UploadPartCopy` returns the part's checksum when the upload has a checksum algorithm, and
  `CompleteMultipartUpload` returns the object's checksum and checksum type;
- `ListObjectVersions` reports each version's `ChecksumAlgorithm`, and pages in time linear in the
  listed prefix (moto deep-copies every version in the bucket for every page: quadratic);
- `UploadPartCopy` reads only the copied range (moto reads the whole source for every part).

`seed(...)` writes objects straight into moto's backend (no HTTP, no per-request cost).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3 import models as _models
from moto.s3 import responses as _responses
from moto.s3.utils import compute_checksum

_INSTALLED = False


def install() -> None:
    """Patch moto's S3 (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    _patch_complete()
    _patch_serialized()
    _models.S3Backend.list_object_versions = _list_object_versions_factory(  # type: ignore[method-assign]
        _models.S3Backend.list_object_versions
    )
    _models.S3Backend.upload_part_copy = _upload_part_copy_factory(  # type: ignore[method-assign]
        _models.S3Backend.upload_part_copy
    )


def backend() -> Any:
    """The default account's global S3 backend (what a moto server or `mock_aws` writes to)."""
    return _models.s3_backends[DEFAULT_ACCOUNT_ID]["global"]


def _checksum(data: bytes, algorithm: str) -> str:
    return compute_checksum(data, algorithm=algorithm).decode()


# ---------------------------------------------------------------- multipart: remember the parts


def _patch_complete() -> None:
    original = _models.FakeMultipart.complete

    def complete(self: Any, body: Iterator[tuple[int, str]]) -> Any:
        numbers: list[int] = []

        def recording() -> Iterator[tuple[int, str]]:
            for number, etag in body:
                numbers.append(number)
                yield number, etag

        result = original(self, recording())
        algorithm = self.metadata.get("x-amz-checksum-algorithm")
        parts = []
        for number in numbers:
            part = self.parts[number]
            entry: dict[str, Any] = {"PartNumber": number, "Size": part.size}
            if algorithm:
                entry[f"Checksum{algorithm}"] = _checksum(part.value, algorithm)
            parts.append(entry)
        self.qps_parts = parts
        for number in numbers:  # the object holds its own copy of the bytes: free the parts' copies
            self.parts[number].dispose()
        return result

    _models.FakeMultipart.complete = complete  # type: ignore[method-assign]


# ---------------------------------------------------------------- responses


def _patch_serialized() -> None:
    original = _responses.S3Response.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict):
            action = self.data.get("Action")
            fill = _FILLERS.get(action)
            if fill is not None:
                fill(self, result)
        return original(self, action_result)

    _responses.S3Response.serialized = serialized  # type: ignore[method-assign]


def _fill_upload_part_copy(response: Any, result: dict[str, Any]) -> None:
    bucket = response.backend.get_bucket(response.bucket_name)
    upload = bucket.multiparts.get(response._get_param("uploadId"))
    algorithm = upload.metadata.get("x-amz-checksum-algorithm") if upload else None
    if not algorithm:
        return
    part = upload.parts[response._get_int_param("partNumber")]
    result["CopyPartResult"][f"Checksum{algorithm}"] = _checksum(part.value, algorithm)


def _fill_complete(response: Any, result: dict[str, Any]) -> None:
    key = response.backend.get_object(response.bucket_name, result.get("Key"))
    if key is None or not key.checksum_algorithm or not key.checksum_value:
        return
    value = key.checksum_value
    if key.checksum_type == "COMPOSITE" and key.checksum_parts:
        value = f"{value}-{key.checksum_parts}"
    result[f"Checksum{key.checksum_algorithm}"] = value
    if key.checksum_type:
        result["ChecksumType"] = key.checksum_type


def _fill_attributes(response: Any, result: dict[str, Any]) -> None:
    wanted = response.headers.get("x-amz-object-attributes", "").split(",")
    if "ObjectParts" not in wanted:
        return
    key, _ = response._get_key(validate_storage_class=False)
    parts = getattr(key.multipart, "qps_parts", None) if key.multipart else None
    if not parts:
        return
    max_parts = int(response.headers.get("x-amz-max-parts") or 1000)
    marker = int(response.headers.get("x-amz-part-number-marker") or 0)
    start = bisect.bisect_right([p["PartNumber"] for p in parts], marker)
    page = parts[start : start + max_parts]
    truncated = start + max_parts < len(parts)
    object_parts: dict[str, Any] = {
        "TotalPartsCount": len(parts),
        "PartNumberMarker": marker,
        "MaxParts": max_parts,
        "IsTruncated": truncated,
        "Parts": page,
    }
    if truncated:
        object_parts["NextPartNumberMarker"] = page[-1]["PartNumber"]
    result["ObjectParts"] = object_parts


def _fill_versions(response: Any, result: dict[str, Any]) -> None:
    bucket = response.backend.get_bucket(response.bucket_name)
    for item in result.get("Versions") or ():
        for key in bucket.keys.getlist(item["Key"], []):
            if key.version_id == item["VersionId"] and getattr(key, "checksum_algorithm", None):
                item["ChecksumAlgorithm"] = [key.checksum_algorithm]
                break


_FILLERS = {
    "UploadPartCopy": _fill_upload_part_copy,
    "CompleteMultipartUpload": _fill_complete,
    "GetObjectAttributes": _fill_attributes,
    "ListObjectVersions": _fill_versions,
}


# ---------------------------------------------------------------- linear ListObjectVersions


def _list_object_versions_factory(original: Any) -> Any:
    def list_object_versions(
        self: Any,
        bucket_name: str,
        delimiter: str | None = None,
        key_marker: str | None = None,
        max_keys: int | None = 1000,
        prefix: str = "",
        version_id_marker: str | None = None,
    ) -> Any:
        if delimiter:
            return original(self, bucket_name, delimiter, key_marker, max_keys, prefix, version_id_marker)
        bucket = self.get_bucket(bucket_name)
        prefix = prefix or ""
        names = sorted(name for name in bucket.keys if name.startswith(prefix))
        start = bisect.bisect_left(names, key_marker) if key_marker else 0
        limit = 1000 if max_keys is None else max_keys
        versions: list[Any] = []
        markers: list[Any] = []
        last: Any = None
        skipping = bool(key_marker)
        for name in names[start:]:
            listed = list(reversed(bucket.keys.getlist(name)))  # newest first (moto appends versions)
            for index, version in enumerate(listed):
                if skipping:
                    if name != key_marker:
                        skipping = False
                    elif version_id_marker and version.version_id == version_id_marker:
                        skipping = False
                        continue
                    elif version_id_marker or name == key_marker:
                        continue
                if len(versions) + len(markers) >= limit:
                    return versions, [], markers, last.name, last.version_id
                version.is_latest = index == 0
                (versions if isinstance(version, _models.FakeKey) else markers).append(version)
                last = version
        return versions, [], markers, None, None

    return list_object_versions


def _upload_part_copy_factory(original: Any) -> Any:
    """moto reads the whole source object for every part copy; read only the range (emulator cost only)."""

    def upload_part_copy(
        self: Any,
        dest_bucket_name: str,
        multipart_id: str,
        part_id: int,
        src_bucket_name: str,
        src_key_name: str,
        src_version_id: str | None,
        start_byte: int | None,
        end_byte: int | None,
    ) -> Any:
        if start_byte is None or end_byte is None:
            return original(
                self, dest_bucket_name, multipart_id, part_id, src_bucket_name, src_key_name, src_version_id,
                start_byte, end_byte,
            )  # fmt: skip
        upload = self.get_bucket(dest_bucket_name).multiparts[multipart_id]
        src = self.get_object(src_bucket_name, src_key_name, version_id=src_version_id)
        with src.lock:
            src._value_buffer.seek(start_byte)
            value = src._value_buffer.read(end_byte - start_byte + 1)
        return upload.set_part(part_id, value)

    return upload_part_copy


# ---------------------------------------------------------------- seeding


def seed(
    bucket: str,
    prefix: str,
    count: int,
    size: int,
    *,
    algorithm: str | None = "SHA256",
    start: int = 0,
) -> list[str]:
    """Put `count` objects of `size` bytes under `prefix` straight into moto's backend; return the keys.

    The bucket must exist. Each object's bytes differ (its index is in them), and it carries a
    full-object checksum of `algorithm` (or none), as a PutObject with that algorithm would.
    """
    s3 = backend()
    keys = []
    for i in range(start, start + count):
        key = f"{prefix}part-{i // 1000:04d}/obj-{i:07d}.bin"
        value = (f"object {i} ".encode() * (size // 8 + 2))[:size]
        obj = s3.put_object(bucket, key, value, disable_notification=True)
        if algorithm:
            obj.checksum_algorithm = algorithm
            obj.checksum_value = _checksum(value, algorithm)
            obj.checksum_type = "FULL_OBJECT"
        keys.append(key)
    return keys
