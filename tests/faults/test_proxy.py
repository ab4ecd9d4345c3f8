"""The test tools themselves: moto honours conditional writes, and the proxy injects what it says."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
from proxy import FaultProxy, operation_of
from scenario import unique


def test_moto_server_honours_conditional_puts(s3: Any) -> None:
    """The commit protocol's tests mean something only if the server refuses a failed condition."""
    bucket = unique("cond")
    s3.create_bucket(Bucket=bucket)
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*")
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch=etag)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k", Body=b"4", IfMatch=etag)
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"3"


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("GET", "/b", "versions&prefix=d%2F", {}, ("ListObjectVersions", "")),
        ("HEAD", "/b/d/a.txt", "", {}, ("HeadObject", "d/a.txt")),
        ("GET", "/b/d/a%20b.txt", "", {}, ("GetObject", "d/a b.txt")),
        ("GET", "/b/k", "attributes", {}, ("GetObjectAttributes", "k")),
        ("PUT", "/b/.quilt/named_packages/a/b/latest", "", {}, ("PutObject", ".quilt/named_packages/a/b/latest")),
        ("PUT", "/b/k", "", {"x-amz-copy-source": "s/k"}, ("CopyObject", "k")),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {"x-amz-copy-source": "s/k"}, ("UploadPartCopy", "k")),
        ("POST", "/b/k", "uploads", {}, ("CreateMultipartUpload", "k")),
        ("POST", "/b/k", "uploadId=u", {}, ("CompleteMultipartUpload", "k")),
        ("DELETE", "/b/k", "versionId=v", {}, ("DeleteObject", "k")),
    ],
)
def test_operations_are_told_apart(
    method: str, path: str, query: str, headers: dict[str, str], expected: tuple[str, str]
) -> None:
    assert operation_of(method, path, query, headers) == expected


@pytest.mark.parametrize(
    ("fault", "applied", "error"),
    [
        ("503", False, "SlowDown"),
        ("500", False, "InternalError"),
        ("403", False, "AccessDenied"),
        ("reset-before", False, "ConnectionClosedError"),
        ("reset-after", True, "ConnectionClosedError"),
        ("cut-body", True, None),
    ],
)
def test_each_fault_does_what_it_says(s3: Any, proxy: FaultProxy, fault: str, applied: bool, error: str | None) -> None:
    bucket = unique("flt")
    s3.create_bucket(Bucket=bucket)
    client = boto3.client(
        "s3",
        endpoint_url=proxy.url,
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    proxy.add(fault, "PutObject", key="^k$")
    with pytest.raises(Exception) as err:
        client.put_object(Bucket=bucket, Key="k", Body=b"data")
    if error is not None:
        assert error in repr(err.value) or error == type(err.value).__name__, repr(err.value)
    exists = "Contents" in s3.list_objects_v2(Bucket=bucket, Prefix="k")
    assert exists == applied
    assert proxy.calls == [("PutObject", "k", fault)]
