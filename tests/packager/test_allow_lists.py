"""`allowed_sources` (docs/design.md §5): checked before any S3 call; nothing outside it is read."""

from __future__ import annotations

from typing import Any

import pytest

from qps_core.errors import ConfigError, PermanentError
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings, load_settings
from tests.packager.pkghelpers import CallLog, make_bucket, put, request

DEAD = "http://127.0.0.1:9"  # nothing listens: any S3 call would be a connection error, not a refusal


def _refused(settings: Settings, **body: Any) -> str:
    packager = Packager(settings, endpoint_url=DEAD)
    log = CallLog(packager.s3)
    with pytest.raises(PermanentError) as err:
        packager.package(request(Settings(), message="m", **body))
    assert log.calls == []  # refused unread: not even a listing
    return str(err.value)


def test_defect_source_outside_allowed_sources_is_refused_unread() -> None:
    """Before: any bucket the role could read could be packaged into an allowed registry."""
    settings = Settings(allowed_sources=["s3://lab-data/runs/", "other-bucket"])
    error = _refused(settings, source_prefix="s3://lab-data/private/x", registry="lab-data")
    assert error.startswith("source_prefix s3://lab-data/private/x/ is not an allowed source")
    assert "s3://lab-data/runs/" in error and "s3://other-bucket/" in error
    _refused(settings, source_prefix="s3://lab-data/runsx/1", registry="lab-data")  # a prefix is a folder


def test_defect_metadata_uri_outside_allowed_sources_is_refused_unread() -> None:
    """Before: `metadata_uri` could pull any readable JSON object into package metadata."""
    settings = Settings(allowed_sources=["s3://lab-data/runs/"])
    error = _refused(
        settings,
        source_prefix="s3://lab-data/runs/7",
        registry="lab-data",
        metadata_uri="s3://secrets-bucket/config.json",
    )
    assert error.startswith("metadata_uri s3://secrets-bucket/config.json is not an allowed source")


def test_allowed_sources_default_to_the_allowed_registries() -> None:
    settings = Settings(allowed_registries=["reg-bucket"])
    assert settings.source_allow_list() == ["s3://reg-bucket/"]
    error = _refused(settings, source_prefix="s3://elsewhere/d", registry="reg-bucket")
    assert "is not an allowed source (allowed: s3://reg-bucket/)" in error
    assert Settings().source_allow_list() == []  # neither set: any source


def test_allowed_sources_setting_is_normalised_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_ALLOWED_SOURCES", "bkt, s3://bkt-two/runs, s3://bkt-3/x/")
    assert load_settings().allowed_sources == ["s3://bkt/", "s3://bkt-two/runs/", "s3://bkt-3/x/"]
    monkeypatch.setenv("QPS_ALLOWED_SOURCES", "Not_A_Bucket")
    with pytest.raises(ConfigError, match="allowed_sources"):
        load_settings()
    monkeypatch.setenv("QPS_ALLOWED_SOURCES", "https://bkt/x")
    with pytest.raises(ConfigError, match="allowed_sources"):
        load_settings()


def test_allowed_source_packages(s3: Any) -> None:
    make_bucket(s3, "lab-data")
    put(s3, "lab-data", "runs/7/a.txt", b"a")
    put(s3, "lab-data", "runs/7/meta.json", b'{"k": 1}')
    settings = Settings(allowed_sources=["s3://lab-data/runs/"])
    result = Packager(settings).package(
        request(settings, source_prefix="s3://lab-data/runs/7", metadata_uri="meta.json", message="m")
    )
    assert result.status == "created"


def test_a_named_object_outside_the_allow_list_is_not_looked_up(s3: Any) -> None:
    """`s3://b/runs/7` may name an object whose folder `runs/` is outside `s3://b/runs/7/`: never HEAD it."""
    make_bucket(s3, "lab-data")
    put(s3, "lab-data", "runs/7", b"an object named like the folder")
    settings = Settings(allowed_sources=["s3://lab-data/runs/7/"])
    packager = Packager(settings)
    log = CallLog(packager.s3)
    with pytest.raises(PermanentError, match="holds no objects"):
        packager.package(request(settings, source_prefix="s3://lab-data/runs/7", message="m"))
    looked_up = [(op, k) for op, _, k in log.calls if op in ("HeadObject", "GetObject")]
    assert [(op, k) for op, k in looked_up if not (k or "").startswith(".quilt/")] == []  # `latest` aside


def test_defect_errors_never_quote_object_content(s3: Any, packager: Packager, settings: Settings) -> None:
    """Before: a metadata file's duplicate key was quoted in the error."""
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/a.txt", b"a")
    put(s3, "src-bucket", "d/meta.json", b'{"patient-4711-secret": 1, "patient-4711-secret": 2}')
    put(s3, "src-bucket", "e/a.txt", b"a")
    put(s3, "src-bucket", "e/meta.json", b'{"n": 1e999999, "x": "patient-4711-secret"}')
    for folder in ("d", "e"):
        with pytest.raises(PermanentError) as err:
            packager.package(
                request(settings, source_prefix=f"s3://src-bucket/{folder}", metadata_uri="meta.json", message="m")
            )
        assert "patient-4711" not in str(err.value) and "1e999999" not in str(err.value)
        assert "is not valid strict JSON" in str(err.value)
