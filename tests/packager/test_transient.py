"""Transient, not permanent: cut-off bodies and objects that vanish or change between listing and hashing."""

from __future__ import annotations

import http.client
from typing import Any

import pytest
import urllib3.exceptions

from qps_core.aws import classify
from qps_core.errors import TransientError
from qps_core.packaging.hashing import HashRun
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.pkghelpers import make_bucket, put, request


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(10 bytes read, 90 more expected)"),
        http.client.IncompleteRead(b"partial", 90),
        urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),  # type: ignore[arg-type]
    ],
    ids=["ProtocolError", "IncompleteRead", "ReadTimeout"],
)
def test_defect_cut_off_body_classifies_as_transient(exc: Exception) -> None:
    """Before: a GetObject body cut off mid-read (urllib3 ProtocolError) was a permanent failure."""
    err = classify(exc, "GetObject", "s3://b/k")
    assert isinstance(err, TransientError)
    assert str(err).startswith("GetObject on s3://b/k: connection failed, retry later")


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned"])
@pytest.mark.parametrize("change", ["deleted", "rewritten"])
def test_defect_object_vanished_between_listing_and_hashing_is_transient(
    s3: Any, packager: Packager, settings: Settings, monkeypatch: pytest.MonkeyPatch, versioned: bool, change: str
) -> None:
    """Before: an object deleted between listing and hashing was a permanent failure (no retry re-listed)."""
    make_bucket(s3, "src-bucket", versioned=versioned)
    put(s3, "src-bucket", "d/a.txt", b"alpha")
    put(s3, "src-bucket", "d/b.txt", b"bravo")
    submit = HashRun.submit
    changed: list[bool] = []

    def meanwhile(self: HashRun, objects: Any) -> None:
        # hashing starts as each listing page arrives: change the object after it was listed, before it is hashed
        objects = list(objects)
        if not changed and any(o.key == "d/b.txt" for o in objects):
            changed.append(True)
            if change == "deleted":  # versioned: the very version listed is deleted
                version = next(o.version_id for o in objects if o.key == "d/b.txt")
                s3.delete_object(Bucket="src-bucket", Key="d/b.txt", **({"VersionId": version} if version else {}))
            else:
                s3.put_object(Bucket="src-bucket", Key="d/b.txt", Body=b"bravo, rewritten")
        submit(self, objects)

    monkeypatch.setattr(HashRun, "submit", meanwhile)
    req = request(settings, source_prefix="s3://src-bucket/d", message="m")
    if versioned and change == "rewritten":
        assert packager.package(req).files == 2  # the listed version is pinned and still there
        return
    with pytest.raises(TransientError) as err:
        packager.package(req)
    assert "s3://src-bucket/d/b.txt" in str(err.value)
    monkeypatch.undo()
    assert packager.package(req).status == "created"  # the retry lists again
