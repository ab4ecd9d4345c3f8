"""Reading the source folder: listing, readiness, `metadata_uri`, and the RO-Crate file.

Every S3 call here reads; nothing is written. This module imports boto3 (through s3client) and is
only imported by the packager.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import jsonstrict, s3paths
from ..aws import classify, is_not_found
from ..errors import InvalidInput, NotReadyError, PackagingError, PermanentError
from ..globs import KeyFilter
from . import checksums

logger = logging.getLogger(__name__)

MAX_CRATE_BYTES = 32 * 1024 * 1024
STALL_SECONDS = 120  # a listing page that takes longer is a transient failure (a stuck connection)
MAX_METADATA_FILE_BYTES = 16 * 1024 * 1024


_PREFIXES: dict[str, str] = {}  # a folder's key prefix, one string shared by all of its objects
_MAX_PREFIXES = 4096


def _shared(prefix: str) -> str:
    found = _PREFIXES.get(prefix)
    if found is None:
        if len(_PREFIXES) >= _MAX_PREFIXES:
            _PREFIXES.clear()
        found = _PREFIXES[prefix] = prefix
    return found


_STAMPS: dict[datetime, float] = {}  # listed times, each one float shared by the objects listed with it
_MAX_STAMPS = 65536


def _stamp(when: datetime) -> float:
    found = _STAMPS.get(when)
    if found is None:
        aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # S3's times are UTC
        if len(_STAMPS) >= _MAX_STAMPS:
            _STAMPS.clear()
        found = _STAMPS[when] = aware.timestamp()
    return found


def _ascii(value: str | None) -> bytes | None:
    """A version id or hash as bytes (both are ASCII in practice: base64, hex, S3's ids); UTF-8, so
    anything else comes back the same."""
    if value is None:
        return None
    return value.encode("utf-8", "surrogatepass")


class SourceObject:
    """One listed object version, and (once hashed) its quilt3 hash.

    A folder of a million objects holds a million of these, so each is compact (docs/design.md §9,
    memory): the key is its folder's shared prefix plus the logical key (not a second copy of the
    string); the version id and the hash are held as ASCII bytes (16 bytes less each than a str);
    the time it was last modified is a float, shared by the objects listed with the same time (S3
    lists whole seconds, so a large folder has far fewer distinct times than objects)."""

    __slots__ = (
        "_checksum",
        "_prefix",
        "_stamp",
        "_version",
        "algorithms",
        "etag",
        "hash_type",
        "logical_key",
        "size",
    )

    def __init__(
        self,
        key: str,
        logical_key: str,
        size: int,
        version_id: str | None,
        etag: str | None,  # kept for unversioned objects only (what pins their bytes)
        algorithms: tuple[str, ...] | None,  # ChecksumAlgorithm from the listing, None if S3 did not say
        checksum: str | None = None,
        last_modified: datetime | None = None,
        hash_type: str = checksums.HASH_TYPE,  # the quilt3 hash type `checksum` is (one per registry)
    ) -> None:
        # the key as its prefix (shared) when it ends with the logical key, else whole, as a 1-tuple
        split = len(key) - len(logical_key)
        self._prefix: str | tuple[str] = _shared(key[:split]) if key.endswith(logical_key) else (key,)
        self.logical_key = logical_key
        self.size = size
        self.version_id = version_id
        self.etag = etag
        self.algorithms = algorithms
        self.checksum = checksum
        self._stamp = None if last_modified is None else _stamp(last_modified)
        self.hash_type = hash_type

    @property
    def key(self) -> str:
        prefix = self._prefix
        return prefix + self.logical_key if isinstance(prefix, str) else prefix[0]

    @property
    def version_id(self) -> str | None:
        value = self._version
        return None if value is None else value.decode("utf-8", "surrogatepass")

    @version_id.setter
    def version_id(self, value: str | None) -> None:
        self._version = _ascii(value)

    @property
    def checksum(self) -> str | None:
        value = self._checksum
        return None if value is None else value.decode("utf-8", "surrogatepass")

    @checksum.setter
    def checksum(self, value: str | None) -> None:
        self._checksum = _ascii(value)

    @property
    def last_modified(self) -> datetime | None:
        return None if self._stamp is None else datetime.fromtimestamp(self._stamp, UTC)

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.key,
            self.logical_key,
            self.size,
            self.version_id,
            self.etag,
            self.algorithms,
            self.checksum,
            self._stamp,
            self.hash_type,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourceObject) and type(other) is type(self) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable (the checksum arrives later), as a dataclass

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(key={self.key!r}, logical_key={self.logical_key!r}, size={self.size!r}, "
            f"version_id={self.version_id!r}, checksum={self.checksum!r})"
        )

    def params(self, bucket: str) -> dict[str, Any]:
        """Bucket/Key plus what pins the version we listed: VersionId, else IfMatch on the ETag."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": self.key}
        if self.version_id:
            params["VersionId"] = self.version_id
        elif self.etag:
            params["IfMatch"] = self.etag  # unversioned: the bytes we hash are the ones we listed
        return params


def list_folder(
    s3: Any,
    folder: s3paths.S3Folder,
    *,
    hash_type: str = checksums.HASH_TYPE,
    max_objects: int | None = None,
    on_page: Callable[[list[SourceObject]], None] | None = None,
    lister: Callable[[str, str], Iterator[dict[str, Any]]] | None = None,
    keep: Callable[[str], bool] | None = None,
) -> list[SourceObject]:
    """Latest versions under the folder, minus folder markers and the registry's `.quilt/`, and
    minus what the request's filters leave out (`keep(logical_key)`, see `key_filter`): before hashing,
    so an excluded object costs only its listing.

    `on_page` sees each page's objects as it arrives (hashing starts before the listing ends).
    `lister(bucket, prefix)` yields ListObjectVersions pages (boto3's shape) instead of boto3's
    paginator: `lean_pages` parses them in a fraction of botocore's CPU.
    More than `max_objects` objects fail at once, before the rest is listed.
    """
    objects: list[SourceObject] = []
    try:
        pages = (
            lister(folder.bucket, folder.prefix)
            if lister is not None
            else s3.get_paginator("list_object_versions").paginate(Bucket=folder.bucket, Prefix=folder.prefix)
        )
        for page in pages:
            first = len(objects)
            for version in page.get("Versions", ()):
                if not version.get("IsLatest", True):
                    continue
                key = version["Key"]
                if key.endswith("/") or s3paths.is_quilt_internal(key):
                    continue
                logical_key = key[len(folder.prefix) :]
                if any(part in ("", ".", "..") for part in logical_key.split("/")):
                    raise PermanentError(
                        f"ListObjectVersions on {folder.uri}: object key {key!r} cannot be a package "
                        "entry (empty, '.' or '..' path segment)"
                    )
                if keep is not None and not keep(logical_key):
                    continue
                version_id = version.get("VersionId")
                version_id = None if version_id in (None, "", "null") else version_id
                algorithms = version.get("ChecksumAlgorithm")
                objects.append(
                    SourceObject(
                        key=key,
                        logical_key=logical_key,
                        size=int(version.get("Size", 0)),
                        version_id=version_id,
                        etag=None if version_id else version.get("ETag"),  # only unversioned reads pin on it
                        algorithms=_algorithms(algorithms),
                        last_modified=version.get("LastModified"),
                        hash_type=hash_type,
                    )
                )
            if max_objects is not None and len(objects) > max_objects:
                raise PermanentError(
                    f"ListObjectVersions on {folder.uri}: the folder holds more than {max_objects:,} objects, over "
                    "the max_objects setting (the most one packaging call can finish in time); package smaller "
                    "folders or raise max_objects"
                )
            if on_page is not None and len(objects) > first:
                on_page(objects[first:])
    except PackagingError:
        raise
    except Exception as exc:
        raise classify(exc, "ListObjectVersions", folder.uri) from exc
    return objects


def key_filter(include: list[str] | None, exclude: list[str] | None, sentinel_names: list[str]) -> KeyFilter | None:
    """The request's include/exclude filters over logical keys (docs/design.md §12), None when it has
    none. The RO-Crate sentinel at the folder's top is always kept."""
    return KeyFilter.compile(include, exclude, always=[n for n in sentinel_names if "/" not in n])


def lean_pages(heads: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """ListObjectVersions pages over the lean client (`s3head.S3Head.get`), parsed with ElementTree.

    botocore spends ~0.5 ms of CPU per listed version (its XML shape walk and dateutil): most of a
    large folder's packaging time. Pages have boto3's field names for what `list_folder` reads.
    """
    import xml.etree.ElementTree as ET
    from urllib.parse import unquote

    query = {"versions": "", "prefix": prefix, "encoding-type": "url"}
    while True:
        _, body = heads.get(bucket, "", query).result(timeout=STALL_SECONDS)
        root = ET.fromstring(body)
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        encoded = root.findtext(f"{ns}EncodingType") == "url"

        def text(node: Any, name: str, *, key: bool = False, ns: str = ns, encoded: bool = encoded) -> str | None:
            value = node.findtext(ns + name)
            return unquote(value) if key and encoded and value is not None else value

        versions = []
        for node in root.iter(f"{ns}Version"):
            stamp = text(node, "LastModified")
            versions.append(
                {
                    "Key": text(node, "Key", key=True),
                    "VersionId": text(node, "VersionId"),
                    "IsLatest": text(node, "IsLatest") == "true",
                    "Size": int(text(node, "Size") or 0),
                    "ETag": text(node, "ETag"),
                    "LastModified": datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None,
                    "ChecksumAlgorithm": [a.text for a in node.iter(f"{ns}ChecksumAlgorithm") if a.text] or None,
                }
            )
        yield {"Versions": versions}
        if text(root, "IsTruncated") != "true":
            return
        query = {
            "versions": "",
            "prefix": prefix,
            "encoding-type": "url",
            "key-marker": text(root, "NextKeyMarker", key=True) or "",
        }
        marker = text(root, "NextVersionIdMarker")
        if marker:
            query["version-id-marker"] = marker


_ALGORITHMS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _algorithms(value: Any) -> tuple[str, ...] | None:
    """The listed ChecksumAlgorithm as a shared tuple (a million objects share a handful of values)."""
    if value is None:
        return None
    key = tuple(value)
    return _ALGORITHMS.setdefault(key, key)


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    """HeadObject: does `key` name an object? (Not found is an answer, not an error.)"""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if is_not_found(exc):
            return False
        raise classify(exc, "HeadObject", f"s3://{bucket}/{key}") from exc
    return True


def check_quiet(quiet: int, folder: s3paths.S3Folder, objects: list[SourceObject]) -> None:
    """Readiness: wait while any object is younger than `quiet` seconds (still being written)."""
    if quiet <= 0:
        return
    newest = max((o.last_modified for o in objects if o.last_modified is not None), default=None)
    if newest is None:
        return
    age = (datetime.now(UTC) - newest).total_seconds()
    if age < quiet:
        wait = max(1, math.ceil(quiet - age))
        raise NotReadyError(
            f"ListObjectVersions on {folder.uri}: the newest object is {max(age, 0):.0f} s old, "
            f"younger than the {quiet} s quiet period; retry in {wait} s",
            retry_after=wait,
        )


def get_bytes(s3: Any, uri: str, limit: int, **params: Any) -> bytes | None:
    """An object's bytes, or None if it is larger than `limit`."""
    try:
        resp = s3.get_object(**params)
    except Exception as exc:
        raise classify(exc, "GetObject", uri) from exc
    body = resp["Body"]
    try:
        if int(resp.get("ContentLength", 0)) > limit:
            return None
        data: bytes = body.read()
        return data
    except Exception as exc:
        raise classify(exc, "GetObject", uri) from exc
    finally:
        body.close()


def read_metadata(s3: Any, uri: str, max_bytes: int) -> dict[str, Any]:
    """The JSON object `metadata_uri` names (at most `max_bytes` as compact JSON)."""
    bucket, _, key = uri[5:].partition("/")
    data = get_bytes(s3, uri, MAX_METADATA_FILE_BYTES, Bucket=bucket, Key=key)
    if data is None:
        raise PermanentError(f"metadata_uri {uri}: the object is larger than {MAX_METADATA_FILE_BYTES} bytes")
    try:
        value = jsonstrict.loads(data)
    except InvalidInput as exc:
        raise PermanentError(f"metadata_uri {uri}: {json_problem(exc)}") from None
    if not isinstance(value, dict):
        raise PermanentError(f"metadata_uri {uri}: must hold a JSON object, not {type(value).__name__}")
    size = len(jsonstrict.dumps_compact(value).encode("utf-8"))
    if size > max_bytes:
        raise PermanentError(
            f"metadata_uri {uri}: is {size} bytes as compact JSON, over the limit of {max_bytes} bytes"
        )
    return value


_JSON_PROBLEMS = (
    ("duplicate key", "holds a duplicate key"),
    ("not UTF-8", "is not UTF-8"),
    ("lone surrogate", "holds a lone surrogate"),
    ("NaN", "holds NaN or Infinity"),
    ("nesting", "is nested too deeply"),
    ("too large", "holds a number out of range"),
    ("extra data", "has data after the JSON document"),
)


def json_problem(exc: InvalidInput) -> str:
    """What is wrong with an object's JSON, never quoting the object (its content is not ours to echo)."""
    text = str(exc)
    for marker, problem in _JSON_PROBLEMS:
        if marker in text:
            return f"is not valid strict JSON: it {problem}"
    return "is not valid JSON"


@dataclass(slots=True)
class CrateFile:
    """The folder's sentinel crate, read once: the parsed JSON, or why it cannot be used."""

    obj: SourceObject
    crate: Any = None
    problem: str | None = None


class ForeignObject(SourceObject):
    """An object outside the folder (an RO-Crate `s3://` member), referenced in place from its bucket."""

    __slots__ = ("bucket",)

    def __init__(self, *args: Any, bucket: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bucket = bucket

    def _fields(self) -> tuple[Any, ...]:
        return (*super()._fields(), self.bucket)


def read_crate(
    s3: Any, folder: s3paths.S3Folder, objects: list[SourceObject], sentinel_names: list[str]
) -> CrateFile | None:
    """The folder's RO-Crate, if it has a sentinel at its top (one GetObject); hashes the sentinel on the way."""
    names = {n for n in sentinel_names if "/" not in n}  # a sentinel sits at the top of the folder
    by_name = {o.logical_key: o for o in objects if o.logical_key in names}  # not a dict of every object
    sentinel = next((by_name[n] for n in sentinel_names if n in by_name), None)
    if sentinel is None:
        return None
    uri = f"s3://{folder.bucket}/{sentinel.key}"
    data = get_bytes(s3, uri, MAX_CRATE_BYTES, **sentinel.params(folder.bucket))
    if data is None:
        return CrateFile(sentinel, problem=f"the crate file is larger than {MAX_CRATE_BYTES} bytes")
    if len(data) == sentinel.size:
        sentinel.checksum = checksums.checksum_bytes(data, sentinel.hash_type)  # read anyway: no second request
    try:
        crate = jsonstrict.loads(data)
    except InvalidInput as exc:
        return CrateFile(sentinel, problem=f"the crate file {json_problem(exc)}")
    return CrateFile(sentinel, crate)
