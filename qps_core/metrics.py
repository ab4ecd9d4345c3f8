"""What QPS measures (docs/design.md §13), written to whichever sinks the process installed.

The runner, the notices and the job code call the functions below; without a sink (the CLI, tests)
they do nothing. The queue's Lambda function and `qps worker` install `EmfSink` (CloudWatch
embedded metric format: one JSON line per data point on stdout, namespace `QPS`); `qps serve`
installs the Prometheus sink (`qps_core.api.prometheus`, served at `GET /metrics`).

The names and dimensions here are the one source of truth: deploy/template.yaml's alarms and
dashboard use them, and tests/test_deploy_template.py checks that they match.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

NAMESPACE = "QPS"

# metric names (CloudWatch) and their units; Prometheus names are derived in qps_core.api.prometheus
PACKAGES = "Packages"  # dimensions Status, Adapter (and Status alone)
OBJECTS = "Objects"  # dimension Adapter
BYTES = "Bytes"  # dimension Adapter
PACKAGING_SECONDS = "PackagingSeconds"  # dimension Adapter
CHECKSUM_OBJECTS = "ChecksumObjects"  # dimension Path: reused, server, read
NOTICES_NOT_PUBLISHED = "NoticesNotPublished"  # no dimension
JOBS = "Jobs"  # dimension Status

UNITS = {
    PACKAGES: "Count",
    OBJECTS: "Count",
    BYTES: "Bytes",
    PACKAGING_SECONDS: "Seconds",
    CHECKSUM_OBJECTS: "Count",
    NOTICES_NOT_PUBLISHED: "Count",
    JOBS: "Count",
}
#: The dimension sets each metric is published with (a CloudWatch metric is one name + one set).
DIMENSION_SETS: dict[str, list[list[str]]] = {
    PACKAGES: [["Status", "Adapter"], ["Status"]],
    OBJECTS: [["Adapter"]],
    BYTES: [["Adapter"]],
    PACKAGING_SECONDS: [["Adapter"]],
    CHECKSUM_OBJECTS: [["Path"]],
    NOTICES_NOT_PUBLISHED: [[]],
    JOBS: [["Status"]],
}
PACKAGE_STATUSES = ("created", "unchanged", "failed", "rejected", "ignored")
CHECKSUM_PATHS = ("reused", "server", "read")
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
NO_ADAPTER = "none"  # the Adapter dimension of an event no adapter claimed


class Sink(Protocol):
    def put(self, name: str, value: float, dimensions: dict[str, str]) -> None: ...


_sinks: list[Sink] = []
_lock = threading.Lock()


def add_sink(sink: Sink) -> None:
    with _lock:
        if sink not in _sinks:
            _sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)


@contextmanager
def sending_to(sink: Sink) -> Iterator[Sink]:
    """Measure into `sink` inside the block only (a Lambda invocation, a worker's run)."""
    add_sink(sink)
    try:
        yield sink
    finally:
        remove_sink(sink)


def put(name: str, value: float, **dimensions: str) -> None:
    """One data point to every sink (a failing sink never stops the work it measures)."""
    for sink in list(_sinks):
        with contextlib.suppress(Exception):  # measuring is best effort
            sink.put(name, value, dimensions)


def package_outcome(
    status: str,
    adapter: str | None,
    *,
    seconds: float | None = None,
    files: int | None = None,
    size: int | None = None,
    checksum_paths: dict[str, int] | None = None,
) -> None:
    """One package request's end (or an event's, when ignored or rejected before any request)."""
    if not _sinks:
        return
    adapter = adapter or NO_ADAPTER
    put(PACKAGES, 1, Status=status, Adapter=adapter)
    if seconds is not None:
        put(PACKAGING_SECONDS, seconds, Adapter=adapter)
    if files is not None:
        put(OBJECTS, files, Adapter=adapter)
    if size is not None:
        put(BYTES, size, Adapter=adapter)
    for path, count in (checksum_paths or {}).items():
        if count:
            put(CHECKSUM_OBJECTS, count, Path=path)


def notice_not_published() -> None:
    put(NOTICES_NOT_PUBLISHED, 1)


def job_status(status: str) -> None:
    """A job reached `status` (queued again for a retry, succeeded or failed)."""
    put(JOBS, 1, Status=status)


class EmfSink:
    """CloudWatch embedded metric format: one JSON object per data point, one line each.

    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """

    def __init__(self, stream: TextIO | None = None, namespace: str = NAMESPACE) -> None:
        self.stream = stream
        self.namespace = namespace
        self._lock = threading.Lock()

    def line(self, name: str, value: float, dimensions: dict[str, str]) -> dict[str, Any]:
        sets = [[d for d in dims if d in dimensions] for dims in DIMENSION_SETS.get(name, [sorted(dimensions)])]
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": sets,
                        "Metrics": [{"Name": name, "Unit": UNITS.get(name, "None")}],
                    }
                ],
            },
            **dimensions,
            name: value,
        }

    def put(self, name: str, value: float, dimensions: dict[str, str]) -> None:
        text = json.dumps(self.line(name, value, dimensions), separators=(",", ":"))
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(text + "\n")
            stream.flush()
