"""A compact summary of an RO-Crate's root dataset, for package metadata (never the whole JSON-LD)."""

from __future__ import annotations

from typing import Any

MAX_TEXT = 2000
MAX_LIST = 50


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        ref = value.get("@id")
        return ref if isinstance(ref, str) else None
    return None


def _text(value: Any) -> str | None:
    """A plain string value (the first one of a list); JSON-LD value objects unwrap."""
    for item in _as_list(value):
        if isinstance(item, dict) and "@value" in item:
            item = item["@value"]
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            return str(item)[:MAX_TEXT]
    return None


def _graph_index(graph: list[Any]) -> dict[str, dict[str, Any]]:
    return {e["@id"]: e for e in graph if isinstance(e, dict) and isinstance(e.get("@id"), str)}


def _root_id(index: dict[str, dict[str, Any]], crate_file: str) -> str:
    for candidate in (crate_file, "ro-crate-metadata.json", "ro-crate-manifest.json"):
        about = _ref(index.get(candidate, {}).get("about"))
        if about:
            return about
    for entity in index.values():
        about = _ref(entity.get("about"))
        if about and str(entity.get("@id", "")).endswith(("ro-crate-metadata.json", "ro-crate-manifest.json")):
            return about
    return "./"


def _name_of(value: Any, index: dict[str, dict[str, Any]]) -> str | None:
    """The display name of a value that is a string, an inline entity or a reference into @graph."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if not isinstance(value, dict):
        return None
    entity = index.get(_ref(value) or "", value)
    name = _text(entity.get("name"))
    if name is None:
        given, family = _text(entity.get("givenName")), _text(entity.get("familyName"))
        name = " ".join(p for p in (given, family) if p) or None
    return name or _ref(value)


def _license(value: Any, index: dict[str, dict[str, Any]]) -> str | None:
    for item in _as_list(value):
        if isinstance(item, str):
            return item[:MAX_TEXT]
        ref = _ref(item)
        if ref:
            return ref
        name = _name_of(item, index)
        if name:
            return name
    return None


def summarize(crate: Any, crate_file: str) -> dict[str, Any] | None:
    """Summarise the root dataset of a parsed RO-Crate document; None if it is not a crate."""
    if not isinstance(crate, dict) or not isinstance(crate.get("@graph"), list):
        return None
    index = _graph_index(crate["@graph"])
    root_id = _root_id(index, crate_file)
    root = index.get(root_id)
    if root is None:
        return None
    descriptor = next(
        (e for e in index.values() if _ref(e.get("about")) == root_id and "conformsTo" in e),
        {},
    )
    authors = [n for n in (_name_of(a, index) for a in _as_list(root.get("author"))) if n][:MAX_LIST]
    conforms: list[str] = []
    for item in _as_list(descriptor.get("conformsTo")) + _as_list(root.get("conformsTo")):
        ref = _ref(item) or (item if isinstance(item, str) else None)
        if ref and ref not in conforms:
            conforms.append(ref)
    summary: dict[str, Any] = {
        "file": crate_file,
        "name": _text(root.get("name")),
        "description": _text(root.get("description")),
        "license": _license(root.get("license"), index),
        "datePublished": _text(root.get("datePublished")),
        "dateCreated": _text(root.get("dateCreated")),
        "authors": authors,
        "conformsTo": conforms[:MAX_LIST],
        "hasPart": len(_as_list(root.get("hasPart"))),
    }
    return {k: v for k, v in summary.items() if v not in (None, [])}
