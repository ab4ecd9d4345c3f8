"""What the packager reports for one request it built or found unchanged (plain data, no quilt3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..models import PackageRequest


@dataclass(frozen=True, slots=True)
class PackageResult:
    status: Literal["created", "unchanged"]
    top_hash: str
    files: int
    bytes: int
    request: PackageRequest  # the request as packaged (a path naming an object becomes that object's folder)
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
