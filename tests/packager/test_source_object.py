"""`SourceObject` is compact (a million of them are a folder) and still behaves like the record it was."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone

from qps_core.packaging.listing import ForeignObject, SourceObject


def test_the_key_is_the_shared_folder_prefix_plus_the_logical_key() -> None:
    a = SourceObject("runs/7/" + "a.txt", "a.txt", 1, "v1", None, None)
    b = SourceObject("runs/7/sub/b.txt", "sub/b.txt", 2, "v2", None, None)
    assert (a.key, b.key) == ("runs/7/a.txt", "runs/7/sub/b.txt")
    assert a._prefix is b._prefix  # one string for the folder, not one per object
    assert a.params("bkt") == {"Bucket": "bkt", "Key": "runs/7/a.txt", "VersionId": "v1"}
    whole = SourceObject("elsewhere/x.bin", "renamed/x.bin", 3, None, '"e"', None)  # not a suffix: kept whole
    assert whole.key == "elsewhere/x.bin" and whole.params("b") == {
        "Bucket": "b",
        "Key": "elsewhere/x.bin",
        "IfMatch": '"e"',
    }


def test_times_come_back_as_utc_datetimes() -> None:
    stamp = datetime(2026, 3, 1, 12, 30, 5, 123000, tzinfo=UTC)
    assert SourceObject("k", "k", 1, None, None, None, last_modified=stamp).last_modified == stamp
    other_zone = stamp.astimezone(timezone(timedelta(hours=2)))
    assert SourceObject("k", "k", 1, None, None, None, last_modified=other_zone).last_modified == stamp
    naive = SourceObject("k", "k", 1, None, None, None, last_modified=stamp.replace(tzinfo=None))
    assert naive.last_modified == stamp  # S3's times are UTC
    assert SourceObject("k", "k", 1, None, None, None).last_modified is None


def test_equality_and_foreign_objects() -> None:
    one = SourceObject("f/a", "a", 1, "v", None, ("SHA256",), "h")
    assert one == SourceObject("f/a", "a", 1, "v", None, ("SHA256",), "h")
    assert one != SourceObject("f/a", "a", 1, "v", None, ("SHA256",), "other")
    foreign = ForeignObject("ext/a", "part/a", 1, "v", None, None, bucket="theirs")
    assert foreign.bucket == "theirs" and foreign.key == "ext/a" and foreign.logical_key == "part/a"
    assert foreign != ForeignObject("ext/a", "part/a", 1, "v", None, None, bucket="mine")
    assert "ext/a" in repr(foreign)


def test_an_object_holds_no_copy_of_its_key() -> None:
    key = "data/p0001/" + "obj-0001234.bin"
    obj = SourceObject(key, key[len("data/") :], 1024, "v" * 32, None, None)
    held = [getattr(obj, name) for name in SourceObject.__slots__]
    assert not any(isinstance(value, str) and value == key for value in held)
    assert sys.getsizeof(obj) <= 120
