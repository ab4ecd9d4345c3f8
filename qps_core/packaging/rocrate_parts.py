"""Which files an RO-Crate package holds: the crate's parts (docs/design.md, "RO-Crate packages").

    selection = select(crate, crate_object, objects, contents="parts", allowed=lambda b, k: True)

Pure: the parsed crate (or None, with the reason it is unusable) and the folder's listing in, the
selection out. The root is the Dataset the metadata descriptor is `about`; its `hasPart` lists the
members. A member that is a Dataset (or whose `@id` ends in `/`) means every object under that prefix.
Relative ids are percent-decoded once and must stay inside the folder; `#…` and non-`s3://` absolute
ids are skipped; `s3://` members are returned for the packager to look up (`External`). A crate
without a usable `hasPart` means the whole folder (`mode` = `folder`). No S3 call here.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..errors import PermanentError, shown
from .listing import SourceObject
from .rocrate import as_list, graph_index, ref, root_id

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True, slots=True)
class External:
    """An `s3://` member, referenced in place: one object (logical key = its basename) or a prefix."""

    id: str
    bucket: str
    key: str

    @property
    def is_prefix(self) -> bool:
        return self.key.endswith("/") or not self.key

    @property
    def logical_key(self) -> str:
        """The basename of the object (a prefix: its last folder name, with a trailing `/`)."""
        if self.is_prefix:
            name = self.key.rstrip("/").rpartition("/")[2]
            return f"{name or self.bucket}/"
        return self.key.rpartition("/")[2]


@dataclass(slots=True)
class Selection:
    """What the crate selects from the listing."""

    mode: str  # "parts" | "folder"
    objects: list[SourceObject]  # in-folder objects to package (the crate file included)
    external: list[External] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # @ids that are not files here
    missing: list[str] = field(default_factory=list)  # @ids listed but not in the folder
    empty: list[str] = field(default_factory=list)  # Dataset members with no object under them
    filtered: list[str] = field(default_factory=list)  # @ids the request's include/exclude leave out
    reason: str | None = None  # why `folder` mode (None in `parts` mode, or when asked for `folder`)
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical key -> its File entity

    @property
    def parts(self) -> int:
        """Entries that came from parts (the crate file not counted), external members not yet included."""
        return len(self.objects) - 1 if self.mode == "parts" else len(self.objects)


def member_path(member_id: str) -> str:
    """A relative `@id` as a folder-relative key: percent-decoded once; escaping paths rejected."""
    path = unquote(member_id)
    if path.startswith("./"):
        path = path[2:]
    segments = path.split("/")
    if path.endswith("/"):
        segments = segments[:-1]
    if not path or any(s in ("", ".", "..") for s in segments):
        raise PermanentError(
            f"RO-Crate hasPart member {shown(member_id)} is not a path inside the crate's folder "
            "(empty, '.' or '..' segment, or an absolute path); fix the crate"
        )
    return path


def _is_dataset(entity: dict[str, Any] | None, member_id: str) -> bool:
    return member_id.endswith("/") or (entity is not None and "Dataset" in as_list(entity.get("@type")))


def _is_file(entity: dict[str, Any]) -> bool:
    types = as_list(entity.get("@type"))
    return "File" in types or "MediaObject" in types


def has_part(crate: Any, crate_file: str) -> tuple[dict[str, dict[str, Any]], list[str]] | str:
    """(the graph index, the root's hasPart ids), or why the crate has no usable hasPart."""
    if not isinstance(crate, dict) or not isinstance(crate.get("@graph"), list):
        return "the crate has no @graph"
    index = graph_index(crate["@graph"])
    root = index.get(root_id(index, crate_file))
    if root is None:
        return "the crate has no root Dataset (no metadata descriptor about it)"
    members = [ref(m) or (m if isinstance(m, str) else None) for m in as_list(root.get("hasPart"))]
    ids = [m for m in members if m]
    if not ids:
        return "the root Dataset has no hasPart"
    return index, ids


def select(
    crate: Any,
    crate_object: SourceObject,
    objects: list[SourceObject],
    *,
    contents: str = "parts",
    unusable: str | None = None,
    allowed: Callable[[str, str], bool] = lambda bucket, key: True,
    source: str = "",
    kept: Callable[[str], bool] | None = None,
) -> Selection:
    """The crate's parts among `objects`; `unusable` says why `crate` is None (unparsable JSON).

    Raises PermanentError naming the `@id` for an escaping path, a refused `s3://` member or two
    members mapping different objects to one logical key. Missing parts are returned, not raised:
    the packager decides whether they are transient (`rocrate_missing_part_seconds`). A part that
    `kept` (the request's include/exclude, docs/design.md §12) leaves out is `filtered`, not missing.
    """
    crate_file = crate_object.logical_key
    index: dict[str, dict[str, Any]] = graph_index(crate["@graph"]) if _graph(crate) else {}
    entities = _file_entities(index)
    if contents == "folder":
        return Selection("folder", list(objects), entities=_entities_of(objects, entities))
    found = has_part(crate, crate_file) if unusable is None else unusable
    if isinstance(found, str):
        return Selection("folder", list(objects), reason=found, entities=_entities_of(objects, entities))
    index, ids = found
    by_key = {o.logical_key: o for o in objects}
    ordered = sorted(objects, key=lambda o: o.logical_key)  # a Dataset's objects: one bisect, not a scan
    chosen: dict[str, SourceObject] = {crate_file: crate_object}
    selection = Selection("parts", [])
    owners: dict[str, str] = {crate_file: f"s3://{source}{crate_file}"}  # logical key -> the object it names
    for member_id in dict.fromkeys(ids):  # a member listed twice is one member
        if member_id.startswith("#"):
            selection.skipped.append(member_id)
            continue
        inside: str | None = None
        if _SCHEME.match(member_id):
            if not member_id.startswith("s3://"):
                selection.skipped.append(member_id)
                continue
            ext = _external(member_id)
            inside = _inside(ext, source)
            if inside is None:
                if not allowed(ext.bucket, ext.key):
                    raise PermanentError(
                        f"RO-Crate hasPart member {shown(member_id)} is outside the allowed sources; "
                        "allow it (allowed_sources) or remove it from the crate"
                    )
                _claim(owners, ext.logical_key, member_id, member_id)
                selection.external.append(ext)
                continue
        path = inside if inside is not None else member_path(member_id)
        if _is_dataset(index.get(member_id), member_id):
            prefix = path if path.endswith("/") else path + "/"
            under = _under(ordered, prefix)
            if not under:
                selection.empty.append(member_id)
            for obj in under:
                chosen[obj.logical_key] = obj
            continue
        part = by_key.get(path)
        if part is None and kept is not None and not kept(path):
            selection.filtered.append(member_id)
            continue
        if part is None:
            selection.missing.append(member_id)
            continue
        chosen[path] = part
    for key in chosen:
        owners.setdefault(key, f"s3://{source}{key}")
    for ext in selection.external:  # an external member may not take an in-folder entry's key
        if not ext.is_prefix and ext.logical_key in chosen:
            raise PermanentError(
                f"RO-Crate hasPart member {shown(ext.id)} maps to the logical key {ext.logical_key!r}, "
                "which another member already names (two objects, one key); fix the crate"
            )
    selection.objects = list(chosen.values())
    selection.entities = _entities_of(selection.objects, entities)
    for ext in selection.external:  # an s3:// File member keeps its own entity too
        entity = index.get(ext.id)
        if entity is not None and not ext.is_prefix and _is_file(entity):
            selection.entities.setdefault(ext.logical_key, entity)
    return selection


def _under(ordered: list[SourceObject], prefix: str) -> list[SourceObject]:
    """The objects whose logical key starts with `prefix` (`ordered` by logical key)."""
    keys = _KeyView(ordered)
    start = bisect.bisect_left(keys, prefix)
    out = []
    for obj in ordered[start:]:
        if not obj.logical_key.startswith(prefix):
            break
        out.append(obj)
    return out


class _KeyView:
    """The logical keys of a sorted object list, as a sequence for `bisect` (no second list)."""

    def __init__(self, objects: list[SourceObject]) -> None:
        self.objects = objects

    def __len__(self) -> int:
        return len(self.objects)

    def __getitem__(self, index: int) -> str:
        return self.objects[index].logical_key


def _graph(crate: Any) -> bool:
    return isinstance(crate, dict) and isinstance(crate.get("@graph"), list)


def _external(member_id: str) -> External:
    bucket, _, key = member_id[5:].partition("/")
    if not bucket:
        raise PermanentError(f"RO-Crate hasPart member {shown(member_id)} names no bucket; fix the crate")
    key = unquote(key)
    if any(s in (".", "..") for s in key.split("/")):
        raise PermanentError(
            f"RO-Crate hasPart member {shown(member_id)} has a '.' or '..' path segment; fix the crate"
        )
    return External(member_id, bucket, key)


def _inside(ext: External, source: str) -> str | None:
    """The folder-relative key of an `s3://` member inside the crate's own folder (`source` = bucket/prefix)."""
    full = f"{ext.bucket}/{ext.key}"
    if source and full.startswith(source) and len(full) > len(source):
        return full[len(source) :]
    return None


def _claim(owners: dict[str, str], logical_key: str, target: str, member_id: str) -> None:
    previous = owners.get(logical_key)
    if previous is not None and previous != target:
        raise PermanentError(
            f"RO-Crate hasPart member {shown(member_id)} maps to the logical key {logical_key!r}, "
            "which another member already names (two objects, one key); fix the crate"
        )
    owners[logical_key] = target


def _file_entities(index: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Relative File entities by the folder-relative key they name (ids that cannot be keys left out)."""
    out: dict[str, dict[str, Any]] = {}
    for entity_id, entity in index.items():
        if entity_id.startswith("#") or _SCHEME.match(entity_id) or not _is_file(entity):
            continue
        try:
            out.setdefault(member_path(entity_id), entity)
        except PermanentError:
            continue
    return out


def _entities_of(objects: list[SourceObject], entities: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o.logical_key: entities[o.logical_key] for o in objects if o.logical_key in entities}
