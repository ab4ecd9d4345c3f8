"""Reading a parsed RO-Crate: its graph index, its root, plain values (shared by `rocrate_parts`,
`rocrate_meta` and `rocrate_validation`; package metadata never holds the whole JSON-LD)."""

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
