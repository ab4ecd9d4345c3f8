"""What a created revision changed against the previous `latest` (docs/design.md §12)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qps_core.errors import PermanentError
from qps_core.packaging.changes import MAX_KEYS_PER_KIND, diff_manifest
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.pkghelpers import fail_operation, make_bucket, put, request


def _manifest(entries: dict[str, str]) -> list[bytes]:
    lines = [json.dumps({"version": "v0", "message": "m"}).encode()]
    for key, value in entries.items():
        record = {
            "logical_key": key,
            "physical_keys": [f"s3://b/{key}"],
            "size": 1,
            "hash": {"type": "SHA256", "value": value},
        }
        lines.append(json.dumps(record).encode())
    return lines


def test_diff_counts_every_kind() -> None:
    old = {"same.txt": "h1", "edited.txt": "h2", "gone.txt": "h3"}
    new = [("same.txt", ("SHA256", "h1")), ("edited.txt", ("SHA256", "h2x")), ("new.txt", ("SHA256", "h4"))]
    changes = diff_manifest(iter(_manifest(old)), new).as_dict()
    assert changes == {
        "added": 1,
        "removed": 1,
        "modified": 1,
        "unchanged": 1,
        "keys": {"added": ["new.txt"], "removed": ["gone.txt"], "modified": ["edited.txt"], "unchanged": ["same.txt"]},
    }


def test_diff_lists_at_most_100_keys_per_kind_but_counts_all() -> None:
    new = [(f"f{i:04}", ("SHA256", "x")) for i in range(250)]
    changes = diff_manifest(iter(_manifest({})), new)
    assert changes.added == 250
    assert len(changes.keys["added"]) == MAX_KEYS_PER_KIND


def test_a_changed_hash_type_counts_as_modified() -> None:
    changes = diff_manifest(iter(_manifest({"a": "v"})), [("a", ("sha2-256-chunked", "v"))])
    assert (changes.modified, changes.unchanged) == (1, 0)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.sampled_from("abc"), max_size=20),
    st.dictionaries(st.text(min_size=1, max_size=8), st.sampled_from("abc"), max_size=20),
)
def test_diff_partitions_both_sides(old: dict[str, str], new: dict[str, str]) -> None:
    changes = diff_manifest(iter(_manifest(old)), [(k, ("SHA256", v)) for k, v in new.items()])
    assert changes.added + changes.modified + changes.unchanged == len(new)
    assert changes.removed + changes.modified + changes.unchanged == len(old)
    assert changes.unchanged == sum(1 for k, v in new.items() if old.get(k) == v)


def test_revisions_report_their_changes(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src")
    for name in ("keep.txt", "edit.txt", "drop.txt"):
        put(s3, "src", f"run/{name}", name.encode())
    req = request(settings, source_prefix="s3://src/run/", registry="src", package_name="team/run")
    first = packager.package(req)
    assert first.status == "created"
    assert first.changes is not None
    assert first.changes.counts() == {"added": 3, "removed": 0, "modified": 0, "unchanged": 0}

    again = packager.package(req)
    assert again.status == "unchanged"
    assert again.changes is None

    put(s3, "src", "run/edit.txt", b"edited")
    s3.delete_object(Bucket="src", Key="run/drop.txt")
    put(s3, "src", "run/new.txt", b"new")
    second = packager.package(req)
    assert second.status == "created"
    assert second.changes is not None
    assert second.changes.as_dict() == {
        "added": 1,
        "removed": 1,
        "modified": 1,
        "unchanged": 1,
        "keys": {"added": ["new.txt"], "removed": ["drop.txt"], "modified": ["edit.txt"], "unchanged": ["keep.txt"]},
    }


def test_the_previous_manifest_is_streamed_not_read_whole(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src")
    put(s3, "src", "run/a.txt", b"a")
    req = request(settings, source_prefix="s3://src/run/", registry="src", package_name="team/run")
    packager.package(req)
    put(s3, "src", "run/b.txt", b"b")
    reads: list[str] = []
    real_get = packager.s3.get_object

    def get_object(**params: Any) -> Any:
        resp = real_get(**params)
        if params["Key"].startswith(".quilt/packages/"):
            body = resp["Body"]
            real_read = body.read

            def read(amt: int | None = None) -> bytes:
                assert amt is not None, "the previous manifest was read whole"
                data: bytes = real_read(amt)
                return data

            body.read = read
            reads.append(params["Key"])
        return resp

    packager.s3.get_object = get_object
    result = packager.package(req)
    assert len(reads) == 1
    assert result.changes is not None
    assert (result.changes.added, result.changes.unchanged) == (1, 1)


def test_a_retry_that_completes_an_earlier_commit_compares_with_the_revision_before(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    make_bucket(s3, "src")
    put(s3, "src", "run/a.txt", b"a")
    req = request(settings, source_prefix="s3://src/run/", registry="src", package_name="team/run")
    assert packager.package(req).status == "created"
    put(s3, "src", "run/a.txt", b"a2")
    put(s3, "src", "run/b.txt", b"b")
    pointers = ".quilt/named_packages/team/run/"
    fail_operation(
        packager.s3,
        "PutObject",
        403,
        "AccessDenied",
        when=lambda p: p.get("Key", "").startswith(pointers) and p["Key"][len(pointers) :].isdigit(),
    )
    with pytest.raises(PermanentError):
        packager.package(req)  # `latest` moved, its revision pointer refused
    retry = Packager(settings)  # another delivery: another attempt, a working S3
    result = retry.package(req)
    assert result.status == "created"
    assert result.changes is not None
    assert result.changes.counts() == {"added": 1, "removed": 0, "modified": 1, "unchanged": 0}


def test_an_unreadable_previous_manifest_never_stops_the_new_revision(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    make_bucket(s3, "src")
    put(s3, "src", "run/a.txt", b"a")
    req = request(settings, source_prefix="s3://src/run/", registry="src", package_name="team/run")
    first = packager.package(req)
    s3.put_object(Bucket="src", Key=f".quilt/packages/{first.top_hash}", Body=b"{not json\n")
    put(s3, "src", "run/b.txt", b"b")
    second = packager.package(req)
    assert second.status == "created" and second.changes is None
    s3.delete_object(Bucket="src", Key=f".quilt/packages/{second.top_hash}")  # every version: versioned bucket
    for version in s3.list_object_versions(Bucket="src", Prefix=f".quilt/packages/{second.top_hash}")["Versions"]:
        s3.delete_object(Bucket="src", Key=version["Key"], VersionId=version["VersionId"])
    put(s3, "src", "run/c.txt", b"c")
    third = packager.package(req)
    assert third.status == "created" and third.changes is not None
    assert third.changes.counts()["added"] == 3  # a missing previous manifest counts as empty
