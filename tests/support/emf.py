"""The CloudWatch embedded metric format's required structure, as a checker for tests.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

from typing import Any

UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def check_emf(line: dict[str, Any]) -> None:
    """Raise AssertionError unless `line` is a valid EMF root node."""
    meta = line["_aws"]
    assert isinstance(meta, dict)
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000  # epoch milliseconds
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 255
        assert isinstance(directive["Dimensions"], list)
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(line[name], str), f"dimension {name} is not a top-level string member"
        metrics = directive["Metrics"]
        assert isinstance(metrics, list) and 1 <= len(metrics) <= 100
        for metric in metrics:
            assert isinstance(metric["Name"], str) and 1 <= len(metric["Name"]) <= 1024
            assert metric.get("Unit", "None") in UNITS
            value = line[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in values), metric


def points(lines: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(metric, ((dimension, value), ...)): summed value} over the widest dimension set of each line."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            dims = max(directive["Dimensions"], key=len)
            for metric in directive["Metrics"]:
                key = (metric["Name"], tuple((d, line[d]) for d in dims))
                out[key] = out.get(key, 0) + line[metric["Name"]]
    return out
