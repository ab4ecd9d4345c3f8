"""A new revision is three writes once hashing ends (docs/design.md §5): the manifest, `latest` and the
revision pointer are created without reading first; a large manifest is looked for before it is uploaded."""

from __future__ import annotations

from typing import Any

import pytest

from qps_core.packaging import registry
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.pkghelpers import CallLog, make_bucket, put, request


def _registry_calls(log: CallLog) -> list[tuple[str, str]]:
    return [(op, key or "") for op, bucket, key in log.calls if bucket == "reg"]


def _folder(s3: Any, body: bytes) -> None:
    put(s3, "src", "run/a.txt", body, sha256=True)
    put(s3, "src", "run/b.txt", b"bravo", sha256=True)


@pytest.fixture
def buckets(s3: Any) -> None:
    make_bucket(s3, "src")
    make_bucket(s3, "reg")


def test_a_new_revision_writes_without_reading_first(
    s3: Any, packager: Packager, settings: Settings, buckets: None
) -> None:
    _folder(s3, b"alpha")
    log = CallLog(packager.s3)
    result = packager.package(request(settings, source_prefix="s3://src/run/", registry="reg", package_name="t/r"))
    assert result.status == "created"
    calls = _registry_calls(log)
    writes = [(op, key.split("/")[1]) for op, key in calls if op == "PutObject"]
    assert [w[1] for w in writes] == ["packages", "named_packages", "named_packages"]  # manifest, latest, pointer
    assert not [c for c in calls if c[0] == "HeadObject"]


@pytest.mark.parametrize("large", [False, True], ids=["small manifest", "large manifest"])
def test_content_seen_before_reuses_its_manifest(
    s3: Any, packager: Packager, settings: Settings, buckets: None, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    """Back to an earlier content: its manifest exists. A small one is created and refused (then read
    back); a large one is looked for first, and never uploaded."""
    req = request(settings, source_prefix="s3://src/run/", registry="reg", package_name="t/r")
    _folder(s3, b"alpha")
    first = packager.package(req)
    _folder(s3, b"other")
    assert packager.package(req).status == "created"
    _folder(s3, b"alpha")
    if large:
        monkeypatch.setattr(registry, "LOOK_BEFORE_BYTES", 0)
    log = CallLog(packager.s3)
    again = packager.package(req)
    assert (again.status, again.top_hash) == ("created", first.top_hash)  # `latest` names it again
    manifest = f".quilt/packages/{first.top_hash}"
    calls = _registry_calls(log)
    assert ("HeadObject", manifest) in calls
    assert (("PutObject", manifest) in calls) is not large
