"""One boto3 S3 client per Packager, shared with quilt3 (what its failures mean: `qps_core.aws`).

quilt3 builds a new boto3 session and client for nearly every operation (`S3ClientProvider()`),
about 130 ms each, and probes every bucket with an extra request to decide between a signed and an
unsigned client. `quilt3_uses(client)` makes every quilt3 operation in its scope use our one client
instead, without the probes. This module imports boto3 and quilt3: only the packager imports it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from quilt3 import data_transfer as _q3_transfer
from quilt3.backends import s3 as _q3_backend_s3

from .. import aws

MAX_POOL_CONNECTIONS = 32


def make_client(endpoint_url: str | None = None) -> Any:
    """A thread-safe S3 client: standard credential chain; endpoint from the argument or AWS_ENDPOINT_URL."""
    return aws.client(
        "s3",
        endpoint_url,
        max_pool_connections=MAX_POOL_CONNECTIONS,
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=10,
        read_timeout=60,
    )


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
