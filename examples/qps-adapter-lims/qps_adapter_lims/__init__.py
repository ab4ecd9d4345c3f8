"""LIMS exports: an `Export Completed` event from com.example.lims packages the export folder."""

from __future__ import annotations

from qps_core.adapter_api import Event, PackageRequest, RejectedEvent, Settings, hookimpl, request_for_folder

SOURCE = "com.example.lims"
DETAIL_TYPE = "Export Completed"


@hookimpl
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    # 1. Match: return None for anything that is not ours, so other adapters can claim it.
    if event.source != SOURCE or event.detail_type != DETAIL_TYPE:
        return None
    detail = event.detail if isinstance(event.detail, dict) else {}
    export_uri = detail.get("exportUri")
    batch = detail.get("batch")
    # 2. Reject what is ours but unusable: one sentence naming the field; never retried.
    if not isinstance(export_uri, str):
        raise RejectedEvent("detail.exportUri: a LIMS export event needs the s3:// URI of the export folder")
    # 3. Derive: one request; the core validates and normalises it like any other.
    metadata = {"lims": {"batch": batch, "operator": detail.get("operator")}}
    return [
        request_for_folder(
            settings,
            export_uri,
            field="detail.exportUri",
            metadata=metadata,
            message=f"LIMS export of batch {batch}",
        )
    ]
