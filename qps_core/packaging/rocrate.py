"""A compact summary of an RO-Crate's root dataset, for package metadata (never the whole JSON-LD)."""

from __future__ import annotations

from typing import Any

MAX_TEXT = 2000
MAX_LIST = 50


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def ref(value: Any) -> str | None:
    if isinstance(value, dict):
        ref = value.get("@id")
        return ref if isinstance(ref, str) else None
    return None


def text(value: Any) -> str | None:
    """A plain string value (the first one of a list); JSON-LD value objects unwrap."""
    for item in as_list(value):
        if isinstance(item, dict) and "@value" in item:
            item = item["@value"]
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            return str(item)[:MAX_TEXT]
    return None


def graph_index(graph: list[Any]) -> dict[str, dict[str, Any]]:
    return {e["@id"]: e for e in graph if isinstance(e, dict) and isinstance(e.get("@id"), str)}


def index_of(crate: Any) -> dict[str, dict[str, Any]]:
    """The graph index of a parsed crate ({} if it has no @graph)."""
    if isinstance(crate, dict) and isinstance(crate.get("@graph"), list):
        return graph_index(crate["@graph"])
    return {}


def root_id(index: dict[str, dict[str, Any]], crate_file: str) -> str:
    for candidate in (crate_file, "ro-crate-metadata.json", "ro-crate-manifest.json"):
        about = ref(index.get(candidate, {}).get("about"))
        if about:
            return about
    for entity in index.values():
        about = ref(entity.get("about"))
        if about and str(entity.get("@id", "")).endswith(("ro-crate-metadata.json", "ro-crate-manifest.json")):
            return about
    return "./"


def name_of(value: Any, index: dict[str, dict[str, Any]]) -> str | None:
    """The display name of a value that is a string, an inline entity or a reference into @graph."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if not isinstance(value, dict):
        return None
    entity = index.get(ref(value) or "", value)
    name = text(entity.get("name"))
    if name is None:
        given, family = text(entity.get("givenName")), text(entity.get("familyName"))
        name = " ".join(p for p in (given, family) if p) or None
    return name or ref(value)


def _license(value: Any, index: dict[str, dict[str, Any]]) -> str | None:
    for item in as_list(value):
        if isinstance(item, str):
            return item[:MAX_TEXT]
        ref = ref(item)
        if ref:
            return ref
        name = name_of(item, index)
        if name:
            return name
    return None


def summarize(crate: Any, crate_file: str) -> dict[str, Any] | None:
    """Summarise the root dataset of a parsed RO-Crate document; None if it is not a crate."""
    if not isinstance(crate, dict) or not isinstance(crate.get("@graph"), list):
        return None
    index = graph_index(crate["@graph"])
    root_id = root_id(index, crate_file)
    root = index.get(root_id)
    if root is None:
        return None
    descriptor = next(
        (e for e in index.values() if ref(e.get("about")) == root_id and "conformsTo" in e),
        {},
    )
    authors = [n for n in (name_of(a, index) for a in as_list(root.get("author"))) if n][:MAX_LIST]
    conforms: list[str] = []
    for item in as_list(descriptor.get("conformsTo")) + as_list(root.get("conformsTo")):
        ref = ref(item) or (item if isinstance(item, str) else None)
        if ref and ref not in conforms:
            conforms.append(ref)
    summary: dict[str, Any] = {
        "file": crate_file,
        "name": text(root.get("name")),
        "description": text(root.get("description")),
        "license": _license(root.get("license"), index),
        "datePublished": text(root.get("datePublished")),
        "dateCreated": text(root.get("dateCreated")),
        "authors": authors,
        "conformsTo": conforms[:MAX_LIST],
        "hasPart": len(as_list(root.get("hasPart"))),
    }
    return {k: v for k, v in summary.items() if v not in (None, [])}
