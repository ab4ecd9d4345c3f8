"""Packaging where the registry is the source bucket, and paths that name an object."""

from __future__ import annotations

import json
from typing import Any

from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.pkghelpers import keys, make_bucket, put, request


def test_should_copy_into_the_source_bucket_is_idempotent(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "bkt")
    put(s3, "bkt", "proj/a.txt", "a")
    put(s3, "bkt", "proj/b.txt", "b")
    req = request(settings, source_prefix="s3://bkt/proj", package_name="proj/v1", should_copy=True)
    first = packager.package(req)
    assert (first.status, first.files) == ("created", 2)
    assert sorted(k for k in keys(s3, "bkt", "proj/v1/")) == ["proj/v1/a.txt", "proj/v1/b.txt"]
    for _ in range(2):  # re-deliveries: the copies under proj/v1/ are never packaged as new files
        again = packager.package(req)
        assert (again.status, again.files, again.top_hash) == ("unchanged", 2, first.top_hash)


def test_relative_metadata_uri_follows_a_path_that_names_an_object(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    make_bucket(s3, "bkt")
    put(s3, "bkt", "data/run1/manifest.json", "{}")
    put(s3, "bkt", "data/run1/reads.fq", "ACGT")
    put(s3, "bkt", "data/run1/m.json", json.dumps({"run": "run1"}))
    req = request(settings, source_prefix="s3://bkt/data/run1/manifest.json", metadata_uri="m.json")
    result = packager.package(req)
    assert (result.status, result.package_name, result.source_prefix) == ("created", "data/run1", "s3://bkt/data/run1/")
    manifest = s3.get_object(Bucket="bkt", Key=f".quilt/packages/{result.top_hash}")["Body"].read().decode()
    assert json.loads(manifest.splitlines()[0])["user_meta"] == {"run": "run1"}


def test_should_copy_when_the_folder_is_already_the_copy_destination(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    make_bucket(s3, "bkt")
    put(s3, "bkt", "instrument-b/run-0311/a.csv", "a")
    req = request(settings, source_prefix="s3://bkt/instrument-b/run-0311/", should_copy=True, workflow="")
    result = packager.package(req)  # "" = no workflow: fine on a registry without a workflow config
    assert (result.status, result.package_name, result.files) == ("created", "instrument-b/run-0311", 1)
    assert keys(s3, "bkt", "instrument-b/") == ["instrument-b/run-0311/a.csv"]  # nothing copied onto itself
    assert packager.package(req).status == "unchanged"


def test_a_copied_package_keeps_its_copies_when_an_in_place_package_has_the_same_files(
    s3: Any, packager: Packager, settings: Settings
) -> None:
    make_bucket(s3, "data")
    make_bucket(s3, "registry")
    put(s3, "data", "keys/a.txt", "a")
    put(s3, "data", "keys/b.txt", "b")
    copied = packager.package(
        request(
            settings,
            source_prefix="s3://data/keys/",
            registry="registry",
            package_name="qa/copied",
            should_copy=True,
            message="m",
        )
    )
    in_place = packager.package(
        request(settings, source_prefix="s3://data/keys/", registry="registry", package_name="qa/in-place", message="m")
    )
    # quilt3's top hash leaves out physical keys: both packages have the same one...
    assert in_place.status == "created" and in_place.top_hash == copied.top_hash
    latest = s3.get_object(Bucket="registry", Key=".quilt/named_packages/qa/in-place/latest")["Body"].read()
    assert latest.decode() == copied.top_hash
    # ...and the manifest they share still points at the registry's copies, never back at the source.
    manifest = s3.get_object(Bucket="registry", Key=f".quilt/packages/{copied.top_hash}")["Body"].read().decode()
    entries = [json.loads(line) for line in manifest.splitlines()[1:]]
    assert all(e["physical_keys"][0].startswith("s3://registry/qa/copied/") for e in entries), entries
    assert (
        packager.package(
            request(
                settings, source_prefix="s3://data/keys/", registry="registry", package_name="qa/in-place", message="m"
            )
        ).status
        == "unchanged"
    )
