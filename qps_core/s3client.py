"""One boto3 S3 client per Packager, shared with quilt3, and the classification of S3 failures.

quilt3 builds a new boto3 session and client for nearly every operation (`S3ClientProvider()`),
about 130 ms each, and probes every bucket with an extra request to decide between a signed and an
unsigned client. `quilt3_uses(client)` makes every quilt3 operation in its scope use our one client
instead, without the probes. This module imports boto3 and quilt3: only the packager imports it.
"""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("QUILT_DISABLE_USAGE_METRICS", "true")
os.environ.setdefault("QUILT_MINIMIZE_STDOUT", "true")

import boto3
import botocore.exceptions
import urllib3.exceptions
from botocore.config import Config
from quilt3 import data_transfer as _q3_transfer
from quilt3.backends import s3 as _q3_backend_s3

from .errors import PackagingError, PermanentError, TransientError, one_line

MAX_POOL_CONNECTIONS = 32

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "EC2ThrottledException",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "RequestTimeTooSkewed",
        "IDPCommunicationError",
    }
)
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "UnauthorizedOperation",
        "403",
        "Forbidden",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
_CHANGED_CODES = frozenset({"PreconditionFailed", "412", "InvalidObjectState"})


# A response cut off mid-body surfaces from urllib3 / http.client, not always wrapped by botocore.
_CUT_OFF: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
)


def make_client(endpoint_url: str | None = None, session: boto3.Session | None = None) -> Any:
    """A thread-safe S3 client: standard credential chain; endpoint from the argument or AWS_ENDPOINT_URL."""
    session = session or boto3.Session()
    config = Config(
        max_pool_connections=MAX_POOL_CONNECTIONS,
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=10,
        read_timeout=60,
    )
    kwargs: dict[str, Any] = {"config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return session.client("s3", **kwargs)


def error_code(exc: botocore.exceptions.ClientError) -> str:
    err = exc.response.get("Error") or {}
    return str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def http_status(exc: botocore.exceptions.ClientError) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    try:
        return int(status) if status is not None else 0
    except (TypeError, ValueError):
        return 0


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, botocore.exceptions.ClientError) and (
        error_code(exc) in _NOT_FOUND_CODES or (http_status(exc) == 404 and error_code(exc) != "NoSuchBucket")
    )


def classify(exc: BaseException, action: str, uri: str) -> PackagingError:
    """Turn a botocore failure into a one-line PermanentError or TransientError naming action and URI."""
    where = f"{action} on {uri}"
    if isinstance(exc, PackagingError):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        status = http_status(exc)
        message = one_line((exc.response.get("Error") or {}).get("Message") or "")
        detail = f" ({code}: {message})" if message else f" ({code})" if code else ""
        if code == "NoSuchBucket":
            return PermanentError(f"{where}: no such bucket")
        if code in _DENIED_CODES or status == 403:
            return PermanentError(f"{where}: access denied{detail}")
        if code in _NOT_FOUND_CODES or status == 404:
            return PermanentError(f"{where}: no such object{detail}")
        if code in _THROTTLING_CODES or status == 429:
            return TransientError(f"{where}: throttled, retry later{detail}")
        if code in _CHANGED_CODES or status == 412:
            return TransientError(f"{where}: the object changed while it was being packaged{detail}")
        if code in _TRANSIENT_CODES or status >= 500 or status == 408:
            return TransientError(f"{where}: temporary S3 failure{detail}")
        return PermanentError(f"{where}: S3 refused the request{detail}")
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return PermanentError(f"{where}: no AWS credentials ({one_line(exc)})")
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return PermanentError(f"{where}: invalid request ({one_line(exc)})")
    if isinstance(exc, (botocore.exceptions.BotoCoreError, ConnectionError, TimeoutError, *_CUT_OFF)):
        # Connection errors, timeouts, truncated bodies, credential-endpoint hiccups.
        return TransientError(f"{where}: connection failed, retry later ({type(exc).__name__}: {one_line(exc)})")
    return PermanentError(f"{where}: {type(exc).__name__}: {one_line(exc)}")


def find_client_error(exc: BaseException) -> BaseException | None:
    """The botocore error behind a quilt3 exception (quilt3 wraps some of them), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
            return current
        current = current.__cause__ or current.__context__
    return None


class _SharedProvider(_q3_transfer.S3ClientProvider):
    """An S3ClientProvider that always hands out one pre-built client and never probes buckets."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self._standard_client = client
        self._unsigned_client = client

    def find_correct_client(self, api_type: Any, bucket: str, param_dict: dict[str, Any]) -> Any:
        return self._standard_client


_PATCH_LOCK = threading.RLock()


@contextmanager
def quilt3_uses(client: Any) -> Iterator[None]:
    """Within this block every quilt3 S3 operation (in any thread) uses `client`.

    quilt3 looks its provider class up by module global at call time, in `quilt3.data_transfer`
    and `quilt3.backends.s3`; both names point at a factory for one shared provider here. The
    lock serialises concurrent Packagers in one process for the (short) quilt3 phases only.
    """
    provider = _SharedProvider(client)

    def factory() -> _SharedProvider:
        return provider

    with _PATCH_LOCK:
        saved = (_q3_transfer.S3ClientProvider, _q3_backend_s3.S3ClientProvider)
        setattr(_q3_transfer, "S3ClientProvider", factory)  # noqa: B010
        setattr(_q3_backend_s3, "S3ClientProvider", factory)  # noqa: B010
        try:
            yield
        finally:
            setattr(_q3_transfer, "S3ClientProvider", saved[0])  # noqa: B010
            setattr(_q3_backend_s3, "S3ClientProvider", saved[1])  # noqa: B010
