"""An RO-Crate's facts as package and entry metadata (docs/design.md, "RO-Crate packages").

Pure functions over the parsed crate. Bounded: lists at most 50 items, strings at most 2,000
characters, at most 100 run parameters. Only what the crate says is kept: unknown or missing fields
are left out, never invented. An entity reference becomes `{"@id", "name"}` (the name when the graph
has one), people and organisations a list of those, `keywords` a list of strings.
"""

from __future__ import annotations

from typing import Any

from .rocrate import MAX_LIST, MAX_TEXT, as_list, graph_index, name_of, ref, root_id, text

MAX_PARAMETERS = 100
ENTRY_FIELDS = (
    "name",
    "description",
    "encodingFormat",
    "contentSize",
    "sha256",
    "dateCreated",
    "dateModified",
    "conformsTo",
)
_ROOT_TEXT = ("name", "description", "datePublished", "dateCreated", "dateModified")
_WORKFLOW_TEXT = ("name", "version", "codeRepository", "url")
_RUN_TEXT = ("name", "startTime", "endTime")
PACKAGE_NAME_PROPERTY = "#packageName"


def _entity(value: Any, index: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A value's entity: the graph's entity for a reference, the inline object itself, else None."""
    if not isinstance(value, dict):
        return None
    found = index.get(ref(value) or "")
    return found if found is not None else value


def reference(value: Any, index: dict[str, dict[str, Any]]) -> dict[str, Any] | str | None:
    """`{"@id", "name"}` for an entity (either part only when known); a plain string stays a string."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    ident = ref(value)
    if ident:
        out["@id"] = ident[:MAX_TEXT]
    entity = _entity(value, index) or {}
    name = name_of(entity, index) if (entity.get("name") or entity.get("givenName")) else None
    if name and name != ident:
        out["name"] = name
    return out or None


def references(value: Any, index: dict[str, dict[str, Any]]) -> list[Any]:
    return [r for r in (reference(v, index) for v in as_list(value)[:MAX_LIST]) if r is not None]


def _value(value: Any, index: dict[str, dict[str, Any]]) -> Any:
    """A property value as JSON: scalars kept (strings bounded), entities as references, lists bounded."""
    if isinstance(value, list):
        items = [_value(v, index) for v in value[:MAX_LIST]]
        return [v for v in items if v is not None] or None
    if isinstance(value, dict):
        if "@value" in value:
            return _value(value["@value"], index)
        return reference(value, index)
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, bool | int | float):
        return value
    return None


def keywords(value: Any) -> list[str]:
    """`keywords` as a list of strings (a comma-separated string is split, as schema.org allows)."""
    out: list[str] = []
    for item in as_list(value):
        if isinstance(item, str):
            out.extend(k.strip()[:MAX_TEXT] for k in item.split(",") if k.strip())
    return out[:MAX_LIST]


def identifiers(value: Any, index: dict[str, dict[str, Any]]) -> list[Any]:
    """Root identifiers: strings, references, or `{propertyID, value}` for a PropertyValue."""
    out: list[Any] = []
    for item in as_list(value)[:MAX_LIST]:
        entity = _entity(item, index)
        if entity is not None and "PropertyValue" in as_list(entity.get("@type")):
            pv = {k: text(entity.get(k)) for k in ("propertyID", "value", "name")}
            out.append({k: v for k, v in pv.items() if v is not None})
            continue
        shown = reference(item, index)
        if shown is not None:
            out.append(shown)
    return out


def package_name(crate: Any, crate_file: str) -> str | None:
    """The root identifier naming the package: a PropertyValue whose propertyID ends `#packageName`."""
    root = _root(crate, crate_file)
    if root is None:
        return None
    index = graph_index(crate["@graph"])
    for item in as_list(root.get("identifier")):
        entity = _entity(item, index)
        if entity is None or "PropertyValue" not in as_list(entity.get("@type")):
            continue
        prop = text(entity.get("propertyID")) or ""
        if prop.endswith(PACKAGE_NAME_PROPERTY):
            value = entity.get("value")
            return value if isinstance(value, str) else str(value)
    return None


def _root(crate: Any, crate_file: str) -> dict[str, Any] | None:
    if not isinstance(crate, dict) or not isinstance(crate.get("@graph"), list):
        return None
    index = graph_index(crate["@graph"])
    return index.get(root_id(index, crate_file))


def _workflow(entity: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: text(entity.get(k)) for k in _WORKFLOW_TEXT}
    languages = references(entity.get("programmingLanguage"), index)
    if languages:
        out["programmingLanguage"] = languages[0] if len(languages) == 1 else languages
    return {k: v for k, v in out.items() if v is not None}


def _runs(index: dict[str, dict[str, Any]], instrument: str) -> list[dict[str, Any]]:
    return [
        e
        for e in index.values()
        if "CreateAction" in as_list(e.get("@type")) and instrument in [ref(i) for i in as_list(e.get("instrument"))]
    ]


def _parameters(action: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in as_list(action.get("object")):
        entity = _entity(item, index)
        if entity is None or "PropertyValue" not in as_list(entity.get("@type")):
            continue
        name = text(entity.get("name"))
        if name is None or name in params:
            continue
        value = _value(entity.get("value"), index)
        if value is not None:
            params[name] = value
        if len(params) >= MAX_PARAMETERS:
            break
    return params


def _run(action: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: text(action.get(k)) for k in _RUN_TEXT}
    status = reference(action.get("actionStatus"), index)
    if isinstance(status, dict):
        status = status.get("@id") or status.get("name")
    out["actionStatus"] = status
    out["agent"] = references(action.get("agent"), index) or None
    out["parameters"] = _parameters(action, index) or None
    return {k: v for k, v in out.items() if v is not None}


def package_meta(crate: Any, crate_file: str) -> dict[str, Any]:
    """The crate's own facts for `ro-crate` (root, descriptor, workflow, run); {} if it is not a crate."""
    root = _root(crate, crate_file)
    if root is None:
        return {}
    index = graph_index(crate["@graph"])
    rid = root_id(index, crate_file)
    descriptor = next((e for e in index.values() if ref(e.get("about")) == rid and "conformsTo" in e), {})
    out: dict[str, Any] = {}
    conforms = references(as_list(descriptor.get("conformsTo")) + as_list(root.get("conformsTo")), index)
    out["conformsTo"] = _unique(conforms)[:MAX_LIST]
    for key in _ROOT_TEXT:
        out[key] = text(root.get(key))
    licenses = references(root.get("license"), index)
    out["license"] = licenses[0] if len(licenses) == 1 else licenses
    out["keywords"] = keywords(root.get("keywords"))
    out["identifier"] = identifiers(root.get("identifier"), index)
    out["creator"] = _unique(references(as_list(root.get("author")) + as_list(root.get("creator")), index))
    out["producer"] = references(root.get("producer"), index)
    out["publisher"] = references(root.get("publisher"), index)
    main = _entity(root.get("mainEntity"), index)
    main_id = ref(root.get("mainEntity"))
    if main is not None:
        out["workflow"] = _workflow(main, index)
    if main_id:
        runs = sorted(_runs(index, main_id), key=lambda a: text(a.get("endTime")) or "")
        if runs:
            out["run"] = _run(runs[-1], index)
    return {k: v for k, v in out.items() if v not in (None, [], {})}


def entry_meta(entity: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A packaged File entity's own properties, for that entry's user metadata under `ro-crate`."""
    out = {k: _value(entity.get(k), index) for k in ENTRY_FIELDS}
    return {k: v for k, v in out.items() if v is not None}


def _unique(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
