"""A fault-injecting HTTP proxy between a client (QPS, boto3) and an S3 endpoint (moto's server).

    with FaultProxy(upstream_url) as proxy:
        proxy.add("reset-after", "PutObject", key=r"/latest$", times=5)
        ...  # point boto3 at proxy.url
        proxy.calls  # [(operation, key, fault or None), ...]

Faults, applied to the next `times` requests that match (operation, key regex):

- `503`, `500`: S3's own error answer (SlowDown, InternalError); the request never reaches S3.
- `403`: AccessDenied, never reaching S3 (a permanent failure).
- `reset-before`: the connection is reset before the request is forwarded.
- `reset-after`: the request is forwarded (S3 applies it), then the connection is reset instead of
  answering: the client cannot tell whether it happened.
- `cut-body`: S3's answer starts (status, headers announcing the full length) and is cut off halfway.

Operations are told apart the way S3 does (method, query, `x-amz-copy-source`).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

FAULTS = ("503", "500", "403", "reset-before", "reset-after", "cut-body")
_ERRORS = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "403": (403, "AccessDenied", "Access Denied"),
}
_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "upgrade", "te"}


def operation_of(method: str, path: str, query: str, headers: dict[str, str]) -> tuple[str, str]:
    """(S3 operation, object key or '') of a path-style request."""
    parts = unquote(path).lstrip("/").split("/", 1)
    key = parts[1] if len(parts) > 1 else ""
    q = parse_qs(query, keep_blank_values=True)
    copy = "x-amz-copy-source" in headers
    if not key:
        if method == "GET" and "versions" in q:
            return "ListObjectVersions", ""
        if method == "GET":
            return "ListObjects", ""
        return f"{method}Bucket", ""
    if method == "HEAD":
        return "HeadObject", key
    if method == "GET":
        return ("GetObjectAttributes" if "attributes" in q else "GetObject"), key
    if method == "PUT":
        if "partNumber" in q:
            return ("UploadPartCopy" if copy else "UploadPart"), key
        return ("CopyObject" if copy else "PutObject"), key
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload", key
        if "uploadId" in q:
            return "CompleteMultipartUpload", key
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in q else "DeleteObject"), key
    return method, key


@dataclass
class Rule:
    fault: str
    operation: str
    key: re.Pattern[str] | None
    times: int
    used: int = 0

    def matches(self, operation: str, key: str) -> bool:
        return (
            self.used < self.times
            and operation == self.operation
            and (self.key is None or self.key.search(key) is not None)
        )


class FaultProxy:
    """A threaded HTTP proxy on a free loopback port, forwarding to `upstream`."""

    def __init__(self, upstream: str) -> None:
        split = urlsplit(upstream)
        self.upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self.rules: list[Rule] = []
        self.calls: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def add(self, fault: str, operation: str, *, key: str | None = None, times: int = 1) -> Rule:
        """Inject `fault` into the next `times` calls of `operation` whose key matches the regex `key`."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        rule = Rule(fault, operation, re.compile(key) if key else None, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def injected(self) -> int:
        return sum(1 for _, _, fault in self.calls if fault)

    def _pick(self, operation: str, key: str) -> str | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(operation, key):
                    rule.used += 1
                    self.calls.append((operation, key, rule.fault))
                    return rule.fault
            self.calls.append((operation, key, None))
            return None


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0): the client sees 'connection reset by peer'."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def _handle(self) -> None:
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        operation, key = operation_of(self.command, split.path, split.query, headers)
        body = self._body()
        fault = self.owner._pick(operation, key)
        if fault == "reset-before":
            self._reset()
            return
        if fault in _ERRORS:
            status, code, message = _ERRORS[fault]
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>injected</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection(*self.owner.upstream, timeout=60)
        try:
            forward = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            forward["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=forward)
            resp = conn.getresponse()
            data = resp.read()
            status, reason, out_headers = resp.status, resp.reason, resp.getheaders()
        finally:
            conn.close()
        if fault == "reset-after":
            self._reset()
            return
        head = [f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")]
        for name, value in out_headers:
            if name.lower() in _HOP or name.lower() == "content-length":
                continue
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        length = len(data)
        if self.command == "HEAD":  # announces the object's size, sends no body
            length = next((int(v) for n, v in out_headers if n.lower() == "content-length"), 0)
        head.append(f"Content-Length: {length}\r\n\r\n".encode("latin-1"))
        raw = b"".join(head)
        if fault == "cut-body":
            cut = raw + data[: len(data) // 2] if data else raw[: len(raw) // 2]
            self.wfile.write(cut)
            self.wfile.flush()
            self._reset()
            return
        self.wfile.write(raw + (data if self.command != "HEAD" else b""))
        self.wfile.flush()

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()
