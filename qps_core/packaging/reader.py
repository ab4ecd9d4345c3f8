"""Read revisions back from a registry: the one reader behind `qps show` and the REST API.

`None` means "no such package or revision" (the API's 404, `qps show`'s error); any other failure
raises `PermanentError`/`TransientError` with one line naming the package.

Every quilt3 call here runs with one S3 client per endpoint, made once per process and shared
(`s3client.quilt3_uses`, as the packager does): quilt3 on its own builds a new boto3 session and
client for each S3 call (~130 ms each), which made `GET /v1/packages/...` take most of a second.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import quilt3

from .. import aws
from ..errors import PermanentError, TransientError, one_line
from .s3client import make_client, quilt3_uses

_CLIENTS: dict[str | None, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client() -> Any:
    """The reader's S3 client for the current endpoint (`AWS_ENDPOINT_URL[_S3]`), made once."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    with _CLIENTS_LOCK:
        if endpoint not in _CLIENTS:
            _CLIENTS[endpoint] = make_client()
        return _CLIENTS[endpoint]


@contextmanager
def _one_client() -> Iterator[None]:
    with quilt3_uses(shared_client()):
        yield


def _fail(name: str, registry: str, exc: BaseException) -> Exception:
    cls = TransientError if aws.is_transient_code(aws.error_code_in_chain(exc)) else PermanentError
    return cls(f"cannot read package {name} from s3://{registry}: {one_line(exc)}")


def _missing(exc: BaseException) -> bool:
    text = str(exc)
    return aws.is_missing_code(aws.error_code_in_chain(exc)) or "does not exist" in text or "No such" in text


def _when(stamp: str) -> str | None:
    try:
        return datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


POINTERS_PREFIX = ".quilt/named_packages/"  # quilt3's revision pointers: <name>/<timestamp> holds a top hash
_POINTER_CACHE_MAX = 10_000
_POINTERS: dict[tuple[str, str, str], str] = {}  # (bucket, key, ETag) -> top hash; a pointer's ETag names its content


def _pointer(s3: Any, registry: str, key: str, etag: str) -> str:
    """A revision pointer's top hash, read once per (key, ETag): an unchanged object is not read again."""
    cached = _POINTERS.get((registry, key, etag))
    if cached is not None:
        return cached
    top = s3.get_object(Bucket=registry, Key=key)["Body"].read().decode().strip()
    if len(_POINTERS) >= _POINTER_CACHE_MAX:
        _POINTERS.clear()
    _POINTERS[(registry, key, etag)] = top
    return top


def list_revisions(registry: str, name: str) -> list[dict[str, Any]] | None:
    """Every named revision (`top_hash`, `time`), newest first; None when the package (or bucket) does not exist.

    What `quilt3.list_package_versions` reads (one listing, then each pointer), with the shared
    client and pointers already read taken from memory: one ListObjectsV2 per call when nothing
    changed."""
    prefix = f"{POINTERS_PREFIX}{name}/"
    named: list[tuple[str, str]] = []
    try:
        s3 = shared_client()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=registry, Prefix=prefix):
            for obj in page.get("Contents", []):
                stamp = obj["Key"][len(prefix) :]
                if stamp and "/" not in stamp and stamp != "latest":
                    named.append((stamp, _pointer(s3, registry, obj["Key"], str(obj.get("ETag", "")))))
    except Exception as exc:
        if _missing(exc):
            return None
        raise _fail(name, registry, exc) from None
    if not named:
        return None
    named.sort(key=lambda item: int(item[0]) if item[0].isdigit() else 0, reverse=True)
    return [{"top_hash": top, "time": _when(stamp)} for stamp, top in named]


def _browse(registry: str, name: str, top_hash: str | None) -> Any:
    try:
        with _one_client():
            return quilt3.Package.browse(name, registry=f"s3://{registry}", top_hash=top_hash)
    except Exception as exc:
        if _missing(exc):
            return None
        raise _fail(name, registry, exc) from None


def _entry(logical_key: str, entry: Any) -> dict[str, Any]:
    return {
        "logical_key": logical_key,
        "size": entry.size or 0,
        "hash": (entry.hash or {}).get("value", ""),
        "physical_key": str(entry.physical_key),
        **({"meta": entry.meta} if entry.meta else {}),  # entry metadata (an RO-Crate part's own facts)
    }


def _summary(registry: str, name: str, pkg: Any, entries: list[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "registry": registry,
        "package_name": name,
        "top_hash": pkg.top_hash,
        "message": pkg._meta.get("message"),
        "metadata": pkg.meta,
        "files": len(entries),
        "bytes": sum(entry.size or 0 for _, entry in entries),
    }


def read_revision(
    registry: str, name: str, top_hash: str | None = None, *, offset: int = 0, limit: int | None = None
) -> dict[str, Any] | None:
    """One revision (default: the latest) with its entries in logical-key order: `limit` of them from
    `offset` (all when `limit` is None), and `next_offset` when more follow. None when there is none."""
    if top_hash is not None and list_revisions(registry, name) is None:
        return None
    pkg = _browse(registry, name, top_hash)
    if pkg is None:
        return None
    entries = sorted(pkg.walk(), key=lambda item: item[0])
    out = _summary(registry, name, pkg, entries)
    end = len(entries) if limit is None else offset + limit
    out["entries"] = [_entry(key, entry) for key, entry in entries[offset:end]]
    if end < len(entries):
        out["next_offset"] = end
    return out


_SUMMARY_CACHE_MAX = 256
_SUMMARIES: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()  # (bucket, name, top hash) -> summary
_SUMMARIES_LOCK = threading.Lock()


def _latest_summary(registry: str, name: str, top_hash: str) -> dict[str, Any] | None:
    """A revision's summary, parsed once: a top hash names the manifest's content, so what it says never
    changes (whether the revision still exists is the listing's answer, read on every call)."""
    key = (registry, name, top_hash)
    with _SUMMARIES_LOCK:
        if key in _SUMMARIES:
            _SUMMARIES.move_to_end(key)
            return _SUMMARIES[key]
    pkg = _browse(registry, name, top_hash)
    if pkg is None:
        return None
    summary = _summary(registry, name, pkg, list(pkg.walk()))
    with _SUMMARIES_LOCK:
        _SUMMARIES[key] = summary
        while len(_SUMMARIES) > _SUMMARY_CACHE_MAX:
            _SUMMARIES.popitem(last=False)
    return summary


def read_latest(registry: str, name: str) -> dict[str, Any] | None:
    """The newest revision's summary plus the revision list; None when there is no such package.

    One ListObjectsV2 per call: pointers already read and summaries already parsed come from memory."""
    listed = list_revisions(registry, name)
    if not listed:
        return None
    summary = _latest_summary(registry, name, listed[0]["top_hash"])
    if summary is None:
        return None
    return {**copy.deepcopy(summary), "revisions": listed}
