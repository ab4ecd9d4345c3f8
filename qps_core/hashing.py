"""Hashing the listed objects: quilt3 hashes from S3's own checksums where they fit, else by reading.

Each object is pinned to the version (or, unversioned, the ETag) the listing saw: an object that
changes or vanishes in between is a transient failure, and the retry lists again.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from . import checksums
from .errors import PackagingError, PermanentError, TransientError
from .s3client import classify, is_not_found
from .source import SourceObject

DEFAULT_WORKERS = 16


class Hasher:
    """Fills in `SourceObject.checksum` for every object, `max_workers` at a time."""

    def __init__(self, s3: Any, max_workers: int = DEFAULT_WORKERS) -> None:
        self.s3 = s3
        self.max_workers = max(1, max_workers)

    def hash_all(self, bucket: str, objects: list[SourceObject]) -> None:
        todo = [o for o in objects if o.checksum is None]
        if len(todo) <= 1:
            for obj in todo:
                obj.checksum = self.checksum(bucket, obj)
            return
        with ThreadPoolExecutor(min(self.max_workers, len(todo)), thread_name_prefix="qps-hash") as pool:
            futures: dict[Future[str], SourceObject] = {pool.submit(self.checksum, bucket, o): o for o in todo}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in pending:
                fut.cancel()
            failures = [f.exception() for f in done if f.exception() is not None]
            if failures:
                first = failures[0]
                assert first is not None
                # Prefer a permanent reason: a retry would not fix it anyway.
                permanent = [e for e in failures if isinstance(e, PermanentError)]
                raise (permanent[0] if permanent else first)
            for fut, obj in futures.items():
                obj.checksum = fut.result()

    def checksum(self, bucket: str, obj: SourceObject) -> str:
        if obj.size == 0:
            return checksums.empty_checksum()
        uri = f"s3://{bucket}/{obj.key}"
        params = obj.params(bucket)
        if obj.algorithms is None or "SHA256" in obj.algorithms:
            try:
                head = self.s3.head_object(ChecksumMode="ENABLED", **params)
            except Exception as exc:
                raise _failure(exc, "HeadObject", uri) from exc
            _check_size(head, obj, "HeadObject", uri)
            reuse = checksums.from_head(head, obj.size)
            if isinstance(reuse, str):
                return reuse
            if isinstance(reuse, checksums.NeedParts):
                found = self._from_parts(params, uri, obj, reuse.composite_digest)
                if found is not None:
                    return found
        return self._by_reading(params, uri, obj)

    def _from_parts(self, params: dict[str, Any], uri: str, obj: SourceObject, composite: str | None) -> str | None:
        """GetObjectAttributes: reuse a composite checksum whose parts are exactly quilt3's chunks."""
        request = {k: v for k, v in params.items() if k != "IfMatch"}
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            try:
                attrs = self.s3.get_object_attributes(
                    **request,
                    ObjectAttributes=["ObjectParts", "Checksum", "ObjectSize", "ETag"],
                    MaxParts=1000,
                    PartNumberMarker=marker,
                )
            except Exception as exc:
                err = classify(exc, "GetObjectAttributes", uri)
                if isinstance(err, TransientError):
                    raise err from exc
                return None  # e.g. no s3:GetObjectAttributes permission: read the object instead
            if params.get("IfMatch") and attrs.get("ETag") and attrs["ETag"].strip('"') != params["IfMatch"].strip('"'):
                raise TransientError(f"GetObjectAttributes on {uri}: the object changed while it was being packaged")
            _check_size(attrs, obj, "GetObjectAttributes", uri)
            object_parts = attrs.get("ObjectParts") or {}
            parts.extend(object_parts.get("Parts") or ())
            if composite is None:
                value = (attrs.get("Checksum") or {}).get("ChecksumSHA256")
                if isinstance(value, str) and (attrs.get("Checksum") or {}).get("ChecksumType") != "FULL_OBJECT":
                    composite = value.partition("-")[0]
            if not object_parts.get("IsTruncated"):
                break
            marker = int(object_parts.get("NextPartNumberMarker") or 0)
            if not marker:
                break
        if not parts:
            return None
        return checksums.from_parts(parts, obj.size, composite)

    def _by_reading(self, params: dict[str, Any], uri: str, obj: SourceObject) -> str:
        try:
            resp = self.s3.get_object(**params)
        except Exception as exc:
            raise _failure(exc, "GetObject", uri) from exc
        body = resp["Body"]
        try:
            _check_size(resp, obj, "GetObject", uri)
            return checksums.from_stream(body.read, obj.size)
        except PackagingError:
            raise
        except EOFError as exc:
            raise TransientError(f"GetObject on {uri}: {exc}") from exc
        except Exception as exc:
            raise classify(exc, "GetObject", uri) from exc
        finally:
            body.close()


def _failure(exc: BaseException, action: str, uri: str) -> PackagingError:
    """An object the listing named that is gone now (deleted, or its listed version replaced on an
    unversioned bucket) is transient: the retry lists the folder again."""
    if is_not_found(exc):
        return TransientError(
            f"{action} on {uri}: the object vanished after the folder was listed; retry to list again"
        )
    return classify(exc, action, uri)


def _check_size(resp: dict[str, Any], obj: SourceObject, action: str, uri: str) -> None:
    size = resp.get("ContentLength", resp.get("ObjectSize"))
    if size is not None and int(size) != obj.size:
        raise TransientError(f"{action} on {uri}: the object changed while it was being packaged")
