"""What a revision changed against the previous `latest` (docs/design.md §12).

    changes = diff_manifest(lines, new_entries)   # lines: the previous manifest's JSONL, streamed
    changes.as_dict()                             # {"added", "removed", "modified", "unchanged", "keys"}

The previous manifest is read line by line and compared against the new revision's logical key →
hash map; it is never held in memory (a million-entry previous revision costs its streaming only).
Plain data and `json`: no quilt3, no boto3.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Logical keys listed per kind (the counts are always exact).
MAX_KEYS_PER_KIND = 100
#: Bytes of listed logical keys per kind at most (a job result must stay well inside a DynamoDB item).
MAX_KEY_BYTES_PER_KIND = 16 * 1024
KINDS = ("added", "removed", "modified", "unchanged")

Hash = tuple[str, str]  # (hash type, value): a change of hash type counts as modified


@dataclass(slots=True)
class Changes:
    """Counts per kind against the previous revision, and up to `MAX_KEYS_PER_KIND` logical keys of each."""

    added: int = 0
    removed: int = 0
    modified: int = 0
    unchanged: int = 0
    keys: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    _key_bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def count(self, kind: str, logical_key: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        listed = self.keys[kind]
        size = len(logical_key.encode("utf-8", "surrogatepass"))
        if len(listed) < MAX_KEYS_PER_KIND and self._key_bytes[kind] + size <= MAX_KEY_BYTES_PER_KIND:
            listed.append(logical_key)
            self._key_bytes[kind] += size

    def counts(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in KINDS}

    def as_dict(self) -> dict[str, Any]:
        """The counts and the listed keys (sorted), as the job result and `qps replay --json` carry them."""
        return {**self.counts(), "keys": {kind: sorted(self.keys[kind]) for kind in KINDS}}


def all_added(new_entries: Iterable[tuple[str, Hash]]) -> Changes:
    """A first revision: every entry is added."""
    changes = Changes()
    for logical_key, _ in new_entries:
        changes.count("added", logical_key)
    return changes


def diff_manifest(previous_lines: Iterable[bytes], new_entries: Iterable[tuple[str, Hash]]) -> Changes:
    """Compare a previous manifest (its JSONL lines, streamed; the first is the package metadata) with
    the new revision's entries, by logical key and hash."""
    pending: dict[str, Hash] = dict(new_entries)  # consumed as the previous entries match
    changes = Changes()
    for entry in _entries(previous_lines):
        logical_key, old_hash = entry
        new_hash = pending.pop(logical_key, None)
        if new_hash is None:
            changes.count("removed", logical_key)
        elif new_hash == old_hash:
            changes.count("unchanged", logical_key)
        else:
            changes.count("modified", logical_key)
    for logical_key in pending:
        changes.count("added", logical_key)
    return changes


def _entries(lines: Iterable[bytes]) -> Iterator[tuple[str, Hash]]:
    """(logical key, hash) of each entry line; the metadata line and blank lines are skipped."""
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        logical_key = record.get("logical_key")
        if not isinstance(logical_key, str):
            continue  # the first line: package metadata
        digest = record.get("hash") or {}
        yield logical_key, (str(digest.get("type", "")), str(digest.get("value", "")))
