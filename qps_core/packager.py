"""The shared packager: an S3 folder → a quilt3 package revision in a registry (docs/design.md §5).

    packager = Packager(settings, endpoint_url=None)
    result = packager.package(request)      # PackageResult, or PermanentError / TransientError

Phases, one module each: resolve the request (`resolve`: allow-lists, the folder, the name) → read
the source (`source`: listing, metadata, RO-Crate summary) → hash (`hashing`) → the registry
(`registry`: latest revision, workflow validation, and the commit: copies, manifest, pointers).

This module imports boto3 and quilt3 (through those modules); nothing else in qps_core imports it
at module level.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from quilt3.util import QuiltException

from . import source
from .errors import PackagingError, PermanentError
from .hashing import DEFAULT_WORKERS, Hasher
from .models import PackageRequest
from .registry import Registry, build_package
from .resolve import check_allowed, resolve
from .s3client import classify, find_client_error, make_client
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PackageResult:
    status: Literal["created", "unchanged"]
    registry: str
    package_name: str
    top_hash: str
    files: int
    bytes: int
    source_prefix: str
    request: PackageRequest  # the request as packaged (the folder of a named object)


class Packager:
    """Builds quilt3 packages from S3 folders. One S3 client per Packager, shared with quilt3."""

    def __init__(self, settings: Settings, endpoint_url: str | None = None, *, max_workers: int = DEFAULT_WORKERS):
        self.settings = settings
        self.endpoint_url = endpoint_url or settings.endpoint_url or None
        # endpoint None: boto3 itself honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3.
        self.s3: Any = make_client(self.endpoint_url)
        self.hasher = Hasher(self.s3, max_workers)

    def package(self, request: PackageRequest) -> PackageResult:
        """Build (or find unchanged) the package a request describes."""
        check_allowed(self.settings, request)
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

    def _hash_all(self, bucket: str, objects: list[source.SourceObject]) -> None:
        self.hasher.hash_all(bucket, objects)

    def _package(self, request: PackageRequest) -> PackageResult:
        resolved = resolve(self.s3, self.settings, request)
        request, objects, folder = resolved.request, resolved.objects, resolved.folder
        name = request.package_name
        source.check_quiet(self.settings.quiet_period_seconds, folder, objects)

        registry = Registry(self.s3, request.registry)
        meta = dict(request.metadata) if request.metadata is not None else {}
        if request.metadata is None and request.metadata_uri:
            meta = source.read_metadata(self.s3, request.metadata_uri, self.settings.max_metadata_bytes)
        summary = source.crate_summary(self.s3, folder, objects, self.settings.sentinel_names)
        if summary is not None and "ro-crate" not in meta:
            meta["ro-crate"] = summary

        self._hash_all(folder.bucket, objects)

        pkg = build_package(folder.bucket, objects, meta)
        message = request.message
        workflow: Any = ... if request.workflow is None else (request.workflow or None)
        registry.validate_workflow(pkg, name, message, workflow)
        pkg._set_commit_message(message)

        pins = {o.key: o.etag for o in objects if o.version_id is None and o.etag}
        commit = registry.commit(pkg, name, should_copy=request.should_copy, attempt=uuid.uuid4().hex, pins=pins)
        if commit.status == "created":
            logger.info("created %s@%s in s3://%s (%d files)", name, commit.top_hash, request.registry, len(objects))
        return PackageResult(
            status=commit.status,
            registry=request.registry,
            package_name=name,
            top_hash=commit.top_hash,
            files=len(objects),
            bytes=sum(o.size for o in objects),
            source_prefix=folder.uri,
            request=request,
        )
