"""Read packages back from a registry for the API: latest revision, revision list, entries by page.

quilt3 loads on first use. `None` means "no such package or revision" (the API's 404); any other
failure raises `PermanentError`/`TransientError` with one line.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from .errors import PermanentError, TransientError, one_line

_MISSING_CODES = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "503", "500"}


def _quilt() -> Any:
    os.environ.setdefault("QUILT_DISABLE_USAGE_METRICS", "true")
    os.environ.setdefault("QUILT_MINIMIZE_STDOUT", "true")
    import quilt3

    return quilt3


def _code(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "response", {}).get("Error", {}).get("Code")
        if code:
            return str(code)
        seen = seen.__cause__ or seen.__context__
    return ""


def _fail(what: str, exc: BaseException) -> Exception:
    code = _code(exc)
    cls = TransientError if code in _TRANSIENT_CODES else PermanentError
    return cls(f"cannot read {what}: {one_line(exc)}")


def _when(stamp: str) -> str | None:
    try:
        return datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


def revisions(registry: str, name: str) -> list[dict[str, Any]] | None:
    """Every named revision, newest first; None when the package (or bucket) does not exist."""
    quilt3 = _quilt()
    try:
        found = [(stamp, top) for stamp, top in quilt3.list_package_versions(name, registry=f"s3://{registry}")]
    except Exception as exc:
        if _code(exc) in _MISSING_CODES:
            return None
        raise _fail(f"the revisions of {name} in s3://{registry}", exc) from None
    named = [(stamp, top) for stamp, top in found if stamp != "latest"]
    if not named:
        return None
    named.sort(key=lambda item: int(item[0]) if item[0].isdigit() else 0, reverse=True)
    return [{"top_hash": top, "time": _when(stamp)} for stamp, top in named]


def _browse(registry: str, name: str, top_hash: str) -> Any:
    quilt3 = _quilt()
    try:
        return quilt3.Package.browse(name, registry=f"s3://{registry}", top_hash=top_hash)
    except Exception as exc:
        if _code(exc) in _MISSING_CODES or "does not exist" in str(exc) or "No such" in str(exc):
            return None
        raise _fail(f"{name}@{top_hash[:12]} in s3://{registry}", exc) from None


def _summary(registry: str, name: str, pkg: Any) -> dict[str, Any]:
    entries = list(pkg.walk())
    return {
        "registry": registry,
        "package_name": name,
        "top_hash": pkg.top_hash,
        "message": pkg._meta.get("message"),
        "metadata": pkg.meta,
        "files": len(entries),
        "bytes": sum(entry.size or 0 for _, entry in entries),
    }


def latest(registry: str, name: str) -> dict[str, Any] | None:
    """The newest revision's summary plus the revision list; None when there is no such package."""
    listed = revisions(registry, name)
    if not listed:
        return None
    pkg = _browse(registry, name, listed[0]["top_hash"])
    if pkg is None:
        return None
    return {**_summary(registry, name, pkg), "revisions": listed}


def revision(registry: str, name: str, top_hash: str, *, offset: int, limit: int) -> dict[str, Any] | None:
    """One revision with `limit` entries from `offset` (in logical-key order)."""
    if revisions(registry, name) is None:
        return None
    pkg = _browse(registry, name, top_hash)
    if pkg is None:
        return None
    out = _summary(registry, name, pkg)
    page: list[dict[str, Any]] = []
    for position, (logical_key, entry) in enumerate(sorted(pkg.walk(), key=lambda item: item[0])):
        if position < offset:
            continue
        if len(page) == limit:
            out["next_offset"] = position
            break
        page.append(
            {
                "logical_key": logical_key,
                "size": entry.size or 0,
                "hash": (entry.hash or {}).get("value", ""),
                "physical_key": str(entry.physical_key),
            }
        )
    out["entries"] = page
    return out
