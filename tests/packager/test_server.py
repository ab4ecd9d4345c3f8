"""The packager against a moto server over HTTP: the closest thing to a real endpoint here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import quilt3
from moto.server import ThreadedMotoServer

from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.pkghelpers import CallLog, free_port, make_bucket, put, quilt_hash, request


@pytest.fixture
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_over_http_with_aws_endpoint_url(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    s3: Any = boto3.client("s3")
    make_bucket(s3, "http-src")
    make_bucket(s3, "http-reg")
    data = {"a.txt": b"alpha", "b/c.bin": os.urandom(4096), "d.txt": b"with checksum"}
    for k, v in data.items():
        put(s3, "http-src", f"exp/{k}", v, sha256=k == "d.txt")
    settings = Settings()
    packager = Packager(settings)
    log = CallLog(packager.s3)

    result = packager.package(request(settings, source_prefix="s3://http-src/exp", registry="http-reg", message="m"))
    first_gets = log.count("GetObject", "http-src")
    again = packager.package(request(settings, source_prefix="s3://http-src/exp", registry="http-reg", message="m"))

    assert packager.s3.meta.endpoint_url == endpoint
    assert (result.status, again.status) == ("created", "unchanged")
    pkg = quilt3.Package.browse("package/exp", registry="s3://http-reg")
    assert pkg.top_hash == result.top_hash
    for k, v in data.items():
        assert pkg[k].hash["value"] == quilt_hash(v)
        assert pkg[k].get_bytes() == v
    assert first_gets == 2  # d.txt's S3 checksum was reused


def test_over_http_with_explicit_endpoint(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s3: Any = boto3.client("s3", endpoint_url=endpoint)
    make_bucket(s3, "http-src", versioned=False)
    put(s3, "http-src", "one/file.txt", b"x")
    settings = Settings()
    result = Packager(settings, endpoint_url=endpoint).package(
        request(settings, source_prefix="s3://http-src/one", message="m", should_copy=True)
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    pkg = quilt3.Package.browse(result.package_name, registry="s3://http-src")
    assert pkg["file.txt"].physical_key.path == "package/one/file.txt"
    assert pkg["file.txt"].get_bytes() == b"x"
