"""The shared packager: an S3 folder → a quilt3 package revision in a registry (docs/design.md §5).

    packager = Packager(settings, endpoint_url=None)
    result = packager.package(request)      # PackageResult, or PermanentError / TransientError

Steps: list the folder (latest versions, pinned) → read the registry's latest pointer → metadata
(inline or `metadata_uri`) plus an RO-Crate summary → hashes (S3's own SHA-256 checksums where they
fit quilt3's chunking, else streamed) → workflow validation → top hash; equal to latest: nothing is
written → (copy into the registry) → manifest and pointers.

This module imports boto3 and quilt3; nothing else in qps_core imports it at module level.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

# quilt3 reads these when it is imported / called: no telemetry, no progress bars on stderr.
os.environ.setdefault("QUILT_DISABLE_USAGE_METRICS", "true")
os.environ.setdefault("QUILT_MINIMIZE_STDOUT", "true")

import quilt3
from quilt3 import data_transfer as _q3_transfer
from quilt3.backends import get_package_registry
from quilt3.packages import PackageEntry
from quilt3.util import PhysicalKey, QuiltException

from . import checksums, jsonstrict, rocrate_summary, s3paths
from .errors import InvalidInput, NotReadyError, PackagingError, PermanentError, TransientError
from .models import PackageRequest
from .s3client import classify, find_client_error, is_not_found, make_client, quilt3_uses
from .settings import Settings

logger = logging.getLogger(__name__)

MAX_CRATE_BYTES = 32 * 1024 * 1024
MAX_METADATA_FILE_BYTES = 16 * 1024 * 1024
DEFAULT_WORKERS = 16
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PackageResult:
    status: Literal["created", "unchanged"]
    registry: str
    package_name: str
    top_hash: str
    files: int
    bytes: int
    source_prefix: str


@dataclass(slots=True)
class _Object:
    key: str
    logical_key: str
    size: int
    version_id: str | None
    etag: str | None
    algorithms: tuple[str, ...] | None  # ChecksumAlgorithm from the listing, None if S3 did not say
    checksum: str | None = field(default=None)
    last_modified: datetime | None = None


class Packager:
    """Builds quilt3 packages from S3 folders. One S3 client per Packager, shared with quilt3."""

    def __init__(self, settings: Settings, endpoint_url: str | None = None, *, max_workers: int = DEFAULT_WORKERS):
        self.settings = settings
        self.endpoint_url = endpoint_url or settings.endpoint_url or None
        self.max_workers = max(1, max_workers)
        # endpoint None: boto3 itself honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3.
        self.s3: Any = make_client(self.endpoint_url)

    # ------------------------------------------------------------------ entry point

    def package(self, request: PackageRequest) -> PackageResult:
        """Build (or find unchanged) the package a request describes."""
        allowed = self.settings.allowed_registries
        if allowed and request.registry not in allowed:
            raise PermanentError(
                f"registry {request.registry!r} is not an allowed registry (allowed: {', '.join(allowed)})"
            )
        try:
            return self._package(request)
        except PackagingError:
            raise
        except QuiltException as exc:
            inner = find_client_error(exc)
            where = f"packaging {request.source_prefix} into s3://{request.registry}"
            if inner is not None:
                raise classify(inner, "quilt3", where) from exc
            raise PermanentError(f"{where}: {exc}") from exc
        except Exception as exc:
            logger.exception("unexpected failure packaging %s", request.source_prefix)
            inner = find_client_error(exc)
            where = f"packaging {request.source_prefix} into s3://{request.registry}"
            if inner is not None:
                raise classify(inner, "S3", where) from exc
            raise  # a bug, not a classified S3 failure: the runner reports it and SQS retries, then redrives

    def _package(self, request: PackageRequest) -> PackageResult:
        registry_bucket = request.registry
        folder = request.folder
        name = request.package_name
        objects = self._list(folder)
        metadata_uri = request.metadata_uri
        if not objects and folder.prefix:
            parent = self._folder_of_named_object(folder)
            if parent is not None:
                derived = s3paths.derive_package_name(
                    folder, self.settings.default_prefix, self.settings.default_suffix
                )
                if name == derived:
                    name = s3paths.derive_package_name(
                        parent, self.settings.default_prefix, self.settings.default_suffix
                    )
                if metadata_uri and metadata_uri.startswith(folder.uri):  # relative to the path as given
                    metadata_uri = parent.uri + metadata_uri[len(folder.uri) :]
                folder = parent
                objects = self._list(folder)
        copies = f"{name}/"
        if (
            request.should_copy
            and registry_bucket == folder.bucket
            and copies.startswith(folder.prefix)
            and (copies != folder.prefix)
        ):
            # Copies land in s3://registry/<name>/..., inside this folder: never package them as new files.
            objects = [o for o in objects if not o.key.startswith(copies)]
        if not objects:
            raise PermanentError(f"ListObjectVersions on {folder.uri}: the folder holds no objects to package")
        self._check_quiet(folder, objects)

        registry = get_package_registry(f"s3://{registry_bucket}")
        latest = self._read_latest(registry.pointer_latest_pk(name))

        meta = self._metadata(request, metadata_uri)
        summary = self._crate_summary(folder, objects)
        if summary is not None and "ro-crate" not in meta:
            meta["ro-crate"] = summary

        self._hash_all(folder.bucket, objects)

        pkg = quilt3.Package()
        for obj in objects:
            entry = PackageEntry(
                PhysicalKey(folder.bucket, obj.key, obj.version_id),
                obj.size,
                {"type": checksums.HASH_TYPE, "value": obj.checksum},
                None,
            )
            pkg.set(obj.logical_key, entry)
        if meta:
            pkg.set_meta(meta)
        message = request.message
        workflow: Any = ... if request.workflow is None else (request.workflow or None)
        self._validate_workflow(pkg, registry, registry_bucket, name, message, workflow)
        pkg._set_commit_message(message)
        top_hash = pkg.top_hash

        result = PackageResult(
            status="unchanged",
            registry=registry_bucket,
            package_name=name,
            top_hash=top_hash,
            files=len(objects),
            bytes=sum(o.size for o in objects),
            source_prefix=folder.uri,
        )
        if latest == top_hash:
            logger.info("%s@%s in s3://%s is unchanged", name, top_hash, registry_bucket)
            return result

        created: list[PhysicalKey] = []
        if request.should_copy:
            pkg, created = self._copy_into_registry(pkg, registry_bucket, name)
            top_hash = pkg.top_hash
        elif self._manifest_exists(registry, name, top_hash):
            # quilt3 keeps one manifest per top hash, and the top hash leaves out physical keys: another
            # package with the same files (e.g. copied into the registry) owns it. Never repoint that
            # package's entries: reuse its manifest (byte-identical data) and add only our revision.
            self._point_to(registry, name, top_hash)
            logger.info("%s@%s in s3://%s reuses an existing manifest", name, top_hash, registry_bucket)
            return replace(result, status="created")
        try:
            with quilt3_uses(self.s3):
                written = pkg._build(name, registry, message)
        except Exception as exc:
            self._discard(created)
            where = f"s3://{registry_bucket}/{registry.manifest_pk(name, top_hash).path}"
            raise self._error(exc, "PutObject", where) from exc
        if written != top_hash:  # pragma: no cover - quilt3 computes the same hash from the same data
            raise PermanentError(f"PutObject on s3://{registry_bucket}: manifest hash {written} != {top_hash}")
        logger.info("created %s@%s in s3://%s (%d files)", name, top_hash, registry_bucket, len(objects))
        return PackageResult(
            status="created",
            registry=registry_bucket,
            package_name=name,
            top_hash=top_hash,
            files=result.files,
            bytes=result.bytes,
            source_prefix=folder.uri,
        )

    # ------------------------------------------------------------------ S3 helpers

    @staticmethod
    def _error(exc: BaseException, action: str, uri: str) -> PackagingError:
        if isinstance(exc, PackagingError):
            return exc
        inner = find_client_error(exc)
        if inner is not None:
            return classify(inner, action, uri)
        if isinstance(exc, QuiltException):
            return PermanentError(f"{action} on {uri}: {exc}")
        return classify(exc, action, uri)

    def _call(self, action: str, uri: str, fn: Callable[..., T], **params: Any) -> T:
        try:
            return fn(**params)
        except Exception as exc:
            raise classify(exc, action, uri) from exc

    def _list(self, folder: s3paths.S3Folder) -> list[_Object]:
        """Latest versions under the folder, minus folder markers and the registry's `.quilt/`."""
        objects: list[_Object] = []
        paginator = self.s3.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=folder.bucket, Prefix=folder.prefix):
                for version in page.get("Versions", ()):
                    if not version.get("IsLatest", True):
                        continue
                    key = version["Key"]
                    if key.endswith("/") or s3paths.is_quilt_internal(key):
                        continue
                    logical_key = key[len(folder.prefix) :]
                    if any(part in ("", ".", "..") for part in logical_key.split("/")):
                        raise PermanentError(
                            f"ListObjectVersions on {folder.uri}: object key {key!r} cannot be a package "
                            "entry (empty, '.' or '..' path segment)"
                        )
                    version_id = version.get("VersionId")
                    algorithms = version.get("ChecksumAlgorithm")
                    objects.append(
                        _Object(
                            key=key,
                            logical_key=logical_key,
                            size=int(version.get("Size", 0)),
                            version_id=None if version_id in (None, "", "null") else version_id,
                            etag=version.get("ETag"),
                            algorithms=tuple(algorithms) if algorithms is not None else None,
                            last_modified=version.get("LastModified"),
                        )
                    )
        except PackagingError:
            raise
        except Exception as exc:
            raise classify(exc, "ListObjectVersions", folder.uri) from exc
        return objects

    def _check_quiet(self, folder: s3paths.S3Folder, objects: list[_Object]) -> None:
        """Readiness: wait while any object is younger than `quiet_period_seconds` (still being written)."""
        quiet = self.settings.quiet_period_seconds
        stamps = [o.last_modified for o in objects if o.last_modified is not None]
        if quiet <= 0 or not stamps:
            return
        age = (datetime.now(UTC) - max(stamps)).total_seconds()
        if age < quiet:
            wait = max(1, math.ceil(quiet - age))
            raise NotReadyError(
                f"ListObjectVersions on {folder.uri}: the newest object is {max(age, 0):.0f} s old, "
                f"younger than the {quiet} s quiet period; retry in {wait} s",
                retry_after=wait,
            )

    def _folder_of_named_object(self, folder: s3paths.S3Folder) -> s3paths.S3Folder | None:
        """docs/design.md §2: a path that names an existing object means that object's folder."""
        key = folder.prefix[:-1]
        if not key or s3paths.is_quilt_internal(key):
            return None
        try:
            self.s3.head_object(Bucket=folder.bucket, Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, "HeadObject", f"s3://{folder.bucket}/{key}") from exc
        return s3paths.S3Folder(folder.bucket, s3paths.folder_of_key(key))

    def _read_latest(self, pointer: PhysicalKey) -> str | None:
        uri = f"s3://{pointer.bucket}/{pointer.path}"
        try:
            resp = self.s3.get_object(Bucket=pointer.bucket, Key=pointer.path)
            return str(resp["Body"].read().decode("utf-8", "replace").strip())
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, "GetObject", uri) from exc

    def _get_bytes(self, action_uri: str, limit: int, **params: Any) -> bytes | None:
        """An object's bytes, or None if it is larger than `limit`."""
        resp = self._call("GetObject", action_uri, self.s3.get_object, **params)
        body = resp["Body"]
        try:
            if int(resp.get("ContentLength", 0)) > limit:
                return None
            data: bytes = body.read()
            return data
        except Exception as exc:
            raise classify(exc, "GetObject", action_uri) from exc
        finally:
            body.close()

    # ------------------------------------------------------------------ metadata

    def _metadata(self, request: PackageRequest, uri: str | None) -> dict[str, Any]:
        if request.metadata is not None:
            return dict(request.metadata)
        if not uri:
            return {}
        bucket, _, key = uri[5:].partition("/")
        data = self._get_bytes(uri, MAX_METADATA_FILE_BYTES, Bucket=bucket, Key=key)
        if data is None:
            raise PermanentError(f"metadata_uri {uri}: the object is larger than {MAX_METADATA_FILE_BYTES} bytes")
        try:
            value = jsonstrict.loads(data)
        except InvalidInput as exc:
            raise PermanentError(f"metadata_uri {uri}: {exc}") from None
        if not isinstance(value, dict):
            raise PermanentError(f"metadata_uri {uri}: must hold a JSON object, not {type(value).__name__}")
        size = len(jsonstrict.dumps_compact(value).encode("utf-8"))
        if size > self.settings.max_metadata_bytes:
            raise PermanentError(
                f"metadata_uri {uri}: is {size} bytes as compact JSON, over the limit of "
                f"{self.settings.max_metadata_bytes} bytes"
            )
        return value

    def _crate_summary(self, folder: s3paths.S3Folder, objects: list[_Object]) -> dict[str, Any] | None:
        by_name = {o.logical_key: o for o in objects if "/" not in o.logical_key}
        sentinel = next((by_name[n] for n in self.settings.sentinel_names if n in by_name), None)
        if sentinel is None:
            return None
        uri = f"s3://{folder.bucket}/{sentinel.key}"
        data = self._get_bytes(uri, MAX_CRATE_BYTES, **self._object_params(folder.bucket, sentinel))
        if data is None:
            logger.warning("RO-Crate %s is larger than %d bytes; no summary in the metadata", uri, MAX_CRATE_BYTES)
            return None
        if len(data) == sentinel.size:
            sentinel.checksum = checksums.checksum_bytes(data)  # read anyway: no second request to hash it
        try:
            crate = jsonstrict.loads(data)
        except InvalidInput as exc:
            logger.warning("RO-Crate %s is not valid JSON (%s); packaging it without a summary", uri, exc)
            return None
        summary = rocrate_summary.summarize(crate, sentinel.logical_key)
        if summary is None:
            logger.warning("RO-Crate %s has no root dataset; packaging it without a summary", uri)
        return summary

    # ------------------------------------------------------------------ hashes

    @staticmethod
    def _object_params(bucket: str, obj: _Object) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": bucket, "Key": obj.key}
        if obj.version_id:
            params["VersionId"] = obj.version_id
        elif obj.etag:
            params["IfMatch"] = obj.etag  # unversioned: the bytes we hash are the ones we listed
        return params

    def _hash_all(self, bucket: str, objects: list[_Object]) -> None:
        todo = [o for o in objects if o.checksum is None]
        if len(todo) <= 1:
            for obj in todo:
                obj.checksum = self._checksum(bucket, obj)
            return
        with ThreadPoolExecutor(min(self.max_workers, len(todo)), thread_name_prefix="qps-hash") as pool:
            futures: dict[Future[str], _Object] = {pool.submit(self._checksum, bucket, o): o for o in todo}
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

    def _checksum(self, bucket: str, obj: _Object) -> str:
        if obj.size == 0:
            return checksums.empty_checksum()
        uri = f"s3://{bucket}/{obj.key}"
        params = self._object_params(bucket, obj)
        if obj.algorithms is None or "SHA256" in obj.algorithms:
            head = self._call("HeadObject", uri, self.s3.head_object, ChecksumMode="ENABLED", **params)
            self._check_size(head, obj, "HeadObject", uri)
            reuse = checksums.from_head(head, obj.size)
            if isinstance(reuse, str):
                return reuse
            if isinstance(reuse, checksums.NeedParts):
                found = self._checksum_from_parts(params, uri, obj, reuse.composite_digest)
                if found is not None:
                    return found
        return self._checksum_by_reading(params, uri, obj)

    @staticmethod
    def _check_size(resp: dict[str, Any], obj: _Object, action: str, uri: str) -> None:
        size = resp.get("ContentLength", resp.get("ObjectSize"))
        if size is not None and int(size) != obj.size:
            raise TransientError(f"{action} on {uri}: the object changed while it was being packaged")

    def _checksum_from_parts(self, params: dict[str, Any], uri: str, obj: _Object, composite: str | None) -> str | None:
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
            self._check_size(attrs, obj, "GetObjectAttributes", uri)
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

    def _checksum_by_reading(self, params: dict[str, Any], uri: str, obj: _Object) -> str:
        resp = self._call("GetObject", uri, self.s3.get_object, **params)
        body = resp["Body"]
        try:
            self._check_size(resp, obj, "GetObject", uri)
            return checksums.from_stream(body.read, obj.size)
        except PackagingError:
            raise
        except EOFError as exc:
            raise TransientError(f"GetObject on {uri}: {exc}") from exc
        except Exception as exc:
            raise classify(exc, "GetObject", uri) from exc
        finally:
            body.close()

    # ------------------------------------------------------------------ quilt3 phases

    def _validate_workflow(
        self, pkg: Any, registry: Any, registry_bucket: str, name: str, message: str | None, workflow: Any
    ) -> None:
        config_uri = str(registry.workflow_conf_pk)
        try:
            with quilt3_uses(self.s3):
                if workflow is None and registry.get_workflow_config() is None:
                    workflow = ...  # "" asks for no workflow; a registry without a config has none anyway
                pkg._validate_with_workflow(registry=registry, workflow=workflow, name=name, message=message)
        except Exception as exc:
            inner = find_client_error(exc)
            if inner is not None and not is_not_found(inner):
                raise classify(inner, "GetObject", config_uri) from exc
            wanted = (
                "the default workflow" if workflow is ... else "no workflow" if workflow is None else repr(workflow)
            )
            raise PermanentError(
                f"workflow validation of {name} for s3://{registry_bucket} ({wanted}; {config_uri}) failed: {exc}"
            ) from exc

    def _copy_into_registry(self, pkg: Any, registry_bucket: str, name: str) -> tuple[Any, list[PhysicalKey]]:
        """Copy every entry to `s3://registry/<name>/<logical_key>` (quilt3's layout and copier)."""
        moves: list[tuple[str, Any]] = []
        file_list: list[tuple[PhysicalKey, PhysicalKey, int]] = []
        for logical_key, entry in pkg.walk():
            dest = PhysicalKey(registry_bucket, f"{name}/{logical_key}", None)
            src = entry.physical_key
            if src.bucket == dest.bucket and src.path == dest.path:
                continue  # already in place
            moves.append((logical_key, entry))
            file_list.append((src, dest, entry.size))
        if not file_list:
            return pkg, []
        try:
            with quilt3_uses(self.s3):
                results = _q3_transfer.copy_file_list(file_list, message=None)
        except KeyError as exc:  # quilt3 reads the copy's checksum from the response
            raise PermanentError(
                f"CopyObject into s3://{registry_bucket}/{name}/: the S3 endpoint returned no {exc.args[0]} for a "
                "copied object (AWS S3 always does; some S3-compatible stores and moto omit it for multipart copies)"
            ) from exc
        except Exception as exc:
            raise self._error(exc, "CopyObject", f"s3://{registry_bucket}/{name}/") from exc
        created: list[PhysicalKey] = []
        for (logical_key, entry), (src, _, _), result in zip(moves, file_list, results, strict=True):
            if result is None:  # pragma: no cover - quilt3 raises instead
                self._discard(created)
                raise TransientError(f"CopyObject of {src} into s3://{registry_bucket}/{name}/: no result")
            new_key, copied_checksum = result
            created.append(new_key)
            new_entry = entry.with_physical_key(new_key)
            if copied_checksum is not None and copied_checksum != entry.hash["value"]:
                logger.warning("%s changed while it was copied; using the copy's checksum", src)
                new_entry.hash = {"type": checksums.HASH_TYPE, "value": copied_checksum}
            pkg.set(logical_key, new_entry)
        return pkg, created

    def _manifest_exists(self, registry: Any, name: str, top_hash: str) -> bool:
        pk = registry.manifest_pk(name, top_hash)
        try:
            self.s3.head_object(Bucket=pk.bucket, Key=pk.path)
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise classify(exc, "HeadObject", f"s3://{pk.bucket}/{pk.path}") from exc
        return True

    def _point_to(self, registry: Any, name: str, top_hash: str) -> None:
        """Write a revision pointer and `latest` for an existing manifest (what quilt3's push adds)."""
        body = top_hash.encode()
        for pk in (registry.pointer_pk(name, str(int(time.time()))), registry.pointer_latest_pk(name)):
            self._call(
                "PutObject", f"s3://{pk.bucket}/{pk.path}", self.s3.put_object, Bucket=pk.bucket, Key=pk.path, Body=body
            )

    def _discard(self, created: Iterable[PhysicalKey]) -> None:
        """Best effort: remove object versions this request copied, so a failure leaves nothing behind."""
        for pk in created:
            if pk.version_id is None:
                continue  # unversioned registry: the key may hold an older revision's data
            try:
                self.s3.delete_object(Bucket=pk.bucket, Key=pk.path, VersionId=pk.version_id)
            except Exception:
                logger.warning("could not remove %s after a failed push", pk)
