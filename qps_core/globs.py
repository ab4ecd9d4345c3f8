"""Include/exclude glob patterns over logical keys (docs/design.md §12).

    keep = KeyFilter.compile(include=["data/**"], exclude=["*.tmp", "work/"], always=["ro-crate-metadata.json"])
    keep("data/a.csv")      # True

Patterns are relative to the packaged folder:

- `*` and `?` match within one path segment, `[abc]` / `[!abc]` one character of a class;
  `**` crosses `/` (`a/**/b`, `**/x`, `logs/**`).
- A pattern without a `/` (other than a trailing one) matches at any depth, as in `.gitignore`:
  `*.log` matches `a.log` and `x/y/a.log`. A leading `/` anchors a pattern to the folder's top.
- A pattern that matches a folder matches everything under it (`work` and `work/` both match
  `work/tmp/x`; with a trailing `/` only the folder, never a file of that name).

An object is kept when it matches an include (if any include is given) and no exclude; the names in
`always` (the RO-Crate sentinel at the folder's top) are always kept. Each list compiles to one
regular expression, once per request: a key costs one match per list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import InvalidInput

MAX_PATTERNS = 100
MAX_PATTERN_CHARS = 1024
FILTER_FIELDS = ("include", "exclude")


def check_patterns(value: Any, field: str) -> list[str]:
    """A request's (or a setting's) pattern list, validated; raises InvalidInput with one line naming `field`."""
    if not isinstance(value, list):
        raise InvalidInput(f"{field}: must be a list of glob patterns (strings)")
    if len(value) > MAX_PATTERNS:
        raise InvalidInput(f"{field}: holds {len(value)} patterns, over the limit of {MAX_PATTERNS}")
    for index, pattern in enumerate(value):
        if not isinstance(pattern, str):
            raise InvalidInput(f"{field}[{index}]: must be a string (a glob pattern), not {type(pattern).__name__}")
        if not pattern.strip("/"):
            raise InvalidInput(f"{field}[{index}]: must not be empty")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise InvalidInput(f"{field}[{index}]: is {len(pattern)} characters, over the limit of {MAX_PATTERN_CHARS}")
        if any(ord(c) < 0x20 for c in pattern):
            raise InvalidInput(f"{field}[{index}]: must not hold control characters")
        try:
            pattern.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{field}[{index}]: holds a lone surrogate (not valid Unicode)") from None
    return list(value)


def translate(pattern: str) -> str:
    """One pattern as a regular expression over a whole logical key (see the module's rules)."""
    anchored = pattern.startswith("/")
    folder_only = pattern.endswith("/")
    body = pattern.strip("/")
    out = [] if anchored or "/" in body else ["(?:[^/]*/)*?"]  # any depth: whole segments, lazily
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if body.startswith("**", i):
            j = i + 2
            while j < n and body[j] == "*":
                j += 1
            if j < n and body[j] == "/":
                out.append("(?:[^/]*/)*?")  # `**/`: zero or more folders
                j += 1
            else:
                out.append(".*")
            i = j
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 2 if body[i + 1 : i + 2] == "!" else i + 1
            end = body.find("]", j + 1 if body[j : j + 1] == "]" else j)  # a leading ']' is a member
            if end < 0:
                out.append(re.escape(c))
            else:
                inner = body[i + 1 : end]
                negate = inner.startswith("!")
                inner = inner[1:] if negate else inner
                inner = "".join("\\" + ch if ch in "\\^[]&~|" else ch for ch in inner)
                out.append(f"[^/{inner}]" if negate else f"[{inner}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    out.append("/.+" if folder_only else "(?:/.+)?")
    return "".join(out)


def _compiled(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{translate(p)})" for p in patterns), re.DOTALL)


class KeyFilter:
    """Which logical keys a package takes. Callable: `keep(logical_key) -> bool`. Counts what it drops."""

    __slots__ = ("_always", "_exclude", "_include", "dropped")

    def __init__(self, include: Sequence[str] | None, exclude: Sequence[str] | None, always: Iterable[str]) -> None:
        self._include = _compiled(include).fullmatch if include else None
        self._exclude = _compiled(exclude).fullmatch if exclude else None
        self._always = frozenset(always)
        self.dropped = 0  # objects the filters left out (tells "emptied by the filters" from "empty")

    @classmethod
    def compile(
        cls, include: Sequence[str] | None, exclude: Sequence[str] | None, always: Iterable[str] = ()
    ) -> KeyFilter | None:
        """The filter, or None when there is nothing to filter (no pattern given)."""
        if not include and not exclude:
            return None
        return cls(include, exclude, always)

    def __call__(self, logical_key: str) -> bool:
        if logical_key in self._always:
            return True
        if (self._include is not None and self._include(logical_key) is None) or (
            self._exclude is not None and self._exclude(logical_key) is not None
        ):
            self.dropped += 1
            return False
        return True


def describe(include: Sequence[str] | None, exclude: Sequence[str] | None) -> str:
    """The filters in one short phrase (`include a, b; exclude c`), "" when there are none."""
    parts = []
    if include:
        parts.append("include " + ", ".join(include))
    if exclude:
        parts.append("exclude " + ", ".join(exclude))
    return "; ".join(parts)
