"""The allow-lists (docs/design.md §5): which registries QPS may write to, and which folders and
metadata files it may read. One check for every entry point: the packager refuses before any S3
call; the API answers 403 to such a package request and lists such a request planned from a
submitted event as rejected, queueing nothing. Imports nothing heavy (no boto3, no quilt3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .models import PackageRequest, registry_refusal
from .settings import Settings


@dataclass(frozen=True)
class Refusal:
    """Why a request may not run: `kind` says which list refused it, `message` is the one-line error."""

    kind: Literal["registry", "source"]
    message: str


def source_allowed(settings: Settings, bucket: str, key: str) -> bool:
    """Whether `allowed_sources` (or, unset, the allowed registries) cover s3://bucket/key."""
    allowed = settings.source_allow_list()
    uri = f"s3://{bucket}/{key}"
    return not allowed or any(uri.startswith(entry) for entry in allowed)


def refusal(settings: Settings, request: PackageRequest) -> Refusal | None:
    """The first allow-list the request falls outside of (registry, folder, metadata_uri), or None.

    A deferred request (its folder comes from the adapter at packaging time) is checked then."""
    if request.deferred:
        return None
    refused = registry_refusal(request.registry, settings.allowed_registries)
    if refused is not None:
        return Refusal("registry", f"registry {refused}")
    folder = request.folder
    if not source_allowed(settings, folder.bucket, folder.prefix):
        return Refusal("source", f"source_prefix {folder.uri} is not an allowed source ({_shown(settings)})")
    uri = request.metadata_uri
    if uri:
        bucket, _, key = uri[5:].partition("/")
        if not source_allowed(settings, bucket, key):
            return Refusal("source", f"metadata_uri {uri} is not an allowed source ({_shown(settings)})")
    return None


def _shown(settings: Settings) -> str:
    entries = settings.source_allow_list()
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    return f"allowed: {shown}"
