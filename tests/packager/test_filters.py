"""Packaging with include/exclude filters against moto (docs/design.md §12): what is packaged, what is
never hashed, the sentinel kept, a folder the filters empty, idempotency with filters."""

from __future__ import annotations

import json
from typing import Any

import pytest
import quilt3

from qps_core.errors import PermanentError
from qps_core.packaging import hashing
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.pkghelpers import keys, make_bucket, put, request

CRATE = {"@context": "https://w3id.org/ro/crate/1.2/context", "@graph": [{"@id": "./", "@type": "Dataset"}]}


def folder(s3: Any) -> None:
    make_bucket(s3, "src")
    put(s3, "src", "run/data/a.csv", b"a")
    put(s3, "src", "run/data/b.csv", b"b")
    put(s3, "src", "run/data/scratch.tmp", b"t")
    put(s3, "src", "run/work/cache.bin", b"w" * 100)
    put(s3, "src", "run/logs/run.log", b"log")
    put(s3, "src", "run/ro-crate-metadata.json", json.dumps(CRATE).encode())


def entries(top_hash: str) -> list[str]:
    pkg = quilt3.Package.browse("team/run", registry="s3://src", top_hash=top_hash)
    return sorted(k for k, _ in pkg.walk())


def test_only_kept_objects_are_hashed_and_packaged(
    s3: Any, packager: Packager, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder(s3)
    submitted: list[str] = []
    real_submit = hashing.HashRun.submit

    def submit(self: Any, objects: Any) -> None:
        objects = list(objects)
        submitted.extend(o.logical_key for o in objects if o.checksum is None)
        real_submit(self, objects)

    monkeypatch.setattr(hashing.HashRun, "submit", submit)
    req = request(
        settings,
        source_prefix="s3://src/run/",
        package_name="team/run",
        include=["data/**", "*.log"],
        exclude=["*.tmp", "work/"],
    )
    result = packager.package(req)
    kept = ["data/a.csv", "data/b.csv", "logs/run.log", "ro-crate-metadata.json"]
    assert result.status == "created" and result.files == 4
    assert entries(result.top_hash) == kept  # the sentinel is kept though no include names it
    assert set(submitted) <= set(kept)
    assert "work/cache.bin" not in submitted and "data/scratch.tmp" not in submitted
    assert result.request.include == ["data/**", "*.log"]


def test_same_filters_unchanged_other_filters_another_revision(s3: Any, packager: Packager, settings: Settings) -> None:
    folder(s3)
    base = {"source_prefix": "s3://src/run/", "package_name": "team/run"}
    first = packager.package(request(settings, **base, exclude=["work/"]))
    again = packager.package(request(settings, **base, exclude=["work/"]))
    assert (first.status, again.status) == ("created", "unchanged")
    assert again.top_hash == first.top_hash
    other = packager.package(request(settings, **base, exclude=["work/", "logs/"]))
    assert other.status == "created" and other.top_hash != first.top_hash
    assert other.changes is not None
    assert other.changes.counts() == {"added": 0, "removed": 1, "modified": 0, "unchanged": 4}
    assert other.changes.keys["removed"] == ["logs/run.log"]
    revisions = [k for k in keys(s3, "src", ".quilt/named_packages/team/run/") if not k.endswith("/latest")]
    assert len(revisions) == 2


def test_a_folder_the_filters_empty_is_a_permanent_error_saying_so(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    make_bucket(s3, "src")
    put(s3, "src", "run/work/a.tmp", b"a")
    put(s3, "src", "run/b.tmp", b"b")
    with pytest.raises(PermanentError) as caught:
        packager.package(request(settings, source_prefix="s3://src/run/", exclude=["*.tmp"]))
    text = str(caught.value)
    assert "holds no objects to package" in text
    assert "filters (exclude *.tmp) left out all 2 of its objects" in text
    assert keys(s3, "src", ".quilt/") == []
    with pytest.raises(PermanentError) as empty:
        packager.package(request(settings, source_prefix="s3://src/nothing/", exclude=["*.tmp"]))
    assert "filters" not in str(empty.value)  # an empty folder is just empty


def test_crate_parts_the_filters_leave_out_are_not_missing(s3: Any, packager: Packager, settings: Settings) -> None:
    """A crate part excluded by the request's filters is left out and reported, never waited for as missing."""
    folder(s3)
    graph = [
        {"@id": "ro-crate-metadata.json", "about": {"@id": "./"}},
        {"@id": "./", "@type": "Dataset", "hasPart": [{"@id": "data/a.csv"}, {"@id": "work/cache.bin"}]},
        {"@id": "data/a.csv", "@type": "File"},
        {"@id": "work/cache.bin", "@type": "File"},
    ]
    put(s3, "src", "run/ro-crate-metadata.json", json.dumps({"@graph": graph}).encode())
    req = request(settings, source_prefix="s3://src/run/", package_name="team/run", exclude=["work/"])
    result = packager.package(req)
    assert entries(result.top_hash) == ["data/a.csv", "ro-crate-metadata.json"]
    assert result.rocrate is not None and (result.rocrate["mode"], result.rocrate["parts"]) == ("parts", 1)
    issues = result.rocrate["validation"]["issues"]
    assert {
        "level": "warning",
        "id": "work/cache.bin",
        "message": "left out by the request's include/exclude",
    } in issues
    unfiltered = packager.package(request(settings, source_prefix="s3://src/run/", package_name="team/run"))
    assert entries(unfiltered.top_hash) == ["data/a.csv", "ro-crate-metadata.json", "work/cache.bin"]
