"""A synthetic S3 for the scale benchmark (bench only, never shipped): any number of objects, no storage.

    python -m bench.synth_s3 --port 5002 --objects 1000000 --latency 0.02

One asyncio process answering path-style S3 requests as S3 does, each no sooner than `latency` after it
arrived (keep-alive, no connection limit):

- the source bucket `synth-src` (versioned) holds `--objects` objects `data/p<NNNN>/obj-<NNNNNNN>.bin`
  of 1 KiB each, generated, not stored: ListObjectVersions pages of up to 1,000 versions (with
  `ChecksumAlgorithm` SHA256), HeadObject/GetObject with the object's real bytes' SHA-256
  (`x-amz-checksum-sha256`, FULL_OBJECT) pinned to the listed `versionId`. `POST /_synth/change?i=K`
  gives object K new bytes of the same size and a new version (what "a changed object" means);
- every other bucket is an in-memory, unversioned registry: PutObject (honouring `If-None-Match: *`
  and `If-Match`), GetObject, HeadObject, DeleteObject, ListObjectsV2, with user metadata.

`GET /_front/stats` / `POST /_front/reset`: requests by operation and the span, as `tests.support.s3front`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import sys
from email.utils import formatdate
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from tests.support.s3front import CountingServer, _Stats, listen, operation, read_request, serve_connection

SOURCE = "synth-src"
PREFIX = "data/"
SIZE = 1024
PAGE = 1000
STAMP = "2026-01-01T00:00:00.000Z"
HTTP_DATE = formatdate(1767225600, usegmt=True)


def key_of(i: int) -> str:
    return f"{PREFIX}p{i // 1000:04d}/obj-{i:07d}.bin"


def index_of(key: str) -> int | None:
    if not key.startswith(PREFIX) or not key.endswith(".bin"):
        return None
    try:
        return int(key.rsplit("obj-", 1)[1][:-4])
    except (IndexError, ValueError):
        return None


def body_of(i: int, generation: int = 0) -> bytes:
    """Object i's bytes (generation g: after g changes), 1 KiB."""
    return (f"{i:07d}.{generation:03d}|" * (SIZE // 12 + 1)).encode()[:SIZE]


def version_of(i: int, generation: int = 0) -> str:
    return f"v{generation:03d}-{i:07d}-3ecc4f449c3573b72122f16e"


class Synth:
    def __init__(self, objects: int, latency: float) -> None:
        self.objects = objects
        self.latency = latency
        self.generation: dict[int, int] = {}
        self.stats = _Stats()
        self.store: dict[tuple[str, str], tuple[bytes, str, dict[str, str]]] = {}  # (bucket, key) -> body, etag, meta

    # ------------------------------------------------------------------ HTTP

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(self._one, reader, writer)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request = await read_request(reader, writer)
        if request is None:
            return False
        loop = asyncio.get_running_loop()
        arrival, method, target, headers, body = request.fields()
        if "aws-chunked" in headers.get("content-encoding", ""):
            body = _aws_chunked(body)
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        if split.path.startswith(("/_front/", "/_synth/")):
            status, resp_headers, resp_body = self._control(split.path, query)
        else:
            op = operation(method, split.path, query, headers)
            stats = self.stats
            stats.first = arrival if stats.first is None else stats.first
            stats.ops[op] += 1
            bucket, _, key = split.path.lstrip("/").partition("/")
            stats.by_bucket[bucket][op] += 1

            status, resp_headers, resp_body = self.answer(method, bucket, unquote(key), query, headers, body)
            if op == "GetObject" and status == 200:
                stats.bytes["GetObject"] += len(resp_body)
            await asyncio.sleep(max(0.0, arrival + self.latency - loop.time()))
            stats.last = loop.time()
        lines = [f"HTTP/1.1 {status} {'OK' if status < 300 else 'Error'}"]
        lines += [f"{k}: {v}" for k, v in resp_headers.items()]
        lines += [f"Content-Length: {len(resp_body)}", "Connection: keep-alive", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + (b"" if method == "HEAD" else resp_body))
        await writer.drain()
        return True

    def _control(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        import json

        if path == "/_front/reset":
            self.stats.reset()
        if path == "/_synth/change":
            i = int(query["i"][0])
            self.generation[i] = self.generation.get(i, 0) + 1
        return 200, {"Content-Type": "application/json"}, json.dumps(self.stats.as_dict()).encode()

    # ------------------------------------------------------------------ S3

    def answer(
        self, method: str, bucket: str, key: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if bucket == SOURCE:
            if not key and "versions" in query:
                return self._list_versions(query)
            if method in ("GET", "HEAD") and key:
                return self._source_object(method, key, query)
            return _error(405, "MethodNotAllowed", "the synthetic source bucket is read-only")
        if not key:
            if method == "GET" and query.get("list-type") == ["2"]:
                return self._list_v2(bucket, query)
            if method == "GET" and "versioning" in query:
                return 200, {}, b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
            return 200, {}, b""
        return self._registry_object(method, bucket, key, headers, body)

    def _list_versions(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        prefix = query.get("prefix", [""])[0]
        marker = query.get("key-marker", [""])[0]
        start = 0
        if marker:
            found = index_of(marker)
            start = (found + 1) if found is not None else self.objects
        if not PREFIX.startswith(prefix) and not prefix.startswith(PREFIX):
            start = self.objects
        indexes = [i for i in range(start, min(start + PAGE, self.objects)) if key_of(i).startswith(prefix)]
        truncated = start + PAGE < self.objects
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
            f"<Name>{SOURCE}</Name><Prefix>{escape(prefix)}</Prefix><KeyMarker>{escape(marker)}</KeyMarker>",
            f"<MaxKeys>{PAGE}</MaxKeys><EncodingType>url</EncodingType>",
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
        ]
        for i in indexes:
            g = self.generation.get(i, 0)
            etag = hashlib.md5(body_of(i, g)).hexdigest()
            out.append(
                f"<Version><Key>{quote(key_of(i))}</Key><VersionId>{version_of(i, g)}</VersionId>"
                f"<IsLatest>true</IsLatest><LastModified>{STAMP}</LastModified><ETag>&quot;{etag}&quot;</ETag>"
                f"<ChecksumAlgorithm>SHA256</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
                f"<Size>{SIZE}</Size><StorageClass>STANDARD</StorageClass></Version>"
            )
        if truncated and indexes:
            out.append(f"<NextKeyMarker>{quote(key_of(start + PAGE - 1))}</NextKeyMarker>")
            out.append(f"<NextVersionIdMarker>{version_of(start + PAGE - 1)}</NextVersionIdMarker>")
        out.append("</ListVersionsResult>")
        return 200, {"Content-Type": "application/xml"}, "".join(out).encode()

    def _source_object(self, method: str, key: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        i = index_of(key)
        if i is None or i >= self.objects:
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        g = self.generation.get(i, 0)
        wanted = query.get("versionId", [None])[0]
        if wanted is not None and wanted != version_of(i, g):
            if wanted.endswith(f"-{i:07d}-3ecc4f449c3573b72122f16e") and wanted[1:4].isdigit():
                old = int(wanted[1:4])
                if old < g:
                    g = old  # an older version still exists
                else:
                    return _error(404, "NoSuchVersion", "The specified version does not exist.")
            else:
                return _error(400, "InvalidArgument", "Invalid version id specified")
        data = body_of(i, g)
        headers = {
            "ETag": f'"{hashlib.md5(data).hexdigest()}"',
            "x-amz-version-id": version_of(i, g),
            "Last-Modified": HTTP_DATE,
            "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "x-amz-checksum-type": "FULL_OBJECT",
            "Content-Type": "application/octet-stream",
        }
        if method == "HEAD":
            return 200, headers, data  # the body is not sent; Content-Length is its size
        return 200, headers, data

    def _registry_object(
        self, method: str, bucket: str, key: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        found = self.store.get((bucket, key))
        if method in ("GET", "HEAD"):
            if found is None:
                return _error(404, "NoSuchKey", "The specified key does not exist.")
            data, etag, meta = found
            return 200, {"ETag": etag, "Last-Modified": HTTP_DATE, **meta}, data
        if method == "DELETE":
            self.store.pop((bucket, key), None)
            return 204, {}, b""
        if method == "PUT":
            if "x-amz-copy-source" in headers:
                return _error(501, "NotImplemented", "CopyObject is not part of the synthetic S3")
            if headers.get("if-none-match") == "*" and found is not None:
                return _error(412, "PreconditionFailed", "a pre-condition did not hold")
            if "if-match" in headers and (found is None or found[1] != headers["if-match"]):
                code = 404 if found is None else 412
                return _error(code, "NoSuchKey" if found is None else "PreconditionFailed", "condition failed")
            etag = f'"{hashlib.md5(body).hexdigest()}"'
            meta = {k: v for k, v in headers.items() if k.startswith("x-amz-meta-")}
            self.store[(bucket, key)] = (body, etag, meta)
            return 200, {"ETag": etag}, b""
        return _error(405, "MethodNotAllowed", "not supported by the synthetic S3")

    def _list_v2(self, bucket: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        prefix = query.get("prefix", [""])[0]
        keys = sorted(k for b, k in self.store if b == bucket and k.startswith(prefix))[:1000]
        items = "".join(
            f"<Contents><Key>{escape(k)}</Key><LastModified>{STAMP}</LastModified>"
            f"<ETag>{escape(self.store[(bucket, k)][1])}</ETag><Size>{len(self.store[(bucket, k)][0])}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for k in keys
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(keys)}</KeyCount>"
            f"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{items}</ListBucketResult>"
        )
        return 200, {"Content-Type": "application/xml"}, xml.encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return status, {"Content-Type": "application/xml"}, xml.encode()


def _aws_chunked(body: bytes) -> bytes:
    """The payload of an `aws-chunked` body (size;ext CRLF data CRLF ... 0 CRLF trailers CRLF)."""
    out = bytearray()
    pos = 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        pos = end + 2
        if size == 0:
            return bytes(out)
        out += body[pos : pos + size]
        pos += size + 2


async def serve(host: str, port: int, objects: int, latency: float) -> None:
    await listen(Synth(objects, latency).handle, host, port)


class SynthS3(CountingServer):
    """`with SynthS3.start(objects) as s3:` the synthetic S3 in a subprocess; `s3.url` is the endpoint
    (`stats()` and `reset()` as the front's)."""

    @classmethod
    def start(cls, objects: int, latency: float = 0.02, timeout: float = 30.0, cpu: int | None = None) -> SynthS3:
        from qps_core.demo.endpoint import free_port

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "bench.synth_s3", "--port", str(port), "--objects", str(objects)]
        argv += ["--latency", str(latency)]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        return cls(url, cls.launch(argv, url, "the synthetic S3", timeout, poll=0.05))

    def change(self, i: int) -> None:
        self._call(f"/_synth/change?i={i}", "POST")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.objects, args.latency))


if __name__ == "__main__":
    main()
