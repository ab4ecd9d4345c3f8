"""deploy/template.yaml's alarms and dashboard watch what the code emits (docs/design.md §13): each
alarm's namespace, metric, dimensions and threshold, checked against qps_core.metrics (the one
source of truth) and against the EMF lines the code really writes."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
import yaml

from qps_core import metrics
from tests.test_deploy_template import TEMPLATE, _CfnLoader

# (namespace, metric) -> (the resource whose name is the dimension, dimension name, statistic, threshold)
EXPECTED = {
    "DeadLetterQueueNotEmptyAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "DeadLetterQueue", 0),
    "OldestMessageAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Queue", {"Ref": "OldestMessageAgeSeconds"}),
    "FunctionErrorsAlarm": ("AWS/Lambda", "Errors", "Function", 0),
    "FunctionThrottlesAlarm": ("AWS/Lambda", "Throttles", "Function", 0),
    "ApiErrorsAlarm": ("AWS/Lambda", "Errors", "ApiFunction", 0),
    "ApiThrottlesAlarm": ("AWS/Lambda", "Throttles", "ApiFunction", 0),
    "Api5xxAlarm": ("AWS/Lambda", "Url5xxCount", "ApiFunction", 0),
    "FailedPackagesAlarm": (metrics.NAMESPACE, metrics.PACKAGES, None, 0),
}

ALLOWED = {"Status": metrics.PACKAGE_STATUSES + metrics.JOB_STATUSES, "Path": metrics.CHECKSUM_PATHS}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def emitted(call: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    with metrics.sending_to(metrics.EmfSink(out)):
        call()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_alarm_is_there_and_goes_to_the_alarm_topic(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    assert set(alarms) == set(EXPECTED)
    for name, props in alarms.items():
        namespace, metric, resource, threshold = EXPECTED[name]
        assert (props["Namespace"], props["MetricName"]) == (namespace, metric), name
        assert props["Threshold"] == threshold, name
        assert props["ComparisonOperator"] == "GreaterThanThreshold", name
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["TreatMissingData"] == "notBreaching", name
        if resource is not None:
            [dimension] = props["Dimensions"]
            if namespace == "AWS/SQS":
                assert dimension == {"Name": "QueueName", "Value": {"Fn::GetAtt": [resource, "QueueName"]}}, name
            else:
                assert dimension == {"Name": "FunctionName", "Value": {"Ref": resource}}, name
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_the_failed_packages_alarm_watches_a_metric_the_code_emits(template: dict[str, Any]) -> None:
    props = _alarms(template)["FailedPackagesAlarm"]
    wanted = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    assert sorted(wanted) in [sorted(s) for s in metrics.DIMENSION_SETS[props["MetricName"]]]

    lines = emitted(lambda: metrics.package_outcome("failed", "omics", seconds=1.5))

    published = [
        (directive["Namespace"], m["Name"], tuple(sorted(dims)), tuple(line[d] for d in sorted(dims)))
        for line in lines
        for directive in line["_aws"]["CloudWatchMetrics"]
        for m in directive["Metrics"]
        for dims in directive["Dimensions"]
    ]
    key = tuple(sorted(wanted))
    assert (props["Namespace"], props["MetricName"], key, tuple(wanted[k] for k in key)) in published


def test_the_dashboard_shows_only_metrics_the_code_emits(template: dict[str, Any]) -> None:
    body, names = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert set(names) == {"Queue", "Dlq"}
    text = re.sub(r"\$\{[^}]+\}", "X", body)  # what !Sub substitutes
    dashboard = json.loads(text)
    seen: set[str] = set()
    alarms = next(w for w in dashboard["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    named = re.findall(r"AlarmName: !Sub \"\$\{QueueName\}-([\w-]+)\"", TEMPLATE.read_text())
    assert sorted(a.rsplit("X-", 1)[1] for a in alarms) == sorted(named)  # every alarm, by its name
    for widget in dashboard["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):  # a SEARCH expression
                [(space, dims, name)] = re.findall(r"\{(\w+),([\w,]+)\} MetricName=\"(\w+)\"", row[0]["expression"])
                assert space == metrics.NAMESPACE
                assert sorted(dims.split(",")) in [sorted(s) for s in metrics.DIMENSION_SETS[name]], name
                seen.add(name)
            elif row[0] == metrics.NAMESPACE:
                name, pairs = row[1], row[2:]
                dims = sorted(pairs[0::2])
                assert dims in [sorted(s) for s in metrics.DIMENSION_SETS[name]], name
                for dim, value in zip(pairs[0::2], pairs[1::2], strict=True):
                    assert value in ALLOWED[dim], (name, dim, value)
                seen.add(name)
    assert seen == set(metrics.UNITS)  # every metric QPS emits is on the dashboard
