"""What an adapter imports: the hook marker, the event and request types, and shared helpers."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, IgnoredEvent, InvalidInput, RejectedEvent, shown
from .events import Event, S3ObjectEvent
from .hookspecs import hookimpl
from .models import PackageRequest
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
    "ConfigError",
    "Event",
    "IgnoredEvent",
    "InvalidInput",
    "PackageRequest",
    "RejectedEvent",
    "S3Folder",
    "S3ObjectEvent",
    "Settings",
    "basename",
    "check_bucket",
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
