"""An S3 front for benchmarks: answers like S3 (latency per request, keep-alive, no capacity limit).

    python -m tests.support.s3front --upstream http://127.0.0.1:5000 --port 5001 --latency 0.02

A loopback HTTP/1.1 proxy (asyncio, one coroutine per connection, no limit on connections) in front
of a moto server (docs/design.md §6: moto costs ~2.5 ms of CPU per request on one thread, so on its
own it measures moto). Every request is answered no sooner than `latency` after it arrived, as S3's
first byte would be. Identical reads (GET/HEAD with the same path, query and conditional/range
headers) are answered from a cache after the first time, so moto's CPU is paid once per distinct
read (a warm-up run) instead of in every measured run; any other request to a bucket drops that
bucket's cached reads (read-after-write as S3). Bodies over 1 MiB are streamed, never cached.

It counts what it serves: requests by S3 operation (also per bucket), bytes of object data sent
(GetObject bodies; `GetObject:<bucket>` per bucket),
and the span from the first request's arrival to the last response's end. `GET /_front/stats`
returns them as JSON; `POST /_front/reset` zeroes them. `S3Front.start(upstream)` runs it in a
subprocess on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from qps_core.demo.endpoint import free_port
from tests.support.server_process import ServerProcess

CACHE_MAX_BODY = 1024 * 1024
STREAM_PIECE = 1024 * 1024
_CACHE_HEADERS = (
    "range",
    "x-amz-checksum-mode",
    "if-match",
    "if-none-match",
    "x-amz-object-attributes",
    "x-amz-max-parts",
    "x-amz-part-number-marker",
)
_HOP_HEADERS = frozenset({"connection", "keep-alive", "expect", "transfer-encoding", "proxy-connection"})


def operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    """The S3 operation of a path-style request (what boto3 sends to a loopback endpoint)."""
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return "ListBuckets"
    if not key:
        if method == "GET":
            if "versions" in query:
                return "ListObjectVersions"
            if query.get("list-type") == ["2"]:
                return "ListObjectsV2"
            for sub in ("location", "versioning", "lifecycle", "policy", "uploads"):
                if sub in query:
                    return f"GetBucket.{sub}"
            return "ListObjects"
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        return {"HEAD": "HeadBucket", "PUT": "PutBucket", "DELETE": "DeleteBucket"}.get(method, f"{method}Bucket")
    if method == "HEAD":
        return "HeadObject"
    if method == "GET":
        if "attributes" in query:
            return "GetObjectAttributes"
        if "uploadId" in query:
            return "ListParts"
        if "tagging" in query:
            return "GetObjectTagging"
        return "GetObject"
    if method == "PUT":
        copy = "x-amz-copy-source" in headers
        if "partNumber" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        if "tagging" in query:
            return "PutObjectTagging"
        return "CopyObject" if copy else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return f"{method}Object"


class _Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ops: Counter[str] = Counter()
        self.by_bucket: dict[str, Counter[str]] = defaultdict(Counter)
        self.bytes: Counter[str] = Counter()
        self.cached = 0
        self.first: float | None = None
        self.last: float | None = None
        self.in_flight = 0
        self.peak_in_flight = 0

    def as_dict(self) -> dict[str, Any]:
        span = (self.last - self.first) if self.first is not None and self.last is not None else 0.0
        return {
            "ops": dict(self.ops),
            "by_bucket": {bucket: dict(ops) for bucket, ops in self.by_bucket.items()},
            "requests": sum(self.ops.values()),
            "object_bytes": self.bytes["GetObject"],
            "bytes": dict(self.bytes),
            "cached": self.cached,
            "span": span,
            "peak_in_flight": self.peak_in_flight,
        }


class _Upstream:
    """Keep-alive connections to the server behind the front; opened on demand, never limited."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
        return await asyncio.open_connection(self.host, self.port, limit=2**20)

    def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], reusable: bool) -> None:
        if reusable:
            self.idle.append(conn)
        else:
            conn[1].close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]] | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from S3 clients here
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readexactly(2)
    length = int(headers.get("content-length") or 0)
    return await reader.readexactly(length) if length else b""


@dataclass
class Request:
    """One request as the loopback servers read it: when it arrived, and what it says."""

    arrival: float
    method: str
    target: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    line: str  # the request line as sent
    raw_headers: list[tuple[str, str]]  # as sent, in order (what a proxy forwards)

    def fields(self) -> tuple[float, str, str, dict[str, str], bytes]:
        return self.arrival, self.method, self.target, self.headers, self.body


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """The next request on a keep-alive connection (answering `Expect: 100-continue`); None at its end."""
    head = await _read_head(reader)
    if head is None:
        return None
    arrival = asyncio.get_running_loop().time()
    request_line, header_list = head
    method, target, _version = request_line.split(" ", 2)
    headers = {k.lower(): v for k, v in header_list}
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    return Request(arrival, method, target, headers, body, request_line, header_list)


async def serve_connection(
    one: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """`one(reader, writer)` per request until it returns False or the client goes away."""
    try:
        while await one(reader, writer):
            pass
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class Front:
    def __init__(self, upstream: str, latency: float) -> None:
        parts = urlsplit(upstream)
        self.upstream = _Upstream(parts.hostname or "127.0.0.1", parts.port or 80)
        self.latency = latency
        self.stats = _Stats()
        self.cache: dict[str, dict[tuple[str, ...], tuple[bytes, bytes]]] = defaultdict(dict)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(self._one, reader, writer)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request = await read_request(reader, writer)
        if request is None:
            return False
        loop = asyncio.get_running_loop()
        arrival, method, target, headers, body = request.fields()
        split = urlsplit(target)
        if split.path.startswith("/_front/"):
            return await self._control(split.path, writer)
        query = parse_qs(split.query, keep_blank_values=True)
        op = operation(method, split.path, query, headers)
        stats = self.stats
        stats.first = arrival if stats.first is None else stats.first
        bucket = split.path.lstrip("/").partition("/")[0]
        stats.ops[op] += 1
        stats.by_bucket[bucket][op] += 1
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        cache_key = (method, target, *(headers.get(h, "") for h in _CACHE_HEADERS))
        keep = headers.get("connection", "").lower() != "close"
        try:
            if method in ("GET", "HEAD") and cache_key in self.cache[bucket]:
                stats.cached += 1
                resp_head, resp_body = self.cache[bucket][cache_key]
                await asyncio.sleep(max(0.0, arrival + self.latency - loop.time()))
                writer.write(resp_head + resp_body)
                await writer.drain()
                sent = len(resp_body)
            else:
                if method not in ("GET", "HEAD"):
                    self.cache.pop(bucket, None)
                sent = await self._forward(
                    method, request.line, request.raw_headers, body, writer, arrival, cache_key, bucket
                )
        finally:
            stats.in_flight -= 1
        if method == "GET" and op == "GetObject":
            stats.bytes["GetObject"] += sent
            stats.bytes[f"GetObject:{bucket}"] += sent
        stats.last = loop.time()
        return keep

    async def _forward(
        self,
        method: str,
        request_line: str,
        header_list: list[tuple[str, str]],
        body: bytes,
        writer: asyncio.StreamWriter,
        arrival: float,
        cache_key: tuple[str, ...],
        bucket: str,
    ) -> int:
        loop = asyncio.get_running_loop()
        out = [request_line]
        out += [f"{k}: {v}" for k, v in header_list if k.lower() not in _HOP_HEADERS and k.lower() != "content-length"]
        out += [f"Content-Length: {len(body)}", "Connection: keep-alive", "", ""]
        conn = await self.upstream.acquire()
        up_reader, up_writer = conn
        up_writer.write("\r\n".join(out).encode("latin-1") + body)
        await up_writer.drain()
        head = await _read_head(up_reader)
        if head is None:
            conn[1].close()
            raise ConnectionError("upstream closed the connection")
        status_line, resp_headers = head
        status = int(status_line.split(" ", 2)[1])
        lower = {k.lower(): v for k, v in resp_headers}
        reusable = lower.get("connection", "").lower() != "close"
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        chunked = lower.get("transfer-encoding", "").lower() == "chunked"
        length = None if no_body or chunked else lower.get("content-length")
        if not no_body and not chunked and length is None:
            reusable = False  # body runs to EOF
        kept = [f"{k}: {v}" for k, v in resp_headers if k.lower() not in _HOP_HEADERS]
        if chunked:
            kept = [h for h in kept if not h.lower().startswith("content-length:")]
        big = length is not None and int(length) > CACHE_MAX_BODY
        if big:
            assert length is not None
            head_bytes = "\r\n".join([status_line, *kept, "Connection: keep-alive", "", ""]).encode("latin-1")
            await asyncio.sleep(max(0.0, arrival + self.latency - loop.time()))
            writer.write(head_bytes)
            remaining = int(length)
            while remaining:
                piece = await up_reader.read(min(STREAM_PIECE, remaining))
                if not piece:
                    raise ConnectionError("upstream body ended early")
                writer.write(piece)
                await writer.drain()
                remaining -= len(piece)
            self.upstream.release(conn, reusable)
            return int(length)
        if no_body:
            resp_body = b""
        elif chunked or length is not None:
            resp_body = await _read_body(up_reader, lower)
        else:
            resp_body = await up_reader.read()
        self.upstream.release(conn, reusable)
        if chunked or (length is None and not no_body):
            kept.append(f"Content-Length: {len(resp_body)}")
        head_bytes = "\r\n".join([status_line, *kept, "Connection: keep-alive", "", ""]).encode("latin-1")
        if method in ("GET", "HEAD") and status in (200, 206, 304, 404):
            self.cache[bucket][cache_key] = (head_bytes, resp_body)
        await asyncio.sleep(max(0.0, arrival + self.latency - loop.time()))
        writer.write(head_bytes + resp_body)
        await writer.drain()
        return len(resp_body)

    async def _control(self, path: str, writer: asyncio.StreamWriter) -> bool:
        if path == "/_front/reset":
            self.stats.reset()
        body = json.dumps(self.stats.as_dict()).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        return True


async def listen(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], host: str, port: int
) -> None:
    """Serve `handle` per connection for ever (a deep backlog: benchmarks open many at once)."""
    server = await asyncio.start_server(handle, host, port, backlog=4096, limit=2**20)
    async with server:
        await server.serve_forever()


async def serve(upstream: str, host: str, port: int, latency: float) -> None:
    await listen(Front(upstream, latency).handle, host, port)


class CountingServer(ServerProcess):
    """A loopback S3 in a subprocess that counts requests: `stats()`, `reset()` (`/_front/...`)."""

    def _call(self, path: str, method: str) -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(json.loads(resp.read()))

    def stats(self) -> dict[str, Any]:
        return self._call("/_front/stats", "GET")

    def reset(self) -> dict[str, Any]:
        return self._call("/_front/reset", "POST")


class S3Front(CountingServer):
    """`with S3Front.start(upstream) as front:` the front in a subprocess; `front.url` is the endpoint."""

    @classmethod
    def start(cls, upstream: str, latency: float = 0.02, timeout: float = 30.0) -> S3Front:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [
            sys.executable,
            "-m",
            "tests.support.s3front",
            "--upstream",
            upstream,
            "--port",
            str(port),
            "--latency",
            str(latency),
        ]
        front = cls(url, cls.launch(argv, url, "the S3 front", timeout, poll=0.05))
        front.reset()
        return front


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds before each response (default 0.02)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.upstream, args.host, args.port, args.latency))


if __name__ == "__main__":
    main()
