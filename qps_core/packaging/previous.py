"""What the previous revision already knows: hashes the same folder again need not ask S3 for.

    previous = read_previous(registry, name)   # `latest`, and its manifest streamed once into `previous.known`
    previous.known.hash_of(bucket, obj)        # its hash, when the old entry pins the same bytes
    previous.known.changes(new_entries)        # the revision's `changes` against it (docs/design.md §12)

An old entry's hash is reused only when its physical key names the very object version the listing
saw: same bucket, same key, same `versionId`, same size, same hash type. A version id pins an
object's bytes for good, so a changed object (a new version) is never taken from the old manifest.
An unversioned object is pinned by its ETag instead: a quilt3 manifest entry records none (its
metadata enters the top hash, so QPS cannot add one there and keep quilt3's top hash), so the commit
writes the ETags its unversioned entries were hashed at beside the manifest
(`.quilt/qps/etags/<top hash>`, one line per entry in manifest order), and the same key with the
same size and the same ETag is the same bytes. Without that record (a quilt3 push, an older QPS,
a failed write) unversioned objects are HEADed again.

The manifest is streamed line by line (the registry's reader); per entry this keeps its logical key
and one compact bytes value (a 16-byte pin of what it names, a hash-type code, the hash), about
0.2 KiB an entry. The same map gives `changes` when the commit compares with this revision, so the
previous manifest is read once for both. Reading it is an optimisation: any failure leaves nothing
known, and the packager HEADs (and the commit reads the manifest) as it would without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_plus

from .changes import Changes, Hash
from .listing import SourceObject

if TYPE_CHECKING:
    from .registry import Latest, Registry

logger = logging.getLogger(__name__)

_PIN = 16  # bytes of the BLAKE2b pin of (bucket, key, version, size, hash type)


def pin(bucket: str, key: str, version_id: str, size: int, hash_type: str) -> bytes:
    text = f"{bucket}\0{key}\0{version_id}\0{size}\0{hash_type}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_PIN).digest()


@dataclass(slots=True)
class Known:
    """The previous revision's entries by logical key (compact), and which revision that is."""

    name: str
    top_hash: str
    entries: dict[str, bytes] = field(default_factory=dict)
    types: list[str] = field(default_factory=list)  # hash-type codes: index*2 (+1: the value is kept as base64's bytes)
    reusable: int = 0  # entries pinned to an object version

    # ------------------------------------------------------------ building

    def add(
        self, logical_key: str, physical_key: str, size: int, hash_type: str, value: str, etag: str | None = None
    ) -> None:
        where = _versioned(physical_key)
        if where is None and etag:
            where = _unversioned(physical_key, etag)
        code = self._type_code(hash_type)
        decoded = _raw(value)
        if decoded is not None:
            raw, code = decoded, code + 1
        else:
            raw = value.encode("utf-8", "surrogatepass")
        prefix = b"\0"
        if where is not None:
            prefix = bytes((_PIN,)) + pin(*where, size, hash_type)
            self.reusable += 1
        self.entries[logical_key] = prefix + bytes((code,)) + raw

    def _type_code(self, hash_type: str) -> int:
        try:
            return self.types.index(hash_type) * 2
        except ValueError:
            if len(self.types) >= 127:
                raise ValueError("too many hash types in one manifest") from None
            self.types.append(hash_type)
            return (len(self.types) - 1) * 2

    # ------------------------------------------------------------ reading

    def _hash(self, value: bytes) -> Hash:
        start = 1 + value[0]
        code = value[start]
        raw = value[start + 1 :]
        text = base64.b64encode(raw).decode() if code % 2 else raw.decode("utf-8", "surrogatepass")
        return self.types[code // 2], text

    def hash_of(self, bucket: str, obj: SourceObject) -> str | None:
        """`obj`'s hash from the old entry of its logical key, if that entry names this very version."""
        version = obj.version_id if obj.version_id is not None else _etag_pin(obj.etag) if obj.etag else None
        if version is None:
            return None
        value = self.entries.get(obj.logical_key)
        if value is None or value[0] != _PIN:
            return None
        if value[1 : 1 + _PIN] != pin(bucket, obj.key, version, obj.size, obj.hash_type):
            return None
        hash_type, found = self._hash(value)
        return found if hash_type == obj.hash_type else None

    def changes(self, new_entries: Iterable[tuple[str, Hash]]) -> Changes:
        """`changes.diff_manifest` against this revision, from the map (consumed: call once)."""
        changes = Changes()
        for logical_key, new_hash in new_entries:
            old = self.entries.pop(logical_key, None)
            if old is None:
                changes.count("added", logical_key)
            elif self._hash(old) == new_hash:
                changes.count("unchanged", logical_key)
            else:
                changes.count("modified", logical_key)
        for logical_key in self.entries:
            changes.count("removed", logical_key)
        self.entries = {}
        return changes


def _raw(value: str) -> bytes | None:
    """A base64 hash value's bytes (sha2-256-chunked, CRC64NVME), when they give back the same text."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == value else None


def _versioned(physical_key: str) -> tuple[str, str, str] | None:
    """(bucket, key, version id) of an `s3://` physical key that names a version, else None."""
    if not physical_key.startswith("s3://") or "?versionId=" not in physical_key:
        return None
    rest, _, version = physical_key[5:].partition("?versionId=")
    bucket, _, path = rest.partition("/")
    if not bucket or not path or not version or "&" in version:
        return None
    return bucket, unquote(path), unquote_plus(version)  # quilt3: quote(path), urlencode(query)


def _etag_pin(etag: str) -> str:
    return f"\x01etag {etag}"  # never a version id: those are printable


def _unversioned(physical_key: str, etag: str) -> tuple[str, str, str] | None:
    """(bucket, key, the ETag's pin) of an `s3://` physical key without a version."""
    if not physical_key.startswith("s3://") or "?" in physical_key:
        return None
    bucket, _, path = physical_key[5:].partition("/")
    if not bucket or not path:
        return None
    return bucket, unquote(path), _etag_pin(etag)


def _etag_lines(lines: Iterable[bytes] | None) -> Iterator[str | None]:
    """The recorded ETags, one per manifest entry; then None for ever (a short or unreadable record
    only leaves entries unpinned)."""
    if lines is not None:
        try:
            for line in lines:
                value = json.loads(line)
                yield value if isinstance(value, str) else None
        except ValueError:
            pass
    while True:
        yield None


def from_lines(name: str, top_hash: str, lines: Iterable[bytes], etags: Iterable[bytes] | None = None) -> Known:
    """A `Known` from a manifest's JSONL lines (the first is the package metadata), and the lines of
    its recorded ETags (one per entry, in the same order) when there are any."""
    known = Known(name, top_hash)
    recorded = _etag_lines(etags)
    for line in lines:
        if not line.strip():
            continue
        record: dict[str, Any] = json.loads(line)
        logical_key = record.get("logical_key")
        if not isinstance(logical_key, str):
            continue  # the metadata line
        digest = record.get("hash") or {}
        keys = record.get("physical_keys") or [""]
        known.add(
            logical_key,
            str(keys[0]) if len(keys) == 1 else "",
            int(record.get("size") or 0),
            str(digest.get("type", "")),
            str(digest.get("value", "")),
            next(recorded),
        )
    return known


@dataclass(frozen=True, slots=True)
class Previous:
    """`latest` of `name` as read beside the listing (None: no revision yet), and its manifest's entries
    (None: none, or not readable)."""

    name: str
    latest: Latest | None
    known: Known | None


def read_previous(registry: Registry, name: str) -> Previous | None:
    """`latest` of `name` and the revision it names, streamed into a `Known`; None when `latest` cannot
    be read (the packager then works as without it: the commit reads `latest` itself)."""
    try:
        latest = registry.read_latest(name)
    except Exception as exc:
        logger.info("latest of %s not read beside the listing (%s)", name, type(exc).__name__)
        return None
    if latest is None:
        return Previous(name, None, None)
    etags = None
    try:
        top_hash = latest.top_hash
        etags = registry.open_etags(top_hash)
        lines = None if etags is None else etags.iter_lines(chunk_size=1024 * 1024)
        known = registry.stream_manifest(name, top_hash, lambda entries: from_lines(name, top_hash, entries, lines))
    except Exception as exc:
        logger.info("previous revision of %s not used (%s)", name, type(exc).__name__)
        known = None
    finally:
        if etags is not None:
            etags.close()
    return Previous(name, latest, known)
