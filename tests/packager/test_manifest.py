"""qps_core.packaging.manifest writes byte for byte what quilt3's own Package writes, with the same top hash."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
import quilt3
from hypothesis import given, settings
from hypothesis import strategies as st
from quilt3.packages import PackageEntry
from quilt3.util import PhysicalKey, QuiltException

from qps_core.packaging.listing import SourceObject
from qps_core.packaging.manifest import Manifest, _order
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.pkghelpers import make_bucket, put, request

# Keys chosen to trip plain string order ('-', '.', ' ' sort before '/'), URL quoting and non-ASCII.
LOGICAL_KEYS = [
    "a/b.txt",
    "a-c.txt",
    "a.d/e",
    "a b/f g.csv",
    "z",
    "data/ünïcødé ☃.json",
    "data/q?x=1&y#frag%20.bin",
    "data/sub/deeper/x.bin",
    "data/sub-2/x.bin",
    "Upper/x",
]


def objects(prefix: str = "in/") -> list[SourceObject]:
    out = []
    for i, lk in enumerate(LOGICAL_KEYS):
        out.append(
            SourceObject(
                key=prefix + lk,
                logical_key=lk,
                size=i * 1000 + 7,
                version_id=None if i % 3 == 0 else f"v{i}.x+y/z",
                etag='"e"',
                algorithms=None,
                checksum=f"{i:064x}",
            )
        )
    return out


def quilt3_package(bucket: str, objs: list[SourceObject], meta: dict[str, Any], message: str | None) -> Any:
    pkg = quilt3.Package()
    for o in objs:
        pkg.set(
            o.logical_key,
            PackageEntry(
                PhysicalKey(bucket, o.key, o.version_id), o.size, {"type": o.hash_type, "value": o.checksum}, None
            ),
        )
    if meta:
        pkg.set_meta(meta)
    pkg._set_commit_message(message)
    return pkg


@pytest.mark.parametrize(
    ("meta", "message"),
    [({}, None), ({"ro-crate": {"name": "Ünï ☃"}, "n": [1, 2.5, None, True]}, "a message ☃")],
)
def test_manifest_and_top_hash_match_quilt3(meta: dict[str, object], message: str | None) -> None:
    objs = objects()
    mine = Manifest("src-bucket", list(reversed(objs)), meta)
    mine.set_message(message)
    theirs: object = quilt3_package("src-bucket", objs, meta, message)
    ours, expected = io.BytesIO(), io.BytesIO()
    mine.dump(ours)
    theirs._dump(expected)  # type: ignore[attr-defined]
    assert ours.getvalue().decode() == expected.getvalue().decode()
    assert mine.top_hash == theirs.top_hash  # type: ignore[attr-defined]
    assert [lk for lk, _ in mine.walk()] == [lk for lk, _ in theirs.walk()]  # type: ignore[attr-defined]
    loaded = quilt3.Package.load(io.BytesIO(ours.getvalue()))
    assert loaded.top_hash == mine.top_hash
    assert loaded["data/ünïcødé ☃.json"].physical_key == PhysicalKey("src-bucket", "in/data/ünïcødé ☃.json", "v5.x+y/z")


def test_moved_entries_name_their_copies() -> None:
    mine = Manifest("src", objects(), {})
    before = mine.top_hash
    mine.moved[0] = PhysicalKey("reg", "team/pkg/Upper/x", "v9")
    out = io.BytesIO()
    mine.dump(out)
    loaded = quilt3.Package.load(io.BytesIO(out.getvalue()))
    assert loaded[mine.objects[0].logical_key].physical_key == PhysicalKey("reg", "team/pkg/Upper/x", "v9")
    assert mine.top_hash == before == loaded.top_hash  # physical keys are not hashed


def test_file_and_folder_of_one_name_is_refused_like_quilt3() -> None:
    objs = [*objects()[:2], SourceObject("in/a", "a", 1, None, None, None, "0" * 64)]
    with pytest.raises(QuiltException):
        quilt3_package("b", objs, {}, None)
    with pytest.raises(QuiltException, match="'a' is a file"):
        Manifest("b", objs, {})


def test_unhashed_entry_has_no_top_hash() -> None:
    objs = objects()
    objs[4].checksum = None
    with pytest.raises(QuiltException, match="missing hash"):
        Manifest("b", objs, {}).top_hash  # noqa: B018


def test_quilt3_workflow_validation_reads_the_manifest_like_a_package() -> None:
    """quilt3's validator reads `pkg.meta` and `pkg.walk()` (logical key, size, meta): same verdicts."""
    import jsonschema
    from quilt3.workflows import WorkflowValidationError, WorkflowValidator

    entries = {"type": "array", "contains": {"type": "object", "properties": {"logical_key": {"const": "z"}}}}
    small = {"type": "array", "items": {"type": "object", "properties": {"size": {"maximum": 5000}}}}
    project = {"type": "object", "required": ["project"]}

    def validator(entries_schema: Any, meta_schema: Any) -> WorkflowValidator:
        meta_check = jsonschema.Draft7Validator(meta_schema) if meta_schema else None
        return WorkflowValidator({"id": "w"}, False, None, meta_check, jsonschema.Draft7Validator(entries_schema))

    objs = objects()
    for schema, meta_schema, meta, ok in [
        (entries, project, {"project": "p"}, True),
        (small, None, {}, False),  # sizes up to 9007
        (entries, project, {}, False),
    ]:
        for pkg in (Manifest("b", objs, meta), quilt3_package("b", objs, meta, None)):
            check = validator(schema, meta_schema)
            if ok:
                assert check.validate(name="a/b", pkg=pkg, message=None) == {"id": "w"}
            else:
                with pytest.raises(WorkflowValidationError):
                    check.validate(name="a/b", pkg=pkg, message=None)


@pytest.mark.parametrize("should_copy", [False, True])
def test_pushed_package_browses_and_verifies_with_quilt3(
    s3: Any, packager: Packager, settings: Settings, tmp_path: Path, should_copy: bool
) -> None:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket", versioned=False)
    files = {lk: f"bytes of {lk}".encode() * (i + 1) for i, lk in enumerate(LOGICAL_KEYS)}
    for lk, data in files.items():
        put(s3, "src-bucket", f"in/{lk}", data)
        (tmp_path / lk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / lk).write_bytes(data)
    result = packager.package(
        request(
            settings,
            source_prefix="s3://src-bucket/in/",
            registry="reg-bucket",
            package_name="t/p",
            metadata={"ünï": [1, 2.5], "run": uuid.uuid4().hex},  # a new top hash: quilt3 caches manifests by it
            message="m ☃",
            should_copy=should_copy,
        )
    )
    pkg = quilt3.Package.browse("t/p", registry="s3://reg-bucket", top_hash=result.top_hash)
    assert pkg.top_hash == result.top_hash  # quilt3 recomputes it from the manifest it read
    assert pkg.verify(str(tmp_path))  # every entry's hash and size match the bytes
    for lk, data in files.items():
        assert pkg[lk].get_bytes() == data
        assert pkg[lk].physical_key.bucket == ("reg-bucket" if should_copy else "src-bucket")


_SEGMENT = st.text(alphabet="ab-. !~", min_size=1, max_size=4).filter(lambda seg: seg not in (".", ".."))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join), max_size=40, unique=True))
def test_the_order_is_quilt3s_segment_order_for_any_keys(keys: list[str]) -> None:
    """Plain order, mended only where keys with '/' meet characters below it, is segment order."""
    objects = [SourceObject(f"in/{k}", k, 1, None, None, None, "0" * 64) for k in keys]
    expected = sorted(keys, key=lambda k: k.split("/"))  # quilt3 walks its tree segment by segment
    conflict = any(b.startswith(a + "/") for a in keys for b in keys)
    if conflict:
        with pytest.raises(QuiltException, match="is a file, so it cannot also be a folder"):
            _order(objects)
    else:
        assert [o.logical_key for o in _order(objects)] == expected


def test_ordering_a_folder_makes_no_sort_key_per_object() -> None:
    """The mended blocks are where plain and segment order disagree, not the whole folder."""
    import tracemalloc

    keys = [f"p{i // 100:03d}/obj-{i:05d}.bin" for i in range(20_000)] + ["p000.log", "p000-extra/x"]
    objects = [SourceObject(f"in/{k}", k, 1, None, None, None, "0" * 64) for k in keys]
    tracemalloc.start()
    try:
        ordered = _order(objects)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [o.logical_key for o in ordered] == sorted(keys, key=lambda k: k.split("/"))
    assert peak < 20_000 * 30, peak  # the two lists of references and one block's keys, not 20,000 new keys
