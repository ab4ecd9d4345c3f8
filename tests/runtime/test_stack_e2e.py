"""End to end on moto: deploy/template.yaml deployed with moto's CloudFormation, events on the default bus,
the stack's rules delivering to its queue, and the Lambda handler draining it in the Lambda SQS format.

moto does not run the function here: the stack is deployed with EnableProcessing=false (otherwise moto
would invoke the Lambda in Docker for every message), and the test plays the event source mapping:
it receives the messages, hands them to `qps_core.lambda_handler.handler` in the Lambda SQS format with
the function's environment read back from moto, then deletes what the handler acknowledged.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
import quilt3

import tests.moto_function_url  # noqa: F401  (AWS::Lambda::Url on moto's CloudFormation)
from qps_core import lambda_handler
from qps_core.api import lambda_api
from tests.packager.pkghelpers import fail_operation, make_bucket, put
from tests.runtime.rthelpers import REGION

pytestmark = pytest.mark.slow  # end to end: the deployed stack on moto

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
OMICS_EVENT = ROOT / "tests" / "fixtures" / "events" / "omics-run-completed-doc-fields.json"

OMICS_BUCKET = "omics-output"  # where HealthOmics writes run folders
LIMS_BUCKET = "lims-data"  # where the LIMS drops instrument batches
REGISTRY_BUCKET = "quilt-packages"  # the Quilt registry the LIMS packages go to
BUCKETS = (OMICS_BUCKET, LIMS_BUCKET, REGISTRY_BUCKET)
RUN_ID = "3395667"
RUN_PREFIX = f"omics-quilt/{RUN_ID}"
LIMS_PREFIX = "instrument-f/batch-0301"

# A HealthOmics run output folder (out/, logs/, manifest/) and a LIMS batch folder.
OMICS_FILES = {
    f"{RUN_PREFIX}/out/multiqc/multiqc_report.html": "<html>MultiQC</html>\n",
    f"{RUN_PREFIX}/out/salmon/SAMPLE1/quant.sf": "Name\tLength\tTPM\nENST0001\t1500\t12.5\n",
    f"{RUN_PREFIX}/out/pipeline_info/software_versions.yml": "salmon: 1.10.1\n",
    f"{RUN_PREFIX}/logs/run-{RUN_ID}.log": "run started\nrun completed\n",
    f"{RUN_PREFIX}/manifest/run/{RUN_ID}.json": json.dumps({"runId": RUN_ID, "status": "COMPLETED"}),
}
LIMS_FILES = {
    f"{LIMS_PREFIX}/SampleSheet.csv": "[Data]\nSample_ID,Index\nS1,ACGT\n",
    f"{LIMS_PREFIX}/S1_L001_R1_001.fastq.gz": "@r1\nACGT\n+\nIIII\n",
    f"{LIMS_PREFIX}/RunInfo.xml": "<RunInfo Version='6'/>\n",
}
LIMS_DESCRIPTION = {
    "source_prefix": f"s3://{LIMS_BUCKET}/{LIMS_PREFIX}/",
    "registry": REGISTRY_BUCKET,
    "package_name": LIMS_PREFIX,
    "metadata": {"instrument": "NovaSeq X", "flowcell": "22FJKLLT3", "lanes": [1, 2]},
    "message": "Batch 301 demultiplexed",
}


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def deploy(cfn: Any, s3: Any, name: str, buckets: tuple[str, ...], **extra: str) -> dict[str, str]:
    """Deploy the template on moto and return its outputs."""
    if "qps-code" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket="qps-code")
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as zf:  # moto only needs a zip: the code is imported in process
            zf.writestr("qps_core/__init__.py", "")
        s3.put_object(Bucket="qps-code", Key="qps-lambda.zip", Body=bundle.getvalue())
    params = {
        "CodeBucket": "qps-code",
        "CodeKey": "qps-lambda.zip",
        "Buckets": ",".join(buckets),
        "EnableOmics": "true",
        "EnableRoCrate": "true",
        "EnableProcessing": "false",
        **extra,
    }
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@dataclass
class Deployed:
    s3: Any
    sqs: Any
    events: Any
    outputs: dict[str, str]
    environment: dict[str, str]  # the function's Environment.Variables, as moto's Lambda holds them
    bus_notices_url: str  # capture queue: a rule on the default bus for source com.quiltdata.qps
    sns_notices_url: str  # capture queue subscribed to the stack's notice topic

    def receive(self, url: str) -> list[dict[str, Any]]:
        """Every message currently visible in a queue (not deleted)."""
        out: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages"):
            out += batch
        return out

    def count(self, url: str) -> int:
        """Messages in a queue, visible or in flight."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[n]) for n in names)

    def drain(self, url: str) -> list[dict[str, Any]]:
        messages = self.receive(url)
        for m in messages:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return messages

    def put_events(self, *entries: dict[str, Any]) -> None:
        response = self.events.put_events(Entries=list(entries))
        assert response["FailedEntryCount"] == 0, response["Entries"]


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as received, in the shape Lambda's SQS event source mapping hands it to a function."""
    attributes = {
        name: {
            "stringValue": a.get("StringValue"),
            "binaryValue": a.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": a["DataType"],
        }
        for name, a in message.get("MessageAttributes", {}).items()
    }
    keep = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: v for k, v in message.get("Attributes", {}).items() if k in keep},
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def invoke(deployed: Deployed, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Play the event source mapping: one Lambda invocation, then delete what the function acknowledged."""
    records = [lambda_record(m, deployed.outputs["QueueArn"]) for m in messages]
    response = lambda_handler.handler({"Records": records}, None)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] not in failed:
            deployed.sqs.delete_message(QueueUrl=deployed.outputs["QueueUrl"], ReceiptHandle=m["ReceiptHandle"])
    return response


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    with moto.mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto skips AWS::SQS::QueuePolicy, and says so
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        for bucket in BUCKETS:
            make_bucket(s3, bucket)
        for key, body in OMICS_FILES.items():
            put(s3, OMICS_BUCKET, key, body, sha256=True)
        for key, body in LIMS_FILES.items():
            put(s3, LIMS_BUCKET, key, body, sha256=True)

        outputs = deploy(boto3.client("cloudformation", region_name=REGION), s3, "qps", BUCKETS)
        config = boto3.client("lambda", region_name=REGION).get_function_configuration(
            FunctionName=outputs["FunctionName"]
        )
        environment = config["Environment"]["Variables"]

        bus_notices_url = sqs.create_queue(QueueName="capture-bus-notices")["QueueUrl"]
        events.put_rule(Name="capture-qps-notices", EventPattern=json.dumps({"source": ["com.quiltdata.qps"]}))
        events.put_targets(Rule="capture-qps-notices", Targets=[{"Id": "q", "Arn": _arn(sqs, bus_notices_url)}])
        sns_notices_url = sqs.create_queue(QueueName="capture-sns-notices")["QueueUrl"]
        sns.subscribe(
            TopicArn=outputs["NoticeTopicArn"],
            Protocol="sqs",
            Endpoint=_arn(sqs, sns_notices_url),
            Attributes={"RawMessageDelivery": "true"},
        )

        # The function's environment, as the template sets it. quilt3 fixed its XDG dirs at import (the
        # test suite points them at a private temporary directory), so those four are left alone.
        for name, value in environment.items():
            if name.startswith("XDG_"):
                assert value.startswith("/tmp/"), (name, value)  # only /tmp is writable on Lambda
                continue
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(lambda_handler, "_PROCESSOR", None)  # a cold start
        yield Deployed(s3, sqs, events, outputs, environment, bus_notices_url, sns_notices_url)


def _omics_completed(output_uri: str) -> dict[str, Any]:
    """The real shape of a HealthOmics COMPLETED event, as put on the bus by the service."""
    event = json.loads(OMICS_EVENT.read_text())
    event["detail"]["runOutputUri"] = output_uri
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
        "Time": event["time"],
    }


def _ready(detail: dict[str, Any], detail_type: str = "package-objects-ready") -> dict[str, Any]:
    return {"Source": "com.example.lims", "DetailType": detail_type, "Detail": json.dumps(detail)}


# -- 1. events on the bus → the stack's rules → queue → handler → packages and notices --------------------------


def test_events_on_the_bus_become_packages_and_notices(deployed: Deployed, _omics_endpoint_is_local: Any) -> None:
    from qps_core.demo.omics_fake import demo_run

    run = demo_run(RUN_ID, bucket=OMICS_BUCKET, prefix="omics-quilt")  # HealthOmics GetRun, locally
    _omics_endpoint_is_local.runs[RUN_ID] = run
    env = deployed.environment
    assert env["QPS_DEAD_LETTER_QUEUE_URL"] == deployed.outputs["DeadLetterQueueUrl"]
    assert env["QPS_NOTICE_TOPIC_ARN"] == deployed.outputs["NoticeTopicArn"]
    assert env["QPS_ALLOWED_REGISTRIES"] == ",".join(BUCKETS)
    assert env["QPS_EVENT_BUS_NAME"] == "default"

    omics_uri = f"s3://{OMICS_BUCKET}/{RUN_PREFIX}"
    deployed.put_events(_omics_completed(omics_uri), _ready(LIMS_DESCRIPTION))

    messages = deployed.receive(deployed.outputs["QueueUrl"])
    delivered = {json.loads(m["Body"])["detail-type"]: json.loads(m["Body"]) for m in messages}
    assert sorted(delivered) == ["Run Status Change", "package-objects-ready"]
    assert delivered["Run Status Change"]["detail"]["runOutputUri"] == omics_uri
    assert delivered["package-objects-ready"]["detail"] == LIMS_DESCRIPTION

    response = invoke(deployed, messages)

    assert response == {"batchItemFailures": []}
    assert deployed.count(deployed.outputs["QueueUrl"]) == 0  # both acknowledged
    assert deployed.count(deployed.outputs["DeadLetterQueueUrl"]) == 0

    # The HealthOmics run folder, packaged in its own bucket under a name derived from the folder.
    omics = quilt3.Package.browse(RUN_PREFIX, registry=f"s3://{OMICS_BUCKET}")
    assert sorted(k for k, _ in omics.walk()) == sorted(k.removeprefix(f"{RUN_PREFIX}/") for k in OMICS_FILES)
    run = omics.meta["omics"]
    assert run["runId"] == RUN_ID and run["status"] == "COMPLETED"
    assert run["runOutputUri"] == omics_uri and run["enrichment"] == "GetRun"  # the run's provenance, from GetRun
    assert (run["workflowVersionName"], run["uuid"]) == (
        "3.14.0",
        json.loads(OMICS_EVENT.read_text())["detail"]["uuid"],
    )
    entry = omics["out/salmon/SAMPLE1/quant.sf"]
    assert entry.get_bytes() == OMICS_FILES[f"{RUN_PREFIX}/out/salmon/SAMPLE1/quant.sf"].encode()
    assert entry.physical_key.bucket == OMICS_BUCKET  # referenced in place, not copied

    # The LIMS batch, packaged into the registry bucket named by its description.
    lims = quilt3.Package.browse(LIMS_PREFIX, registry=f"s3://{REGISTRY_BUCKET}")
    assert sorted(k for k, _ in lims.walk()) == sorted(k.removeprefix(f"{LIMS_PREFIX}/") for k in LIMS_FILES)
    assert lims.meta == LIMS_DESCRIPTION["metadata"]
    tophashes = {(OMICS_BUCKET, RUN_PREFIX): omics.top_hash, (REGISTRY_BUCKET, LIMS_PREFIX): lims.top_hash}

    # Notices on the default bus (a capture rule) and on the stack's SNS topic (a capture subscription).
    bus = [json.loads(m["Body"]) for m in deployed.drain(deployed.bus_notices_url)]
    sns = [json.loads(m["Body"]) for m in deployed.drain(deployed.sns_notices_url)]
    assert len(bus) == len(sns) == 2
    for notices in (bus, sns):
        assert {n["source"] for n in notices} == {"com.quiltdata.qps"}
        assert {n["detail-type"] for n in notices} == {"package-created"}
        details = {(n["detail"]["registry"], n["detail"]["package_name"]): n["detail"] for n in notices}
        assert {k: d["top_hash"] for k, d in details.items()} == tophashes
        omics_notice = details[(OMICS_BUCKET, RUN_PREFIX)]
        assert omics_notice["adapter"] == "omics"
        assert omics_notice["source_prefix"] == f"{omics_uri}/"
        assert omics_notice["files"] == len(OMICS_FILES) and omics_notice["error"] is None
        lims_notice = details[(REGISTRY_BUCKET, LIMS_PREFIX)]
        assert lims_notice["adapter"] == "description"
        assert lims_notice["source_prefix"] == LIMS_DESCRIPTION["source_prefix"]
        assert lims_notice["files"] == len(LIMS_FILES)
    assert sorted(json.dumps(n["detail"], sort_keys=True) for n in bus) == sorted(
        json.dumps(n["detail"], sort_keys=True) for n in sns
    )


# -- 2. a mixed batch on the stack's queue: only the transient record is retried ---------------------------------


def test_mixed_batch_on_the_stack_queue(deployed: Deployed) -> None:
    queue_url, dlq_url = deployed.outputs["QueueUrl"], deployed.outputs["DeadLetterQueueUrl"]
    bodies = {
        "good": json.dumps(LIMS_DESCRIPTION),
        "malformed": '{"uri": "s3://lims-data/instrument-f/batch-0301/"',
        "permanent": json.dumps({"source_prefix": f"s3://{LIMS_BUCKET}/instrument-f/batch-empty/"}),
        "transient": json.dumps({"uri": f"s3://{OMICS_BUCKET}/{RUN_PREFIX}"}),
    }
    for body in bodies.values():
        deployed.sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    messages = deployed.receive(queue_url)
    assert sorted(m["Body"] for m in messages) == sorted(bodies.values())
    ids = {kind: next(m["MessageId"] for m in messages if m["Body"] == body) for kind, body in bodies.items()}

    packager = lambda_handler.processor().runner.packager
    fail_operation(
        packager.s3, "ListObjectVersions", 503, "SlowDown", when=lambda p: p.get("Prefix") == f"{RUN_PREFIX}/"
    )

    response = invoke(deployed, messages)

    assert response == {"batchItemFailures": [{"itemIdentifier": ids["transient"]}]}
    # Permanent failures went to the stack's DLQ with their original body and the error.
    dead = {m["MessageAttributes"]["qps-source-message-id"]["StringValue"]: m for m in deployed.drain(dlq_url)}
    assert set(dead) == {ids["malformed"], ids["permanent"]}
    for kind in ("malformed", "permanent"):
        assert dead[ids[kind]]["Body"] == bodies[kind]
        assert (
            dead[ids[kind]]["MessageAttributes"]["qps-source-queue-arn"]["StringValue"] == deployed.outputs["QueueArn"]
        )
    assert "invalid JSON" in dead[ids["malformed"]]["MessageAttributes"]["qps-error"]["StringValue"]
    assert "batch-empty" in dead[ids["permanent"]]["MessageAttributes"]["qps-error"]["StringValue"]
    # Only the transient record is left on the queue, for SQS to retry (and redrive after MaxReceiveCount).
    assert deployed.count(queue_url) == 1
    transient = next(m for m in messages if m["MessageId"] == ids["transient"])
    deployed.sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=transient["ReceiptHandle"], VisibilityTimeout=0
    )  # as if the visibility timeout had passed
    left = deployed.receive(queue_url)
    assert [(m["MessageId"], m["Body"]) for m in left] == [(ids["transient"], bodies["transient"])]
    assert left[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    # The good record was packaged; the transient one was not.
    lims = quilt3.Package.browse(LIMS_PREFIX, registry=f"s3://{REGISTRY_BUCKET}")
    assert lims.meta == LIMS_DESCRIPTION["metadata"]
    assert deployed.s3.list_objects_v2(Bucket=OMICS_BUCKET, Prefix=".quilt/").get("KeyCount", 0) == 0
    kinds = sorted(
        (n["detail-type"], n["detail"]["package_name"], n["detail"]["retryable"])
        for n in (json.loads(m["Body"]) for m in deployed.drain(deployed.bus_notices_url))
    )
    assert kinds == sorted(
        [
            ("package-created", LIMS_PREFIX, False),
            ("package-failed", RUN_PREFIX, True),
            ("package-failed", "instrument-f/batch-empty", False),
        ]
    )

    # While the failure lasts, every delivery fails again; after MaxReceiveCount (5) deliveries SQS's redrive
    # policy (not QPS) moves the record to the DLQ, as it was sent and without a qps-error attribute.
    deliveries = 1
    while left:
        assert invoke(deployed, left) == {"batchItemFailures": [{"itemIdentifier": ids["transient"]}]}
        deliveries += 1
        deployed.sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=left[0]["ReceiptHandle"], VisibilityTimeout=0
        )
        left = deployed.receive(queue_url)
        assert deliveries <= 5
    assert deliveries == 5
    [redriven] = deployed.drain(dlq_url)
    assert redriven["Body"] == bodies["transient"]
    assert "qps-error" not in redriven.get("MessageAttributes", {})


# -- 3. two stacks in one account: each handles only the events for its own buckets -----------------------------


def test_events_for_buckets_of_another_stack_are_not_delivered(deployed: Deployed) -> None:
    other = deploy(
        boto3.client("cloudformation", region_name=REGION),
        deployed.s3,
        "qps-other",
        ("other-lab",),
        QueueName="OtherPackager",
    )
    ours = [
        _omics_completed(f"s3://{OMICS_BUCKET}/{RUN_PREFIX}"),
        _ready({"uri": f"s3://{LIMS_BUCKET}/{LIMS_PREFIX}?shift=night"}),
        _ready(LIMS_DESCRIPTION, "package-object-request"),
    ]
    theirs = [
        _omics_completed(f"s3://other-lab/{RUN_PREFIX}"),
        _ready({"uri": "s3://other-lab/batch-7"}),
        _ready({"source_prefix": "s3://other-lab/batch-8/", "package_name": "lab/batch-8"}),
    ]
    nobody = [
        _omics_completed(f"s3://{OMICS_BUCKET}-archive/{RUN_PREFIX}"),  # a bucket whose name starts like ours
        _ready({"uri": f"s3://{LIMS_BUCKET}x/{LIMS_PREFIX}"}),
        _ready({"source_prefix": "s3://unlisted-bucket/a/b/"}),
    ]
    deployed.put_events(*ours, *theirs)
    deployed.put_events(*nobody)

    def details(url: str) -> list[str]:
        return sorted(json.dumps(json.loads(m["Body"])["detail"], sort_keys=True) for m in deployed.drain(url))

    def expected(entries: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(json.loads(e["Detail"]), sort_keys=True) for e in entries)

    assert details(deployed.outputs["QueueUrl"]) == expected(ours)
    assert details(other["QueueUrl"]) == expected(theirs)


# -- 4. the REST API: a POST through the Function URL becomes a job the queue's function runs ---------------------

FUNCTION_URL_EVENT = ROOT / "tests" / "fixtures" / "api" / "function-url-request.json"


def function_url_event(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Lambda Function URL request (payload format 2.0, IAM auth), as AWS hands it to the function."""
    event = json.loads(FUNCTION_URL_EVENT.read_text())
    route, _, query = path.partition("?")
    event["rawPath"] = event["requestContext"]["http"]["path"] = route
    event["rawQueryString"] = query
    event["requestContext"]["http"]["method"] = method
    event["headers"].update(headers or {})
    if body is None:
        event.pop("body")
        del event["headers"]["content-type"]
    else:
        event["body"] = json.dumps(body)
    return event


def call_api(method: str, path: str, body: Any = None, **headers: str) -> tuple[int, dict[str, str], Any]:
    response = lambda_api.handler(function_url_event(method, path, body, headers), None)
    assert not response["isBase64Encoded"], response
    return response["statusCode"], response["headers"], json.loads(response["body"])


def test_api_post_becomes_a_job_that_the_queue_function_runs(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName=deployed.outputs["ApiFunctionName"]
    )
    assert config["Handler"] == "qps_core.api.lambda_api.handler"
    api_env = config["Environment"]["Variables"]
    assert api_env["QPS_JOBS_TABLE"] == deployed.outputs["JobsTable"] == deployed.environment["QPS_JOBS_TABLE"]
    assert api_env["QPS_QUEUE_URL"] == deployed.outputs["QueueUrl"]
    for name, value in api_env.items():
        if not name.startswith("XDG_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(lambda_api, "_HANDLER", None)  # the API function's cold start

    # POST /v1/packages → 202, a queued job, one message on the queue naming it
    status, headers, job = call_api("POST", "/v1/packages", LIMS_DESCRIPTION, **{"idempotency-key": "batch-0301"})
    assert status == 202, job
    assert job["status"] == "queued" and job["trigger"]["kind"] == "api"
    assert headers["location"] == f"/v1/jobs/{job['id']}"
    [message] = deployed.receive(deployed.outputs["QueueUrl"])
    assert message["MessageAttributes"]["qps-job-id"]["StringValue"] == job["id"]
    assert json.loads(message["Body"]) == job["request"]

    # the same key and body: the same job, nothing new on the queue
    status, _, again = call_api("POST", "/v1/packages", LIMS_DESCRIPTION, **{"idempotency-key": "batch-0301"})
    assert (status, again["id"]) == (202, job["id"])
    deployed.sqs.change_message_visibility(
        QueueUrl=deployed.outputs["QueueUrl"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert len(deployed.receive(deployed.outputs["QueueUrl"])) == 1

    # a rejected request: 422 / 403, nothing queued, no job
    status, _, problem = call_api("POST", "/v1/packages", {"source_prefix": "s3://lims-data/x", "bogus": 1})
    assert status == 422 and problem["detail"].startswith("unknown field 'bogus'")
    status, _, problem = call_api("POST", "/v1/packages", {"source_prefix": "s3://elsewhere-bucket/x"})
    assert status == 403 and "not an allowed registry" in problem["detail"]
    deployed.sqs.change_message_visibility(
        QueueUrl=deployed.outputs["QueueUrl"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    [message] = deployed.receive(deployed.outputs["QueueUrl"])

    # the queue's function runs it and updates the same job
    assert invoke(deployed, [message]) == {"batchItemFailures": []}
    status, _, done = call_api("GET", f"/v1/jobs/{job['id']}")
    assert status == 200 and done["status"] == "succeeded", done
    lims = quilt3.Package.browse(LIMS_PREFIX, registry=f"s3://{REGISTRY_BUCKET}")
    assert done["result"]["top_hash"] == lims.top_hash
    assert done["result"]["quilt_uri"] == f"quilt+s3://{REGISTRY_BUCKET}#package={LIMS_PREFIX}@{lims.top_hash}"
    assert done["attempts"] == int(message["Attributes"]["ApproximateReceiveCount"])  # SQS's count of deliveries
    assert done["started_at"] <= done["finished_at"]

    # an event on the bus becomes a job too; GET /v1/jobs lists both, newest first
    deployed.put_events(_omics_completed(f"s3://{OMICS_BUCKET}/{RUN_PREFIX}"))
    messages = deployed.receive(deployed.outputs["QueueUrl"])
    assert invoke(deployed, messages) == {"batchItemFailures": []}
    status, _, page = call_api("GET", "/v1/jobs")
    assert status == 200
    assert [(j["trigger"]["kind"], j["status"]) for j in page["items"]] == [("sqs", "succeeded"), ("api", "succeeded")]
    omics_job = page["items"][0]
    assert omics_job["trigger"] == {"kind": "sqs", "adapter": "omics", "event_id": messages[0]["MessageId"]}
    assert (
        omics_job["result"]["top_hash"] == quilt3.Package.browse(RUN_PREFIX, registry=f"s3://{OMICS_BUCKET}").top_hash
    )

    # the package as the API reads it back (the API's own S3 access: manifests only)
    status, _, package = call_api("GET", f"/v1/packages/{REGISTRY_BUCKET}/{LIMS_PREFIX}")
    assert status == 200 and package["top_hash"] == lims.top_hash and package["files"] == len(LIMS_FILES)


def test_the_scheduled_reconcile_function_queues_what_was_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    """ReconcileSchedule set: the reconcile function, run with its own environment as the stack sets it
    (its cold start builds the real services), finds the crate no event announced and queues one job
    for it on the QuiltPackager queue; the next sweep queues the same request again as a new job."""
    from qps_core import reconcile_lambda

    with moto.mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        for bucket in BUCKETS:
            make_bucket(s3, bucket)
        put(s3, LIMS_BUCKET, "crates/run-9/ro-crate-metadata.json", json.dumps({"@graph": []}))
        put(s3, LIMS_BUCKET, "crates/run-9/data.csv", "a,b\n")
        outputs = deploy(
            boto3.client("cloudformation", region_name=REGION), s3, "qps", BUCKETS, ReconcileSchedule="rate(1 day)"
        )
        functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
        [function] = [f for f in functions if f["Handler"] == "qps_core.reconcile_lambda.handler"]
        for name, value in function["Environment"]["Variables"].items():
            if not name.startswith("XDG_"):
                monkeypatch.setenv(name, value)
        monkeypatch.setattr(reconcile_lambda, "_CONTEXT", None)  # a cold start

        sweep = {"sweeps": [{"source": "rocrate", "prefix": f"s3://{LIMS_BUCKET}/crates/"}]}
        assert reconcile_lambda.handler(sweep) == {"found": 1, "queued": 1, "continued": False}
        [message] = sqs.receive_message(
            QueueUrl=outputs["QueueUrl"], MessageAttributeNames=["All"], MaxNumberOfMessages=10
        )["Messages"]
        assert "qps-job-id" in message["MessageAttributes"]
        assert "crates/run-9" in message["Body"]
        again = reconcile_lambda.handler(sweep)
        [second] = sqs.receive_message(QueueUrl=outputs["QueueUrl"], MessageAttributeNames=["All"])["Messages"]
        # each sweep is a new job for the same request; packaging it finds the package `unchanged`
        assert again == {"found": 1, "queued": 1, "continued": False}
        assert second["Body"] == message["Body"]
