"""AWS HealthOmics: a run whose status becomes COMPLETED is packaged from its output folder, with the
run's provenance from `GetRun` (docs/design.md §11).

Planning (`qps_describe_event`) is pure: it reads the event only. The documented event is thin
(`arn`, `omicsVersion`, `status`; real events add `runOutputUri` and `uuid`, some `runId`), so a
COMPLETED event without `runOutputUri` is planned with a deferred folder. Packaging
(`qps_prepare_request`) calls `GetRun` and records the run under `omics`; the folder comes from the
event or, if it had none, from `GetRun`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from qps_core.adapter_api import (
    Event,
    IgnoredEvent,
    PackageRequest,
    PermanentError,
    RejectedEvent,
    Settings,
    TransientError,
    aws_client,
    aws_error,
    deferred_request,
    hookimpl,
    request_for_folder,
    shown,
)

#: How the admin page and ignore reasons name this source, and what switching it on does.
LABEL = "HealthOmics"
SWITCH_DESCRIPTION = "Create a package when an AWS HealthOmics run completes"
ADAPTER_ID = "omics"

SOURCE = "aws.omics"
RUN_STATUS_CHANGE = "Run Status Change"
#: Fields of the documented event copied into metadata when GetRun cannot be read: they identify the
#: run and never change (no event id, no event time), so a redelivered event yields the same package.
EVENT_FIELDS = ("arn", "runId", "uuid", "status", "runOutputUri", "omicsVersion")
#: GetRun fields recorded under `omics` (§11), in this order; timestamps as ISO 8601 UTC.
RUN_FIELDS = (
    "arn",
    "id",
    "name",
    "uuid",
    "status",
    "workflowId",
    "workflowType",
    "workflowVersionName",
    "workflowUuid",
    "digest",
    "parameters",
    "tags",
    "runGroupId",
    "startedBy",
    "creationTime",
    "startTime",
    "stopTime",
    "runOutputUri",
    "outputUri",
    "storageType",
    "resourceDigests",
    "logLocation",
)
#: Bounds, as for RO-Crate metadata (§10): strings, list items, parameters, digests and tags.
MAX_STRING = 2000
MAX_LIST = 50
MAX_MAP = 100
MAX_DEPTH = 6
#: How the GetRun client behaves: one try (the queue or the job pool retries a transient failure).
CLIENT_CONFIG: dict[str, Any] = {"retries": {"total_max_attempts": 1}, "connect_timeout": 5, "read_timeout": 20}

_clients: dict[str | None, Any] = {}


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
    run_id = run_id_of(detail)
    metadata = {"omics": {k: detail[k] for k in EVENT_FIELDS if detail.get(k) is not None}}
    if run_id is not None:
        metadata["omics"]["runId"] = run_id
    message = run_message(run_id)
    uri = detail.get("runOutputUri")
    if uri is None:
        if run_id is None:
            arn = shown(detail.get("arn"))
            raise RejectedEvent(f"arn: a COMPLETED HealthOmics run without runOutputUri needs its run ARN, got {arn}")
        return [deferred_request(settings, ADAPTER_ID, run_id, metadata=metadata, message=message)]
    if not isinstance(uri, str) or not uri.startswith("s3://") or not uri[5:].partition("/")[2].strip("/"):
        raise RejectedEvent(
            f"runOutputUri: a COMPLETED HealthOmics run needs the s3:// URI of its output folder, got {shown(uri)}"
        )
    return [request_for_folder(settings, uri, field="runOutputUri", metadata=metadata, message=message)]


@hookimpl
def qps_prepare_request(request: PackageRequest, settings: Settings) -> PackageRequest | None:
    """Packaging time: read the run with GetRun and record it under `omics` (bounded, deterministic)."""
    omics = (request.metadata or {}).get("omics")
    if not isinstance(omics, dict) or not isinstance(omics.get("runId"), str):
        return None  # not a run this adapter planned (or planned before runId was kept)
    run_id = omics["runId"]
    try:
        run = get_run(run_id)
    except Exception as exc:
        code, transient = aws_error(exc)
        if transient:
            raise TransientError(
                f"HealthOmics GetRun of run {run_id}: {code or type(exc).__name__}, retry later"
            ) from None
        why = unreadable_reason(code, exc)
        if request.deferred:
            raise PermanentError(
                f"runOutputUri: the event of HealthOmics run {run_id} has none and GetRun {why}"
            ) from None
        return request.model_copy(
            update={"metadata": {**(request.metadata or {}), "omics": {**omics, "enrichment": f"GetRun {why}"}}}
        )
    if isinstance(omics.get("uuid"), str) and run.get("uuid") not in (None, omics["uuid"]):
        # Run ids are reused (hence AWS's uuid): GetRun now describes another run; this one is gone.
        why = f"describes another run now (uuid {shown(run.get('uuid'), 40)}): the run id was reused"
        if request.deferred:
            raise PermanentError(f"runOutputUri: the event of HealthOmics run {run_id} has none and GetRun {why}")
        return request.model_copy(
            update={"metadata": {**(request.metadata or {}), "omics": {**omics, "enrichment": f"GetRun {why}"}}}
        )
    recorded = run_metadata(run)
    uri = run_folder(run, run_id) if request.deferred else request.source_prefix
    if not isinstance(uri, str) or not uri.startswith("s3://") or not uri[5:].partition("/")[2].strip("/"):
        raise PermanentError(
            f"runOutputUri: GetRun of HealthOmics run {run_id} gives no s3:// output folder ({shown(uri)})"
        )
    metadata = {**(request.metadata or {}), "omics": {**recorded, "runId": run_id, "enrichment": "GetRun"}}
    fields = request.normalised()
    fields.update(metadata=metadata, message=run_message(run_id, run.get("name")))
    if request.deferred:
        fields.pop("registry")  # the run's bucket, as for an event that carried runOutputUri
        fields.pop("package_name")
    fields.pop("source_prefix")
    return request_for_folder(settings, uri, field="runOutputUri", **fields)


def run_folder(run: dict[str, Any], run_id: str) -> Any:
    """The run's output folder: `runOutputUri`, else `outputUri/<run id>` (where HealthOmics writes)."""
    if run.get("runOutputUri"):
        return run["runOutputUri"]
    base = run.get("outputUri")
    return f"{base.rstrip('/')}/{run_id}" if isinstance(base, str) and base else base


def run_id_of(detail: dict[str, Any]) -> str | None:
    """The run id: `runId` when the event has it, else the last part of `arn` (…:run/<id>)."""
    run_id = detail.get("runId")
    if isinstance(run_id, str) and run_id.strip():
        return run_id.strip()
    arn = detail.get("arn")
    if isinstance(arn, str) and ":run/" in arn:
        tail = arn.rsplit(":run/", 1)[1].strip("/")
        if tail and "/" not in tail:
            return tail
    return None


def run_message(run_id: str | None, name: Any = None) -> str:
    return f"HealthOmics run {run_id}" + (f" ({name})" if isinstance(name, str) and name else "") + " COMPLETED"


def unreadable_reason(code: str, exc: BaseException) -> str:
    """Why GetRun could not be read, in words that never change between tries (no request ids)."""
    if code in ("AccessDeniedException", "AccessDenied", "403"):
        return "was denied (AccessDeniedException): grant omics:GetRun to read the run"
    if code in ("ResourceNotFoundException", "404"):
        return "found no such run (ResourceNotFoundException)"
    return f"failed ({code or type(exc).__name__})"


def omics_client() -> Any:
    """One HealthOmics client per endpoint (AWS_ENDPOINT_URL_OMICS / AWS_ENDPOINT_URL) per process."""
    import os

    key = os.environ.get("AWS_ENDPOINT_URL_OMICS") or os.environ.get("AWS_ENDPOINT_URL")
    if key not in _clients:
        _clients[key] = aws_client("omics", **CLIENT_CONFIG)
    return _clients[key]


def get_run(run_id: str) -> dict[str, Any]:
    return dict(omics_client().get_run(id=run_id))


def run_metadata(run: dict[str, Any]) -> dict[str, Any]:
    """The §11 fields of a GetRun answer, JSON-ready and bounded, in a fixed order."""
    out: dict[str, Any] = {}
    for name in RUN_FIELDS:
        value = run.get(name)
        if value is None:
            continue
        out[name] = _bounded(value, 0)
    return out


def _bounded(value: Any, depth: int) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[: MAX_STRING - 1] + "…"
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if depth >= MAX_DEPTH:
        return _bounded(json.dumps(value, default=str, sort_keys=True), depth)
    if isinstance(value, dict):
        keys = sorted(value, key=str)
        out = {str(k): _bounded(value[k], depth + 1) for k in keys[:MAX_MAP]}
        if len(keys) > MAX_MAP:
            out["…"] = f"{len(keys) - MAX_MAP} more not recorded"
        return out
    if isinstance(value, list | tuple):
        items = [_bounded(v, depth + 1) for v in value[:MAX_LIST]]
        if len(value) > MAX_LIST:
            items.append(f"… {len(value) - MAX_LIST} more not recorded")
        return items
    return _bounded(str(value), depth)
