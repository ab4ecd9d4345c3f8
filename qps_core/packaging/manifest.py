"""A quilt3 package manifest built straight from the listed objects (docs/design.md §5).

    manifest = Manifest(bucket, objects, user_meta)   # objects: the hashed SourceObjects
    manifest.top_hash                                 # == quilt3.Package(...).top_hash
    manifest.dump(file)                               # == quilt3.Package._dump(file), streamed

A quilt3 `Package` of a million entries holds a PackageEntry, a PhysicalKey, a hash dict and a tree
node per object beside the listed objects themselves: every entry twice. This keeps one record per
object (the `SourceObject`), makes each entry's quilt3 view only while it is read, and writes the
JSONL line by line. The format and the top hash follow quilt3's own code (`Package._dump`,
`Package._get_top_hash_parts`); tests compare both with quilt3's `Package` for the same entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import IO, Any

from quilt3.packages import MANIFEST_MAX_RECORD_SIZE
from quilt3.util import PhysicalKey, QuiltException

from .listing import SourceObject

_TOP_HASH_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
_MANIFEST_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_NO_META: dict[str, Any] = {}
_LOGICAL_KEY = attrgetter("logical_key")


@dataclass(slots=True)
class Entry:
    """One entry as quilt3's workflow validation and the copier read it (made on demand, not kept)."""

    physical_key: PhysicalKey
    size: int
    hash: dict[str, Any]
    _meta: dict[str, Any] = field(default_factory=dict)

    @property
    def meta(self) -> dict[str, Any]:
        return self._meta.get("user_meta", {})


def _segments(key: str) -> str:
    """A logical key as quilt3 orders it: path segment by segment, so '/' sorts before everything."""
    return key.replace("/", "\x00")


def _shared_prefix(a: str, b: str) -> str:
    """The characters two keys begin with alike (not whole path segments)."""
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return a[:length]


def _order(objects: Sequence[SourceObject]) -> list[SourceObject]:
    """quilt3's walk order: path segment by segment (a '/' sorts before every other character).

    Plain string order is the same except where, at the first character two keys differ, one has
    '/' and the other a character below it (space, '-', '.', ...): "run/x" comes before "run.log".
    So the objects are sorted plainly (no new strings), then each adjacent pair is checked with
    quilt3's order, and only the block of keys sharing the prefix where a pair disagrees is sorted
    again by segments: a million sort keys are never made at once. A file and a folder of the same
    name cannot both be entries (quilt3 refuses it too).
    """
    ordered = sorted(objects, key=_LOGICAL_KEY)
    count = len(ordered)
    index = 1
    before = _segments(ordered[0].logical_key) if ordered else ""
    while index < count:
        after = _segments(ordered[index].logical_key)
        if before > after:  # this pair disagrees: reorder every key that shares their common prefix
            prefix = _shared_prefix(ordered[index - 1].logical_key, ordered[index].logical_key)
            start, end = index - 1, index + 1
            while start > 0 and ordered[start - 1].logical_key.startswith(prefix):
                start -= 1
            while end < count and ordered[end].logical_key.startswith(prefix):
                end += 1
            ordered[start:end] = sorted(ordered[start:end], key=lambda o: _segments(o.logical_key))
            before, index = _segments(ordered[end - 1].logical_key), end
            continue
        before = after
        index += 1
    previous = ""
    for obj in ordered:
        if previous and obj.logical_key.startswith(previous + "/"):
            raise QuiltException(
                f"Cannot set {obj.logical_key!r}: {previous!r} is a file, so it cannot also be a folder"
            )
        previous = obj.logical_key
    return ordered


class Manifest:
    """A package revision: its metadata line and one entry per listed object, in quilt3's order."""

    def __init__(
        self,
        bucket: str,
        objects: Sequence[SourceObject],
        user_meta: dict[str, Any],
        entry_meta: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.bucket = bucket
        self.objects = _order(objects)
        # logical key -> that entry's user metadata (an RO-Crate part's own facts); most entries have none
        self.entry_meta: dict[str, dict[str, Any]] = {k: {"user_meta": v} for k, v in (entry_meta or {}).items() if v}
        self._meta: dict[str, Any] = {"version": "v0"}
        if user_meta:
            self._meta["user_meta"] = user_meta
        self.moved: dict[int, PhysicalKey] = {}  # index -> the registry copy that replaces its source

    # quilt3's names for what workflow validation reads (`quilt3.workflows.validate`)
    @property
    def meta(self) -> dict[str, Any]:
        return self._meta.get("user_meta", {})

    def walk(self) -> Iterator[tuple[str, Entry]]:
        for index, obj in enumerate(self.objects):
            yield obj.logical_key, self.entry(index)

    def validate_with_workflow(self, *, registry: Any, workflow: Any, name: str, message: str | None) -> None:
        """quilt3's `Package._validate_with_workflow`: validate, then record the workflow in the metadata."""
        from quilt3 import workflows

        value = workflows.validate(registry=registry, workflow=workflow, name=name, pkg=self, message=message)
        if value:
            self._meta["workflow"] = value
        else:
            self._meta.pop("workflow", None)

    def set_message(self, message: str | None) -> None:
        self._meta["message"] = message  # quilt3 records None too

    def bucket_of(self, obj: SourceObject) -> str:
        """The object's bucket: the folder's, or its own for an object referenced from elsewhere."""
        return getattr(obj, "bucket", None) or self.bucket

    def entry(self, index: int) -> Entry:
        obj = self.objects[index]
        pk = self.moved.get(index) or PhysicalKey(self.bucket_of(obj), obj.key, obj.version_id)
        meta = self.entry_meta.get(obj.logical_key, _NO_META)
        return Entry(pk, obj.size, {"type": obj.hash_type, "value": obj.checksum}, dict(meta))

    @property
    def top_hash(self) -> str:
        """quilt3's top hash: SHA-256 over the metadata and each entry as sorted compact JSON."""
        assert "top_hash" not in self._meta
        digest = hashlib.sha256(_TOP_HASH_JSON(self._meta).encode())
        for obj in self.objects:
            if obj.checksum is None:
                raise QuiltException(f"PackageEntry missing hash and/or size: s3://{self.bucket}/{obj.key}")
            part = {
                "hash": {"type": obj.hash_type, "value": obj.checksum},
                "logical_key": obj.logical_key,
                "meta": self.entry_meta.get(obj.logical_key, _NO_META),
                "size": obj.size,
            }
            digest.update(_TOP_HASH_JSON(part).encode())
        return digest.hexdigest()

    def dump(self, out: IO[bytes]) -> None:
        """quilt3's JSONL manifest, written one line at a time."""
        out.write(_line(self._meta, None))
        for index, obj in enumerate(self.objects):
            pk = self.moved.get(index) or PhysicalKey(self.bucket_of(obj), obj.key, obj.version_id)
            record = {
                "logical_key": obj.logical_key,
                "physical_keys": [str(pk)],
                "size": obj.size,
                "hash": {"type": obj.hash_type, "value": obj.checksum},
                "meta": self.entry_meta.get(obj.logical_key, _NO_META),
            }
            out.write(_line(record, obj.logical_key))

    def dump_etags(self, out: IO[bytes]) -> int:
        """The ETags of unversioned entries, one JSON line per entry in manifest order (`null` where the
        entry names an object version or a copy): what lets the same unversioned folder again skip its
        HEADs (`previous.py`). Returns how many ETags were written."""
        written = 0
        for index, obj in enumerate(self.objects):
            etag = None if obj.version_id is not None or index in self.moved else obj.etag
            out.write(b"null\n" if etag is None else _MANIFEST_JSON(etag).encode() + b"\n")
            written += etag is not None
        return written


def _line(record: dict[str, Any], logical_key: str | None) -> bytes:
    data = _MANIFEST_JSON(record).encode()
    if len(data) > MANIFEST_MAX_RECORD_SIZE:
        what = "package metadata" if logical_key is None else f"entry with logical key {logical_key!r}"
        raise QuiltException(
            f"Size of manifest record for {what} is {len(data)} bytes, but must be less than "
            f"{MANIFEST_MAX_RECORD_SIZE} bytes (QUILT_MANIFEST_MAX_RECORD_SIZE)"
        )
    return data + b"\n"
