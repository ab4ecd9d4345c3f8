"""The lean per-object path: HeadObject over awscrt's HTTP client, signed with CRT SigV4.

A boto3 `head_object` costs ~1.5 ms of client CPU (docs/design.md §6), which caps a packager at a
few hundred objects per second per core. Here a request is a few header tuples handed to awscrt,
which signs it and runs the connection I/O in native event-loop threads; Python only builds the
request and reads the response headers (figures: `make bench`, "HeadObject client CPU").

    heads = S3Head(endpoint_url=None)            # AWS_ENDPOINT_URL(_S3) or AWS; boto3's credential chain
    future = heads.head(bucket, key, version_id=None, if_match=None)
    future.result() -> {"ContentLength", "ETag", "VersionId", "ChecksumSHA256", ...}  # boto3's names
    heads.head_async(bucket, key, callback=fn)   # fn(response, None) or fn(None, error), on a CRT thread

Errors are `botocore.exceptions.ClientError` (HTTP status as the code, as a HEAD carries no body)
or `ConnectionError`, so `aws.classify` treats them like boto3's. Throttling, 5xx and
connection failures are retried (4 attempts, jittered backoff) like botocore's standard mode.
"""

from __future__ import annotations

import os
import random
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.exceptions
from awscrt import auth as crt_auth
from awscrt import http as crt_http
from awscrt import io as crt_io

MAX_CONNECTIONS = 128
MAX_ATTEMPTS = 4
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_FIELDS = {
    "content-length": ("ContentLength", int),
    "etag": ("ETag", str),
    "x-amz-version-id": ("VersionId", str),
    "x-amz-checksum-type": ("ChecksumType", str),
    "x-amz-checksum-sha256": ("ChecksumSHA256", str),
    "x-amz-checksum-crc64nvme": ("ChecksumCRC64NVME", str),
    "x-amz-checksum-crc32": ("ChecksumCRC32", str),
    "x-amz-checksum-crc32c": ("ChecksumCRC32C", str),
    "x-amz-checksum-sha1": ("ChecksumSHA1", str),
    "x-amz-bucket-region": ("BucketRegion", str),
}


Callback = Callable[[dict[str, Any] | None, BaseException | None], None]


@dataclass(slots=True)
class _Request:
    bucket: str
    key: str
    query: str
    headers: list[tuple[str, str]]
    callback: Callback
    method: str = "HEAD"
    done: bool = False
    attempt: int = 0
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)
    body: bytearray | None = None  # GET: the response body


class _Pool:
    """HTTP/1.1 keep-alive connections to one host, at most `limit`, each running one request at a time."""

    def __init__(self, owner: S3Head, host: str, port: int, tls: crt_io.TlsConnectionOptions | None) -> None:
        self.owner, self.host, self.port, self.tls = owner, host, port, tls
        self.idle: list[crt_http.HttpClientConnection] = []
        self.queue: deque[_Request] = deque()
        self.open = 0
        self.lock = threading.Lock()

    def submit(self, req: _Request) -> None:
        with self.lock:
            conn = self._take_idle()
            if conn is None:
                if req.method == "GET":
                    self.queue.appendleft(req)  # a listing page feeds everything else: never behind the HEADs
                else:
                    self.queue.append(req)
                if self.open >= self.owner.max_connections:
                    return
                self.open += 1
        if conn is not None:
            self.owner._send(self, conn, req)
            return
        self._connect()

    def _connect(self) -> None:
        """Open one more connection; `_connected` hands it the next queued request."""
        connecting = crt_http.HttpClientConnection.new(
            host_name=self.host,
            port=self.port,
            bootstrap=self.owner.bootstrap,
            socket_options=self.owner.socket_options,
            tls_connection_options=self.tls,
        )
        connecting.add_done_callback(self._connected)

    def _take_idle(self) -> crt_http.HttpClientConnection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.is_open():
                return conn
            self.open -= 1
        return None

    def _connected(self, connecting: Future[crt_http.HttpClientConnection]) -> None:
        error = connecting.exception()
        if error is not None:
            with self.lock:
                self.open -= 1
                req = self.queue.popleft() if self.queue else None
            if req is not None:
                self.owner._failed(self, req, ConnectionError(f"cannot connect to {self.host}:{self.port}: {error}"))
            return
        self.release(connecting.result())

    def release(self, conn: crt_http.HttpClientConnection | None) -> None:
        """A connection is free (None: it was lost): run the next queued request on it."""
        with self.lock:
            if conn is None or not conn.is_open():
                self.open -= 1
                if not self.queue or self.open >= self.owner.max_connections:
                    return
                self.open += 1
                conn = None
            elif not self.queue:
                self.idle.append(conn)
                return
            req = self.queue.popleft() if conn is not None else None
        if conn is None:  # replace the lost connection for the waiting requests
            self._connect()
            return
        assert req is not None
        self.owner._send(self, conn, req)


class S3Head:
    """HeadObject for many objects at once, with little client CPU each. Thread-safe."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        session: boto3.Session | None = None,
        credentials: Any = None,
        region: str | None = None,
        max_connections: int = MAX_CONNECTIONS,
        from_environment: bool = True,
    ) -> None:
        """`credentials` (botocore credentials, refreshed as needed) and `region` default to a new
        boto3 session's; pass a client's to skip building one (~50 ms of a cold start). Without
        `endpoint_url`, AWS_ENDPOINT_URL(_S3) applies unless `from_environment` is False (the caller
        resolved the endpoint already: None then means S3's standard regional endpoints)."""
        if credentials is None or region is None:
            session = session or boto3.Session()
            credentials = credentials or session.get_credentials()
            region = region or session.region_name
        endpoint = endpoint_url
        if endpoint is None and from_environment:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.region = region or "us-east-1"
        self.endpoint = urlsplit(endpoint) if endpoint else None
        self._custom: tuple[str, int, bool] | None = None  # (host, port, tls) of the endpoint, parsed once
        if self.endpoint is not None:
            tls = self.endpoint.scheme == "https"
            self._custom = (self.endpoint.hostname or "localhost", self.endpoint.port or (443 if tls else 80), tls)
        self.max_connections = max(1, max_connections)
        self._credentials = credentials
        if self._credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        self.provider = crt_auth.AwsCredentialsProvider.new_delegate(self._frozen_credentials)
        self.bootstrap = crt_io.ClientBootstrap.get_or_create_static_default()
        self.socket_options = crt_io.SocketOptions()
        self.socket_options.connect_timeout_ms = 10_000
        self._tls_ctx: crt_io.ClientTlsContext | None = None
        self._pools: dict[tuple[str, int], _Pool] = {}
        self._regions: dict[str, str] = {}
        self._lock = threading.Lock()

    def _frozen_credentials(self) -> crt_auth.AwsCredentials:
        frozen = self._credentials.get_frozen_credentials()
        return crt_auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    # ---------------------------------------------------------------- public

    def head(
        self, bucket: str, key: str, *, version_id: str | None = None, if_match: str | None = None
    ) -> Future[dict[str, Any]]:
        """HeadObject with ChecksumMode=ENABLED; the future holds boto3-named response fields."""
        future: Future[dict[str, Any]] = Future()

        def done(response: dict[str, Any] | None, error: BaseException | None) -> None:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(response or {})

        self.head_async(bucket, key, done, version_id=version_id, if_match=if_match)
        return future

    def head_async(
        self,
        bucket: str,
        key: str,
        callback: Callback,
        *,
        version_id: str | None = None,
        if_match: str | None = None,
    ) -> None:
        """Start a HeadObject; `callback(response, None)` or `callback(None, error)` runs exactly once."""
        headers = [("x-amz-checksum-mode", "ENABLED")]
        if if_match:
            headers.append(("If-Match", if_match))
        query = f"versionId={quote(version_id, safe='')}" if version_id else ""
        self._start(_Request(bucket, key, query, headers, callback))

    def get(self, bucket: str, key: str, query: dict[str, str]) -> Future[tuple[dict[str, Any], bytes]]:
        """A small signed GET (e.g. a listing page): the future holds (header fields, body).

        A non-2xx answer is a `ClientError` with S3's error code and message from the body."""
        future: Future[tuple[dict[str, Any], bytes]] = Future()
        encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items()))
        req = _Request(bucket, key, encoded, [], lambda r, e: None, method="GET", body=bytearray())

        def done(response: dict[str, Any] | None, error: BaseException | None) -> None:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result((response or {}, bytes(req.body or b"")))

        req.callback = done
        self._start(req)
        return future

    # ---------------------------------------------------------------- internals

    def _where(self, bucket: str) -> tuple[str, int, str, str, bool]:
        """(host, port, path prefix, region, tls) for a bucket: path style on custom endpoints, else virtual host."""
        region = self._regions.get(bucket, self.region)
        if self._custom is not None:
            host, port, tls = self._custom
            return host, port, f"/{bucket}", region, tls
        host = f"{bucket}.s3.{region}.amazonaws.com" if "." not in bucket else f"s3.{region}.amazonaws.com"
        prefix = "" if "." not in bucket else f"/{bucket}"
        return host, 443, prefix, region, True

    def _pool(self, host: str, port: int, tls: bool) -> _Pool:
        with self._lock:
            pool = self._pools.get((host, port))
            if pool is None:
                options = None
                if tls:
                    if self._tls_ctx is None:
                        self._tls_ctx = crt_io.ClientTlsContext(crt_io.TlsContextOptions())
                    options = self._tls_ctx.new_connection_options()
                    options.set_server_name(host)
                pool = self._pools[(host, port)] = _Pool(self, host, port, options)
            return pool

    def _start(self, req: _Request) -> None:
        host, port, _, _, tls = self._where(req.bucket)
        self._pool(host, port, tls).submit(req)

    def _send(self, pool: _Pool, conn: crt_http.HttpClientConnection, req: _Request) -> None:
        host, port, prefix, region, _ = self._where(req.bucket)
        path = f"{prefix}/{quote(req.key, safe='/~')}" + (f"?{req.query}" if req.query else "")
        default_port = 443 if pool.tls is not None else 80
        headers = crt_http.HttpHeaders([("Host", host if port == default_port else f"{host}:{port}"), *req.headers])
        request = crt_http.HttpRequest(req.method, path, headers)
        config = crt_auth.AwsSigningConfig(
            credentials_provider=self.provider,
            region=region,
            service="s3",
            use_double_uri_encode=False,
            should_normalize_uri_path=False,
            signed_body_value=_EMPTY_SHA256,
            signed_body_header_type=crt_auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
        )
        signing = crt_auth.aws_sign_request(request, config)

        def signed(done: Future[crt_http.HttpRequest]) -> None:
            if done.exception() is not None:
                pool.release(conn)
                self._finish(req, done.exception())
                return
            try:
                stream = conn.request(
                    request, on_response=on_response, on_body=on_body if req.body is not None else None
                )
                stream.activate()
            except Exception as exc:
                pool.release(None)
                self._failed(pool, req, ConnectionError(f"HeadObject request failed: {exc}"))
                return
            stream.completion_future.add_done_callback(completed)

        def on_response(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            req.status = status_code
            out: dict[str, Any] = {}
            for name, value in headers:
                known = _FIELDS.get(name.lower())
                if known is not None:
                    out[known[0]] = known[1](value)
            req.response = out

        def on_body(chunk: bytes, **_: Any) -> None:
            if req.body is not None:
                req.body += chunk

        def completed(done: Future[int]) -> None:
            error = done.exception()
            pool.release(conn if error is None else None)
            if error is not None:
                self._failed(pool, req, ConnectionError(f"HeadObject connection failed: {error}"))
            else:
                self._answered(req)

        signing.add_done_callback(signed)

    def _answered(self, req: _Request) -> None:
        status = req.status
        if 200 <= status < 300:
            self._finish(req, None)
            return
        region = req.response.get("BucketRegion")
        if status in (301, 400) and region and region != self._regions.get(req.bucket, self.region):
            self._regions[req.bucket] = region  # the bucket lives elsewhere: sign for its region
            self._retry(req, immediately=True)
            return
        if status in _RETRY_STATUS and req.attempt + 1 < MAX_ATTEMPTS:
            self._retry(req)
            return
        code, message = _error_body(req.body) if req.body else ("", "")
        error = botocore.exceptions.ClientError(
            {
                "Error": {"Code": code or str(status), "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "HeadObject" if req.method == "HEAD" else "GetObject",
        )
        self._finish(req, error)

    def _failed(self, pool: _Pool, req: _Request, error: BaseException) -> None:
        if req.attempt + 1 < MAX_ATTEMPTS:
            self._retry(req)
        else:
            self._finish(req, error)

    def _retry(self, req: _Request, *, immediately: bool = False) -> None:
        req.attempt += 1
        req.status, req.response = 0, {}
        if req.body is not None:
            req.body = bytearray()
        delay = 0.0 if immediately else random.uniform(0, min(20.0, 0.5 * 2**req.attempt))
        if delay:
            timer = threading.Timer(delay, self._start, (req,))
            timer.daemon = True
            timer.start()
        else:
            self._start(req)

    @staticmethod
    def _finish(req: _Request, error: BaseException | None) -> None:
        if req.done:
            return
        req.done = True
        if error is not None:
            req.callback(None, error)
        else:
            req.response.pop("BucketRegion", None)
            req.callback(req.response, None)


def _error_body(body: bytes | bytearray) -> tuple[str, str]:
    """S3's `<Error><Code/><Message/></Error>`, else the HTTP status is all there is."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(bytes(body))
    except ET.ParseError:
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""
