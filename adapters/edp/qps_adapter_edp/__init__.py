"""Event-Driven Packaging: package-objects-ready events {version, bucket, prefix} from EDP."""

from __future__ import annotations

from qps_core.adapter_api import (
    Event,
    IgnoredEvent,
    PackageRequest,
    RejectedEvent,
    Settings,
    check_bucket,
    folder_uri,
    hookimpl,
    is_quilt_internal,
    request_for_folder,
    shown,
)

SOURCE = "com.quiltdata.edp"
FIELDS = ("version", "bucket", "prefix")


@hookimpl
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    if event.source != SOURCE or not event.is_ready_event:
        return None
    detail = event.detail
    if isinstance(detail, dict) and ("uri" in detail or "source_prefix" in detail):
        return None  # a URI form or a package description from EDP's source: other adapters' bodies
    if not isinstance(detail, dict):
        raise RejectedEvent("detail: an EDP event's detail must be a JSON object {version, bucket, prefix}")
    missing = [f for f in FIELDS if f not in detail]
    extra = sorted(set(detail) - set(FIELDS))
    if missing or extra:
        problem = (
            f"lacks {', '.join(missing)}"
            if missing
            else f"has unknown field {', '.join(shown(k, 40) for k in extra[:5])}"
        )
        raise RejectedEvent(f"detail: an EDP event {problem}; its fields are version, bucket, prefix")
    bad = [f for f in FIELDS if not isinstance(detail[f], str)]
    if bad:
        raise RejectedEvent(f"detail.{bad[0]}: must be a string")
    bucket = check_bucket(detail["bucket"], "detail.bucket")
    prefix = detail["prefix"]
    if is_quilt_internal(prefix.lstrip("/")):
        raise IgnoredEvent(f"prefix {shown(prefix)} is under .quilt/, where package pushes write")
    return [request_for_folder(settings, folder_uri(bucket, prefix), field="detail.prefix")]
