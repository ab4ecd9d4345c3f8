"""The same folder again is cheap: hashes of unchanged object versions come from the previous revision
(qps_core/packaging/previous.py), never for a changed object; `changes` from the same single read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qps_core.packaging import checksums, previous
from qps_core.packaging.changes import diff_manifest
from qps_core.packaging.listing import SourceObject
from qps_core.packaging.packager import Packager
from qps_core.packaging.previous import from_lines
from qps_core.packaging.registry import Registry
from qps_core.settings import Settings
from tests.packager.pkghelpers import CallLog, keys, make_bucket, put, quilt_hash, read_manifest, request

NAMES = [f"data/f{i:02}.bin" for i in range(12)]


def _folder(s3: Any, *, versioned: bool) -> None:
    make_bucket(s3, "src", versioned=versioned)
    for name in NAMES:
        put(s3, "src", f"run/{name}", name.encode().ljust(64, b"."), sha256=True)


def _source_heads(log: CallLog) -> list[str]:
    return [key for op, bucket, key in log.calls if (op, bucket) == ("HeadObject", "src") and key and key[:4] == "run/"]


def _heads(log: CallLog) -> int:
    return len(_source_heads(log))


def test_an_unchanged_versioned_folder_needs_no_head(s3: Any, packager: Packager, settings: Settings) -> None:
    _folder(s3, versioned=True)
    req = request(settings, source_prefix="s3://src/run/", registry="src", package_name="team/run")
    first = packager.package(req)
    log = CallLog(packager.s3)
    again = packager.package(req)
    assert (again.status, again.top_hash) == ("unchanged", first.top_hash)
    assert _heads(log) == 0
    assert log.count("GetObjectAttributes") == 0 and log.count("CopyObject") == 0
    assert again.checksum_paths["previous"] == len(NAMES)
    assert first.checksum_paths["previous"] == 0


def test_a_new_version_is_hashed_again_and_changes_come_from_the_same_read(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    _folder(s3, versioned=True)
    req = request(settings, source_prefix="s3://src/run/", registry="src", package_name="team/run")
    packager.package(req)
    new_bytes = b"X" * 64  # same size, other bytes: a new version
    put(s3, "src", "run/data/f03.bin", new_bytes, sha256=True)
    log = CallLog(packager.s3)
    result = packager.package(req)
    assert result.status == "created"
    assert _source_heads(log) == ["run/data/f03.bin"]
    assert result.checksum_paths["previous"] == len(NAMES) - 1
    _, entries = read_manifest(s3, "src", result.top_hash)
    assert entries["data/f03.bin"]["hash"]["value"] == quilt_hash(new_bytes)
    assert all(entries[n]["hash"]["value"] == quilt_hash(n.encode().ljust(64, b".")) for n in NAMES if "f03" not in n)
    manifests = [key for op, _, key in log.calls if op == "GetObject" and key and key.startswith(".quilt/packages/")]
    assert len(manifests) == 1  # one read of the previous manifest: reuse and `changes` both
    assert result.changes is not None
    assert result.changes.counts() == {"added": 0, "removed": 0, "modified": 1, "unchanged": len(NAMES) - 1}


def _unversioned_first(s3: Any, packager: Packager, settings: Settings) -> tuple[Any, Any]:
    """The unversioned folder packaged once into its own registry: (the request, its first result)."""
    _folder(s3, versioned=False)
    make_bucket(s3, "reg")
    req = request(settings, source_prefix="s3://src/run/", registry="reg", package_name="team/run")
    return req, packager.package(req)


def test_an_unversioned_folder_again_is_pinned_by_etag_so_a_same_size_change_is_seen(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    req, first = _unversioned_first(s3, packager, settings)
    recorded = s3.get_object(Bucket="reg", Key=f".quilt/qps/etags/{first.top_hash}")["Body"].read().splitlines()
    etags = {o["Key"][4:]: o["ETag"] for o in s3.list_objects_v2(Bucket="src", Prefix="run/")["Contents"]}
    assert [json.loads(line) for line in recorded] == [etags[n] for n in sorted(NAMES)]  # manifest order

    new_bytes = b"Y" * 64  # same size, other bytes: a new ETag
    put(s3, "src", "run/data/f05.bin", new_bytes, sha256=True)
    log = CallLog(packager.s3)
    result = packager.package(req)
    assert result.status == "created" and result.top_hash != first.top_hash
    assert _source_heads(log) == ["run/data/f05.bin"]  # the rest pinned by their unchanged ETags
    assert result.checksum_paths["previous"] == len(NAMES) - 1
    _, entries = read_manifest(s3, "reg", result.top_hash)
    assert entries["data/f05.bin"]["hash"]["value"] == quilt_hash(new_bytes)
    assert all(entries[n]["hash"]["value"] == quilt_hash(n.encode().ljust(64, b".")) for n in NAMES if "f05" not in n)

    log = CallLog(packager.s3)
    again = packager.package(req)
    assert (again.status, again.top_hash, _heads(log)) == ("unchanged", result.top_hash, 0)


def test_without_recorded_etags_an_unversioned_folder_is_hashed_again(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    """A revision quilt3 pushed (or whose ETags were not written) names no ETags: every object is HEADed."""
    req, first = _unversioned_first(s3, packager, settings)
    s3.delete_object(Bucket="reg", Key=f".quilt/qps/etags/{first.top_hash}")
    log = CallLog(packager.s3)
    again = packager.package(req)
    assert (again.status, again.top_hash) == ("unchanged", first.top_hash)
    assert _heads(log) == len(NAMES) and again.checksum_paths["previous"] == 0


def test_a_versioned_folder_records_no_etags(s3: Any, packager: Packager, settings: Settings) -> None:
    _folder(s3, versioned=True)
    make_bucket(s3, "reg")
    result = packager.package(request(settings, source_prefix="s3://src/run/", registry="reg", package_name="t/r"))
    assert result.status == "created"
    assert not [k for k in keys(s3, "reg") if k.startswith(".quilt/qps/")]


def _line(logical_key: str, physical_key: str, size: int, value: str, hash_type: str = checksums.HASH_TYPE) -> bytes:
    record = {
        "logical_key": logical_key,
        "physical_keys": [physical_key],
        "size": size,
        "hash": {"type": hash_type, "value": value},
        "meta": {},
    }
    return json.dumps(record).encode()


def _obj(key: str, version: str | None, size: int = 5, hash_type: str = checksums.HASH_TYPE) -> SourceObject:
    return SourceObject(key, key.partition("/")[2], size, version, None, None, hash_type=hash_type)


def test_an_old_entry_is_reused_only_for_the_very_version_it_names() -> None:
    value = quilt_hash(b"hello")
    lines = [
        b'{"version": "v0"}',
        _line("a b.txt", "s3://src/run/a%20b.txt?versionId=v%2B1", 5, value),
        _line("plain.txt", "s3://src/run/plain.txt", 5, value),
    ]
    known = from_lines("team/run", "top", lines)
    assert known.hash_of("src", _obj("run/a b.txt", "v+1")) == value
    assert known.hash_of("src", _obj("run/a b.txt", "v2")) is None  # another version
    assert known.hash_of("other", _obj("run/a b.txt", "v+1")) is None  # another bucket
    assert known.hash_of("src", _obj("run/a b.txt", "v+1", size=6)) is None  # another size
    assert known.hash_of("src", _obj("run/a b.txt", "v+1", hash_type=checksums.CRC64NVME)) is None
    assert known.hash_of("src", _obj("run/plain.txt", None)) is None  # unversioned: never
    assert known.hash_of("src", _obj("run/plain.txt", "v1")) is None  # the old entry pinned no version


hashes = st.sampled_from(["AAAA", "qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc=", "zz", "0123abcd"])


@given(
    old=st.dictionaries(st.sampled_from(list("abcdef")), hashes, max_size=6),
    new=st.dictionaries(st.sampled_from(list("abcdefg")), hashes, max_size=7),
)
def test_changes_from_the_map_equal_the_streamed_diff(old: dict[str, str], new: dict[str, str]) -> None:
    lines = [b'{"version": "v0"}'] + [_line(k, f"s3://b/{k}?versionId=1", 1, v) for k, v in old.items()]
    entries = [(k, (checksums.HASH_TYPE, v)) for k, v in new.items()]
    expected = diff_manifest(iter(lines), entries).as_dict()
    assert from_lines("n", "t", lines).changes(entries).as_dict() == expected


def test_the_commit_starts_from_the_latest_read_beside_the_listing(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    _folder(s3, versioned=True)
    make_bucket(s3, "reg")
    req = request(settings, source_prefix="s3://src/run/", registry="reg", package_name="team/run")
    packager.package(req)
    put(s3, "src", "run/data/f01.bin", b"Z" * 64, sha256=True)
    log = CallLog(packager.s3)
    result = packager.package(req)
    assert result.status == "created"
    assert [k for op, _, k in log.calls if op == "GetObject" and k and k.endswith("/latest")] == [
        ".quilt/named_packages/team/run/latest"
    ]


def test_a_latest_that_moved_after_it_was_read_is_read_again(
    s3: Any, packager: Packager, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _folder(s3, versioned=True)
    make_bucket(s3, "reg")
    req = request(settings, source_prefix="s3://src/run/", registry="reg", package_name="team/run")
    first = packager.package(req)
    stale = previous.read_previous(Registry(packager.s3, "reg"), "team/run")  # `latest` = the first revision
    assert stale is not None and stale.latest is not None and stale.latest.top_hash == first.top_hash
    put(s3, "src", "run/data/f01.bin", b"Z" * 64, sha256=True)
    second = packager.package(req)  # `latest` moves on after `stale` was read
    put(s3, "src", "run/data/f02.bin", b"W" * 64, sha256=True)
    monkeypatch.setattr(previous, "read_previous", lambda registry, name: stale)
    third = packager.package(req)
    assert third.status == "created"
    assert third.changes is not None  # against the second revision (the real `latest`), not the stale first
    assert third.changes.keys["modified"] == ["data/f02.bin"]
    assert third.changes.counts()["modified"] == 1
    body = s3.get_object(Bucket="reg", Key=".quilt/named_packages/team/run/latest")["Body"].read().decode()
    assert body.strip() == third.top_hash
    pointers = [k for k in keys(s3, "reg", ".quilt/named_packages/team/run/") if not k.endswith("/latest")]
    assert len(pointers) == 3 and second.top_hash != third.top_hash
