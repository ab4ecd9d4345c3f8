"""deploy/template.yaml: cfn-lint clean, the wiring the runtime relies on, and a deployment on moto."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.moto_function_url  # noqa: F401  (AWS::Lambda::Url on moto's CloudFormation)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "template.yaml"
READY_TYPES = {"package-objects-ready", "package-object-request"}
SENTINELS = ("ro-crate-metadata.json", "ro-crate-manifest.json")


class _CfnLoader(yaml.SafeLoader):
    """PyYAML that reads CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) as long form."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _refs(node: Any) -> set[str]:
    """Every parameter or resource a node refers to through Ref, GetAtt or ${...} in Sub (no AWS:: pseudo names)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(part.split("}", 1)[0].split(".")[0] for part in text.split("${")[1:])
            found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return {name for name in found if not name.startswith("AWS::")}


def _rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rules that match events (the reconcile schedule rule matches none: it runs on a clock)."""
    return {n: r for n, r in _resources(template, "AWS::Events::Rule").items() if "EventPattern" in r["Properties"]}


def _rule_where(template: dict[str, Any], predicate: Any) -> tuple[str, dict[str, Any]]:
    matches = [(name, r) for name, r in _rules(template).items() if predicate(r["Properties"]["EventPattern"])]
    assert len(matches) == 1, f"expected one matching rule, found {[name for name, _ in matches]}"
    return matches[0]


def _condition_parameters(template: dict[str, Any], condition: str) -> set[str]:
    return _refs(template["Conditions"][condition])


@pytest.mark.slow
def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    if not cfn_lint.exists():
        pytest.fail(f"cfn-lint is not installed beside {sys.executable} (pip install cfn-lint)")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"cfn-lint found problems:\n{result.stdout}{result.stderr}"


def test_queue_dlq_and_redrive(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["QueueName"]["Default"] == "QuiltPackager"
    assert params["MaxReceiveCount"]["Default"] == 5
    queue = template["Resources"]["Queue"]["Properties"]
    assert queue["QueueName"] == {"Ref": "QueueName"}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert template["Resources"]["DeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    # visibility timeout >= 6x the function timeout (AWS's advice for SQS event sources), for every choice
    visibility = {"Fn::FindInMap": ["VisibilityTimeouts", {"Ref": "FunctionTimeout"}, "Seconds"]}
    assert queue["VisibilityTimeout"] == visibility
    timeouts = params["FunctionTimeout"]["AllowedValues"]
    mapping = template["Mappings"]["VisibilityTimeouts"]
    assert set(timeouts) == set(mapping)
    for timeout in timeouts:
        assert mapping[timeout]["Seconds"] >= 6 * int(timeout)


def test_function_and_event_source_mapping(template: dict[str, Any]) -> None:
    function = template["Resources"]["Function"]["Properties"]
    assert function["Handler"] == "qps_core.lambda_handler.handler"
    assert function["Runtime"] in {"python3.11", "python3.12"}
    assert function["Timeout"] == {"Ref": "FunctionTimeout"}
    assert function["Code"]["S3Bucket"] == {"Ref": "CodeBucket"}
    assert function["Code"]["S3Key"] == {"Ref": "CodeKey"}
    env = function["Environment"]["Variables"]
    assert env["QPS_DEAD_LETTER_QUEUE_URL"] == {"Ref": "DeadLetterQueue"}
    assert env["QPS_EVENT_BUS_NAME"] == "default"
    assert env["QPS_NOTICE_TOPIC_ARN"] == {"Ref": "NoticeTopic"}
    assert _refs(env["QPS_ALLOWED_REGISTRIES"]) == {"Buckets"}
    assert _refs(env["QPS_ALLOWED_SOURCES"]) == {"Buckets"}
    assert _refs(env["QPS_QUIET_PERIOD_SECONDS"]) == {"QuietPeriodSeconds"}
    assert env["QPS_DISABLE_ADAPTERS"] == {"Ref": "DisableAdapters"}

    (mapping,) = _resources(template, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["FunctionName"] == {"Ref": "Function"}
    assert props["BatchSize"] == {"Ref": "BatchSize"}
    assert template["Resources"]["NoticeTopic"]["Type"] == "AWS::SNS::Topic"


def test_rules_feed_the_queue(template: dict[str, Any]) -> None:
    rules = _rules(template)
    assert len(rules) == 3
    for name, rule in rules.items():
        props = rule["Properties"]
        assert props.get("EventBusName", "default") == "default", name
        assert [t["Arn"] for t in props["Targets"]] == [{"Fn::GetAtt": ["Queue", "Arn"]}], name


def test_ready_rule_is_scoped_to_the_buckets(template: dict[str, Any]) -> None:
    _, rule = _rule_where(template, lambda p: set(p.get("detail-type", [])) == READY_TYPES)
    pattern = rule["Properties"]["EventPattern"]
    assert "Condition" not in rule
    alternatives = pattern["detail"]["$or"]
    fields = {key for alt in alternatives for key in alt}
    assert fields == {"source_prefix", "uri", "bucket"}
    for alt in alternatives:
        assert "Buckets" in _refs(alt), alt


def test_omics_rule_switched_by_parameter(template: dict[str, Any]) -> None:
    _, rule = _rule_where(template, lambda p: p.get("source") == ["aws.omics"])
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Run Status Change"]
    assert pattern["detail"]["status"] == ["COMPLETED"]
    # AWS's documented event has no runOutputUri: it must reach QPS (the folder comes from GetRun, and
    # the allow-lists refuse it there unless it is in the stack's buckets); one that has it is scoped here.
    without, within = pattern["detail"]["$or"]
    assert without == {"runOutputUri": [{"exists": False}]}
    assert list(within) == ["runOutputUri"] and "Buckets" in _refs(within["runOutputUri"])
    assert "Condition" not in rule  # always there: the admin page switches it
    state = rule["Properties"]["State"]["Fn::If"]
    assert state[1:] == ["ENABLED", "DISABLED"]
    assert _condition_parameters(template, state[0]) == {"EnableOmics"}
    assert template["Parameters"]["EnableOmics"]["AllowedValues"] == ["true", "false"]


def test_rocrate_rule_switched_by_parameter(template: dict[str, Any]) -> None:
    _, rule = _rule_where(template, lambda p: p.get("source") == ["aws.s3"])
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == {"Ref": "Buckets"}
    keys = pattern["detail"]["object"]["key"]
    for sentinel in SENTINELS:
        assert sentinel in keys  # at the bucket root
        assert {"suffix": f"/{sentinel}"} in keys  # in a folder; x-ro-crate-metadata.json does not match
    assert "Condition" not in rule  # always there: the admin page switches it
    state = rule["Properties"]["State"]["Fn::If"]
    assert state[1:] == ["ENABLED", "DISABLED"]
    assert _condition_parameters(template, state[0]) == {"EnableRoCrate"}
    assert template["Parameters"]["EnableRoCrate"]["AllowedValues"] == ["true", "false"]


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"]["FunctionRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [s for value in values for s in _strings(value)]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def test_iam_least_privilege(template: dict[str, Any]) -> None:
    statements = _statements(template)
    granted: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "*" not in _strings(statement["Resource"]), statement
        for action in _actions(statement):
            assert "*" not in action, action
            granted.setdefault(action, []).append(statement)
            if action.startswith("s3:"):
                assert "Buckets" in _refs(statement["Resource"]), statement
    for action in (
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAttributes",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:GetBucketVersioning",
        "s3:PutObject",
    ):
        assert action in granted, action
    # DeleteObject only on the scratch prefix where S3 computes checksums (docs/design.md §9)
    (delete,) = granted["s3:DeleteObject"]
    assert all("/.quilt/qps-scratch/*" in part for part in _strings(delete["Resource"]) if "${Names}" in part)
    assert "s3:AbortMultipartUpload" in granted and "s3:DeleteObjectVersion" in granted
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"):
        assert any(s["Resource"] == {"Fn::GetAtt": ["Queue", "Arn"]} for s in granted[action]), action
    assert [s["Resource"] for s in granted["sqs:SendMessage"]] == [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}]
    assert [s["Resource"] for s in granted["sns:Publish"]] == [{"Ref": "NoticeTopic"}]
    (put_events,) = granted["events:PutEvents"]
    assert put_events["Resource"]["Fn::Sub"].endswith(":event-bus/default")
    assert "logs:PutLogEvents" in granted


def test_queue_policy_lets_only_the_rules_send(template: dict[str, Any]) -> None:
    (policy,) = _resources(template, "AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert _refs(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == set(_rules(template))


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for name in ("QueueUrl", "QueueArn", "DeadLetterQueueUrl", "NoticeTopicArn", "FunctionName"):
        assert name in outputs, name
    assert outputs["QueueUrl"]["Value"] == {"Ref": "Queue"}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": "DeadLetterQueue"}
    assert outputs["NoticeTopicArn"]["Value"] == {"Ref": "NoticeTopic"}


# -- the template deployed on moto: the Fn::Split/Fn::Select bucket slots evaluate, the rules route ------------------


def _event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, str]:
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}


def _s3_created(bucket: str, key: str) -> dict[str, str]:
    return _event("aws.s3", "Object Created", {"bucket": {"name": bucket}, "object": {"key": key}})


@pytest.mark.slow  # end to end: deploys the stack on moto
def test_deploys_on_moto_and_routes_only_this_stacks_events(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    with moto.mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto skips AWS::SQS::QueuePolicy, and says so
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="qps-code")
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as zf:
            zf.writestr("qps_core/__init__.py", "")
        s3.put_object(Bucket="qps-code", Key="qps-lambda.zip", Body=bundle.getvalue())

        cfn = boto3.client("cloudformation")
        params = {
            "CodeBucket": "qps-code",
            "CodeKey": "qps-lambda.zip",
            "Buckets": "data-a,data-b",
            "EnableOmics": "true",
            "EnableRoCrate": "true",
            # moto would run the function in Docker for each message: keep them in the queue
            "EnableProcessing": "false",
        }
        cfn.create_stack(
            StackName="qps",
            TemplateBody=TEMPLATE.read_text(),
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        )
        (stack,) = cfn.describe_stacks(StackName="qps")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert outputs["QueueUrl"] == "https://sqs.us-east-1.amazonaws.com/123456789012/QuiltPackager"
        assert outputs["DeadLetterQueueUrl"].endswith("/QuiltPackager-DLQ")
        assert outputs["NoticeTopicArn"].startswith("arn:aws:sns:")

        sqs = boto3.client("sqs")
        attrs = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["All"])["Attributes"]
        assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].endswith(":QuiltPackager-DLQ")
        assert int(attrs["VisibilityTimeout"]) == 1800

        env = boto3.client("lambda").get_function_configuration(FunctionName=outputs["FunctionName"])
        assert env["Environment"]["Variables"]["QPS_ALLOWED_REGISTRIES"] == "data-a,data-b"
        assert env["Environment"]["Variables"]["QPS_ALLOWED_SOURCES"] == "data-a,data-b"
        assert env["Environment"]["Variables"]["QPS_DEAD_LETTER_QUEUE_URL"] == outputs["DeadLetterQueueUrl"]

        iam = boto3.client("iam")

        def s3_resources(function_name: str) -> set[str]:
            role_name = boto3.client("lambda").get_function_configuration(FunctionName=function_name)["Role"]
            role_name = role_name.rsplit("/", 1)[-1]
            (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
            document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
            if isinstance(document, str):  # moto returns a CloudFormation-made inline policy as a Python repr
                document = ast.literal_eval(document)
            return {
                r
                for s in document["Statement"]
                if any(a.startswith("s3:") for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
                for r in s["Resource"]
            }

        assert s3_resources(outputs["FunctionName"]) == {
            "arn:aws:s3:::data-a",
            "arn:aws:s3:::data-b",
            "arn:aws:s3:::data-a/*",
            "arn:aws:s3:::data-b/*",
            "arn:aws:s3:::data-a/.quilt/qps-scratch/*",  # the packager's scratch uploads (checksums)
            "arn:aws:s3:::data-b/.quilt/qps-scratch/*",
        }
        # the API reads manifests only (package reads), never the data
        assert s3_resources(outputs["ApiFunctionName"]) == {
            "arn:aws:s3:::data-a",
            "arn:aws:s3:::data-b",
            "arn:aws:s3:::data-a/.quilt/*",
            "arn:aws:s3:::data-b/.quilt/*",
        }
        assert outputs["ApiUrl"].startswith("https://") and ".lambda-url." in outputs["ApiUrl"]
        assert outputs["JobsTable"] == "QuiltPackager-jobs"

        wanted = [
            _event("test", "package-objects-ready", {"uri": "s3://data-a/runs/1?k=v"}),
            _event("test", "package-object-request", {"source_prefix": "s3://data-b/x/y", "package_name": "a/b"}),
            _event("com.quiltdata.edp", "package-objects-ready", {"version": "0.1", "bucket": "data-b", "prefix": "p"}),
            _event("aws.omics", "Run Status Change", {"status": "COMPLETED", "runOutputUri": "s3://data-a/omics/7"}),
            _s3_created("data-a", f"a/b/{SENTINELS[0]}"),
            _s3_created("data-b", SENTINELS[1]),
        ]
        unwanted = [
            _event("test", "package-objects-ready", {"uri": "s3://other-stack/runs/1"}),
            _event("test", "package-objects-ready", {"uri": "s3://data-a-not/runs/1"}),
            _event("aws.omics", "Run Status Change", {"status": "RUNNING", "runOutputUri": "s3://data-a/omics/7"}),
            _event("aws.omics", "Run Status Change", {"status": "COMPLETED", "runOutputUri": "s3://elsewhere/o/7"}),
            _s3_created("data-a", "a/x-ro-crate-metadata.json"),
            _s3_created("data-a", "a/ro-crate-metadata.json.tmp"),
            _s3_created("elsewhere", SENTINELS[0]),
        ]
        events = boto3.client("events")
        for batch_of_entries in (wanted, unwanted):  # at most 10 entries per call
            assert events.put_events(Entries=batch_of_entries)["FailedEntryCount"] == 0

        delivered = []
        while batch := sqs.receive_message(QueueUrl=outputs["QueueUrl"], MaxNumberOfMessages=10).get("Messages"):
            delivered += [json.loads(m["Body"]) for m in batch]
        got = sorted(json.dumps([e["detail-type"], e["detail"]], sort_keys=True) for e in delivered)
        expected = sorted(json.dumps([e["DetailType"], json.loads(e["Detail"])], sort_keys=True) for e in wanted)
        assert got == expected


@pytest.mark.slow
def test_toggles_off_create_disabled_omics_and_rocrate_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boto3.client("s3").create_bucket(Bucket="code")
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as zf:
            zf.writestr("x.py", "")
        boto3.client("s3").put_object(Bucket="code", Key="b.zip", Body=bundle.getvalue())
        params = {
            "CodeBucket": "code",
            "CodeKey": "b.zip",
            "Buckets": "only-bucket",
            "QueueName": "OtherPackager",
            "EnableProcessing": "false",
        }
        cfn = boto3.client("cloudformation")
        cfn.create_stack(
            StackName="qps2",
            TemplateBody=TEMPLATE.read_text(),
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        )
        summaries = cfn.list_stack_resources(StackName="qps2")["StackResourceSummaries"]
        resources = {r["LogicalResourceId"] for r in summaries}
        assert {"PackageObjectsReadyRule", "OmicsRule", "RoCrateRule"} <= resources  # the rules always exist
        events = boto3.client("events")
        rules = {r["Name"]: r for r in events.list_rules()["Rules"]}
        outputs = {
            o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="qps2")["Stacks"][0]["Outputs"]
        }
        # toggles off: the HealthOmics and RO-Crate rules start DISABLED
        assert rules[outputs["OmicsRuleName"]]["State"] == "DISABLED"
        assert rules[outputs["RoCrateRuleName"]]["State"] == "DISABLED"
        (rule,) = [r for name, r in rules.items() if name not in (outputs["OmicsRuleName"], outputs["RoCrateRuleName"])]
        assert rule["State"] == "ENABLED"
        pattern = json.loads(rule["EventPattern"])
        prefixes = [p for p in pattern["detail"]["$or"][0]["source_prefix"] if p]
        assert prefixes == [{"prefix": "s3://only-bucket/"}]


# -- the REST API: jobs table, API function, Function URL, least privilege -----------------------------------------


def _role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = template["Resources"][role]["Properties"]
    return [s for policy in props["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def test_jobs_table_is_on_demand_with_ttl_and_the_listing_index(template: dict[str, Any]) -> None:
    from qps_core.jobs.dynamodb import INDEX, table_definition

    table = template["Resources"]["JobsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    wanted = table_definition("x")  # what the store expects (and the conformance suite creates)
    assert table["KeySchema"] == wanted["KeySchema"]
    assert sorted(map(str, table["AttributeDefinitions"])) == sorted(map(str, wanted["AttributeDefinitions"]))
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == INDEX and index["KeySchema"] == wanted["GlobalSecondaryIndexes"][0]["KeySchema"]
    env = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert env["QPS_JOBS_TABLE"] == {"Ref": "JobsTable"}  # the queue's function records its jobs
    assert _refs(env["QPS_JOB_MAX_ATTEMPTS"]) == {"MaxReceiveCount"}


def test_api_function_behind_a_function_url_iam_by_default(template: dict[str, Any]) -> None:
    api = template["Resources"]["ApiFunction"]["Properties"]
    packager = template["Resources"]["Function"]["Properties"]
    assert api["Handler"] == "qps_core.api.lambda_api.handler"
    assert api["Code"] == packager["Code"]  # the same bundle
    assert api["Role"] == {"Fn::GetAtt": ["ApiRole", "Arn"]}
    env = api["Environment"]["Variables"]
    assert env["QPS_JOBS_TABLE"] == {"Ref": "JobsTable"} and env["QPS_QUEUE_URL"] == {"Ref": "Queue"}
    assert _refs(env["QPS_ALLOWED_REGISTRIES"]) == {"Buckets"}
    url = template["Resources"]["ApiFunctionUrl"]["Properties"]
    assert url["TargetFunctionArn"] == {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    assert url["AuthType"] == {"Fn::If": ["ApiTokenAuth", "NONE", "AWS_IAM"]}
    assert template["Parameters"]["ApiAuth"]["Default"] == "IAM"
    assert template["Conditions"]["ApiTokenAuth"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "TOKEN"]}
    # token auth only with a token hash: a template rule refuses an open URL
    (rule,) = template["Rules"].values()
    assert _refs(rule["Assertions"]) == {"ApiTokens", "AdminTokens"}
    public = template["Resources"]["ApiFunctionUrlPublicAccess"]
    assert public["Condition"] == "ApiTokenAuth" and public["Properties"]["FunctionUrlAuthType"] == "NONE"


def test_api_role_least_privilege(template: dict[str, Any]) -> None:
    granted: dict[str, list[Any]] = {}
    for statement in _role_statements(template, "ApiRole"):
        assert statement["Effect"] == "Allow"
        if statement["Action"] != "omics:ListRuns":  # ListRuns has no resource-level permissions
            assert "*" not in _strings(statement["Resource"]), statement
        for action in _actions(statement):
            granted.setdefault(action, []).append(statement)
    assert [s["Resource"] for s in granted["sqs:SendMessage"]] == [{"Fn::GetAtt": ["Queue", "Arn"]}]
    # the admin page's dead letters: only on the DLQ, plus the queue's depth
    dead_letters = {a for a in granted if a.startswith("sqs:") and a != "sqs:SendMessage"}
    assert dead_letters == {
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:StartMessageMoveTask",
        "sqs:ListMessageMoveTasks",
    }
    for action in dead_letters - {"sqs:GetQueueAttributes"}:
        assert [s["Resource"] for s in granted[action]] == [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}], action
    assert sorted(str(s["Resource"]) for s in granted["sqs:GetQueueAttributes"]) == sorted(
        str({"Fn::GetAtt": [q, "Arn"]}) for q in ("DeadLetterQueue", "Queue")
    )
    assert sorted(a for a in granted if a.startswith("s3:")) == ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"]
    for action in ("s3:GetObject", "s3:GetObjectVersion"):
        (statement,) = granted[action]
        assert all(s.endswith("/.quilt/*") or "/.quilt/*," in s for s in _strings(statement["Resource"]) if "s3" in s)
    crates, listing = granted["s3:ListBucket"]  # POST /v1/reconcile rocrate lists key names; reads stay .quilt/
    assert crates["Sid"] == "ReconcileListCrates" and "Condition" not in crates
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [".quilt/*"]}}
    assert [s["Resource"] for s in granted["omics:ListRuns"]] == ["*"]
    assert not [a for a in granted if a.startswith("omics:") and a != "omics:ListRuns"]
    assert not [a for a in granted if a.startswith(("s3:Put", "s3:Delete", "dynamodb:Scan", "dynamodb:DeleteTable"))]
    jobs = {a for a in granted if a.startswith("dynamodb:")}
    assert jobs == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:DescribeTable",
    }
    queue_fn = {a for s in _role_statements(template, "FunctionRole") for a in _actions(s) if a.startswith("dynamodb:")}
    assert queue_fn == {"dynamodb:GetItem", "dynamodb:PutItem"}


def test_api_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": ["ApiFunctionUrl", "FunctionUrl"]}
    assert outputs["JobsTable"]["Value"] == {"Ref": "JobsTable"}


def test_healthomics_permissions_go_to_the_functions_that_call_them(template: dict[str, Any]) -> None:
    def omics_actions(role: str) -> dict[str, Any]:
        return {
            a: s["Resource"] for s in _role_statements(template, role) for a in _actions(s) if a.startswith("omics:")
        }

    # the queue function reads a run when packaging it; only the sweeps list runs
    assert omics_actions("FunctionRole") == {
        "omics:GetRun": {"Fn::Sub": "arn:${AWS::Partition}:omics:${AWS::Region}:${AWS::AccountId}:run/*"}
    }
    assert omics_actions("ApiRole") == {"omics:ListRuns": "*"}
    assert omics_actions("ReconcileRole") == {"omics:ListRuns": "*"}


def test_reconcile_schedule_is_off_by_default_and_least_privilege(template: dict[str, Any]) -> None:
    assert template["Parameters"]["ReconcileSchedule"]["Default"] == ""
    assert _condition_parameters(template, "HasReconcileSchedule") == {"ReconcileSchedule"}
    scheduled = {n for n, r in template["Resources"].items() if n.startswith("Reconcile")}
    assert scheduled == {
        "ReconcileLogGroup",
        "ReconcileRole",
        "ReconcileFunction",
        "ReconcileScheduleRule",
        "ReconcileSchedulePermission",
    }
    assert {template["Resources"][n].get("Condition") for n in scheduled} == {"HasReconcileSchedule"}
    function = template["Resources"]["ReconcileFunction"]["Properties"]
    assert function["Handler"] == "qps_core.reconcile_lambda.handler" and function["Timeout"] == 900
    rule = template["Resources"]["ReconcileScheduleRule"]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}
    # the input, rendered for two buckets, is the sweeps the handler runs
    parts = rule["Targets"][0]["Input"]["Fn::Join"][1]
    buckets = ["data-a", "data-b"]
    rendered = "".join(
        p if isinstance(p, str) else "2d" if p == {"Ref": "ReconcileSince"} else p["Fn::Join"][0].join(buckets)
        for p in parts
    )
    assert json.loads(rendered) == {
        "sweeps": [
            {"source": "omics", "since": "2d"},
            {"source": "rocrate", "prefix": "s3://data-a/"},
            {"source": "rocrate", "prefix": "s3://data-b/"},
        ]
    }
    granted = {a: s for s in _role_statements(template, "ReconcileRole") for a in _actions(s)}
    assert set(granted) == {
        "omics:ListRuns",
        "s3:ListBucket",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "sqs:SendMessage",
        "lambda:InvokeFunction",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert granted["sqs:SendMessage"]["Resource"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert granted["lambda:InvokeFunction"]["Resource"]["Fn::Sub"].endswith(":function:${QueueName}-reconcile")
