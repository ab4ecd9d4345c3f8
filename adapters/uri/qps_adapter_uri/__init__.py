"""URI form: {"uri": "s3://bucket/folder?key=value"} packages the folder, query string as metadata."""

from __future__ import annotations

from qps_core.adapter_api import Event, PackageRequest, Settings, hookimpl, request_from_body


@hookimpl(trylast=True)
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    addressed, body = event.addressed_body
    if not (addressed and isinstance(body, dict) and "uri" in body):
        return None
    return [request_from_body(body, settings)]
