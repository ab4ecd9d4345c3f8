"""Include/exclude filters: the glob rules, the request fields' validation, `source_filters`
(docs/design.md §12). Packaging with filters: tests/packager/test_filters.py."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qps_core.errors import InvalidInput
from qps_core.globs import MAX_PATTERN_CHARS, MAX_PATTERNS, KeyFilter
from qps_core.models import REQUEST_FIELDS, PackageRequest
from qps_core.settings import Settings

SENTINEL = "ro-crate-metadata.json"


def keeps(include: list[str] | None, exclude: list[str] | None, key: str) -> bool:
    found = KeyFilter.compile(include, exclude, always=[SENTINEL])
    return True if found is None else found(key)


@pytest.mark.parametrize(
    ("pattern", "key", "matched"),
    [
        ("*.log", "a.log", True),
        ("*.log", "x/y/a.log", True),  # no '/': any depth, as in .gitignore
        ("*.log", "a.log.txt", False),
        ("data/*.csv", "data/a.csv", True),
        ("data/*.csv", "data/sub/a.csv", False),  # '*' stays in one segment
        ("data/*.csv", "x/data/a.csv", False),  # a '/' anchors to the folder
        ("data/**/*.csv", "data/a.csv", True),
        ("data/**/*.csv", "data/s/t/a.csv", True),
        ("**/raw/*", "a/b/raw/x", True),
        ("**/raw/*", "raw/x", True),
        ("logs/**", "logs/a/b", True),
        ("work", "work/tmp/x", True),  # a folder's name matches everything under it
        ("work", "a/work/x", True),
        ("work/", "work/x", True),
        ("work/", "work", False),  # a trailing '/' matches only a folder
        ("/top.txt", "top.txt", True),
        ("/top.txt", "a/top.txt", False),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "c.txt", True),
        ("[!ab].txt", "a.txt", False),
        ("a+b(1).txt", "a+b(1).txt", True),  # regex characters are literal
        ("[unclosed", "[unclosed", True),
        ("[]a].txt", "].txt", True),
        ("[!]a].txt", "].txt", False),
        ("[!]a].txt", "b.txt", True),
    ],
)
def test_glob_rules(pattern: str, key: str, matched: bool) -> None:
    assert keeps(None, [pattern], key) is not matched
    assert keeps([pattern], None, key) is matched


def test_include_and_exclude_together_and_the_sentinel_always_kept() -> None:
    include, exclude = ["data/**"], ["*.tmp"]
    assert keeps(include, exclude, "data/a.csv")
    assert not keeps(include, exclude, "data/a.tmp")
    assert not keeps(include, exclude, "notes.txt")
    assert keeps(include, exclude, SENTINEL)
    assert keeps(None, ["*.json"], SENTINEL)
    assert not keeps(None, ["*.json"], f"sub/{SENTINEL}")  # only the folder's own sentinel


def test_no_patterns_means_no_filter_and_the_filter_counts_what_it_drops() -> None:
    assert KeyFilter.compile(None, None) is None
    assert KeyFilter.compile([], []) is None
    keep = KeyFilter.compile(None, ["*.tmp"])
    assert keep is not None
    assert [k for k in ["a.tmp", "b.csv", "c/d.tmp"] if keep(k)] == ["b.csv"]
    assert keep.dropped == 2


segment = st.text(alphabet="abc.-_", min_size=1, max_size=4)
keys = st.lists(segment, min_size=1, max_size=4).map("/".join)
simple = st.text(alphabet="abc.*?", min_size=1, max_size=5)


@given(simple, keys)
def test_a_pattern_without_slash_matches_a_basename_like_fnmatch(pattern: str, key: str) -> None:
    """For `*`/`?` patterns without `/`: matched iff some segment matches (fnmatch on it, `*` not crossing `/`)."""
    parts = key.split("/")
    expected = any(fnmatch.fnmatchcase(part, pattern) for part in parts)
    assert keeps([pattern], None, key) is expected


@given(st.lists(segment, min_size=1, max_size=4).map("/".join), keys)
def test_double_star_under_a_folder_matches_exactly_what_is_under_it(folder: str, key: str) -> None:
    assert keeps([f"/{folder}/**"], None, key) is key.startswith(folder + "/")


# ---------------------------------------------------------------- the request fields


def body(**fields: Any) -> dict[str, Any]:
    return {"source_prefix": "s3://bucket/run/", **fields}


def test_fields_are_request_fields_and_normalised() -> None:
    assert {"include", "exclude"} <= set(REQUEST_FIELDS)
    req = PackageRequest.parse(body(include=["data/**"], exclude=["*.tmp", "work/"]))
    assert req.normalised()["include"] == ["data/**"]
    assert req.normalised()["exclude"] == ["*.tmp", "work/"]
    plain = PackageRequest.parse(body(include=None))
    assert plain.include is None and plain.exclude is None
    assert "include" not in plain.normalised() and "exclude" not in plain.normalised()  # shown only when set
    assert PackageRequest.parse(body(exclude=[])).normalised()["exclude"] == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"include": "*.csv"}, "include: must be a list of glob patterns"),
        ({"exclude": {"a": 1}}, "exclude: must be a list of glob patterns"),
        ({"exclude": ["ok", 3]}, "exclude[1]: must be a string"),
        ({"include": [""]}, "include[0]: must not be empty"),
        ({"include": ["/"]}, "include[0]: must not be empty"),
        ({"exclude": ["x" * (MAX_PATTERN_CHARS + 1)]}, f"exclude[0]: is {MAX_PATTERN_CHARS + 1} characters"),
        ({"include": ["a"] * (MAX_PATTERNS + 1)}, f"include: holds {MAX_PATTERNS + 1} patterns"),
        ({"exclude": ["a\nb"]}, "exclude[0]: must not hold control characters"),
        ({"exclude": ["\ud800"]}, "exclude[0]: holds a lone surrogate"),
    ],
)
def test_bad_filters_are_one_line_rejections_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        PackageRequest.from_body(body(**fields))
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_limits_are_inclusive() -> None:
    req = PackageRequest.parse(body(include=["x" * MAX_PATTERN_CHARS] * MAX_PATTERNS))
    assert req.include is not None and len(req.include) == MAX_PATTERNS


# ---------------------------------------------------------------- source_filters


def test_source_filters_setting_parses_json_and_validates() -> None:
    settings = Settings(source_filters='{"rocrate": {"exclude": ["work/"]}, "omics": {"include": ["out/**"]}}')
    assert settings.source_filters == {"rocrate": {"exclude": ["work/"]}, "omics": {"include": ["out/**"]}}
    assert Settings(source_filters="").source_filters == {}
    with pytest.raises(ValueError, match="rocrate"):
        Settings(source_filters={"rocrate": {"exclude": "work/"}})
    with pytest.raises(ValueError, match="include and/or exclude"):
        Settings(source_filters={"rocrate": {"paths": ["x"]}})
    with pytest.raises(ValueError, match="JSON object"):
        Settings(source_filters="rocrate=work/")


def test_source_filters_fill_only_what_the_request_leaves_out() -> None:
    defaults = {"include": ["data/**"], "exclude": ["*.tmp"]}
    req = PackageRequest.parse(body(exclude=[]))
    filled = req.with_filters(defaults)
    assert filled.include == ["data/**"]
    assert filled.exclude == []  # an explicit field, even empty, wins
    assert PackageRequest.parse(body()).with_filters(None).include is None
