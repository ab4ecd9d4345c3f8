"""AWS runtime fixtures: in-process moto with data buckets, the queue, its DLQ and notice capture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from tests.helpers import isolate_aws
from tests.packager.pkghelpers import make_bucket, put

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path)


@dataclass
class Stack:
    """What a deployed QPS stack provides, made directly in moto."""

    s3: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    notices_url: str  # an SQS queue that receives every notice from the default bus
    sns_notices_url: str  # an SQS queue subscribed to the notice topic
    topic_arn: str

    def receive(self, url: str, n: int = 10) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            msgs = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not msgs:
                return out
            out += msgs
            for m in msgs:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if len(out) >= n:
                return out

    def notices(self) -> list[tuple[str, dict[str, Any]]]:
        events = [json.loads(m["Body"]) for m in self.receive(self.notices_url, 100)]
        return [(e["detail-type"], e["detail"]) for e in events]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="QuiltPackager-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName="QuiltPackager",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
                "VisibilityTimeout": "60",
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        notices_url = sqs.create_queue(QueueName="notices")["QueueUrl"]
        notices_arn = sqs.get_queue_attributes(QueueUrl=notices_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="qps-notices", EventPattern=json.dumps({"source": ["com.quiltdata.qps"]}))
        events.put_targets(Rule="qps-notices", Targets=[{"Id": "q", "Arn": notices_arn}])
        topic_arn = sns.create_topic(Name="qps-notices")["TopicArn"]
        sns_notices_url = sqs.create_queue(QueueName="sns-notices")["QueueUrl"]
        sns_arn = sqs.get_queue_attributes(QueueUrl=sns_notices_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=sns_arn, Attributes={"RawMessageDelivery": "true"})
        make_bucket(s3, "lab-data")
        for key in ("runs/run-1/a.csv", "runs/run-1/b.csv", "runs/run-2/x.txt"):
            put(s3, "lab-data", key, f"content of {key}\n", sha256=True)
        monkeypatch.setenv("QPS_DEAD_LETTER_QUEUE_URL", dlq_url)
        monkeypatch.setenv("QPS_EVENT_BUS_NAME", "default")
        monkeypatch.setenv("QPS_NOTICE_TOPIC_ARN", topic_arn)
        from qps_core import lambda_handler

        monkeypatch.setattr(lambda_handler, "_PROCESSOR", None)  # a fresh cold start per test
        yield Stack(s3, sqs, queue_url, queue_arn, dlq_url, notices_url, sns_notices_url, topic_arn)
