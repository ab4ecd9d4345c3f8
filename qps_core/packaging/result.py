"""What the packager reports for one request it built or found unchanged (plain data, no quilt3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..models import PackageRequest
    from .changes import Changes


@dataclass(frozen=True, slots=True)
class PackageResult:
    status: Literal["created", "unchanged"]
    top_hash: str
    files: int
    bytes: int
    request: PackageRequest  # the request as packaged (a path naming an object becomes that object's folder)
    changes: Changes | None = None  # on `created`: against the previous `latest` (docs/design.md §12)
    #: objects hashed by each path (docs/design.md §9): `reused` (S3's own checksum), `server` (S3
    #: computed it on a scratch copy), `read` (the bytes were read); empty objects count in none.
    checksum_paths: dict[str, int] = field(default_factory=dict)
    rocrate: dict[str, Any] | None = None  # a crate-directed package: {mode, parts, validation}

    @property
    def registry(self) -> str:
        return self.request.registry

    @property
    def package_name(self) -> str:
        return self.request.package_name

    @property
    def source_prefix(self) -> str:
        return self.request.source_prefix
