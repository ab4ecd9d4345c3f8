"""AWS HealthOmics: a run whose status becomes COMPLETED is packaged from its runOutputUri."""

from __future__ import annotations

from qps_core.adapter_api import (
    Event,
    IgnoredEvent,
    PackageRequest,
    RejectedEvent,
    Settings,
    hookimpl,
    request_for_folder,
    shown,
)

#: How the admin page and ignore reasons name this source, and what switching it on does.
LABEL = "HealthOmics"
SWITCH_DESCRIPTION = "Create a package when an AWS HealthOmics run completes"

SOURCE = "aws.omics"
RUN_STATUS_CHANGE = "Run Status Change"
#: Fields of the run copied into package metadata: they identify the run and never change
#: (no event id, no event time), so a re-delivered event yields the same package.
RUN_FIELDS = (
    "arn",
    "runId",
    "runName",
    "uuid",
    "status",
    "workflowId",
    "workflowName",
    "workflowType",
    "workflowVersionName",
    "runOutputUri",
    "omicsVersion",
)


@hookimpl
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    if event.source != SOURCE:
        return None
    if event.detail_type != RUN_STATUS_CHANGE:
        raise IgnoredEvent(f"HealthOmics {shown(event.detail_type)} events are not packaged, only run completions")
    detail = event.detail if isinstance(event.detail, dict) else {}
    status = detail.get("status")
    if status != "COMPLETED":
        raise IgnoredEvent(f"HealthOmics run status is {shown(status, 40)}; only COMPLETED runs are packaged")
    uri = detail.get("runOutputUri")
    if not isinstance(uri, str) or not uri.startswith("s3://") or not uri[5:].partition("/")[2].strip("/"):
        raise RejectedEvent(
            f"runOutputUri: a COMPLETED HealthOmics run needs the s3:// URI of its output folder, got {shown(uri)}"
        )
    run_id, name = detail.get("runId"), detail.get("runName")
    message = f"HealthOmics run {run_id}" + (f" ({name})" if name else "") + " COMPLETED"
    metadata = {"omics": {k: detail[k] for k in RUN_FIELDS if k in detail}}
    return [request_for_folder(settings, uri, field="runOutputUri", metadata=metadata, message=message)]
