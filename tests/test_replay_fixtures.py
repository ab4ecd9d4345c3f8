"""Every fixture event, end to end: a seeded moto server, the real `qps` console script, run twice.

Issue 3's "done when": `qps replay --json --endpoint-url URL tests/fixtures/events` against a
seeded moto server gives `created`, then, run again, `unchanged` for every package. Rejected and
ignored events stay what `qps plan` says they are.

Some fixture events name the same package with different content, so the second of them is a
new revision, not a re-delivery. They are listed in `EXPECTED_REVISED` with the reason; for them
the second replay alternates (each line finds the other revision as latest and writes its own
again), which the test asserts exactly instead of loosening the rule for everyone.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from qps_core.demo.endpoint import LocalEndpoint, is_alive
from qps_core.demo.omics_fake import FakeOmics, demo_run

pytestmark = pytest.mark.slow  # end to end: seeds a moto server and replays every fixture twice

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "fixtures" / "events"
QPS = Path(sys.executable).parent / "qps"
EVENTS_ARG = "tests/fixtures/events"

# Packages that legitimately get two different revisions in one replay (registry, package name).
# None: the same folder gets the same package whichever adapter asked for it (one default message),
# and the fixtures give no two folders the same derived name.
EXPECTED_REVISED: dict[tuple[str, str], str] = {}

# docs/design.md §2: the path names a file, so its folder is packaged, under the folder's derived name.
NAMED_FILE_EVENT = "tests/fixtures/events/ebc-package-object-request-uri.json"


def _load_seed() -> Any:
    name = "qps_fixture_seed"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "fixtures" / "seed.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


def _clean_env(base: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in base.items() if not k.startswith(("QPS_", "AWS_"))}


@dataclass
class Replays:
    url: str
    env: dict[str, str]
    plan: dict[str, dict[str, Any]]  # input label -> `qps plan --json` line
    runs: list[list[dict[str, Any]]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    stderr: list[str] = field(default_factory=list)

    def planned(self, run: int) -> list[dict[str, Any]]:
        return [r for r in self.runs[run] if self.plan[r["input"]]["status"] == "planned"]

    def checked(self, run: int) -> list[dict[str, Any]]:
        return self.planned(run)


def _qps(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QPS), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replays]:
    tmp = tmp_path_factory.mktemp("replay")
    env = _clean_env(dict(os.environ))
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        QUILT_DISABLE_USAGE_METRICS="true",
        QUILT_MINIMIZE_STDOUT="true",
        **{
            var: str(tmp / var.lower())
            for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")
        },
    )
    started = time.monotonic()
    endpoint = LocalEndpoint.start()
    # HealthOmics GetRun, locally: it knows the run whose event has no runOutputUri (its folder comes
    # from GetRun); for the others it answers ResourceNotFound, so they are packaged from the event.
    run = demo_run("3395672", bucket="quilt-example", prefix="omics-quilt")
    run["uuid"] = "5c533f0e-f870-4993-a23a-8070d56f9d26"  # the event's: the same run, not a reused id
    omics = FakeOmics(runs={"3395672": run}).start()
    env["AWS_ENDPOINT_URL_OMICS"] = omics.url
    try:
        seconds = {"moto start": time.monotonic() - started}
        with mock.patch.dict(os.environ, env, clear=True):
            import boto3

            from qps_core.settings import load_settings

            t = time.monotonic()
            _load_seed().seed(endpoint.url, [EVENTS], settings=load_settings())
            boto3.client("s3", endpoint_url=endpoint.url).put_object(
                Bucket="quilt-example", Key="omics-quilt/3395672/out/counts.tsv", Body=b"gene\tcount\nA\t1\n"
            )
            seconds["seed"] = time.monotonic() - t
        t = time.monotonic()
        plan = _qps(env, "plan", "--json", EVENTS_ARG)
        seconds["plan"] = time.monotonic() - t
        assert plan.stdout, plan.stderr
        result = Replays(endpoint.url, env, {p["input"]: p for p in _lines(plan.stdout)}, seconds=seconds)
        for n in (1, 2):
            t = time.monotonic()
            proc = _qps(env, "replay", "--json", "--endpoint-url", endpoint.url, EVENTS_ARG)
            seconds[f"replay {n}"] = time.monotonic() - t
            result.runs.append(_lines(proc.stdout))
            result.codes.append(proc.returncode)
            result.stderr.append(proc.stderr)
        print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items()))
        yield result
    finally:
        omics.stop()
        endpoint.stop()


def _key(line: dict[str, Any]) -> tuple[str, str]:
    return line["registry"], line["package_name"]


def _revisions(lines: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Distinct top hashes per package, in the order they were first seen."""
    out: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        hashes = out.setdefault(_key(line), [])
        if line["top_hash"] not in hashes:
            hashes.append(line["top_hash"])
    return out


def _expected_statuses(lines: list[dict[str, Any]], latest: dict[tuple[str, str], str]) -> list[str]:
    """`created` where the line's top hash is not the package's latest revision at that point."""
    latest = dict(latest)
    expected = []
    for line in lines:
        expected.append("unchanged" if latest.get(_key(line)) == line["top_hash"] else "created")
        latest[_key(line)] = line["top_hash"]
    return expected


def test_every_event_is_replayed_as_planned(replays: Replays) -> None:
    first = replays.runs[0]
    assert {r["input"] for r in first} == set(replays.plan), replays.stderr[0][-2000:]
    for line in first:
        planned = replays.plan[line["input"]]
        if planned["status"] in ("rejected", "ignored"):
            assert line["status"] == planned["status"], line
            continue
        assert len([r for r in first if r["input"] == line["input"]]) == len(planned["packages"]), line
        assert line["status"] in ("created", "unchanged"), line
        assert line["top_hash"] and line["files"] and line["bytes"], line
        assert line["error"] is None, line
    assert len(replays.checked(0)) >= 30  # the seed really made the planned events packageable


def test_first_run_creates_each_package_once_per_distinct_content(replays: Replays) -> None:
    lines = replays.checked(0)
    statuses = [line["status"] for line in lines]
    assert statuses == _expected_statuses(lines, {}), [(r["input"], r["status"]) for r in lines]
    # A repeated identical request (a re-delivery) is `unchanged`: the same request, the same hash.
    by_request: dict[str, str] = {}
    for line in lines:
        request = json.dumps(replays.plan[line["input"]]["packages"], sort_keys=True)
        assert by_request.setdefault(request, line["top_hash"]) == line["top_hash"], line
    # Several revisions of one package happen only where the fixtures mean it.
    revised = {k for k, hashes in _revisions(lines).items() if len(hashes) > 1}
    assert revised == set(EXPECTED_REVISED)
    assert all(len(hashes) == 2 for k, hashes in _revisions(lines).items() if k in revised)
    assert statuses.count("unchanged") >= 3  # root twice, omics re-delivered, the manifest.json pair
    # `qps replay --json` says what each created revision changed (docs/design.md §12); unchanged lines do not.
    firsts: set[tuple[str, str]] = set()
    for line in lines:
        if line["status"] != "created":
            assert "changes" not in line, line
            continue
        counts = line["changes"]
        assert counts["added"] + counts["modified"] + counts["unchanged"] == line["files"], line
        if _key(line) not in firsts:  # the name's first revision: everything added
            assert counts == {"added": line["files"], "removed": 0, "modified": 0, "unchanged": 0}, line
        firsts.add(_key(line))


def test_second_run_is_unchanged_with_the_same_top_hashes(replays: Replays) -> None:
    first, second = replays.checked(0), replays.checked(1)
    assert [r["input"] for r in second] == [r["input"] for r in first]
    for a, b in zip(first, second, strict=True):
        assert (b["top_hash"], b["files"], b["bytes"]) == (a["top_hash"], a["files"], a["bytes"]), (a, b)
    once = [b for b in second if _key(b) not in EXPECTED_REVISED]
    assert once and all(b["status"] == "unchanged" for b in once), [b for b in once if b["status"] != "unchanged"]
    # Two revisions of one name alternate: each line finds the other one as latest and writes its own.
    latest_after_first = {}
    for line in first:
        latest_after_first[_key(line)] = line["top_hash"]
    twice = [b for b in second if _key(b) in EXPECTED_REVISED]
    assert [b["status"] for b in twice] == _expected_statuses(twice, latest_after_first) == ["created"] * len(twice)
    assert len(once) == len(second)  # with these fixtures: every package is unchanged


def test_exit_status_is_zero_only_without_rejected_or_failed(replays: Replays) -> None:
    for lines, code in zip(replays.runs, replays.codes, strict=True):
        bad = any(r["status"] in ("rejected", "failed") for r in lines)
        assert bad  # the fixtures hold rejected events by design
        assert code == 1
    # A file whose events all plan cleanly exits 0 (here: already packaged, so `unchanged`).
    proc = _qps(
        replays.env,
        "replay",
        "--json",
        "--endpoint-url",
        replays.url,
        "tests/fixtures/events/body-description-minimal.json",
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in _lines(proc.stdout)] == ["unchanged"]


def _quilt_hash(data: bytes) -> str:
    """sha2-256-chunked for objects under 8 MiB: sha256 over the one chunk's sha256."""
    return base64.b64encode(hashlib.sha256(hashlib.sha256(data).digest()).digest()).decode()


@pytest.fixture
def quilt3_on_endpoint(replays: Replays) -> Iterator[Any]:
    with mock.patch.dict(os.environ, {**replays.env, "AWS_ENDPOINT_URL": replays.url}):
        import quilt3

        yield quilt3


def _line(replays: Replays, run: int, input_label: str) -> dict[str, Any]:
    (found,) = [r for r in replays.runs[run] if r["input"] == input_label]
    return found


def test_packages_read_back_with_quilt3(replays: Replays, quilt3_on_endpoint: Any) -> None:
    import boto3

    assert is_alive(replays.url), "the moto server of this module is gone"
    quilt3 = quilt3_on_endpoint
    s3 = boto3.client(
        "s3",
        endpoint_url=replays.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    omics = _line(replays, 0, "tests/fixtures/events/omics-run-completed-doc-fields.json")
    pkg = quilt3.Package.browse("omics-quilt/3395667", registry="s3://quilt-example", top_hash=omics["top_hash"])
    assert pkg.meta["omics"]["runId"] == "3395667"
    keys = sorted(k for k, _ in pkg.walk())
    assert len(keys) == omics["files"] and "out/multiqc/multiqc_report.html" in keys
    for logical_key, entry in pkg.walk():
        pk = entry.physical_key
        assert (pk.bucket, pk.path) == ("quilt-example", f"omics-quilt/3395667/{logical_key}")
        assert pk.version_id  # versioned source: pinned, referenced in place
        body = s3.get_object(Bucket=pk.bucket, Key=pk.path, VersionId=pk.version_id)["Body"].read()
        assert entry.hash == {"type": "sha2-256-chunked", "value": _quilt_hash(body)}

    crate = _line(replays, 0, "tests/fixtures/events/s3eb-rocrate-metadata-depth2.json")
    pkg = quilt3.Package.browse(crate["package_name"], registry="s3://quilt-example")
    assert pkg.top_hash == crate["top_hash"]
    assert "ro-crate-metadata.json" in pkg
    assert pkg.meta["ro-crate"]["name"] == "Workflow run of nextflow-io/rnaseq-nf"

    wf = _line(replays, 0, "tests/fixtures/events/sqs-package-description-full.json")
    pkg = quilt3.Package.browse(wf["package_name"], registry="s3://quilt-packages")
    assert pkg.meta["instrument"] == "Xenium"
    workflow = pkg._meta["workflow"]  # quilt3 keeps the manifest's top-level fields in `_meta`
    assert workflow["id"] == "alpha"
    assert workflow["config"].startswith("s3://quilt-packages/.quilt/workflows/config.yml?versionId=")

    from_uri = _line(replays, 0, "tests/fixtures/events/sqs-fifo-description.json#1")
    pkg = quilt3.Package.browse(from_uri["package_name"], registry="s3://quilt-packages")
    assert pkg.meta["operator"] == "a.lee"  # read from metadata_uri (qc/summary.json)
    assert "qc/summary.json" in pkg


def test_one_folder_reached_by_two_adapters_is_one_package(replays: Replays) -> None:
    # body-description-derived-names.json#0 (description) and s3eb-rocrate-one-level.json (rocrate) both
    # name s3://quilt-example/run-0042/: the second finds the first's revision unchanged.
    lines = {line["input"]: line for line in replays.checked(0)}
    a = lines["tests/fixtures/events/body-description-derived-names.json#0"]
    b = lines["tests/fixtures/events/s3eb-rocrate-one-level.json"]
    assert (a["package_name"], b["package_name"]) == ("package/run-0042", "package/run-0042")
    assert a["top_hash"] == b["top_hash"] and {a["status"], b["status"]} == {"created", "unchanged"}


def test_seeding_again_changes_nothing(replays: Replays) -> None:
    assert is_alive(replays.url), "the moto server of this module is gone"
    seed = ROOT / "tests" / "fixtures" / "seed.py"
    proc = subprocess.run(
        [sys.executable, str(seed), replays.url], cwd=ROOT, env=replays.env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert f"({0} written) for {len(replays.planned(0))} package requests" in proc.stdout, proc.stdout


def test_named_file_outcome_reports_the_package_written(replays: Replays) -> None:
    line = _line(replays, 0, NAMED_FILE_EVENT)
    assert (line["registry"], line["package_name"], line["source_prefix"]) == (
        "bkt",
        "to/folder",
        "s3://bkt/path/to/folder/",
    )


def test_is_alive_after_replays(replays: Replays) -> None:
    assert is_alive(replays.url)
    assert is_alive(replays.url)


def test_crate_packages_report_what_the_crate_decided(replays: Replays) -> None:
    """docs/design.md, "RO-Crate packages": the replay line carries `rocrate: {mode, parts, validation}`."""
    lines = [line for line in replays.checked(0) if line["adapter"] == "rocrate"]
    assert lines
    for line in lines:
        crate = line["rocrate"]
        assert crate["mode"] == "parts" and crate["parts"] >= 1, line
        assert crate["validation"]["level"] in ("ok", "warning"), line
    plain = [line for line in replays.checked(0) if line["adapter"] == "omics"]
    assert plain and all("rocrate" not in line for line in plain)
