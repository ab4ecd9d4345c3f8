"""mapped adapter: user rules (JMESPath) that match events and build package requests (docs/design.md §3)."""

from __future__ import annotations

import pytest

from qps_core.event_files import read_events
from qps_core.plugins import load_adapters
from tests.helpers import EVENTS, MAPPED, ROOT, fresh_settings, only_request, plan, plan_one, runner

RULES = {"yaml": MAPPED / "rules.yaml", "toml": MAPPED / "rules.toml"}
EXAMPLE_RULES = ROOT / "examples" / "rules" / "manifest-json.yaml"


@pytest.fixture(params=sorted(RULES), ids=lambda p: f"rules.{p}")
def rules(request):
    return {"rules_file": RULES[request.param]}


def _manifest_request(folder: str) -> dict:
    return {
        "source_prefix": f"s3://bkt/path/to/folder/{folder}/",
        "registry": "bkt",
        "package_name": f"folder/{folder.replace(' ', '-')}",
        "metadata": None,
        "metadata_uri": None,
        "message": f"QPS: package s3://bkt/path/to/folder/{folder}/",
        "workflow": None,
        "should_copy": False,
    }


# The spec's custom-rule example, in both S3 shapes and through SQS and SNS.
MANIFEST_EVENTS = [
    ("mapped/s3eb-manifest-json.json", "run-0042", ()),
    ("mapped/s3n-manifest-json.json", "run-0043", ("s3",)),
    ("mapped/sqs-s3n-manifest-json.json", "run 0044", ("sqs", "s3")),  # key run+0044: form-encoded space
    ("mapped/sqs-sns-s3n-manifest-json.json", "run-0045", ("sqs", "sns", "s3")),
    ("mapped/sns-lambda-s3eb-manifest-json.json", "run-0046", ("sns",)),
]


@pytest.mark.parametrize("name, folder, via", MANIFEST_EVENTS, ids=[m[0].split("/")[1] for m in MANIFEST_EVENTS])
@pytest.mark.parametrize("only", [True, False], ids=["mapped-only", "all-adapters"])
def test_spec_custom_rule_packages_the_folder_of_a_new_manifest_json(rules, name, folder, via, only):
    settings = {**rules, "enable_adapters": ["mapped"]} if only else rules
    result = plan_one(name, **settings)
    assert (result.status, result.adapter, result.also_claimed_by) == ("planned", "mapped", [])
    assert result.event.via == via
    assert only_request(result) == _manifest_request(folder)


@pytest.mark.parametrize("name, folder, via", MANIFEST_EVENTS, ids=[m[0].split("/")[1] for m in MANIFEST_EVENTS])
def test_example_rules_file_behaves_the_same(name, folder, via):
    assert only_request(plan_one(name, rules_file=EXAMPLE_RULES)) == _manifest_request(folder)


@pytest.mark.parametrize(
    "name", ["mapped/s3eb-manifest-json-outside-prefix.json", "mapped/s3eb-manifest-json-deleted.json"]
)
def test_events_the_rule_does_not_match_are_ignored(rules, name):
    result = plan_one(name, **rules)
    assert (result.status, result.adapter) == ("ignored", None)


def test_without_rules_the_manifest_events_are_not_claimed():
    for name, _, _ in MANIFEST_EVENTS:
        assert plan_one(name).status == "ignored"


def test_rule_builds_a_description_with_metadata_from_the_event(rules):
    result = plan_one("mapped/ebc-lims-run-finished.json", **rules)
    assert result.adapter == "mapped"
    assert only_request(result) == {
        "source_prefix": "s3://quilt-example/lims/run-0917/",
        "registry": "quilt-packages",
        "package_name": "lims/run-0917",
        "metadata": {"run": "run-0917", "instrument": "NovaSeq X", "operator": "j.doe", "samples": 96},
        "metadata_uri": None,
        "message": "LIMS run run-0917 finished",
        "workflow": "alpha",
        "should_copy": True,
    }


def test_rule_output_is_validated_like_any_request_and_names_the_rule(rules):
    result = plan_one("mapped/ebc-lims-run-finished-bad-name.json", **rules)
    assert (result.status, result.adapter) == ("rejected", "mapped")
    assert result.error.startswith("rule 'lims-run-finished': ")
    assert "package_name" in result.error and "'lims/run 0918'" in result.error


def test_mapped_wins_a_conflict_with_rocrate(rules):
    result = plan_one("mapped/s3eb-crate-in-bkt.json", **rules)
    assert (result.status, result.adapter) == ("planned", "mapped")
    assert result.also_claimed_by == ["rocrate"]
    assert only_request(result) == {
        "source_prefix": "s3://bkt/crates/run-0044/",
        "registry": "quilt-packages",
        "package_name": "crates/run-0044",
        "metadata": None,
        "metadata_uri": None,
        "message": "QPS: package s3://bkt/crates/run-0044/",
        "workflow": None,
        "should_copy": False,
    }
    # Without the rule, rocrate alone packages it into its own bucket.
    alone = plan_one("mapped/s3eb-crate-in-bkt.json")
    assert (alone.adapter, alone.requests[0].registry) == ("rocrate", "bkt")


def test_rules_do_not_change_events_they_do_not_match(rules):
    with_rules, without = runner(**rules), runner()
    for label, event in read_events([EVENTS]):
        a, b = with_rules.plan_event(event).as_dict(), without.plan_event(event).as_dict()
        assert a == b, label


def test_rules_load_at_startup_and_report_no_error(rules):
    adapters = load_adapters(fresh_settings(**rules))
    info = adapters.infos["mapped"]
    assert (info.loaded, info.error) == (True, None)
    assert adapters.order[0] == "mapped"  # tryfirst: consulted before every other adapter


def test_broken_expression_fails_at_load_naming_the_rule_and_others_still_work():
    settings = fresh_settings(rules_file=MAPPED / "broken-rules.yaml")
    adapters = load_adapters(settings)
    info = adapters.infos["mapped"]
    assert info.loaded is False
    assert info.error.startswith("rule 'broken-match': invalid match expression: ")
    assert "\n" not in info.error
    # The parse error itself, with the offending expression.
    assert "Incomplete expression" in info.error
    assert "starts_with(s3.key, 'path/to/folder/'" in info.error
    assert "mapped" not in adapters.order
    assert any("broken-match" in e for e in adapters.errors())
    # Every other adapter keeps working.
    for name, adapter in [
        ("s3eb-rocrate-metadata-depth2.json", "rocrate"),
        ("omics-run-completed-doc-fields.json", "omics"),
        ("sqs-uri-query.json", "uri"),
        ("ebc-package-objects-ready-edp.json", "edp"),
        ("sqs-package-description-full.json", "description"),
    ]:
        result = plan_one(name, rules_file=MAPPED / "broken-rules.yaml")
        assert (result.status, result.adapter) == ("planned", adapter), name
        assert result.adapter_errors == []


def test_broken_request_expression_names_the_rule_and_the_field(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        (MAPPED / "rules.yaml")
        .read_text(encoding="utf-8")
        .replace("package_name: join('/', ['lims', detail.runId])", "package_name: join('/', ['lims', detail.runId]"),
        encoding="utf-8",
    )
    info = load_adapters(fresh_settings(rules_file=path)).infos["mapped"]
    assert info.loaded is False
    assert info.error.startswith("rule 'lims-run-finished': invalid package_name expression: ")


def test_missing_rules_file_is_a_load_error():
    adapters = load_adapters(fresh_settings(rules_file=MAPPED / "no-such-rules.yaml"))
    assert adapters.infos["mapped"].error and "no-such-rules.yaml" in adapters.infos["mapped"].error
    assert plan_one("s3eb-rocrate-metadata-depth2.json", rules_file=MAPPED / "no-such-rules.yaml").adapter == "rocrate"


def test_mapped_without_rules_claims_nothing():
    result = plan_one("mapped/ebc-lims-run-finished.json", enable_adapters=["mapped"])
    assert (result.status, result.adapter) == ("ignored", None)


def test_all_manifest_events_in_one_input_keep_their_order(rules):
    results = [plan_one(name, **rules) for name, _, _ in MANIFEST_EVENTS]
    assert [r.requests[0].package_name for r in results] == [
        "folder/run-0042",
        "folder/run-0043",
        "folder/run-0044",
        "folder/run-0045",
        "folder/run-0046",
    ]
    assert [len(plan(name, **rules)) for name, _, _ in MANIFEST_EVENTS] == [1] * 5
