"""Checksums that take S3 requests beyond a HEAD: S3 computes them server-side, or we read the bytes.

docs/design.md §9. With nothing reusable in S3:

- `server_side` (objects at or above `server_checksum_threshold`): S3 computes the checksum while
  copying the object to a scratch key under the registry's `.quilt/qps-scratch/`. `CopyObject`
  with `ChecksumAlgorithm` where one full-object checksum is the hash (CRC64NVME up to 5 GiB;
  SHA-256 of an object of one chunk); otherwise `UploadPartCopy` of each quilt3 chunk into a
  multipart upload that is aborted after (nothing is ever completed). The scratch copy is deleted
  (its exact version) in every case; the stack documents a lifecycle rule on the prefix as a net.
  No object byte passes through the packager.
- `by_reading` (below the threshold): one GetObject for an object of one chunk, else parallel
  ranged GetObjects of one chunk (8 MiB) each.

Every request is pinned to the listed version (VersionId, else the listed ETag).
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Executor
from typing import Any

import botocore.exceptions

from ..aws import classify, error_code, http_status, is_not_found
from ..errors import PackagingError, TransientError
from . import checksums
from .listing import SourceObject

logger = logging.getLogger(__name__)

SCRATCH_PREFIX = ".quilt/qps-scratch/"
MAX_COPY_OBJECT = 5 * 1024**3  # CopyObject's limit


class NoServerChecksum(Exception):
    """The endpoint cannot compute the checksum (no checksum in its answer, or no scratch access)."""


def _copy_source(bucket: str, obj: SourceObject) -> tuple[dict[str, Any], dict[str, Any]]:
    source: dict[str, Any] = {"Bucket": bucket, "Key": obj.key}
    extra: dict[str, Any] = {}
    if obj.version_id:
        source["VersionId"] = obj.version_id
    elif obj.etag:
        extra["CopySourceIfMatch"] = obj.etag
    return source, extra


def server_side(s3: Any, parts_pool: Executor, bucket: str, obj: SourceObject, scratch_bucket: str) -> str:
    """The object's hash computed by S3 on a scratch copy (see the module docstring)."""
    uri = f"s3://{bucket}/{obj.key}"
    scratch = f"{SCRATCH_PREFIX}{uuid.uuid4().hex}"
    algorithm = checksums.S3_ALGORITHM[obj.hash_type]
    whole = (
        obj.size <= MAX_COPY_OBJECT if obj.hash_type == checksums.CRC64NVME else checksums.expected_parts(obj.size) <= 1
    )
    if whole:
        return _copy_object(s3, bucket, obj, scratch_bucket, scratch, algorithm, uri)
    return _part_copies(s3, parts_pool, bucket, obj, scratch_bucket, scratch, algorithm, uri)


def _copy_object(
    s3: Any, bucket: str, obj: SourceObject, scratch_bucket: str, scratch: str, algorithm: str, uri: str
) -> str:
    source, extra = _copy_source(bucket, obj)
    where = f"s3://{scratch_bucket}/{scratch}"
    try:
        resp = s3.copy_object(
            Bucket=scratch_bucket, Key=scratch, CopySource=source, ChecksumAlgorithm=algorithm, **extra
        )
    except Exception as exc:
        raise _copy_error(exc, "CopyObject", uri, where) from exc
    try:
        value = (resp.get("CopyObjectResult") or {}).get(f"Checksum{algorithm}")
    finally:
        _delete(s3, scratch_bucket, scratch, resp.get("VersionId"))
    if not isinstance(value, str) or not value:
        raise NoServerChecksum(f"CopyObject of {uri}: the endpoint returned no Checksum{algorithm}")
    if obj.hash_type == checksums.CRC64NVME:
        return value
    return checksums.from_full_object_sha256(value)


def _part_copies(
    s3: Any,
    parts_pool: Executor,
    bucket: str,
    obj: SourceObject,
    scratch_bucket: str,
    scratch: str,
    algorithm: str,
    uri: str,
) -> str:
    where = f"s3://{scratch_bucket}/{scratch}"
    create: dict[str, Any] = {"Bucket": scratch_bucket, "Key": scratch, "ChecksumAlgorithm": algorithm}
    if obj.hash_type == checksums.CRC64NVME:
        create["ChecksumType"] = "FULL_OBJECT"
    try:
        upload_id = s3.create_multipart_upload(**create)["UploadId"]
    except Exception as exc:
        raise _copy_error(exc, "CreateMultipartUpload", uri, where) from exc
    source, extra = _copy_source(bucket, obj)

    def copy_part(number: int, start: int, length: int) -> Any:
        try:
            resp = s3.upload_part_copy(
                Bucket=scratch_bucket,
                Key=scratch,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={start}-{start + length - 1}",
                **extra,
            )
        except Exception as exc:
            raise _copy_error(exc, "UploadPartCopy", uri, where) from exc
        value = (resp.get("CopyPartResult") or {}).get(f"Checksum{algorithm}")
        if not isinstance(value, str) or not value:
            raise NoServerChecksum(f"UploadPartCopy of {uri}: the endpoint returned no Checksum{algorithm}")
        return checksums.part_from_s3(value, length, obj.hash_type)

    try:
        futures = [
            parts_pool.submit(copy_part, number, start, length)
            for number, (start, length) in enumerate(checksums.chunks(obj.size), start=1)
        ]
        parts = [f.result() for f in futures]
    finally:
        for fut in futures:
            fut.cancel()
        for fut in futures:
            if not fut.cancelled():
                fut.exception()  # wait: abort only after every part copy ended
        try:
            s3.abort_multipart_upload(Bucket=scratch_bucket, Key=scratch, UploadId=upload_id)
        except Exception:
            logger.warning("could not abort the scratch upload %s of %s (the lifecycle rule removes it)", where, uri)
    return checksums.combine(parts, obj.hash_type)


def failure(exc: BaseException, action: str, uri: str) -> PackagingError:
    """An object the listing named that is gone now (deleted, or its listed version replaced on an
    unversioned bucket) is transient: the retry lists the folder again."""
    if is_not_found(exc):
        return TransientError(
            f"{action} on {uri}: the object vanished after the folder was listed; retry to list again"
        )
    return classify(exc, action, uri)


def _copy_error(exc: BaseException, action: str, uri: str, where: str) -> Exception:
    """Access denied on a scratch copy means "read instead" (e.g. no write access to the registry's
    `.quilt/qps-scratch/`); anything else is classified as usual."""
    err = failure(exc, action, f"{uri} to {where}")
    if isinstance(exc, botocore.exceptions.ClientError) and (
        error_code(exc) in ("AccessDenied", "403", "Forbidden") or http_status(exc) == 403
    ):
        return NoServerChecksum(str(err))
    return err


def _delete(s3: Any, bucket: str, key: str, version_id: str | None) -> None:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id  # remove the version itself, not just hide it
    try:
        s3.delete_object(**params)
    except Exception:
        logger.warning("could not delete the scratch copy s3://%s/%s (the lifecycle rule removes it)", bucket, key)


def by_reading(s3: Any, parts_pool: Executor, bucket: str, obj: SourceObject) -> str:
    """Read the object: one GetObject for one chunk, else parallel ranged GetObjects (one chunk each)."""
    uri = f"s3://{bucket}/{obj.key}"
    params = obj.params(bucket)
    ranges = checksums.chunks(obj.size)
    if len(ranges) <= 1:
        return _read_whole(s3, params, uri, obj)

    def read_range(start: int, length: int) -> Any:
        try:
            resp = s3.get_object(Range=f"bytes={start}-{start + length - 1}", **params)
        except Exception as exc:
            raise failure(exc, "GetObject", uri) from exc
        body = resp["Body"]
        try:
            data = body.read()
        except Exception as exc:
            raise classify(exc, "GetObject", uri) from exc
        finally:
            body.close()
        if len(data) != length:
            raise TransientError(f"GetObject on {uri}: range {start}+{length} returned {len(data)} bytes")
        return checksums.part_digest(data, obj.hash_type)

    futures = [parts_pool.submit(read_range, start, length) for start, length in ranges]
    try:
        parts = [f.result() for f in futures]
    finally:
        for fut in futures:
            fut.cancel()
    return checksums.combine(parts, obj.hash_type)


def _read_whole(s3: Any, params: dict[str, Any], uri: str, obj: SourceObject) -> str:
    try:
        resp = s3.get_object(**params)
    except Exception as exc:
        raise failure(exc, "GetObject", uri) from exc
    body = resp["Body"]
    try:
        size = resp.get("ContentLength")
        if size is not None and int(size) != obj.size:
            raise TransientError(f"GetObject on {uri}: the object changed while it was being packaged")
        return checksums.from_stream(body.read, obj.size, obj.hash_type)
    except PackagingError:
        raise
    except EOFError as exc:
        raise TransientError(f"GetObject on {uri}: {exc}") from exc
    except Exception as exc:
        raise classify(exc, "GetObject", uri) from exc
    finally:
        body.close()
