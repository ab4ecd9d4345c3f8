"""AWS wiring on moto: the stack's HealthOmics and RO-Crate rules, switched from the API, and the
runtime switch as defence in depth (moto, like a message sent straight to the queue, still
delivers events for a DISABLED rule)."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
from fastapi.testclient import TestClient

import tests.moto_function_url  # noqa: F401  (AWS::Lambda::Url on moto's CloudFormation)
from qps_core import lambda_handler
from tests.helpers import LOCAL
from tests.packager.pkghelpers import make_bucket, put

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
REGION = "us-east-1"
BUCKET = "omics-output"
OMICS_EVENT = {
    "version": "0",
    "id": "8db8df93-edd5-4cd5-86b3-bc355166765c",
    "detail-type": "Run Status Change",
    "source": "aws.omics",
    "account": "123456789012",
    "time": "2025-03-14T11:02:45Z",
    "region": REGION,
    "resources": ["arn:aws:omics:us-east-1:123456789012:run/3395667"],
    "detail": {"status": "COMPLETED", "runId": "3395667", "runOutputUri": f"s3://{BUCKET}/omics-quilt/3395667"},
}


def _function_env(name: str) -> dict[str, str]:
    config = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName=name)
    return dict(config["Environment"]["Variables"])


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with moto.mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto skips AWS::SQS::QueuePolicy, and says so
        s3 = boto3.client("s3", region_name=REGION)
        make_bucket(s3, BUCKET)
        put(s3, BUCKET, "omics-quilt/3395667/out/quant.sf", "Name\tTPM\nENST1\t12.5\n", sha256=True)
        s3.create_bucket(Bucket="qps-code")
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as zf:
            zf.writestr("qps_core/__init__.py", "")
        s3.put_object(Bucket="qps-code", Key="qps-lambda.zip", Body=bundle.getvalue())
        params = {
            "CodeBucket": "qps-code",
            "CodeKey": "qps-lambda.zip",
            "Buckets": BUCKET,
            "EnableOmics": "true",
            "EnableRoCrate": "false",
            "EnableProcessing": "false",
        }
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(
            StackName="qps",
            TemplateBody=TEMPLATE.read_text(),
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        )
        (described,) = cfn.describe_stacks(StackName="qps")["Stacks"]
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        monkeypatch.setattr(lambda_handler, "_PROCESSOR", None)
        yield {"outputs": outputs, "s3": s3, "sqs": boto3.client("sqs", region_name=REGION)}


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in [n for n in list(__import__("os").environ) if n.startswith("QPS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("QPS_"):
            monkeypatch.setenv(name, value)


def _api(monkeypatch: pytest.MonkeyPatch, outputs: dict[str, str]) -> TestClient:
    from qps_core.api.lambda_api import build_handler

    _use_env(monkeypatch, _function_env(outputs["ApiFunctionName"]))
    return TestClient(build_handler().app, base_url=LOCAL)


def _queue_outcomes(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Receive what is in the queue and run it as the packager function does (its environment)."""
    outputs, sqs = stack["outputs"], stack["sqs"]
    _use_env(monkeypatch, {**_function_env(outputs["FunctionName"]), "QPS_SETTINGS_REFRESH_SECONDS": "0"})
    messages = sqs.receive_message(QueueUrl=outputs["QueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    )
    outcomes = []
    for m in messages:
        record = {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": outputs["QueueArn"],
        }
        result = lambda_handler.processor().process_record(record)
        assert result.decision == "done", result
        outcomes += result.outcomes
        sqs.delete_message(QueueUrl=outputs["QueueUrl"], ReceiptHandle=m["ReceiptHandle"])
    return outcomes


def test_rules_exist_with_initial_state_from_parameters(stack: dict[str, Any]) -> None:
    events = boto3.client("events", region_name=REGION)
    outputs = stack["outputs"]
    assert events.describe_rule(Name=outputs["OmicsRuleName"])["State"] == "ENABLED"
    assert events.describe_rule(Name=outputs["RoCrateRuleName"])["State"] == "DISABLED"
    env = _function_env(outputs["FunctionName"])
    assert env["QPS_SOURCE_RULES"] == f"omics={outputs['OmicsRuleName']},rocrate={outputs['RoCrateRuleName']}"
    assert json.loads(env["QPS_DEFAULTS"]) == {"sources": {"omics": True, "rocrate": False}}


def test_switching_omics_off_disables_its_rule_and_qps_ignores_its_events(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs, sqs = stack["outputs"], stack["sqs"]
    events = boto3.client("events", region_name=REGION)
    api = _api(monkeypatch, outputs)
    sources = api.get("/v1/sources")
    assert sources.status_code == 200, sources.text
    rows = {r["id"]: r for r in sources.json()["sources"]}
    assert (rows["omics"]["enabled"], rows["omics"]["rule_state"], rows["omics"]["drift"]) == (True, "ENABLED", False)
    assert (rows["rocrate"]["enabled"], rows["rocrate"]["rule_state"]) == (False, "DISABLED")

    off = api.put("/v1/sources/omics", headers={"If-Match": sources.headers["etag"]}, json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["rule_state"] == "DISABLED" and off.json()["drift"] is False
    assert events.describe_rule(Name=outputs["OmicsRuleName"])["State"] == "DISABLED"

    # straight to the queue, and through the bus (moto delivers to disabled rules too): both ignored
    sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=json.dumps(OMICS_EVENT))
    entry = {
        "Source": OMICS_EVENT["source"],
        "Resources": OMICS_EVENT["resources"],
        "DetailType": OMICS_EVENT["detail-type"],
        "Detail": json.dumps(OMICS_EVENT["detail"]),
    }
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    outcomes = _queue_outcomes(stack, monkeypatch)
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert outcome.status == "ignored"
        assert outcome.reason == "the HealthOmics source (adapter 'omics') is switched off"
    listed = stack["s3"].list_objects_v2(Bucket=BUCKET, Prefix=".quilt/")
    assert listed.get("KeyCount", 0) == 0  # nothing packaged

    # switch on again: the rule is enabled and the same event makes a package
    api = _api(monkeypatch, outputs)
    etag = api.get("/v1/sources").headers["etag"]
    on = api.put("/v1/sources/omics", headers={"If-Match": etag}, json={"enabled": True})
    assert on.status_code == 200 and events.describe_rule(Name=outputs["OmicsRuleName"])["State"] == "ENABLED"
    sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=json.dumps(OMICS_EVENT))
    (created,) = _queue_outcomes(stack, monkeypatch)
    assert created.status == "created" and created.request.package_name == "omics-quilt/3395667"


def test_drift_is_shown_and_reapply_repairs_it(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = stack["outputs"]
    events = boto3.client("events", region_name=REGION)
    api = _api(monkeypatch, outputs)
    events.disable_rule(Name=outputs["OmicsRuleName"])  # someone changed it in the console
    row = {r["id"]: r for r in api.get("/v1/sources").json()["sources"]}["omics"]
    assert row["drift"] is True and row["enabled"] is True and row["rule_state"] == "DISABLED"
    fixed = api.post("/v1/sources/omics/apply")
    assert fixed.status_code == 200 and fixed.json()["drift"] is False
    assert events.describe_rule(Name=outputs["OmicsRuleName"])["State"] == "ENABLED"


def test_failed_rule_switch_snaps_back(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = stack["outputs"]
    api = _api(monkeypatch, outputs)
    events = boto3.client("events", region_name=REGION)  # the rule is gone: the switch will fail
    events.remove_targets(Rule=outputs["RoCrateRuleName"], Ids=["QuiltPackagerQueue"])
    events.delete_rule(Name=outputs["RoCrateRuleName"])
    etag = api.get("/v1/sources").headers["etag"]
    response = api.put("/v1/sources/rocrate", headers={"If-Match": etag}, json={"enabled": True})
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail.startswith("could not switch RO-Crate on: EnableRule ") and "\n" not in detail
    row = {r["id"]: r for r in api.get("/v1/sources").json()["sources"]}["rocrate"]
    assert row["enabled"] is False  # snapped back
    audit = api.get("/v1/settings/audit").json()["items"]
    assert audit[0]["actor"].endswith("(undo)")


def test_the_lambda_api_answers_its_function_url_domain_only(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Lambda the valid host is the one AWS routed the request on (`requestContext.domainName`,
    the Function URL's), plus `allowed_hosts`; any other `Host` header is 421 (docs/api.md)."""
    from qps_core.api.lambda_api import build_handler

    _use_env(monkeypatch, _function_env(stack["outputs"]["ApiFunctionName"]))
    handler = build_handler()

    def call(host: str | None = None, **extra: str) -> dict[str, Any]:
        event = json.loads((ROOT / "tests" / "fixtures" / "api" / "function-url-request.json").read_text())
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/adapters"
        event["requestContext"]["http"]["method"] = "GET"
        event.pop("body")
        event["headers"].pop("content-type")
        if host is not None:
            event["headers"]["host"] = host
        event["headers"].update(extra)
        result: dict[str, Any] = handler(event, None)
        return result

    assert call()["statusCode"] == 200  # Host: <id>.lambda-url.<region>.on.aws, as AWS sends it
    refused = call("evil.example")
    assert refused["statusCode"] == 421 and json.loads(refused["body"])["type"] == "urn:qps:problem:host-not-allowed"
    monkeypatch.setenv("QPS_ALLOWED_HOSTS", "qps.example.org")  # a custom domain that forwards its Host
    handler = build_handler()
    assert call("qps.example.org")["statusCode"] == 200
