"""Event sources as the admin page shows them: labels, plain-language descriptions and order.

HealthOmics and RO-Crate come first, as in the product spec; every other installed adapter follows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceInfo:
    id: str
    label: str
    does: str


BUILT_IN = (
    SourceInfo("omics", "HealthOmics", "Create a package when an AWS HealthOmics run completes"),
    SourceInfo("rocrate", "RO-Crate", "Create a package from a folder when an RO-Crate metadata file is written"),
)
_KNOWN = {s.id: s for s in BUILT_IN}


def source_label(adapter_id: str) -> str:
    known = _KNOWN.get(adapter_id)
    return known.label if known else adapter_id


def source_info(adapter_id: str, description: str = "") -> SourceInfo:
    """The built-in wording, else the adapter's own description."""
    return _KNOWN.get(adapter_id) or SourceInfo(adapter_id, adapter_id, description or f"The {adapter_id} adapter")


def ordered(adapter_ids: list[str]) -> list[str]:
    """Built-in sources first (in spec order), then the rest alphabetically."""
    first = [s.id for s in BUILT_IN if s.id in adapter_ids]
    return first + sorted(i for i in adapter_ids if i not in first)
