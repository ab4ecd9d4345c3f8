"""Strict JSON parsing for every byte that enters QPS.

UTF-8 only, no NaN/Infinity, no duplicate keys, no lone surrogates, bounded nesting depth.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidInput, shown

MAX_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"invalid JSON: {name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidInput(f"invalid JSON: duplicate key {shown(key, 60)}")
        obj[key] = value
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidInput(f"invalid JSON: number {text[:20]} is too large")
    return value


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_no_duplicates, parse_float=_finite_float
)


def _check(value: Any, max_depth: int) -> None:
    """Walk the parsed value iteratively: depth bound and lone surrogates in keys and strings."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise InvalidInput(f"invalid JSON: nesting deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("invalid JSON: string holds a lone surrogate") from None


def _shallow_depth_guard(text: str, max_depth: int) -> None:
    """Refuse absurd nesting before the recursive parser sees it."""
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise InvalidInput(f"invalid JSON: nesting deeper than {max_depth} levels")
        elif ch in "]}":
            depth -= 1


def loads(data: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON document strictly; raise InvalidInput with a one-line reason."""
    if isinstance(data, bytes | bytearray):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"invalid JSON: not UTF-8 (byte {exc.start})") from None
    else:
        text = data
    if text.count("[") + text.count("{") > max_depth:
        _shallow_depth_guard(text, max_depth)
    try:
        value, end = _DECODER.raw_decode(text, _skip_ws(text, 0))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidInput(f"invalid JSON: nesting deeper than {max_depth} levels") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"invalid JSON: {' '.join(str(exc).split())}") from None
    if _skip_ws(text, end) != len(text):
        raise InvalidInput("invalid JSON: extra data after the document")
    _check(value, max_depth)
    return value


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def check_value(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """Apply the same rules to an already-parsed value (e.g. a Lambda event); return it."""
    _check(value, max_depth)
    for item in _walk_floats(value):
        if item != item or item in (float("inf"), float("-inf")):
            raise InvalidInput("invalid JSON: NaN or Infinity is not allowed")
    return value


def _walk_floats(value: Any) -> list[float]:
    out: list[float] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def dumps_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
