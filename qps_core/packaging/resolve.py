"""Resolving a request against S3: which folder is packaged, under which name (docs/design.md §2).

A `source_prefix` without a trailing `/` that names an existing object means that object's folder:
the request is rewritten here (folder, derived name, a relative `metadata_uri`), once, and the
resolved request travels on in the result, so no caller has to patch it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import allow_lists, globs, s3paths
from ..errors import PermanentError
from ..models import PackageRequest
from ..settings import Settings
from . import listing


@dataclass(frozen=True, slots=True)
class Resolved:
    """The request as it will be packaged, and the folder's listing."""

    request: PackageRequest
    objects: list[listing.SourceObject]

    @property
    def folder(self) -> s3paths.S3Folder:
        return self.request.folder


def check_allowed(settings: Settings, request: PackageRequest) -> None:
    """The allow-lists, before any S3 call: where packages go, and what may be read (docs/design.md §5)."""
    refused = allow_lists.refusal(settings, request)
    if refused is not None:
        raise PermanentError(refused.message)


def resolve(
    s3: Any,
    settings: Settings,
    request: PackageRequest,
    on_page: Callable[[list[listing.SourceObject]], None] | None = None,
    lister: Callable[[str, str], Iterator[dict[str, Any]]] | None = None,
) -> Resolved:
    """List the folder the request names (or the folder of the object it names); `on_page` sees each
    page, `lister` lists instead of boto3's paginator (see `listing.list_folder`)."""
    folder = request.folder
    keep = listing.key_filter(request.include, request.exclude, settings.sentinel_names)

    def list_folder(folder: s3paths.S3Folder) -> list[listing.SourceObject]:
        return listing.list_folder(
            s3,
            folder,
            hash_type=settings.hash_type,
            max_objects=settings.max_objects,
            on_page=on_page,
            lister=lister,
            keep=keep,
        )

    objects = list_folder(folder)
    parent_key = s3paths.folder_of_key(folder.prefix[:-1]) if folder.prefix else ""
    if (
        not objects
        and not (keep and keep.dropped)
        and folder.prefix
        and allow_lists.source_allowed(settings, folder.bucket, parent_key)
    ):
        parent = _folder_of_named_object(s3, folder)
        if parent is not None:
            request = _moved_to(request, folder, parent, settings)
            folder = parent
            objects = list_folder(folder)
    copies = f"{request.package_name}/"
    if (
        request.should_copy
        and request.registry == folder.bucket
        and copies.startswith(folder.prefix)
        and (copies != folder.prefix)
    ):
        # Copies land in s3://registry/<name>/..., inside this folder: never package them as new files.
        objects = [o for o in objects if not o.key.startswith(copies)]
    if not objects and keep is not None and keep.dropped:
        raise PermanentError(
            f"ListObjectVersions on {folder.uri}: the folder holds no objects to package: the request's filters "
            f"({globs.describe(request.include, request.exclude)}) left out all {keep.dropped:,} of its objects"
        )
    if not objects:
        raise PermanentError(f"ListObjectVersions on {folder.uri}: the folder holds no objects to package")
    return Resolved(request, objects)


def _folder_of_named_object(s3: Any, folder: s3paths.S3Folder) -> s3paths.S3Folder | None:
    """docs/design.md §2: a path that names an existing object means that object's folder."""
    key = folder.prefix[:-1]
    if not key or s3paths.is_quilt_internal(key):
        return None
    if not listing.object_exists(s3, folder.bucket, key):
        return None
    return s3paths.S3Folder(folder.bucket, s3paths.folder_of_key(key))


def _moved_to(
    request: PackageRequest, folder: s3paths.S3Folder, parent: s3paths.S3Folder, settings: Settings
) -> PackageRequest:
    """The request for `parent` instead of `folder`: a derived name follows, an explicit one stays."""
    update: dict[str, Any] = {"source_prefix": parent.uri}
    derived = s3paths.derive_package_name(folder, settings.default_prefix, settings.default_suffix)
    if request.package_name == derived:
        update["package_name"] = s3paths.derive_package_name(parent, settings.default_prefix, settings.default_suffix)
    uri = request.metadata_uri
    if uri and uri.startswith(folder.uri):  # relative to the path as given
        update["metadata_uri"] = parent.uri + uri[len(folder.uri) :]
    return request.model_copy(update=update)
