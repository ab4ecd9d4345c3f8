"""Reconcile sweeps (docs/design.md §11): find what should have become a package and was perhaps
missed (HealthOmics and S3 deliver events best effort), as the events that would have announced it.

- `sweep_omics`: ListRuns (status COMPLETED, every page) → a `Run Status Change` event per run in
  the window; the omics adapter plans it (no `runOutputUri`: the folder comes from GetRun when
  packaged, as for any thin event).
- `sweep_rocrate`: ListObjectsV2 under `s3://bucket/prefix/` → an `Object Created` event per
  sentinel (`sentinel_names`); the rocrate adapter plans its folder.

The events then go the usual way (`Runner.run_event` for `qps reconcile`, the jobs intake for
`POST /v1/reconcile`), so a run or crate already packaged comes back `unchanged` and nothing is
written. A sweep is bounded: `limit` stops it after the page that reaches it and returns the
`cursor` (the service's own continuation token) to go on from; the CLI follows cursors to the end,
the API returns the cursor to its caller, and the scheduled sweep passes it to its next batch.
Listing 10,000 runs is 100 ListRuns pages, 10,000 keys 10 ListObjectsV2 pages: seconds, and
queueing them (not packaging them) is what the API and the schedule do in their invocation.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote_plus

from . import aws
from .errors import InvalidInput, PermanentError, TransientError, one_line
from .s3paths import basename, parse_folder

Source = Literal["omics", "rocrate"]
SOURCES: tuple[str, ...] = ("omics", "rocrate")
OMICS_PAGE = 100  # ListRuns' maximum page size
S3_PAGE = 1000  # ListObjectsV2's maximum page size
DEFAULT_LIMIT = 200  # items per batch when the caller gives none (API, schedule): queued well within 30 s
MAX_LIMIT = 1000
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Sweep:
    """One batch of a sweep: what it found (label, event) and where the next batch starts."""

    source: str
    found: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cursor: str | None = None  # None: the listing is complete
    listed: int = 0  # items listed, found or not (runs of another status or outside the window, other keys)


def parse_duration(text: str) -> dt.timedelta:
    """`7d`, `12h`, `30m`, `2w`, `90s` → a timedelta; anything else is one clear line."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise InvalidInput(f"since: {text!r} is not a duration such as 7d, 12h, 30m or 2w")
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def sweep_omics(
    *,
    since: dt.timedelta | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    client: Any = None,
    now: Callable[[], dt.datetime] | None = None,
) -> Sweep:
    """COMPLETED HealthOmics runs (stopped within `since`, if given) as `Run Status Change` events."""
    client = client or aws.service_client("omics", retries={"total_max_attempts": 3, "mode": "standard"})
    cutoff = ((now or _utcnow)() - since) if since else None
    out = Sweep("omics", cursor=cursor)
    while True:
        try:
            page = client.list_runs(status="COMPLETED", maxResults=OMICS_PAGE, **_token("startingToken", out.cursor))
        except Exception as exc:
            raise _listing_error(exc, "HealthOmics ListRuns") from None
        for run in page.get("items") or []:
            out.listed += 1
            if run.get("status") != "COMPLETED" or not run.get("id"):
                continue
            ended = run.get("stopTime") or run.get("creationTime")
            if cutoff is not None and (not isinstance(ended, dt.datetime) or _aware(ended) < cutoff):
                continue
            out.found.append((f"omics run {run['id']}", run_event(run)))
        out.cursor = page.get("nextToken") or None
        if out.cursor is None or (limit is not None and len(out.found) >= limit):
            return out


def sweep_rocrate(
    folder_uri: str,
    sentinels: tuple[str, ...] | list[str],
    *,
    cursor: str | None = None,
    limit: int | None = None,
    client: Any = None,
    page_size: int = S3_PAGE,
) -> Sweep:
    """Every sentinel object under `s3://bucket/prefix/` as an EventBridge `Object Created` event."""
    folder = parse_folder(folder_uri, "prefix")
    client = client or aws.client("s3")
    out = Sweep("rocrate", cursor=cursor)
    while True:
        try:
            page = client.list_objects_v2(
                Bucket=folder.bucket, Prefix=folder.prefix, MaxKeys=page_size, **_token("ContinuationToken", out.cursor)
            )
        except Exception as exc:
            raise aws.classify(exc, "ListObjectsV2", folder.uri) from None
        for obj in page.get("Contents") or []:
            out.listed += 1
            key = obj["Key"]
            if basename(key) in sentinels and not key.startswith(".quilt/"):
                out.found.append((f"s3://{folder.bucket}/{key}", object_created_event(folder.bucket, obj)))
        out.cursor = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        if out.cursor is None or (limit is not None and len(out.found) >= limit):
            return out


def run_event(run: dict[str, Any]) -> dict[str, Any]:
    """The `Run Status Change` event a COMPLETED run would have sent (AWS's documented fields)."""
    arn = run.get("arn") or f"arn:aws:omics:::run/{run['id']}"
    parts = arn.split(":")
    return {
        "version": "0",
        "id": f"reconcile-omics-{run['id']}",
        "detail-type": "Run Status Change",
        "source": "aws.omics",
        "account": parts[4] if len(parts) > 4 else "",
        "time": _iso(run.get("stopTime") or run.get("creationTime")),
        "region": parts[3] if len(parts) > 3 else "",
        "resources": [arn],
        "detail": {"arn": arn, "runId": str(run["id"]), "status": "COMPLETED"},
    }


def object_created_event(bucket: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge `Object Created` event of an existing object (key form-encoded, as S3 sends it)."""
    key = obj["Key"]
    return {
        "version": "0",
        "id": f"reconcile-s3-{bucket}-{quote_plus(key, safe='/')}"[:200],
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "",
        "time": _iso(obj.get("LastModified")),
        "region": "",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/"), "size": obj.get("Size", 0), "etag": obj.get("ETag", "")},
            "reason": "PutObject",
        },
    }


def _token(name: str, cursor: str | None) -> dict[str, str]:
    return {name: cursor} if cursor else {}


def _listing_error(exc: BaseException, action: str) -> PermanentError | TransientError:
    if isinstance(exc, PermanentError | TransientError):
        return exc
    if aws.is_transient(exc):
        return TransientError(f"{action}: {aws.reason(exc)}, retry later")
    return PermanentError(f"{action}: {aws.reason(exc) or one_line(exc)}")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return _aware(value).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return str(value or "")
