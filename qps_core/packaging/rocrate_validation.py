"""The RO-Crate validation report (docs/design.md, "RO-Crate packages"): `{level, issues}`.

Pure, and no extra S3 read: sizes come from the listing; a `sha256` is checked only where the entry
hash already pins the object's SHA-256 (a `sha2-256-chunked` hash of one chunk is the SHA-256 of the
object's SHA-256; an empty object's is the SHA-256 of nothing). A mismatch is an `error`; missing
RECOMMENDED root fields, an empty Dataset member, repeated `@id`s and a fallback to the whole folder
are `warning`s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from . import checksums
from .listing import SourceObject
from .rocrate import as_list, graph_index, ref, root_id, text

MAX_ISSUES = 50
RECOMMENDED = ("name", "description", "license", "datePublished")
_RANK = {"ok": 0, "warning": 1, "error": 2}


def issue(level: str, ident: str, message: str) -> dict[str, str]:
    return {"level": level, "id": ident[:2000], "message": message}


def report(issues: list[dict[str, str]]) -> dict[str, Any]:
    """`{level, issues}`: the worst level over every issue; at most MAX_ISSUES listed, errors first."""
    level = max((i["level"] for i in issues), key=_RANK.__getitem__, default="ok")
    ordered = sorted(issues, key=lambda i: -_RANK[i["level"]])
    out: dict[str, Any] = {"level": level, "issues": ordered[:MAX_ISSUES]}
    if len(ordered) > MAX_ISSUES:
        out["more_issues"] = len(ordered) - MAX_ISSUES
    return out


def crate_issues(crate: Any, crate_file: str) -> list[dict[str, str]]:
    """Root-level checks: RECOMMENDED root fields, `@id`s unique."""
    if not isinstance(crate, dict) or not isinstance(crate.get("@graph"), list):
        return []
    graph = crate["@graph"]
    index = graph_index(graph)
    rid = root_id(index, crate_file)
    root = index.get(rid)
    out: list[dict[str, str]] = []
    descriptor = index.get(crate_file) or index.get("ro-crate-metadata.json") or index.get("ro-crate-manifest.json")
    if descriptor is None or ref(descriptor.get("about")) is None:
        out.append(issue("warning", crate_file, "no metadata descriptor (an entity with this @id, about the root)"))
    if root is not None:
        for key in RECOMMENDED:
            if root.get(key) in (None, "", []):
                out.append(issue("warning", rid, f"the root Dataset has no {key} (RECOMMENDED)"))
    seen: set[str] = set()
    for entity in graph:
        ident = entity.get("@id") if isinstance(entity, dict) else None
        if isinstance(ident, str):
            if ident in seen:
                out.append(issue("warning", ident, "more than one entity has this @id"))
            seen.add(ident)
    return out


def _sha256_known(obj: SourceObject) -> bytes | None:
    """quilt3's hash of the object when it pins the full-object SHA-256 (one chunk), else None."""
    if obj.hash_type != checksums.HASH_TYPE or not obj.checksum:
        return None
    if obj.size > checksums.chunksize(obj.size):
        return None
    try:
        return base64.b64decode(obj.checksum, validate=True)
    except (binascii.Error, ValueError):
        return None


def sha256_matches(obj: SourceObject, sha256_hex: str) -> bool | None:
    """Whether the crate's `sha256` is the object's SHA-256; None when the hashing does not know it."""
    known = _sha256_known(obj)
    if known is None:
        return None
    try:
        digest = bytes.fromhex(sha256_hex.strip())
    except ValueError:
        return False
    if len(digest) != 32:
        return False
    if obj.size == 0:
        return digest == known
    return hashlib.sha256(digest).digest() == known


def part_issues(entities: dict[str, dict[str, Any]], objects: list[SourceObject]) -> list[dict[str, str]]:
    """`contentSize` against the listed size; `sha256` against the hash where it pins the SHA-256."""
    out: list[dict[str, str]] = []
    for obj in objects:
        entity = entities.get(obj.logical_key)
        if entity is None:
            continue
        ident = str(entity.get("@id", obj.logical_key))
        size = text(entity.get("contentSize"))
        if size is not None:
            try:
                declared = int(size.strip())
            except ValueError:
                out.append(issue("warning", ident, f"contentSize {size[:40]!r} is not a number of bytes"))
            else:
                if declared != obj.size:
                    out.append(
                        issue("error", ident, f"contentSize is {declared} but the object holds {obj.size} bytes")
                    )
        for value in as_list(entity.get("sha256"))[:1]:
            if not isinstance(value, str):
                continue
            matches = sha256_matches(obj, value)
            if matches is False:
                out.append(issue("error", ident, "sha256 does not match the object's bytes"))
    return out
