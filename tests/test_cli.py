"""The real `qps` console script, run in subprocesses with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

QPS = Path(sys.executable).parent / "qps"
FIRST_PARTY = {"omics", "rocrate", "uri", "edp", "description", "mapped"}

GOOD_BODY = {"source_prefix": "s3://bkt/results/run.1/", "metadata": {"k": "v"}}
URI_BODY = {"uri": "s3://bkt/x/y?a=1&a=2"}
BAD_BODY = {"source_prefix": "s3://BAD_BUCKET/x"}
OMICS_RUNNING = {
    "version": "0",
    "id": "1",
    "source": "aws.omics",
    "detail-type": "Run Status Change",
    "account": "123456789012",
    "time": "2025-03-14T12:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"runId": "1", "status": "RUNNING", "runOutputUri": "s3://bkt/omics/1"},
}
CRATE_CREATED = {
    "version": "0",
    "id": "1e8938f6-3f3a-4a46-9e7a-6d4d6898e4b7",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2025-03-14T09:41:07Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::bkt"],
    "detail": {
        "version": "0",
        "bucket": {"name": "bkt"},
        "object": {"key": "runs/run-9/ro-crate-metadata.json", "size": 2453, "etag": "19319a9557b5fc67"},
        "request-id": "0I9LZQMOAKBVFR68",
        "requester": "123456789012",
        "reason": "PutObject",
    },
}
EDP = {
    "version": "0",
    "id": "2",
    "source": "com.quiltdata.edp",
    "detail-type": "package-objects-ready",
    "detail": {"version": "1", "bucket": "bkt", "prefix": "a/b/"},
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")}
    env.update(extra)
    return env


def json_lines(stdout: str) -> list[dict[str, Any]]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


class Runs:
    """Subprocesses started together (each `qps` start costs about a second); results on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._done: dict[str, subprocess.CompletedProcess[str]] = {}

    def start(self, name: str, *args: str | Path, cmd: list[str] | None = None, **env: str) -> None:
        argv = cmd or [str(QPS), *map(str, args)]
        self._procs[name] = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(**env),
        )

    def __getitem__(self, name: str) -> subprocess.CompletedProcess[str]:
        if name not in self._done:
            proc = self._procs[name]
            out, err = proc.communicate(timeout=120)
            self._done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        return self._done[name]

    def close(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


HEAVY_CHECK = """\
import sys
from qps_core.cli import main
try:
    main(['plan', '--json', {events!r}])
except SystemExit:
    pass
sys.stdout.flush()
print('HEAVY=' + repr([m for m in sys.modules if m.split('.')[0] in ('quilt3', 'boto3', 'botocore')]))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    events = root / "events"
    write(events / "a_good.json", GOOD_BODY)
    write(events / "b_batch.json", [URI_BODY, BAD_BODY, OMICS_RUNNING])
    write(events / "sub" / "c_edp.json", EDP)
    (events / "notes.txt").write_text("not an event")
    good = root / "good"
    write(good / "one.json", GOOD_BODY)
    write(good / "two.json", URI_BODY)
    omics = write(root / "single" / "omics.json", OMICS_RUNNING)
    broken = root / "broken.json"
    broken.write_bytes(b'{"a": NaN}')
    first = write(root / "several" / "z.json", GOOD_BODY)
    second = write(root / "several" / "a.json", URI_BODY)
    edp = write(root / "edp" / "edp.json", EDP)
    suffix_config = root / "qps.toml"
    suffix_config.write_text('default_suffix = "top"\n')
    bad_config = root / "bad.toml"
    bad_config.write_text("x = [\n")
    bad_rules = root / "rules.yaml"
    bad_rules.write_text("rules: [\n")
    overlap_rules = root / "overlap.yaml"
    overlap_rules.write_text(
        "rules:\n  - name: crates\n    match: s3.created && ends_with(s3.key, 'ro-crate-metadata.json')\n"
        "    request:\n      source_prefix: s3_uri(s3.bucket, dirname(s3.key))\n"
        "      registry: \"'crate-packages'\"\n"
    )
    crate = write(root / "crate" / "crate.json", CRATE_CREATED)
    (root / "no-json").mkdir()
    (root / "no-json" / "x.JSON.txt").write_text("{}")
    empty_batch = write(root / "empty" / "empty.json", [])

    r = Runs(root)
    r.paths = {  # type: ignore[attr-defined]
        "events": events,
        "good": good,
        "omics": omics,
        "broken": broken,
        "first": first,
        "second": second,
        "missing": root / "no-such-events",
    }
    r.start("plan_json", "plan", "--json", events)
    r.start("plan_good", "plan", "--json", good)
    r.start("plan_omics", "plan", "--json", omics)
    r.start("plan_broken", "plan", "--json", broken)
    r.start("plan_several", "plan", "--json", first, second)
    r.start("plan_table", "plan", events)
    r.start("adapters_json", "adapters", "--json")
    r.start("adapters_json_no_omics", "adapters", "--json", QPS_DISABLE_ADAPTERS="omics")
    r.start("adapters_table_no_edp", "adapters", QPS_DISABLE_ADAPTERS="edp")
    r.start("plan_edp_disabled", "plan", "--json", edp, QPS_DISABLE_ADAPTERS="edp")
    r.start("settings_json", "settings", "--json", QPS_DEFAULT_PREFIX="pkg", QPS_DISABLE_ADAPTERS="omics,edp")
    r.start("settings_table", "settings", "--config", suffix_config)
    r.start("missing", "plan", root / "no-such-events")
    r.start("bad_config_plan", "plan", good, "--config", bad_config)
    r.start("bad_config_settings", "settings", QPS_CONFIG=str(bad_config))
    r.start("bad_setting", "plan", good, QPS_MAX_METADATA_BYTES="lots")
    r.start("bad_rules_plan", "plan", "--json", good, QPS_RULES_FILE=str(bad_rules))
    r.start("bad_rules_adapters", "adapters", "--json", QPS_RULES_FILE=str(bad_rules))
    r.start("plan_overlap", "plan", "--json", crate, QPS_RULES_FILE=str(overlap_rules))
    r.start("plan_overlap_table", "plan", crate, QPS_RULES_FILE=str(overlap_rules))
    r.start("plan_no_json", "plan", root / "no-json")
    r.start("plan_empty_batch", "plan", "--json", empty_batch)
    r.start("usage_missing_paths", "plan")
    r.start("usage_bad_option", "replay", "--bogus", good)
    r.start("usage_bad_value", "worker", "--queue-url", "http://127.0.0.1:9/1/q", "--batch-size", "50")
    r.start("no_args")
    r.start("heavy", cmd=[sys.executable, "-c", HEAVY_CHECK.format(events=str(events))])
    yield r
    r.close()


# -- qps plan --json ------------------------------------------------------------------------


def test_plan_json_one_object_per_line(runs):
    events = runs.paths["events"]
    result = runs["plan_json"]
    rows = json_lines(result.stdout)
    assert [r["input"] for r in rows] == [
        str(events / "a_good.json"),
        f"{events / 'b_batch.json'}#0",
        f"{events / 'b_batch.json'}#1",
        f"{events / 'b_batch.json'}#2",
        str(events / "sub" / "c_edp.json"),
    ]
    assert len(result.stdout.strip().splitlines()) == 5


def test_plan_json_keys(runs):
    for row in json_lines(runs["plan_json"].stdout):
        expected = {"input", "status", "adapter", "packages"}
        expected |= {"ignored": {"reason"}, "rejected": {"error"}, "planned": set()}[row["status"]]
        if "also_claimed_by" in row:
            expected.add("also_claimed_by")
            assert row["also_claimed_by"] and all(isinstance(a, str) for a in row["also_claimed_by"])
        assert set(row) == expected, row


def test_plan_json_statuses_and_adapters(runs):
    rows = json_lines(runs["plan_json"].stdout)
    assert [r["status"] for r in rows] == ["planned", "planned", "rejected", "ignored", "planned"]
    assert [r["adapter"] for r in rows] == ["description", "uri", "description", "omics", "edp"]


def test_plan_json_packages(runs):
    good, uri, bad, ignored, edp = json_lines(runs["plan_json"].stdout)
    (package,) = good["packages"]
    assert package["source_prefix"] == "s3://bkt/results/run.1/"
    assert package["registry"] == "bkt"
    assert package["package_name"] == "results/run-1"
    assert package["metadata"] == {"k": "v"}
    assert package["should_copy"] is False
    assert isinstance(package["message"], str) and package["message"]
    assert uri["packages"][0]["metadata"] == {"a": ["1", "2"]}
    assert bad["packages"] == [] and ignored["packages"] == []
    assert edp["packages"][0]["source_prefix"] == "s3://bkt/a/b/"


def test_plan_json_rejection_error_is_one_line(runs):
    rejected = json_lines(runs["plan_json"].stdout)[2]
    assert "source_prefix" in rejected["error"] and "\n" not in rejected["error"]


def test_plan_json_also_claimed_by(runs):
    [crate] = json_lines(runs["plan_overlap"].stdout)
    assert (crate["status"], crate["adapter"], crate["also_claimed_by"]) == ("planned", "mapped", ["rocrate"])
    assert [p["registry"] for p in crate["packages"]] == ["crate-packages"]
    # description's rejection of an EDP detail is a fallback's, not a competing claim
    edp = json_lines(runs["plan_json"].stdout)[4]
    assert edp["adapter"] == "edp" and "also_claimed_by" not in edp


def test_plan_exit_1_when_anything_rejected(runs):
    assert runs["plan_json"].returncode == 1
    assert "Traceback" not in runs["plan_json"].stderr


def test_plan_exit_0_when_nothing_rejected(runs):
    result = runs["plan_good"]
    assert result.returncode == 0, result.stderr
    rows = json_lines(result.stdout)
    assert [r["status"] for r in rows] == ["planned", "planned"]
    assert all("#" not in r["input"] for r in rows)


def test_plan_single_file_and_ignored_only_exit_0(runs):
    result = runs["plan_omics"]
    assert result.returncode == 0
    (row,) = json_lines(result.stdout)
    assert row["input"] == str(runs.paths["omics"]) and row["status"] == "ignored" and row["reason"]


def test_plan_invalid_json_file_is_a_rejected_row(runs):
    result = runs["plan_broken"]
    assert result.returncode == 1
    (row,) = json_lines(result.stdout)
    assert row["status"] == "rejected" and "NaN" in row["error"] and row["adapter"] is None
    assert row["input"] == str(runs.paths["broken"])


def test_plan_several_paths_in_order(runs):
    rows = json_lines(runs["plan_several"].stdout)
    assert [r["input"] for r in rows] == [str(runs.paths["first"]), str(runs.paths["second"])]


# -- qps plan (table) -------------------------------------------------------------------------


def test_plan_table(runs):
    result = runs["plan_table"]
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["INPUT", "STATUS", "ADAPTER", "PACKAGE", "DETAIL"]
    body = "\n".join(lines[1:])
    assert len(lines) == 6
    assert "b_batch.json#1" in body and "rejected" in body
    assert "s3://bkt results/run-1 <- s3://bkt/results/run.1/" in body
    assert "also claimed by rocrate" in runs["plan_overlap_table"].stdout
    assert "not a valid S3 bucket name" in body
    for line in lines[1:]:
        assert line.split()[1] in ("planned", "ignored", "rejected")


# -- qps adapters ------------------------------------------------------------------------------


def test_adapters_json_lists_first_party(runs):
    result = runs["adapters_json"]
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json_lines(result.stdout)}
    assert set(rows) >= FIRST_PARTY
    for adapter_id in FIRST_PARTY:
        row = rows[adapter_id]
        assert {"id", "distribution", "version", "enabled", "description"} <= set(row)
        assert row["enabled"] is True
        assert row["version"] and row["distribution"] and row["description"]
        assert row.get("error") is None
    assert rows["description"]["distribution"] == rows["mapped"]["distribution"] == "qps-core"
    assert rows["omics"]["distribution"] == "qps-adapter-omics"


def test_adapters_json_disabled_by_env(runs):
    rows = {r["id"]: r for r in json_lines(runs["adapters_json_no_omics"].stdout)}
    assert rows["omics"]["enabled"] is False
    assert rows["omics"]["description"]  # still described
    assert all(rows[i]["enabled"] for i in FIRST_PARTY - {"omics"})


def test_adapters_table(runs):
    result = runs["adapters_table_no_edp"]
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "DISTRIBUTION", "VERSION", "ENABLED"]
    by_id = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(by_id) >= FIRST_PARTY
    assert by_id["edp"][3] == "no" and by_id["omics"][3] == "yes"


def test_disabled_adapter_not_used_by_plan(runs):
    (row,) = json_lines(runs["plan_edp_disabled"].stdout)
    assert row["adapter"] != "edp"


# -- qps settings ------------------------------------------------------------------------------


def test_settings_json_reflects_env(runs):
    result = runs["settings_json"]
    assert result.returncode == 0, result.stderr
    (doc,) = json_lines(result.stdout)
    values = {name: row["value"] for name, row in doc["settings"].items()}
    assert values["default_prefix"] == "pkg"
    assert values["disable_adapters"] == ["omics", "edp"]
    assert values["max_metadata_bytes"] == 256 * 1024
    assert doc["settings"]["default_prefix"]["origin"] == "environment"
    assert doc["settings"]["default_prefix"]["read_only"] is True
    assert doc["settings"]["max_metadata_bytes"]["origin"] == "default"


def test_settings_table_names_env_vars(runs):
    result = runs["settings_table"]
    assert result.returncode == 0
    assert "(QPS_DEFAULT_SUFFIX)" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("default_suffix"))
    assert line.split()[1] == "top"
    assert "config file" in line


# -- errors ------------------------------------------------------------------------------------


def test_missing_path_is_one_line_error(runs):
    line = assert_one_line_error(runs["missing"])
    assert str(runs.paths["missing"]) in line and line.startswith("qps:")


def test_invalid_config_file_is_one_line_error(runs):
    assert "bad.toml" in assert_one_line_error(runs["bad_config_plan"])
    assert "bad.toml" in assert_one_line_error(runs["bad_config_settings"])


def test_invalid_setting_value_is_one_line_error(runs):
    assert "max_metadata_bytes" in assert_one_line_error(runs["bad_setting"])


def test_invalid_rules_file_is_reported_on_one_line(runs):
    result = runs["bad_rules_plan"]
    assert "Traceback" not in result.stderr
    assert result.returncode == 1  # planned with the other adapters, but the user's rules did not load
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "rules.yaml" in lines[0] and "mapped" in lines[0]
    listed = {r["id"]: r for r in json_lines(runs["bad_rules_adapters"].stdout)}
    assert "rules.yaml" in listed["mapped"]["error"] and "\n" not in listed["mapped"]["error"]


def test_no_arguments_shows_help(runs):
    result = runs["no_args"]
    assert "plan" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_plan_never_imports_quilt3_or_boto(runs):
    result = runs["heavy"]
    assert "Traceback" not in result.stderr
    heavy = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY=[]"], result.stdout[-2000:]
    assert len(json_lines(result.stdout.replace(heavy[0], ""))) == 5


def test_plan_folder_without_event_files_is_a_one_line_error(runs):
    result = runs["plan_no_json"]
    assert result.returncode == 2
    assert "no *.json event files" in assert_one_line_error(result)


def test_plan_file_without_events_says_so(runs):
    result = runs["plan_empty_batch"]
    [row] = json_lines(result.stdout)
    assert row["status"] == "ignored" and row["reason"] == "the file holds no events"


@pytest.mark.parametrize(
    "name, words",
    [
        ("usage_missing_paths", "Missing argument"),
        ("usage_bad_option", "No such option: --bogus"),
        ("usage_bad_value", "--batch-size"),
    ],
)
def test_usage_errors_are_one_line(runs, name, words):
    result = runs[name]
    assert result.returncode == 2
    line = assert_one_line_error(result)
    assert line.startswith("qps: error: ") and words in line and "--help" in line


def test_plan_rejects_a_file_over_the_event_cap_whole_with_one_clear_line(tmp_path):
    """Regression (issue 7): a 5M-item file kept `qps plan` busy for minutes; now it stops at the cap."""
    events = tmp_path / "many.json"
    events.write_text(json.dumps([{"Event": "s3:TestEvent"}] * 11))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")}
    env["QPS_MAX_EVENTS_PER_INPUT"] = "10"
    out = subprocess.run([str(QPS), "plan", "--json", str(events)], capture_output=True, text=True, env=env)
    assert out.returncode == 1
    [line] = [json.loads(x) for x in out.stdout.splitlines()]
    assert line["status"] == "rejected" and "more than 10 events" in line["error"]
