"""The lean HeadObject client: signing, response fields, retries and errors, against a scripted server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.exceptions
import pytest

from qps_core.aws import classify
from qps_core.errors import PermanentError, TransientError
from qps_core.packaging.s3head import S3Head


class Script:
    """What the server answers, in order, and what it received."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            script.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            status, headers = script.answers.pop(0) if script.answers else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()


def test_signed_head_with_checksum_mode_and_pinned_version(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers.append(
        (
            200,
            {
                "Content-Length": "1024",
                "ETag": '"abc"',
                "x-amz-version-id": "v1",
                "x-amz-checksum-sha256": "c2hh",
                "x-amz-checksum-type": "FULL_OBJECT",
            },
        )
    )
    head = S3Head(url).head("bkt", "a dir/ü+x.txt", version_id="v1").result(timeout=10)

    assert head == {
        "ContentLength": 1024,
        "ETag": '"abc"',
        "VersionId": "v1",
        "ChecksumSHA256": "c2hh",
        "ChecksumType": "FULL_OBJECT",
    }
    [(method, path, headers)] = script.seen
    assert (method, path) == ("HEAD", "/bkt/a%20dir/%C3%BC%2Bx.txt?versionId=v1")
    assert headers["x-amz-checksum-mode"] == "ENABLED"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/s3/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "testing"


def test_unversioned_head_is_pinned_to_the_etag(server: tuple[str, Script]) -> None:
    url, script = server
    S3Head(url).head("bkt", "k", if_match='"etag-1"').result(timeout=10)
    assert script.seen[0][2]["if-match"] == '"etag-1"'
    assert "?" not in script.seen[0][1]


def test_throttling_and_5xx_are_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers += [(503, {}), (500, {}), (200, {"Content-Length": "5"})]
    assert S3Head(url).head("bkt", "k").result(timeout=30) == {"ContentLength": 5}
    assert len(script.seen) == 3


def test_errors_classify_like_boto3(server: tuple[str, Script]) -> None:
    url, script = server
    heads = S3Head(url)
    script.answers += [(404, {}), (403, {}), (412, {})] + [(503, {})] * 4
    errors = []
    for _ in range(4):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            heads.head("bkt", "k").result(timeout=60)
        errors.append(classify(info.value, "HeadObject", "s3://bkt/k"))
    assert [type(e) for e in errors] == [PermanentError, PermanentError, TransientError, TransientError]
    assert "no such object" in str(errors[0]) and "access denied" in str(errors[1])
    assert "changed while" in str(errors[2]) and "temporary S3 failure" in str(errors[3])


def test_connection_refused_is_a_connection_error() -> None:
    from qps_core.demo.endpoint import free_port

    heads = S3Head(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionError):
        heads.head("bkt", "k").result(timeout=60)


# -- where the lean client stands in for boto3 ----------------------------------------------------------------------


def s3_client(monkeypatch: pytest.MonkeyPatch, region: str = "us-west-2", **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    return boto3.client(
        "s3", region_name=region, aws_access_key_id="x", aws_secret_access_key="y", config=Config(**config)
    )


@pytest.mark.parametrize(
    ("region", "config", "env", "expected"),
    [
        ("us-west-2", {}, {}, (True, None)),
        ("us-east-1", {}, {}, (True, None)),
        ("us-west-2", {"use_fips_endpoint": True}, {}, (False, None)),
        ("us-west-2", {}, {"AWS_USE_FIPS_ENDPOINT": "true"}, (False, None)),
        ("us-west-2", {}, {"AWS_USE_DUALSTACK_ENDPOINT": "true"}, (False, None)),
        ("us-west-2", {"s3": {"use_accelerate_endpoint": True}}, {}, (False, None)),
        ("cn-north-1", {}, {}, (False, None)),
        ("us-gov-west-1", {"use_fips_endpoint": True}, {}, (False, None)),
    ],
    ids=["standard", "us-east-1", "fips-config", "fips-env", "dualstack-env", "accelerate", "china", "govcloud-fips"],
)
def test_lean_client_only_where_it_reaches_what_boto3_reaches(
    monkeypatch: pytest.MonkeyPatch,
    region: str,
    config: dict[str, Any],
    env: dict[str, str],
    expected: tuple[bool, str | None],
) -> None:
    from qps_core.packaging.hashing import lean_endpoint

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert lean_endpoint(s3_client(monkeypatch, region, **config), None) == expected


def test_lean_client_uses_the_custom_endpoint_boto3_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    from qps_core.packaging.hashing import lean_endpoint

    client = s3_client(monkeypatch)
    assert lean_endpoint(client, "http://127.0.0.1:9000") == (True, "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://minio.example.org:9000")
    import boto3

    from_env = boto3.client("s3", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="y")
    assert lean_endpoint(from_env, None) == (True, "https://minio.example.org:9000")
    vpce = "https://bucket.vpce-0a1b-2c3d.s3.us-west-2.vpce.amazonaws.com"
    assert lean_endpoint(client, vpce) == (False, None)  # an interface endpoint: boto3 knows its rules


def test_lean_client_ignores_the_environment_endpoint_when_boto3_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: boto3 talks to AWS, and so must the lean HEADs and listing."""
    import boto3

    from qps_core.packaging.hashing import Hasher

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    client = boto3.client("s3", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="y")
    assert client.meta.endpoint_url == "https://s3.us-west-2.amazonaws.com"
    hasher = Hasher(client)
    hasher.lean_heads = True
    heads = hasher._lean()
    assert heads is not None and heads.endpoint is None  # S3's regional endpoints, not AWS_ENDPOINT_URL
