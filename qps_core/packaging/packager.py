"""The shared packager: an S3 folder → a quilt3 package revision in a registry (docs/design.md §5).

    packager = Packager(settings, endpoint_url=None)
    result = packager.package(request)      # PackageResult, or PermanentError / TransientError

Phases, one module each: resolve the request (`resolve`: allow-lists, the folder, the name) → read
the source (`listing`: objects, metadata, the RO-Crate file; `rocrate_step`: a crate's parts) → hash
(`hashing`) → the registry
(`registry`: latest revision, workflow validation, and the commit: copies, manifest, pointers).

This module imports boto3 and quilt3 (through those modules); nothing else in qps_core imports it
at module level (the rest of qps_core reaches it as `qps_core.packaging.Packager`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from quilt3.util import QuiltException

from ..aws import classify, find_client_error
from ..errors import PackagingError, PermanentError
from ..models import PackageRequest
from ..settings import Settings
from . import listing, previous
from .gcpause import no_full_collections
from .hashing import DEFAULT_WORKERS, Hasher, HashRun
from .manifest import Manifest
from .registry import Registry
from .resolve import check_allowed, resolve
from .result import PackageResult
from .rocrate_step import CrateStep
from .s3client import make_client

logger = logging.getLogger(__name__)


class Packager:
    """Builds quilt3 packages from S3 folders. One S3 client per Packager, shared with quilt3."""

    def __init__(self, settings: Settings, endpoint_url: str | None = None, *, max_workers: int = DEFAULT_WORKERS):
        self.settings = settings
        self.endpoint_url = endpoint_url or settings.endpoint_url or None
        # endpoint None: boto3 itself honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3.
        self.s3: Any = make_client(self.endpoint_url)
        self.hasher = Hasher(self.s3, max_workers, settings=settings, endpoint_url=self.endpoint_url)

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

    def _package(self, request: PackageRequest) -> PackageResult:
        # Hashing starts as listing pages arrive; server-side checksums use the registry's .quilt/ scratch area.
        # `latest` and its revision are read beside the listing: hashes of unchanged object versions are reused,
        # and the commit starts from that `latest`. So is the registry's workflow config.
        registry = Registry(self.s3, request.registry)
        reader = ThreadPoolExecutor(2, thread_name_prefix="qps-previous")
        try:
            earlier = reader.submit(previous.read_previous, registry, request.package_name)
            registry.read_workflow_config(reader)
            with no_full_collections(), self.hasher.run(request.folder.bucket, request.registry) as hashing:
                hashing.use_previous(earlier)
                return self._package_hashing(request, hashing, registry, earlier.result)
        finally:
            reader.shutdown(wait=False, cancel_futures=True)  # a failure does not wait for the read

    def _package_hashing(
        self,
        request: PackageRequest,
        hashing: HashRun,
        registry: Registry,
        earlier: Callable[[], previous.Previous | None],
    ) -> PackageResult:
        sentinels = {n for n in self.settings.sentinel_names if "/" not in n}  # hashed from the one read of the crate

        def on_page(page: list[listing.SourceObject]) -> None:
            hashing.submit([o for o in page if o.logical_key not in sentinels])

        resolved = resolve(self.s3, self.settings, request, on_page=on_page, lister=self.hasher.lister())
        request, objects, folder = resolved.request, resolved.objects, resolved.folder
        name = request.package_name
        listing.check_quiet(self.settings.quiet_period_seconds, folder, objects)

        crate = listing.read_crate(self.s3, folder, objects, self.settings.sentinel_names)
        step = CrateStep.plan(self.settings, request, folder, crate, objects) if crate is not None else None
        if step is not None:  # the crate decides which files, and may name the package
            request, name, objects = step.request, step.request.package_name, step.selection.objects
            for bucket, foreign in step.resolve_external(self.s3, self.settings).items():
                self.hasher.hash_all(bucket, list(foreign), request.registry)
            objects = step.objects

        meta = dict(request.metadata) if request.metadata is not None else {}
        if request.metadata is None and request.metadata_uri:
            meta = listing.read_metadata(self.s3, request.metadata_uri, self.settings.max_metadata_bytes)

        hashing.wait(objects)
        if step is not None:
            step.finish(self.settings)
            meta.setdefault("ro-crate", step.meta)

        # One record per object (the listed SourceObject); no quilt3 Package holding every entry again.
        pkg = Manifest(folder.bucket, objects, meta, step.entry_meta if step is not None else None)
        message = request.message
        workflow: Any = ... if request.workflow is None else (request.workflow or None)
        registry.validate_workflow(pkg, name, message, workflow)
        pkg.set_message(message)

        commit = registry.commit(
            pkg, name, should_copy=request.should_copy, attempt=uuid.uuid4().hex, previous=earlier()
        )
        if commit.status == "created":
            logger.info("created %s@%s in s3://%s (%d files)", name, commit.top_hash, request.registry, len(objects))
        result = PackageResult(
            commit.status,
            commit.top_hash,
            len(objects),
            sum(o.size for o in objects),
            request,
            changes=commit.changes,
            checksum_paths=dict(hashing.paths),
        )
        return result if step is None else replace(result, rocrate=step.summary)
