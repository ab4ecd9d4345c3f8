"""Package descriptions: native request bodies and package-objects-ready details (the spec's format)."""

from __future__ import annotations

from ..adapter_api import Event, PackageRequest, Settings, hookimpl, request_from_body


@hookimpl(trylast=True)
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    addressed, body = event.addressed_body
    if not addressed or (isinstance(body, dict) and "uri" in body):
        return None
    return [request_from_body(body, settings)]
