"""Helpers for the packager tests (imported by conftest and the test modules)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qps_core.models import PackageRequest
from qps_core.settings import Settings

CHUNK = 8 * 1024 * 1024
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "crates"  # the sample RO-Crates


def quilt_hash(data: bytes) -> str:
    """quilt3's sha2-256-chunked, computed here with hashlib only (objects < 80 GiB: 8 MiB chunks)."""
    if not data:
        return base64.b64encode(hashlib.sha256(b"").digest()).decode()
    digests = b"".join(hashlib.sha256(data[i : i + CHUNK]).digest() for i in range(0, len(data), CHUNK))
    return base64.b64encode(hashlib.sha256(digests).digest()).decode()


def make_bucket(s3: Any, name: str, *, versioned: bool = True) -> str:
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def put(s3: Any, bucket: str, key: str, data: bytes | str, *, sha256: bool = False) -> str | None:
    """Upload an object; return its VersionId (None on unversioned buckets)."""
    body = data.encode() if isinstance(data, str) else data
    extra = {"ChecksumAlgorithm": "SHA256"} if sha256 else {}
    resp = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    return resp.get("VersionId")


def put_multipart(s3: Any, bucket: str, key: str, data: bytes, part_size: int) -> dict[str, Any]:
    """Multipart upload with SHA-256 checksums; returns {'VersionId', 'Parts': [{PartNumber, Size, ChecksumSHA256}]}."""
    mpu = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    parts = []
    for number, start in enumerate(range(0, len(data), part_size), start=1):
        chunk = data[start : start + part_size]
        resp = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=mpu["UploadId"], PartNumber=number, Body=chunk, ChecksumAlgorithm="SHA256"
        )
        parts.append(
            {"PartNumber": number, "ETag": resp["ETag"], "ChecksumSHA256": resp["ChecksumSHA256"], "Size": len(chunk)}
        )
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{k: p[k] for k in ("PartNumber", "ETag", "ChecksumSHA256")} for p in parts]},
    )
    return {"VersionId": done.get("VersionId"), "Parts": parts}


def request(settings: Settings, **body: Any) -> PackageRequest:
    return PackageRequest.parse(body, **settings.request_context())


def read_manifest(s3: Any, registry: str, top_hash: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The raw manifest (package meta line, entries by logical key) as written to the registry."""
    body = s3.get_object(Bucket=registry, Key=f".quilt/packages/{top_hash}")["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    return lines[0], {e["logical_key"]: e for e in lines[1:]}


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", ())]
    return out


class CallLog:
    """Counts S3 operations made through a client (botocore event hook), with their Bucket/Key."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, str | None, str | None]] = []
        client.meta.events.register("before-parameter-build.s3.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, params.get("Bucket"), params.get("Key")))

    def count(self, operation: str | None = None, bucket: str | None = None) -> int:
        return sum(
            1 for op, b, _ in self.calls if (operation is None or op == operation) and (bucket is None or b == bucket)
        )

    def ops(self) -> Counter[str]:
        return Counter(op for op, _, _ in self.calls)


def fail_operation(
    client: Any,
    operation: str,
    status: int,
    code: str,
    *,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> None:
    """Make S3 answer `operation` with an error, as it would on the wire (no retries: before-call)."""

    def stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["qps_params"] = dict(params)

    def respond(context: dict[str, Any], **_: Any) -> Any:
        if when is not None and not when(context.get("qps_params", {})):
            return None

        class _Http:
            status_code = status
            headers: dict[str, str] = {}  # noqa: RUF012
            content = b""

        return _Http(), {
            "Error": {"Code": code, "Message": f"simulated {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        }

    client.meta.events.register(f"before-parameter-build.s3.{operation}", stash)
    client.meta.events.register(f"before-call.s3.{operation}", respond)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
