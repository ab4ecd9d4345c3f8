"""The queue path's logs and metrics (docs/design.md §13): a record handled by the Lambda handler
writes JSON log lines carrying its ids, and CloudWatch EMF lines on stdout that follow the spec."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from qps_core import lambda_handler, logs
from tests.runtime.rthelpers import Stack
from tests.runtime.test_lambda_handler import sqs_record
from tests.support.emf import check_emf, points


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every log line, formatted as in Lambda."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_a_record_logs_json_lines_with_its_ids_and_emits_emf(
    stack: Stack, json_log: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"source_prefix": "s3://lab-data/runs/run-1/", "registry": "lab-data", "package_name": "runs/run-1"}
    record = sqs_record(body, "msg-1", stack.queue_arn)
    record["messageAttributes"] = {"qps-job-id": {"stringValue": "job-7", "dataType": "String"}}

    response = lambda_handler.handler({"Records": [record]}, SimpleNamespace(aws_request_id="req-1"))

    assert response == {"batchItemFailures": []}
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [ran] = [line for line in lines if line["logger"] == "qps.sqs"]
    assert ran["level"] == "INFO"
    assert {k: ran.get(k) for k in logs.IDS} == {
        "aws_request_id": "req-1",
        "message_id": "msg-1",
        "job_id": "job-7",
        "adapter": ran["adapter"],
        "registry": "lab-data",
        "package_name": "runs/run-1",
    }
    assert ran["adapter"]  # the adapter that planned it
    assert json.loads(ran["message"].split(" ", 1)[1])["status"] == "created"
    created = [line for line in lines if line["message"].startswith("created runs/run-1@")]
    assert created and created[0]["aws_request_id"] == "req-1" and created[0]["job_id"] == "job-7"

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    for line in emf:
        check_emf(line)
    found = points(emf)
    adapter = ran["adapter"]
    assert found[("Packages", (("Status", "created"), ("Adapter", adapter)))] == 1
    assert found[("Objects", (("Adapter", adapter),))] == 2
    assert found[("Bytes", (("Adapter", adapter),))] == sum(len(f"content of runs/run-1/{n}.csv\n") for n in "ab")
    assert found[("ChecksumObjects", (("Path", "reused"),))] == 2  # SHA-256 uploads: S3's checksums reused
    assert found[("PackagingSeconds", (("Adapter", adapter),))] > 0
    assert all(line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "QPS" for line in emf)


def test_an_ignored_event_is_counted_without_an_adapter(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    lambda_handler.handler({"source": "aws.omics", "detail-type": "Run Status Change", "detail": {"status": "RUNNING"}})
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    found = points(emf)
    assert [k for k in found if k[0] == "Packages"] in (
        [("Packages", (("Status", "ignored"), ("Adapter", "omics")))],
        [("Packages", (("Status", "ignored"), ("Adapter", "none")))],
    )


def test_json_lines_off_a_terminal_plain_text_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    before = list(root.handlers), root.level
    ours = {name: logging.getLogger(name).level for name in ("qps", "qps_core")}
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    try:
        for stream in (io.StringIO(), Tty()):
            logs.configure("INFO", stream=stream)
            with logs.bound(job_id="j-1", registry="reg"):
                logging.getLogger("qps.test").warning("token %s", "[not shown]")
            text = stream.getvalue().strip()
            if isinstance(stream, Tty):
                assert text == "WARNING qps.test: token [not shown] [job_id=j-1 registry=reg]"
            else:
                line = json.loads(text)
                assert line["level"] == "WARNING" and line["message"] == "token [not shown]"
                assert line["job_id"] == "j-1" and line["registry"] == "reg" and "message_id" not in line
        assert [h.get_name() for h in root.handlers].count(logs.HANDLER_NAME) == 1  # replaced, not added twice
        assert root.level == logging.WARNING and logging.getLogger("qps").level == logging.INFO
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == logs.HANDLER_NAME:
                root.removeHandler(handler)
        root.setLevel(before[1])
        for name, level in ours.items():
            logging.getLogger(name).setLevel(level)
    with pytest.raises(ValueError, match="unknown log ids"), logs.bound(token="x"):
        pass
    assert logs.current() == {}
