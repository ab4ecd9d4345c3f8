"""RO-Crate packages follow the crate (docs/design.md, "RO-Crate packages"), over crates other tools wrote.

These tests need ../shared/crates (beside the checkout; CI checks it out there): 14 public crates and
derived adversarial variants, with their origin and licence in its SOURCES.md. They are read from
there, never copied into this repository; without them the tests fail in CI (CI=true) and skip
elsewhere with the reason (`tests.packager.crates.shared_dir`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
import quilt3

from qps_core.errors import NotReadyError, PermanentError
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.packager.crates import EXTRAS, SHARED_BUCKET, crate_json, crate_names, shared_dir, upload
from tests.packager.pkghelpers import keys, make_bucket, put, request

SRC = "src-bucket"
REAL = [
    "spec-rainfall-1-2",
    "rocrate-py-read-crate",
    "rocrate-py-read-extra",
    "rocrate-py-subcrates",
    "validator-attached-1-2",
    "validator-data-entities",
    "validator-minimal-isa",
    "validator-wrroc-paper",
    "wrroc-revsort-run-1",
    "wrroc-ml-pipeline",
    "wrroc-ml-predict",
    "nf-prov-test-run-1",
    "wfexs-cosifer-nxf",
    "quilt-profile-example1",
]


@pytest.fixture
def shared(s3: Any) -> Any:
    shared_dir()
    make_bucket(s3, SRC)
    make_bucket(s3, SHARED_BUCKET)
    put(s3, SHARED_BUCKET, "batch-a/data.txt", b"another object\n")
    put(s3, SHARED_BUCKET, "reference/genome.fa", b">chr1\nACGT\n")
    return s3


def browse(name: str) -> quilt3.Package:
    return quilt3.Package.browse(name, registry=f"s3://{SRC}")


def package(packager: Packager, settings: Settings, name: str, **fields: Any) -> Any:
    return packager.package(request(settings, source_prefix=f"s3://{SRC}/c/{name}", message="m", **fields))


def expected_keys(crate: dict[str, Any], listed: set[str]) -> set[str]:
    """What the contract says the package holds, worked out here from the crate by hand."""
    graph = {e["@id"]: e for e in crate["@graph"]}
    root = graph[graph["ro-crate-metadata.json"]["about"]["@id"]]
    out = {"ro-crate-metadata.json"}
    for member in root["hasPart"]:
        ident = member["@id"]
        if ident.startswith("#") or ":" in ident.split("/")[0]:
            continue
        path = unquote(ident)
        types = graph.get(ident, {}).get("@type", [])
        if ident.endswith("/") or "Dataset" in (types if isinstance(types, list) else [types]):
            out |= {k for k in listed if k.startswith(path.rstrip("/") + "/")}
        elif path in listed:
            out.add(path)
    return out


def test_every_shared_crate_is_here() -> None:
    """The list above is the shared folder's real crates (a crate added there is added here)."""
    shared_dir()
    assert set(REAL) <= set(crate_names())
    assert all(n.startswith("derived-") for n in set(crate_names()) - set(REAL))


@pytest.mark.parametrize("name", REAL)
def test_real_crate_packages_exactly_its_parts(shared: Any, packager: Packager, settings: Settings, name: str) -> None:
    upload(shared, SRC, f"c/{name}", name)
    listed = {k.removeprefix(f"c/{name}/") for k in keys(shared, SRC, f"c/{name}/")}
    first = package(packager, settings, name)
    pkg = browse(first.package_name)
    got = {k for k, _ in pkg.walk()}
    assert got == expected_keys(crate_json(name), listed)
    assert not got & set(EXTRAS)  # files the crate does not list are not packaged
    meta = pkg.meta["ro-crate"]
    assert meta["mode"] == "parts" and meta["file"] == "ro-crate-metadata.json"
    assert meta["parts"] == len(got) - 1 == first.rocrate["parts"]
    assert first.rocrate["validation"] == meta["validation"]
    assert meta["validation"]["level"] in ("ok", "warning", "error")
    assert len(json.dumps(meta)) < 64_000  # bounded: never the whole JSON-LD
    # idempotent: the same crate and files again change nothing
    again = package(packager, settings, name)
    assert (again.status, again.top_hash) == ("unchanged", first.top_hash)


def test_nf_prov_run_metadata_and_entries(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/nf-prov-test-run-1", "nf-prov-test-run-1")
    result = package(packager, settings, "nf-prov-test-run-1")
    pkg = browse(result.package_name)
    meta = pkg.meta["ro-crate"]
    assert meta["workflow"]["name"] == "nf-prov-test"
    assert meta["workflow"]["version"] == "0.2.0"
    assert meta["workflow"]["programmingLanguage"]["name"] == "Nextflow"
    assert meta["run"]["parameters"] == {"main/constant": "foo"}
    assert meta["run"]["name"] == "Run of workflow/test.nf#main"
    assert "startTime" not in meta["run"]  # nf-prov's early renderer wrote none: never invented
    assert meta["license"] == "Apache-2.0"
    assert pkg["test.nf"].meta["ro-crate"]["name"] == "nf-prov-test"
    assert sorted(k for k, _ in pkg.walk()) == sorted(
        ["ro-crate-metadata.json", "test.nf", "manifest.json"]
        + [f"out/r{r}.foo.{i}.txt" for r in (1, 2, 3) for i in (1, 2)]
    )
    warned = {i["message"] for i in meta["validation"]["issues"]}
    assert "the root Dataset has no name (RECOMMENDED)" in warned


def test_wfexs_run_times_hashes_and_entry_metadata(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/wfexs", "wfexs-cosifer-nxf")
    result = packager.package(request(settings, source_prefix=f"s3://{SRC}/c/wfexs", message="m"))
    pkg = browse(result.package_name)
    meta = pkg.meta["ro-crate"]
    run = meta["run"]  # two runs of the workflow: the latest by endTime
    assert run["endTime"] == "2023-08-31T02:29:10.026287+00:00"
    assert run["startTime"] == "2023-08-31T02:29:02.041398+00:00"
    assert run["parameters"] and len(run["parameters"]) <= 100
    assert {"@id": "https://orcid.org/0000-0002-4806-5140"} in run["agent"] or any(
        a.get("@id") == "https://orcid.org/0000-0002-4806-5140" for a in run["agent"]
    )
    assert meta["workflow"]["codeRepository"] == "https://github.com/inab/ipc_workflows"
    # the real bytes match every listed sha256 and contentSize: no error
    assert all(i["level"] != "error" for i in meta["validation"]["issues"])
    entry = pkg["inputs/data_matrix.csv"].meta["ro-crate"]
    assert entry["contentSize"] in ("98392", 98392)
    assert len(entry["sha256"]) == 64 and entry["encodingFormat"]


def test_own_nf_prov_fixture_shows_version_times_parameters(s3: Any, packager: Packager, settings: Settings) -> None:
    """Our own fixture in the shape a recent nf-prov writes (run times on the CreateAction)."""
    from tests.packager.pkghelpers import SAMPLES

    make_bucket(s3, SRC)
    crate = json.loads((SAMPLES / "rocrate-nf-prov-wrroc" / "ro-crate-metadata.json").read_text())
    put(s3, SRC, "wf/run/ro-crate-metadata.json", json.dumps(crate))
    for part in ("main.nf", "README.md", "nextflow.config", "multiqc_report.html", "fastqc_ggal_gut_logs/a.html"):
        put(s3, SRC, f"wf/run/{part}", part)
    put(s3, SRC, "wf/run/work/old-run.log", "not a part")
    result = packager.package(request(settings, source_prefix=f"s3://{SRC}/wf/run", message="m"))
    meta = browse(result.package_name).meta["ro-crate"]
    assert meta["workflow"]["version"] == "c8e1d6fe07b57b8a58a2f3a7b1c90e91f5a7d2c4"
    assert (meta["run"]["startTime"], meta["run"]["endTime"]) == (
        "2025-03-14T09:12:03.518Z",
        "2025-03-14T09:38:51.902Z",
    )
    assert meta["run"]["parameters"]
    assert len(meta["skipped"]) == 5  # the licence and four GitHub URLs
    assert "work/old-run.log" not in {k for k, _ in browse(result.package_name).walk()}


def test_quilt_profile_example(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/quilt-profile-example1", "quilt-profile-example1")
    result = package(packager, settings, "quilt-profile-example1")
    assert result.package_name == "assay-dev/2026-09-08-assay-01"  # the #packageName identifier
    meta = browse(result.package_name).meta["ro-crate"]
    assert meta["keywords"] == ["flow cytometry", "assay development", "ASSAY-1234"]
    assert meta["creator"][0]["@id"] == "https://orcid.org/0000-0002-1825-0097"
    assert meta["producer"] and meta["identifier"][0]["value"] == "assay-dev/2026-09-08-assay-01"
    errors = [i for i in meta["validation"]["issues"] if i["level"] == "error"]
    assert [i["id"] for i in errors] == ["01-Well-A1.fcs"]  # synthetic bytes: the listed sha256 cannot match
    assert meta["validation"]["level"] == "error"
    entry = browse(result.package_name)["01-Well-A1.fcs"].meta["ro-crate"]
    assert {"contentSize", "sha256", "dateCreated", "dateModified"} <= set(entry)
    # an explicit name is never replaced
    named = package(packager, settings, "quilt-profile-example1", package_name="mine/explicit")
    assert named.package_name == "mine/explicit"


# ---------------------------------------------------------------- adversarial variants


def test_bad_identifier_is_rejected(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/derived-bad-identifier", "derived-bad-identifier")
    with pytest.raises(PermanentError, match=r"#packageName 'assay dev/2026-09-08 assay 01' is not a valid"):
        package(packager, settings, "derived-bad-identifier")
    assert keys(shared, SRC, ".quilt/") == []


@pytest.mark.parametrize(
    ("name", "member"),
    [("derived-escape-dotdot", "../run-0/data.csv"), ("derived-escape-encoded", "data/%2E%2E/%2E%2E/run-0/data.csv")],
)
def test_escaping_member_is_rejected(
    shared: Any, packager: Packager, settings: Settings, name: str, member: str
) -> None:
    upload(shared, SRC, f"c/{name}", name)
    put(shared, SRC, "c/run-0/data.csv", b"outside the crate's folder")
    with pytest.raises(PermanentError, match="hasPart member " + repr(member).replace(".", r"\.")) as err:
        package(packager, settings, name)
    assert "\n" not in str(err.value)
    assert keys(shared, SRC, ".quilt/") == []


def test_missing_part_transient_then_permanent(shared: Any, settings: Settings) -> None:
    upload(shared, SRC, "c/derived-missing-part", "derived-missing-part", skip=("results/summary.tsv",))
    with pytest.raises(NotReadyError, match=r"results/summary\.tsv") as err:
        Packager(settings).package(request(settings, source_prefix=f"s3://{SRC}/c/derived-missing-part"))
    assert not err.value.permanent
    late = Settings(rocrate_missing_part_seconds=0)
    with pytest.raises(PermanentError, match=r"lists 'results/summary\.tsv' but no such object exists"):
        Packager(late).package(request(late, source_prefix=f"s3://{SRC}/c/derived-missing-part"))
    assert keys(shared, SRC, ".quilt/") == []


def test_duplicate_key_is_rejected(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/derived-duplicate-key", "derived-duplicate-key")
    with pytest.raises(
        PermanentError, match=r"'s3://crates-shared/batch-a/data\.txt' maps to the logical key 'data\.txt'"
    ):
        package(packager, settings, "derived-duplicate-key")
    assert keys(shared, SRC, ".quilt/") == []


def test_s3_member_in_place_or_refused(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/derived-s3-member", "derived-s3-member")
    result = package(packager, settings, "derived-s3-member")
    pkg = browse(result.package_name)
    assert pkg["genome.fa"].physical_key.bucket == SHARED_BUCKET
    assert pkg["genome.fa"].get_bytes() == b">chr1\nACGT\n"
    only = Settings(allowed_sources=[SRC])
    with pytest.raises(PermanentError, match=r"'s3://crates-shared/reference/genome\.fa' is outside the allowed"):
        Packager(only).package(request(only, source_prefix=f"s3://{SRC}/c/derived-s3-member", message="m2"))


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("derived-no-haspart", "no hasPart"),
        ("derived-empty-haspart", "no hasPart"),
        ("derived-invalid-json", "not valid JSON"),
    ],
)
def test_unusable_haspart_packages_the_folder(
    shared: Any, packager: Packager, settings: Settings, name: str, why: str
) -> None:
    upload(shared, SRC, f"c/{name}", name)
    result = package(packager, settings, name)
    pkg = browse(result.package_name)
    listed = {k.removeprefix(f"c/{name}/") for k in keys(shared, SRC, f"c/{name}/")}
    assert {k for k, _ in pkg.walk()} == listed  # the whole folder, extras included
    assert result.rocrate["mode"] == "folder"
    validation = pkg.meta["ro-crate"]["validation"]
    assert validation["level"] == "warning"
    assert any(why in i["message"] and "whole folder" in i["message"] for i in validation["issues"])


def test_size_mismatch_warns_or_rejects(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/derived-size-mismatch", "derived-size-mismatch")
    result = package(packager, settings, "derived-size-mismatch")
    issues = result.rocrate["validation"]["issues"]
    assert {"level": "error", "id": "data.txt", "message": "contentSize is 5 but the object holds 6 bytes"} in issues
    strict = Settings(rocrate_validation="strict")
    with pytest.raises(PermanentError, match=r"rocrate_validation=strict\): 'data\.txt': contentSize is 5"):
        Packager(strict).package(
            request(strict, source_prefix=f"s3://{SRC}/c/derived-size-mismatch", package_name="strict/one")
        )
    assert not any(k.startswith(".quilt/named_packages/strict/") for k in keys(shared, SRC, ".quilt/"))


def test_data_entities_decoded_once(shared: Any, packager: Packager, settings: Settings) -> None:
    upload(shared, SRC, "c/derived-data-entities", "derived-data-entities")
    pkg = browse(package(packager, settings, "derived-data-entities").package_name)
    got = {k for k, _ in pkg.walk()}
    assert "pics/2017-06-11%2012.56.14.jpg" in got  # %2520 decoded once: a literal %20 in the key
    assert "pics/2018-06-11 12.56.14.jpg" in got


def test_folder_setting_packages_everything(shared: Any, settings: Settings) -> None:
    upload(shared, SRC, "c/spec-rainfall-1-2", "spec-rainfall-1-2")
    folder = Settings(rocrate_contents="folder")
    result = Packager(folder).package(request(folder, source_prefix=f"s3://{SRC}/c/spec-rainfall-1-2", message="m"))
    pkg = browse(result.package_name)
    assert set(EXTRAS) <= {k for k, _ in pkg.walk()}
    assert pkg.meta["ro-crate"]["mode"] == "folder"
    assert pkg["data.csv"].meta["ro-crate"]["encodingFormat"]


@pytest.mark.parametrize(
    "body",
    [
        {"uri": f"s3://{SRC}/c/nf-prov-test-run-1?team=lab"},
        {
            "source": "com.quiltdata.edp",
            "detail-type": "package-objects-ready",
            "detail": {"version": "0.1", "bucket": SRC, "prefix": "c/nf-prov-test-run-1/"},
        },
        {"source_prefix": f"s3://{SRC}/c/nf-prov-test-run-1/", "package_name": "lab/nf-prov"},
    ],
    ids=["uri", "edp", "description"],
)
def test_every_source_follows_the_crate(shared: Any, packager: Packager, settings: Settings, body: Any) -> None:
    """Whatever source asks for a folder holding a crate, the crate decides (through the runner)."""
    from qps_core import envelopes
    from qps_core.runner import Runner

    upload(shared, SRC, "c/nf-prov-test-run-1", "nf-prov-test-run-1")
    runner = Runner(settings, packager=packager)
    (event,) = envelopes.unwrap(body)
    _, (outcome,) = runner.run_event(event)
    assert outcome.status == "created", outcome.error
    assert outcome.rocrate is not None and outcome.rocrate["mode"] == "parts" and outcome.rocrate["parts"] == 8
    assert outcome.as_dict()["rocrate"] == outcome.rocrate
    assert outcome.request is not None
    pkg = quilt3.Package.browse(outcome.request.package_name, registry=f"s3://{outcome.request.registry}")
    assert not {k for k, _ in pkg.walk()} & set(EXTRAS)


def test_missing_shared_crates_fail_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """In CI (CI=true) a missing ../shared is a failure, never a silent skip."""
    from tests.packager import crates

    monkeypatch.setattr(crates, "SHARED", tmp_path / "nowhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="shared RO-Crates are not at"):
        crates.shared_dir()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        crates.shared_dir()
