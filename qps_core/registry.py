"""The registry: reading revisions, workflow validation, and committing a revision (copies, manifest,
pointers). The commit protocol lives here and nowhere else. `describe_package` reads a revision back
for `qps show`.

This module imports quilt3 and boto3: only the packager (and `qps show`) import it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

os.environ.setdefault("QUILT_DISABLE_USAGE_METRICS", "true")
os.environ.setdefault("QUILT_MINIMIZE_STDOUT", "true")

import quilt3
from quilt3 import data_transfer as _q3_transfer
from quilt3.backends import get_package_registry
from quilt3.packages import PackageEntry
from quilt3.util import PhysicalKey, QuiltException

from . import checksums
from .errors import PackagingError, PermanentError, TransientError, one_line
from .models import normalise_registry
from .s3client import classify, find_client_error, is_not_found, quilt3_uses
from .s3paths import check_package_name
from .source import SourceObject

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Commit:
    status: Literal["created", "unchanged"]
    top_hash: str


def build_package(bucket: str, objects: Iterable[SourceObject], meta: dict[str, Any]) -> Any:
    """A quilt3 Package referencing the listed (and hashed) objects in place."""
    pkg = quilt3.Package()
    for obj in objects:
        entry = PackageEntry(
            PhysicalKey(bucket, obj.key, obj.version_id),
            obj.size,
            {"type": obj.hash_type, "value": obj.checksum},
            None,
        )
        pkg.set(obj.logical_key, entry)
    if meta:
        pkg.set_meta(meta)
    return pkg


def error_for(exc: BaseException, action: str, uri: str) -> PackagingError:
    if isinstance(exc, PackagingError):
        return exc
    inner = find_client_error(exc)
    if inner is not None:
        return classify(inner, action, uri)
    if isinstance(exc, QuiltException):
        return PermanentError(f"{action} on {uri}: {exc}")
    return classify(exc, action, uri)


class Registry:
    """One registry bucket, through the packager's S3 client."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.q3 = get_package_registry(f"s3://{bucket}")

    # ------------------------------------------------------------------ reading

    def read_latest(self, name: str) -> str | None:
        pointer = self.q3.pointer_latest_pk(name)
        uri = f"s3://{pointer.bucket}/{pointer.path}"
        try:
            resp = self.s3.get_object(Bucket=pointer.bucket, Key=pointer.path)
            return str(resp["Body"].read().decode("utf-8", "replace").strip())
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, "GetObject", uri) from exc

    def manifest_exists(self, name: str, top_hash: str) -> bool:
        pk = self.q3.manifest_pk(name, top_hash)
        try:
            self.s3.head_object(Bucket=pk.bucket, Key=pk.path)
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise classify(exc, "HeadObject", f"s3://{pk.bucket}/{pk.path}") from exc
        return True

    # ------------------------------------------------------------------ workflow

    def validate_workflow(self, pkg: Any, name: str, message: str | None, workflow: Any) -> None:
        """quilt3's workflow validation (`workflow`: ... = the default, None = none, str = that id)."""
        config_uri = str(self.q3.workflow_conf_pk)
        try:
            with quilt3_uses(self.s3):
                if workflow is None and self.q3.get_workflow_config() is None:
                    workflow = ...  # "" asks for no workflow; a registry without a config has none anyway
                pkg._validate_with_workflow(registry=self.q3, workflow=workflow, name=name, message=message)
        except Exception as exc:
            inner = find_client_error(exc)
            if inner is not None and not is_not_found(inner):
                raise classify(inner, "GetObject", config_uri) from exc
            wanted = (
                "the default workflow" if workflow is ... else "no workflow" if workflow is None else repr(workflow)
            )
            raise PermanentError(
                f"workflow validation of {name} for s3://{self.bucket} ({wanted}; {config_uri}) failed: {exc}"
            ) from exc

    # ------------------------------------------------------------------ committing

    def commit(self, pkg: Any, name: str, message: str | None, latest: str | None, should_copy: bool) -> Commit:
        """Record `pkg` as the latest revision of `name` (unless it already is)."""
        top_hash = pkg.top_hash
        if latest == top_hash:
            logger.info("%s@%s in s3://%s is unchanged", name, top_hash, self.bucket)
            return Commit("unchanged", top_hash)
        created: list[PhysicalKey] = []
        if should_copy:
            pkg, created = self._copy_into_registry(pkg, name)
            top_hash = pkg.top_hash
        elif self.manifest_exists(name, top_hash):
            # quilt3 keeps one manifest per top hash, and the top hash leaves out physical keys: another
            # package with the same files (e.g. copied into the registry) owns it. Never repoint that
            # package's entries: reuse its manifest (byte-identical data) and add only our revision.
            self._point_to(name, top_hash)
            logger.info("%s@%s in s3://%s reuses an existing manifest", name, top_hash, self.bucket)
            return Commit("created", top_hash)
        try:
            with quilt3_uses(self.s3):
                written = pkg._build(name, self.q3, message)
        except Exception as exc:
            self._discard(created)
            where = f"s3://{self.bucket}/{self.q3.manifest_pk(name, top_hash).path}"
            raise error_for(exc, "PutObject", where) from exc
        if written != top_hash:  # pragma: no cover - quilt3 computes the same hash from the same data
            raise PermanentError(f"PutObject on s3://{self.bucket}: manifest hash {written} != {top_hash}")
        return Commit("created", top_hash)

    def _copy_into_registry(self, pkg: Any, name: str) -> tuple[Any, list[PhysicalKey]]:
        """Copy every entry to `s3://registry/<name>/<logical_key>` (quilt3's layout and copier)."""
        moves: list[tuple[str, Any]] = []
        file_list: list[tuple[PhysicalKey, PhysicalKey, int]] = []
        for logical_key, entry in pkg.walk():
            dest = PhysicalKey(self.bucket, f"{name}/{logical_key}", None)
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
                f"CopyObject into s3://{self.bucket}/{name}/: the S3 endpoint returned no {exc.args[0]} for a "
                "copied object (AWS S3 always does; some S3-compatible stores and moto omit it for multipart copies)"
            ) from exc
        except Exception as exc:
            raise error_for(exc, "CopyObject", f"s3://{self.bucket}/{name}/") from exc
        created: list[PhysicalKey] = []
        for (logical_key, entry), (src, _, _), result in zip(moves, file_list, results, strict=True):
            if result is None:  # pragma: no cover - quilt3 raises instead
                self._discard(created)
                raise TransientError(f"CopyObject of {src} into s3://{self.bucket}/{name}/: no result")
            new_key, copied_checksum = result
            created.append(new_key)
            new_entry = entry.with_physical_key(new_key)
            if copied_checksum is not None and copied_checksum != entry.hash["value"]:
                logger.warning("%s changed while it was copied; using the copy's checksum", src)
                new_entry.hash = {"type": checksums.HASH_TYPE, "value": copied_checksum}
            pkg.set(logical_key, new_entry)
        return pkg, created

    def _point_to(self, name: str, top_hash: str) -> None:
        """Write a revision pointer and `latest` for an existing manifest (what quilt3's push adds)."""
        body = top_hash.encode()
        for pk in (self.q3.pointer_pk(name, str(int(time.time()))), self.q3.pointer_latest_pk(name)):
            try:
                self.s3.put_object(Bucket=pk.bucket, Key=pk.path, Body=body)
            except Exception as exc:
                raise classify(exc, "PutObject", f"s3://{pk.bucket}/{pk.path}") from exc

    def _discard(self, created: Iterable[PhysicalKey]) -> None:
        """Best effort: remove object versions this request copied, so a failure leaves nothing behind."""
        for pk in created:
            if pk.version_id is None:
                continue  # unversioned registry: the key may hold an older revision's data
            try:
                self.s3.delete_object(Bucket=pk.bucket, Key=pk.path, VersionId=pk.version_id)
            except Exception:
                logger.warning("could not remove %s after a failed push", pk)


# ---------------------------------------------------------------------- qps show


def describe_package(
    registry: str, name: str, *, top_hash: str | None = None, endpoint_url: str | None = None
) -> dict[str, Any]:
    """A revision (default: latest) as plain data: top hash, message, metadata, entries."""
    from .local_endpoint import credentials_for

    bucket = normalise_registry(registry)
    check_package_name(name, "package name")
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    credentials_for(os.environ.get("AWS_ENDPOINT_URL"))
    try:
        pkg = quilt3.Package.browse(name, registry=f"s3://{bucket}", top_hash=top_hash)
    except Exception as exc:
        raise PermanentError(f"cannot read package {name} from s3://{bucket}: {one_line(exc)}") from None
    entries = [
        {
            "logical_key": lk,
            "size": entry.size,
            "hash": (entry.hash or {}).get("value", ""),
            "physical_key": str(entry.physical_key),
        }
        for lk, entry in pkg.walk()
    ]
    return {
        "registry": f"s3://{bucket}",
        "package_name": name,
        "top_hash": pkg.top_hash,
        "message": pkg._meta.get("message"),
        "metadata": pkg.meta,
        "entries": entries,
    }
