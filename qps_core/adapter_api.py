"""What an adapter imports: the hook marker, the event and request types, and shared helpers."""

from __future__ import annotations

from typing import Any

from . import aws
from .errors import (
    ConfigError,
    IgnoredEvent,
    InvalidInput,
    PermanentError,
    RejectedEvent,
    TransientError,
    shown,
)
from .events import Event, S3ObjectEvent
from .hookspecs import hookimpl
from .models import DEFERRED_BUCKET, PackageRequest
from .s3paths import (
    S3Folder,
    basename,
    check_bucket,
    derive_package_name,
    folder_of_key,
    folder_uri,
    is_quilt_internal,
    parse_folder,
)
from .settings import Settings

__all__ = [
    "DEFERRED_BUCKET",
    "ConfigError",
    "Event",
    "IgnoredEvent",
    "InvalidInput",
    "PackageRequest",
    "PermanentError",
    "RejectedEvent",
    "S3Folder",
    "S3ObjectEvent",
    "Settings",
    "TransientError",
    "aws_client",
    "aws_error",
    "basename",
    "check_bucket",
    "deferred_request",
    "derive_package_name",
    "folder_of_key",
    "folder_uri",
    "hookimpl",
    "is_quilt_internal",
    "parse_folder",
    "request_for_folder",
    "request_from_body",
    "shown",
]


def request_for_folder(settings: Settings, uri: str, *, field: str = "source_prefix", **fields: Any) -> PackageRequest:
    """A request for the folder `uri` plus extra fields, validated against the settings.

    `field` names where the URI came from (e.g. `runOutputUri`), so a rejection names it.
    """
    try:
        return PackageRequest.parse({"source_prefix": uri, **fields}, **settings.request_context())
    except InvalidInput as exc:
        text = str(exc)
        if text.startswith("source_prefix: "):
            text = f"{field}: " + text.removeprefix("source_prefix: ")
        raise RejectedEvent(text) from None


def request_from_body(body: Any, settings: Settings, *, field: str = "request") -> PackageRequest:
    """A native body in either form: `{"uri": ...}` (only that field) or a package description.

    Raises `RejectedEvent` with one sentence naming the field.
    """
    try:
        return PackageRequest.from_body(body, **settings.request_context())
    except RejectedEvent:
        raise
    except InvalidInput as exc:
        raise RejectedEvent(str(exc)) from None


def deferred_request(settings: Settings, adapter_id: str, key: str, **fields: Any) -> PackageRequest:
    """A request whose folder the adapter learns only at packaging time (in its `qps_prepare_request`,
    which must return the request with the real folder): `s3://sthree-qps-deferred/<adapter>/<key>/`.
    `key` names what is being waited for (a run id); allow-lists are checked once the folder is known."""
    return request_for_folder(settings, f"s3://{DEFERRED_BUCKET}/{adapter_id}/{key}/", **fields)


def aws_client(service: str, **config: Any) -> Any:
    """A boto3 client for `service` honouring `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL`, with no
    host-prefix injection when an endpoint is set; `config` goes to botocore's `Config`. Imports boto3
    on the first call only: call it at packaging time, never while planning."""
    return aws.service_client(service, **config)


def aws_error(exc: BaseException) -> tuple[str, bool]:
    """An AWS failure read the one QPS way: (`error code or HTTP status`, whether it is transient —
    throttled, 5xx, a timeout or a dropped connection)."""
    return aws.error_code(exc) or str(aws.http_status(exc) or ""), aws.is_transient(exc)
