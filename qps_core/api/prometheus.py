"""`GET /metrics` on `qps serve`: the metrics of docs/design.md §13 in Prometheus text format.

`sink()` is the process's Prometheus sink (prometheus-client, its own registry): the composition
root installs it for `qps serve`; the route renders it. Names follow Prometheus conventions
(`qps_` prefix, `_total` counters, seconds, bytes), one per CloudWatch metric of `qps_core.metrics`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from .. import metrics
from .deps import CallerDep
from .problems import problem_responses

router = APIRouter(tags=["service"])

#: CloudWatch name → (Prometheus name without the `_total` suffix, kind, labels)
PROMETHEUS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    metrics.PACKAGES: ("qps_packages", "counter", ("status", "adapter")),
    metrics.OBJECTS: ("qps_objects", "counter", ("adapter",)),
    metrics.BYTES: ("qps_bytes", "counter", ("adapter",)),
    metrics.PACKAGING_SECONDS: ("qps_packaging_seconds", "histogram", ("adapter",)),
    metrics.CHECKSUM_OBJECTS: ("qps_checksum_objects", "counter", ("path",)),
    metrics.NOTICES_NOT_PUBLISHED: ("qps_notices_not_published", "counter", ()),
    metrics.JOBS: ("qps_jobs", "counter", ("status",)),
}
BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, float("inf"))
HELP = {
    metrics.PACKAGES: "Package requests by outcome (created, unchanged, failed, rejected, ignored) and adapter.",
    metrics.OBJECTS: "Objects in the packages created or found unchanged.",
    metrics.BYTES: "Bytes in the packages created or found unchanged.",
    metrics.PACKAGING_SECONDS: "Seconds spent packaging one request.",
    metrics.CHECKSUM_OBJECTS: "Objects hashed, by path: reused (S3's checksum), server (S3 computed), read.",
    metrics.NOTICES_NOT_PUBLISHED: "Completion notices that could not be published.",
    metrics.JOBS: "Jobs that reached a status (queued again for a retry, succeeded, failed).",
}


class PrometheusSink:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[str, Any] = {}
        for name, (prom, kind, labels) in PROMETHEUS.items():
            if kind == "histogram":
                self._series[name] = Histogram(prom, HELP[name], labels, registry=self.registry, buckets=BUCKETS)
            else:
                self._series[name] = Counter(prom, HELP[name], labels, registry=self.registry)

    def put(self, name: str, value: float, dimensions: dict[str, str]) -> None:
        if name not in PROMETHEUS:
            return
        _, kind, labels = PROMETHEUS[name]
        series = self._series[name]
        if labels:
            series = series.labels(*(dimensions.get(label.capitalize(), "") for label in labels))
        if kind == "histogram":
            series.observe(value)
        else:
            series.inc(value)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


@lru_cache(maxsize=1)
def sink() -> PrometheusSink:
    """The process's Prometheus sink, installed as a metrics sink when first made."""
    made = PrometheusSink()
    metrics.add_sink(made)
    return made


@router.get(
    "/metrics",
    summary="Metrics in Prometheus text format (`qps serve`)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **problem_responses(401)},
)
def prometheus_metrics(_who: CallerDep) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(sink().render(), media_type=CONTENT_TYPE_LATEST)
