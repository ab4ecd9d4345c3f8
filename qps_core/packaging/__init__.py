"""Packaging: an S3 folder becomes a quilt3 package revision, and revisions are read back
(docs/design.md §5, §9).

The rest of qps_core uses only these names, each loaded on first use (quilt3 and boto3 load then,
never at a cold start that packages nothing):

- `Packager(settings)`: `.package(request)` builds the revision a request describes, or finds it
  unchanged, and returns a `PackageResult`; failures are `PermanentError` / `TransientError`.
- `PackageResult`: status, top hash, file and byte counts, the request as packaged.
- `read_revision(registry, name, top_hash=None, offset=0, limit=None)`: a revision's message,
  metadata and entries; `list_revisions(registry, name)`: a package's revisions, newest first;
  `read_latest(registry, name)`: the newest revision with the list. `None` when there is none.

Inside, one module per phase: `resolve` (allow-lists, the folder, the name) → `listing` (the
folder's objects, metadata, RO-Crate summary via `rocrate`) → `hashing` (`checksums`,
`checksum_io`, `s3head`) → `manifest` → `registry` (workflow validation and the commit protocol;
`changes`: what a revision changed against the previous one, its manifest streamed);
`reader` reads revisions back; `s3client` is the one S3 client shared with quilt3; `quilt` sets
quilt3's quiet defaults and defers its admin modules, before any module here imports quilt3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import quilt as _quilt

_quilt.prepare()  # before any module of this package imports quilt3

if TYPE_CHECKING:
    from .packager import Packager
    from .reader import list_revisions, read_latest, read_revision
    from .result import PackageResult

__all__ = ["PackageResult", "Packager", "list_revisions", "read_latest", "read_revision"]


def __getattr__(name: str) -> Any:
    """The public names, each imported on first use (written out, so the import graph sees them)."""
    value: Any
    if name == "Packager":
        from .packager import Packager as value
    elif name == "PackageResult":
        from .result import PackageResult as value
    elif name in ("read_revision", "read_latest", "list_revisions"):
        from . import reader

        value = getattr(reader, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
