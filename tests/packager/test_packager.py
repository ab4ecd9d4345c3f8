"""The shared packager against in-process moto: entries, hashes, metadata, workflows, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections import Counter
from typing import Any

import boto3
import botocore.exceptions
import pytest
import quilt3

from qps_core.errors import PermanentError, TransientError
from qps_core.models import PackageRequest
from qps_core.packaging.packager import Packager, PackageResult
from qps_core.settings import Settings
from tests.packager.pkghelpers import (
    SAMPLES,
    CallLog,
    fail_operation,
    keys,
    make_bucket,
    put,
    put_multipart,
    quilt_hash,
    read_manifest,
    request,
)

MiB = 1024 * 1024


def browse(name: str, registry: str) -> quilt3.Package:
    return quilt3.Package.browse(name, registry=f"s3://{registry}")


def assert_nothing_written(s3: Any, registry: str) -> None:
    written = [k for k in keys(s3, registry, ".quilt/") if not k.startswith(".quilt/workflows/")]
    assert written == []


# ---------------------------------------------------------------- entries, keys, hashes, metadata


def test_versioned_folder_in_place(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    files = {
        "a.csv": b"x,y\n1,2\n",
        "sub/deeper/b.txt": os.urandom(70_000),
        "zero.bin": b"",
        "with space & plus+.txt": b"odd key",
    }
    versions = {}
    for name, data in files.items():
        put(s3, "src-bucket", f"runs/r1/{name}", data, sha256=name == "a.csv")
        versions[name] = put(s3, "src-bucket", f"runs/r1/{name}", data, sha256=name == "a.csv")  # 2nd version
    put(s3, "src-bucket", "runs/r1/empty-folder/", b"")  # folder marker: skipped
    put(s3, "src-bucket", "runs/r10/not-mine.txt", b"sibling folder with a common prefix")
    put(s3, "src-bucket", "runs/r1/deleted.txt", b"gone")
    s3.delete_object(Bucket="src-bucket", Key="runs/r1/deleted.txt")  # latest is a delete marker: skipped

    req = request(settings, source_prefix="s3://src-bucket/runs/r1", registry="reg-bucket", message="first")
    result = packager.package(req)

    assert isinstance(result, PackageResult)
    assert result.status == "created"
    assert (result.registry, result.package_name, result.source_prefix) == (
        "reg-bucket",
        "runs/r1",
        "s3://src-bucket/runs/r1/",
    )
    assert result.files == len(files)
    assert result.bytes == sum(len(d) for d in files.values())
    latest = s3.get_object(Bucket="reg-bucket", Key=".quilt/named_packages/runs/r1/latest")["Body"].read().decode()
    assert latest == result.top_hash

    pkg = browse("runs/r1", "reg-bucket")
    assert pkg.top_hash == result.top_hash
    assert sorted(lk for lk, _ in pkg.walk()) == sorted(files)
    for name, data in files.items():
        entry = pkg[name]
        assert entry.size == len(data)
        assert entry.hash == {"type": "sha2-256-chunked", "value": quilt_hash(data)}
        assert entry.physical_key.bucket == "src-bucket"
        assert entry.physical_key.path == f"runs/r1/{name}"
        assert entry.physical_key.version_id == versions[name]
        assert entry.get_bytes() == data
    meta, _ = read_manifest(s3, "reg-bucket", result.top_hash)
    assert meta["message"] == "first"
    assert "user_meta" not in meta
    assert "workflow" not in meta  # the registry has no workflows config


def test_unversioned_bucket(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "plain-src", versioned=False)
    make_bucket(s3, "plain-reg", versioned=False)
    data = {"x/1.txt": b"one", "2.txt": b"two" * 1000}
    for k, v in data.items():
        put(s3, "plain-src", f"f/{k}", v)
    result = packager.package(request(settings, source_prefix="s3://plain-src/f/", registry="plain-reg", message="m"))
    pkg = browse(result.package_name, "plain-reg")
    assert result.package_name == "package/f"
    for k, v in data.items():
        assert pkg[k].physical_key.version_id is None
        assert str(pkg[k].physical_key) == f"s3://plain-src/f/{k}"
        assert pkg[k].hash["value"] == quilt_hash(v)


def test_metadata_and_message_are_recorded(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/file.txt", b"hello")
    meta = {"project": "p1", "nested": {"n": [1, 2.5, None, True]}, "ünï": "cödé"}
    result = packager.package(
        request(settings, source_prefix="s3://src-bucket/d", metadata=meta, message="a message", package_name="a/b")
    )
    assert result.registry == "src-bucket" and result.package_name == "a/b"
    pkg = browse("a/b", "src-bucket")
    assert pkg.meta == meta
    raw, entries = read_manifest(s3, "src-bucket", result.top_hash)
    assert raw["message"] == "a message"
    assert raw["user_meta"] == meta
    assert list(entries) == ["file.txt"]


def test_metadata_uri(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/file.txt", b"hello")
    put(s3, "src-bucket", "d/meta/info.json", json.dumps({"from": "file", "n": 1}))
    result = packager.package(
        request(settings, source_prefix="s3://src-bucket/d", metadata_uri="meta/info.json", message="m")
    )
    assert browse(result.package_name, "src-bucket").meta == {"from": "file", "n": 1}
    # the metadata file is an ordinary object of the folder too
    assert "meta/info.json" in {lk for lk, _ in browse(result.package_name, "src-bucket").walk()}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "JSON object"),
        (b"{not json", "is not valid JSON"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        ('{"a": "caf\u00e9"}'.encode("latin-1"), "not UTF-8"),
        (None, "no such object"),
    ],
)
def test_metadata_uri_invalid(s3: Any, packager: Packager, settings: Settings, body: bytes | None, reason: str) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/file.txt", b"hello")
    if body is not None:
        put(s3, "src-bucket", "other/meta.json", body)
    req = request(
        settings, source_prefix="s3://src-bucket/d", metadata_uri="s3://src-bucket/other/meta.json", message="m"
    )
    with pytest.raises(PermanentError) as err:
        packager.package(req)
    assert reason in str(err.value)
    assert "s3://src-bucket/other/meta.json" in str(err.value)
    assert "\n" not in str(err.value)
    assert_nothing_written(s3, "src-bucket")


# ---------------------------------------------------------------- RO-Crate


def test_rocrate_parts_and_metadata(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    crate = (SAMPLES / "rocrate-1.1" / "ro-crate-metadata.json").read_bytes()
    put(s3, "src-bucket", "crates/c1/ro-crate-metadata.json", crate)
    put(s3, "src-bucket", "crates/c1/samplesheet.csv", b"sample,fastq\n")
    put(s3, "src-bucket", "crates/c1/fastq/S1_R1.fastq.gz", b"@r1\n")
    put(s3, "src-bucket", "crates/c1/multiqc_report.html", b"<html></html>\n")
    put(s3, "src-bucket", "crates/c1/old-run/leftover.txt", b"not a part")
    result = packager.package(
        request(settings, source_prefix="s3://src-bucket/crates/c1", metadata={"team": "t"}, message="m")
    )
    pkg = browse(result.package_name, "src-bucket")
    summary = pkg.meta["ro-crate"]
    assert pkg.meta["team"] == "t"
    assert summary["name"] == "RNA-seq run 0042 - chicken gut tissue"
    assert summary["description"].startswith("Paired-end RNA-seq reads")
    assert summary["creator"] == [{"@id": "https://orcid.org/0000-0002-1825-0097", "name": "Josiah Carberry"}]
    assert summary["license"]["@id"] == "https://creativecommons.org/licenses/by/4.0/"
    assert summary["datePublished"] == "2025-03-14"
    assert summary["parts"] == 3 and summary["mode"] == "parts"
    assert {"@id": "https://w3id.org/ro/crate/1.1"} in summary["conformsTo"]
    assert summary["file"] == "ro-crate-metadata.json"
    assert "@graph" not in json.dumps(summary)
    assert "old-run/leftover.txt" not in {lk for lk, _ in pkg.walk()}
    # the sentinel is packaged, with a correct hash (taken from the bytes read for the summary)
    assert pkg["ro-crate-metadata.json"].hash["value"] == quilt_hash(crate)


def test_rocrate_nf_prov_and_request_metadata_wins(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    crate = (SAMPLES / "rocrate-nf-prov-wrroc" / "ro-crate-metadata.json").read_bytes()
    put(s3, "src-bucket", "wf/run/ro-crate-metadata.json", crate)
    for part in ("main.nf", "README.md", "nextflow.config", "multiqc_report.html", "fastqc_ggal_gut_logs/x.html"):
        put(s3, "src-bucket", f"wf/run/{part}", part)
    r1 = packager.package(request(settings, source_prefix="s3://src-bucket/wf/run", message="m"))
    summary = browse(r1.package_name, "src-bucket").meta["ro-crate"]
    assert summary["name"] == "Workflow run of nextflow-io/rnaseq-nf"
    assert {"@id": "https://w3id.org/ro/wfrun/process/0.1", "name": "Process Run Crate"} in summary["conformsTo"]
    assert summary["parts"] == 5
    assert len(json.dumps(summary)) < 8000

    r2 = packager.package(
        request(settings, source_prefix="s3://src-bucket/wf/run", metadata={"ro-crate": "mine"}, message="m")
    )
    assert browse(r2.package_name, "src-bucket").meta == {"ro-crate": "mine"}


def test_invalid_crate_packages_the_folder(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "c/ro-crate-manifest.json", b"{broken")
    put(
        s3,
        "src-bucket",
        "c/sub/ro-crate-metadata.json",
        (SAMPLES / "rocrate-1.1" / "ro-crate-metadata.json").read_bytes(),
    )
    result = packager.package(request(settings, source_prefix="s3://src-bucket/c", message="m"))
    pkg = browse(result.package_name, "src-bucket")
    meta = pkg.meta["ro-crate"]  # the nested crate is not the folder's crate
    assert (meta["file"], meta["mode"]) == ("ro-crate-manifest.json", "folder")
    assert {lk for lk, _ in pkg.walk()} == {"ro-crate-manifest.json", "sub/ro-crate-metadata.json"}
    issues = meta["validation"]["issues"]
    assert issues == [
        {
            "level": "warning",
            "id": "ro-crate-manifest.json",
            "message": "the crate file is not valid JSON: the whole folder is packaged",
        }
    ]


# ---------------------------------------------------------------- idempotence


def test_redelivery_writes_nothing(s3: Any, packager: Packager, settings: Settings, call_log: CallLog) -> None:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    put(s3, "src-bucket", "d/b.txt", b"B", sha256=True)
    req = request(settings, source_prefix="s3://src-bucket/d", registry="reg-bucket", message="same")
    first = packager.package(req)
    pointers = keys(s3, "reg-bucket", ".quilt/")
    latest_versions = s3.list_object_versions(Bucket="reg-bucket", Prefix=".quilt/named_packages/")["Versions"]
    call_log.calls.clear()

    second = packager.package(req)

    assert first.status == "created" and second.status == "unchanged"
    assert second.top_hash == first.top_hash
    assert keys(s3, "reg-bucket", ".quilt/") == pointers
    assert s3.list_object_versions(Bucket="reg-bucket", Prefix=".quilt/named_packages/")["Versions"] == latest_versions
    writes = {"PutObject", "CopyObject", "UploadPartCopy", "CreateMultipartUpload", "DeleteObject"}
    assert not writes & set(call_log.ops())

    # a changed object makes a new revision
    put(s3, "src-bucket", "d/a.txt", b"A2")
    third = packager.package(req)
    assert third.status == "created" and third.top_hash != first.top_hash
    assert browse(third.package_name, "reg-bucket")["a.txt"].get_bytes() == b"A2"


def test_top_hash_covers_message(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    one = packager.package(request(settings, source_prefix="s3://src-bucket/d", message="one"))
    two = packager.package(request(settings, source_prefix="s3://src-bucket/d", message="two"))
    assert two.status == "created" and two.top_hash != one.top_hash


# ---------------------------------------------------------------- .quilt/, empty folders, the file-URI rule


def test_bucket_root_skips_quilt_internal(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "root-bucket")
    put(s3, "root-bucket", "top.txt", b"top")
    put(s3, "root-bucket", "dir/x.txt", b"x")
    put(s3, "root-bucket", ".quiltish/keep.txt", b"not internal")
    first = packager.package(request(settings, source_prefix="s3://root-bucket/dir", message="m"))
    assert any(k.startswith(".quilt/") for k in keys(s3, "root-bucket"))

    result = packager.package(request(settings, source_prefix="s3://root-bucket", message="m"))
    assert result.package_name == "package/root"
    lks = {lk for lk, _ in browse("package/root", "root-bucket").walk()}
    assert lks == {"top.txt", "dir/x.txt", ".quiltish/keep.txt"}
    assert first.status == "created"


def test_empty_folder_is_permanent(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "empty/", b"")  # only a folder marker
    put(s3, "src-bucket", "emptyish.txt", b"not inside the folder")
    with pytest.raises(PermanentError) as err:
        packager.package(request(settings, source_prefix="s3://src-bucket/empty", message="m"))
    assert "ListObjectVersions on s3://src-bucket/empty/" in str(err.value)
    assert "no objects" in str(err.value)
    assert_nothing_written(s3, "src-bucket")


def test_quilt_internal_folder_is_empty(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", ".quilt/named_packages/a/b/latest", b"abc")
    # the model may refuse such a folder up front; the packager must never package it either way
    req = PackageRequest.model_construct(
        source_prefix="s3://src-bucket/.quilt/named_packages/",
        registry="src-bucket",
        package_name="a/b",
        message="m",
        should_copy=False,
    )
    with pytest.raises(PermanentError, match="no objects"):
        packager.package(req)


def test_file_uri_means_its_folder(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "runs/7/manifest.json", b'{"not": "metadata"}')
    put(s3, "src-bucket", "runs/7/out/a.txt", b"a")
    req = request(settings, source_prefix="s3://src-bucket/runs/7/manifest.json", message="m")
    assert req.package_name == "7/manifest-json"
    result = packager.package(req)
    assert result.source_prefix == "s3://src-bucket/runs/7/"
    assert result.package_name == "runs/7"
    pkg = browse("runs/7", "src-bucket")
    assert {lk for lk, _ in pkg.walk()} == {"manifest.json", "out/a.txt"}
    assert pkg.meta == {}  # the file is packaged, not read as metadata

    explicit = request(
        settings, source_prefix="s3://src-bucket/runs/7/manifest.json", package_name="my/name", message="m"
    )
    assert packager.package(explicit).package_name == "my/name"


def test_missing_file_uri_is_an_empty_folder(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "runs/8/other.json", b"{}")
    with pytest.raises(PermanentError, match=r"s3://src-bucket/runs/8/manifest.json/"):
        packager.package(request(settings, source_prefix="s3://src-bucket/runs/8/manifest.json", message="m"))


# ---------------------------------------------------------------- checksums: reuse and large objects


def test_checksum_reuse_skips_get_object(s3: Any, packager: Packager, settings: Settings, call_log: CallLog) -> None:
    make_bucket(s3, "src-bucket")
    with_sha = {f"d/s{i}.txt": os.urandom(1000 + i) for i in range(5)}
    without = {f"d/p{i}.txt": os.urandom(2000 + i) for i in range(3)}
    for k, v in with_sha.items():
        put(s3, "src-bucket", k, v, sha256=True)
    for k, v in without.items():
        put(s3, "src-bucket", k, v)
    put(s3, "src-bucket", "d/empty.txt", b"")

    result = packager.package(request(settings, source_prefix="s3://src-bucket/d", message="m"))

    gets = {key for op, bucket, key in call_log.calls if op == "GetObject" and key and not key.startswith(".quilt/")}
    assert gets == set(without)  # objects with an S3 SHA-256 are never downloaded; empty ones not even HEADed
    heads = {key for op, _, key in call_log.calls if op == "HeadObject"}
    assert "d/empty.txt" not in heads
    pkg = browse(result.package_name, "src-bucket")
    for k, v in {**with_sha, **without, "d/empty.txt": b""}.items():
        assert pkg[k[2:]].hash["value"] == quilt_hash(v)


class MultipartShim:
    """moto gaps, filled as S3 would: ObjectParts in GetObjectAttributes; ChecksumSHA256 on part copies."""

    def __init__(self, client: Any, objects: dict[str, bytes], parts: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.parts = parts
        events = client.meta.events
        events.register("before-parameter-build.s3.*", self._stash)
        events.register("after-call.s3.GetObjectAttributes", self._attributes)
        events.register("after-call.s3.UploadPartCopy", self._part_copy)
        events.register("after-call.s3.CompleteMultipartUpload", self._complete)

    @staticmethod
    def _stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["shim_params"] = dict(params)

    def _attributes(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        key = context["shim_params"]["Key"]
        if key in self.parts and "ObjectParts" not in parsed:
            parts = self.parts[key]
            parsed["ObjectParts"] = {
                "TotalPartsCount": len(parts),
                "IsTruncated": False,
                "Parts": [{k: p[k] for k in ("PartNumber", "Size", "ChecksumSHA256")} for p in parts],
            }

    def _part_copy(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context["shim_params"]
        source = params["CopySource"]
        data = self.objects[source["Key"]]
        start, end = (int(x) for x in params["CopySourceRange"].removeprefix("bytes=").split("-"))
        digest = hashlib.sha256(data[start : end + 1]).digest()
        parsed.setdefault("CopyPartResult", {})["ChecksumSHA256"] = base64.b64encode(digest).decode()

    def _complete(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        parts = context["shim_params"]["MultipartUpload"]["Parts"]
        if "ChecksumSHA256" not in parsed:
            joined = b"".join(base64.b64decode(p["ChecksumSHA256"]) for p in parts)
            parsed["ChecksumSHA256"] = f"{base64.b64encode(hashlib.sha256(joined).digest()).decode()}-{len(parts)}"


def test_large_multipart_object(s3: Any, packager: Packager, settings: Settings, call_log: CallLog) -> None:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    matching = os.urandom(2 * 8 * MiB + 12345)  # parts of 8 MiB: quilt3's chunks
    odd = os.urandom(11 * MiB)  # parts of 5 MiB: not quilt3's chunks
    single = os.urandom(9 * MiB)  # one PUT: a full-object checksum, unusable for 2 chunks
    uploads = {
        "big/matching.bin": put_multipart(s3, "src-bucket", "big/matching.bin", matching, 8 * MiB),
        "big/odd.bin": put_multipart(s3, "src-bucket", "big/odd.bin", odd, 5 * MiB),
    }
    put(s3, "src-bucket", "big/single.bin", single, sha256=True)
    data = {"big/matching.bin": matching, "big/odd.bin": odd, "big/single.bin": single}
    MultipartShim(packager.s3, data, {k: v["Parts"] for k, v in uploads.items()})

    result = packager.package(
        request(settings, source_prefix="s3://src-bucket/big", registry="reg-bucket", message="m", should_copy=True)
    )

    gets = {key for op, bucket, key in call_log.calls if op == "GetObject" and bucket == "src-bucket"}
    assert gets == {"big/odd.bin", "big/single.bin"}  # the matching composite checksum was reused
    pkg = browse(result.package_name, "reg-bucket")
    for key, blob in data.items():
        entry = pkg[key.removeprefix("big/")]
        assert entry.hash["value"] == quilt_hash(blob), key
        assert entry.physical_key.bucket == "reg-bucket"
        assert entry.physical_key.path == f"{result.package_name}/{key.removeprefix('big/')}"
        assert entry.physical_key.version_id is not None
        assert entry.get_bytes() == blob


def test_large_object_without_shim_is_read(s3: Any, packager: Packager, settings: Settings, call_log: CallLog) -> None:
    make_bucket(s3, "src-bucket")
    blob = os.urandom(8 * MiB + 1)
    put_multipart(s3, "src-bucket", "big/m.bin", blob, 8 * MiB)
    exact = os.urandom(8 * MiB)
    put(s3, "src-bucket", "big/exact.bin", exact, sha256=True)  # exactly one chunk: reusable
    result = packager.package(request(settings, source_prefix="s3://src-bucket/big", message="m"))
    pkg = browse(result.package_name, "src-bucket")
    assert pkg["m.bin"].hash["value"] == quilt_hash(blob)
    assert pkg["exact.bin"].hash["value"] == quilt_hash(exact)
    gets = {key for op, bucket, key in call_log.calls if op == "GetObject" and key and key.startswith("big/")}
    assert gets == {"big/m.bin"}


# ---------------------------------------------------------------- copying


def test_should_copy(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    data = {"a.txt": b"A" * 3000, "s/b.bin": os.urandom(5000), "z": b""}
    for k, v in data.items():
        put(s3, "src-bucket", f"in/{k}", v, sha256=k == "a.txt")
    result = packager.package(
        request(
            settings,
            source_prefix="s3://src-bucket/in",
            registry="reg-bucket",
            package_name="team/ds",
            should_copy=True,
            message="copy",
        )
    )
    pkg = browse("team/ds", "reg-bucket")
    for k, v in data.items():
        pk = pkg[k].physical_key
        assert (pk.bucket, pk.path) == ("reg-bucket", f"team/ds/{k}")
        assert pk.version_id is not None
        assert s3.get_object(Bucket="reg-bucket", Key=pk.path, VersionId=pk.version_id)["Body"].read() == v
        assert pkg[k].hash["value"] == quilt_hash(v)
    # re-delivery: nothing copied again
    versions_before = s3.list_object_versions(Bucket="reg-bucket", Prefix="team/ds/")["Versions"]
    again = packager.package(
        request(
            settings,
            source_prefix="s3://src-bucket/in",
            registry="reg-bucket",
            package_name="team/ds",
            should_copy=True,
            message="copy",
        )
    )
    assert again.status == "unchanged" and again.top_hash == result.top_hash
    assert s3.list_object_versions(Bucket="reg-bucket", Prefix="team/ds/")["Versions"] == versions_before


# ---------------------------------------------------------------- workflows

CONFIG = """
version: "1"
is_workflow_required: {required}
default_workflow: {default}
workflows:
  alpha:
    name: Alpha
    metadata_schema: needs-project
  beta:
    name: Beta
    handle_pattern: ^beta/
schemas:
  needs-project:
    url: s3://reg-bucket/.quilt/workflows/needs-project.json
"""
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["project"],
    "properties": {"project": {"type": "string"}},
}


@pytest.fixture
def workflow_registry(s3: Any) -> str:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    put(s3, "reg-bucket", ".quilt/workflows/config.yml", CONFIG.format(required="true", default="alpha"))
    put(s3, "reg-bucket", ".quilt/workflows/needs-project.json", json.dumps(SCHEMA))
    return "reg-bucket"


def test_workflow_passes(s3: Any, packager: Packager, settings: Settings, workflow_registry: str) -> None:
    explicit = packager.package(
        request(
            settings,
            source_prefix="s3://src-bucket/d",
            registry="reg-bucket",
            workflow="alpha",
            metadata={"project": "p"},
            message="m",
        )
    )
    meta, _ = read_manifest(s3, "reg-bucket", explicit.top_hash)
    assert meta["workflow"]["id"] == "alpha"
    assert meta["workflow"]["config"].startswith("s3://reg-bucket/.quilt/workflows/config.yml")

    default = packager.package(
        request(
            settings, source_prefix="s3://src-bucket/d", registry="reg-bucket", metadata={"project": "p"}, message="m"
        )
    )
    assert default.status == "unchanged"  # workflow None = the default workflow = alpha: same package

    beta = packager.package(
        request(
            settings,
            source_prefix="s3://src-bucket/d",
            registry="reg-bucket",
            workflow="beta",
            package_name="beta/x",
            message="m",
        )
    )
    assert read_manifest(s3, "reg-bucket", beta.top_hash)[0]["workflow"]["id"] == "beta"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"workflow": "alpha", "metadata": {"other": 1}}, "Metadata failed validation"),
        ({"metadata": {}}, "Metadata failed validation"),  # the default workflow
        ({"workflow": "beta", "package_name": "gamma/x"}, "doesn't match required pattern"),
        ({"workflow": "nope"}, "no 'nope' workflow"),
        ({"workflow": ""}, "Workflow required"),
    ],
)
def test_workflow_fails_and_writes_nothing(
    s3: Any, packager: Packager, settings: Settings, workflow_registry: str, fields: dict[str, Any], reason: str
) -> None:
    body = {"source_prefix": "s3://src-bucket/d", "registry": "reg-bucket", "message": "m", **fields}
    with pytest.raises(PermanentError) as err:
        packager.package(request(settings, **body))
    assert reason in str(err.value)
    assert "workflow" in str(err.value) and "s3://reg-bucket" in str(err.value)
    assert "\n" not in str(err.value)
    assert_nothing_written(s3, "reg-bucket")


def test_workflow_explicitly_none(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    put(s3, "reg-bucket", ".quilt/workflows/config.yml", CONFIG.format(required="false", default="alpha"))
    put(s3, "reg-bucket", ".quilt/workflows/needs-project.json", json.dumps(SCHEMA))
    result = packager.package(
        request(settings, source_prefix="s3://src-bucket/d", registry="reg-bucket", workflow="", message="m")
    )
    # quilt3 records "no workflow" against an existing config as id None
    assert read_manifest(s3, "reg-bucket", result.top_hash)[0]["workflow"]["id"] is None


def test_workflow_without_config(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    with pytest.raises(PermanentError, match="no workflows config"):
        packager.package(request(settings, source_prefix="s3://src-bucket/d", workflow="alpha", message="m"))
    assert_nothing_written(s3, "src-bucket")


# ---------------------------------------------------------------- failures


def test_missing_source_bucket(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "reg-bucket")
    with pytest.raises(PermanentError) as err:
        packager.package(request(settings, source_prefix="s3://no-such-bucket/f", registry="reg-bucket", message="m"))
    assert str(err.value) == "ListObjectVersions on s3://no-such-bucket/f/: no such bucket"


def test_missing_registry_bucket(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    with pytest.raises(PermanentError) as err:
        packager.package(request(settings, source_prefix="s3://src-bucket/d", registry="no-such-reg", message="m"))
    assert "s3://no-such-reg/" in str(err.value) and "no such bucket" in str(err.value)


def test_access_denied_listing(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    fail_operation(packager.s3, "ListObjectVersions", 403, "AccessDenied")
    with pytest.raises(PermanentError) as err:
        packager.package(request(settings, source_prefix="s3://src-bucket/d", message="m"))
    assert str(err.value).startswith("ListObjectVersions on s3://src-bucket/d/: access denied")


def test_access_denied_reading_one_object(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    for i in range(6):
        put(s3, "src-bucket", f"d/{i}.txt", f"file {i}")
    fail_operation(packager.s3, "HeadObject", 403, "403", when=lambda p: p.get("Key") == "d/3.txt")
    with pytest.raises(PermanentError) as err:
        packager.package(request(settings, source_prefix="s3://src-bucket/d", message="m"))
    assert str(err.value).startswith("HeadObject on s3://src-bucket/d/3.txt: access denied")
    assert_nothing_written(s3, "src-bucket")


@pytest.mark.parametrize(
    ("operation", "status", "code"),
    [
        ("ListObjectVersions", 503, "SlowDown"),
        ("HeadObject", 503, "503"),
        ("GetObject", 500, "InternalError"),
        ("GetObject", 400, "ThrottlingException"),
        ("PutObject", 503, "ServiceUnavailable"),
    ],
)
def test_transient_failures(
    s3: Any, packager: Packager, settings: Settings, operation: str, status: int, code: str
) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")
    fail_operation(packager.s3, operation, status, code, when=lambda p: not str(p.get("Key", "")).endswith("latest"))
    with pytest.raises(TransientError) as err:
        packager.package(request(settings, source_prefix="s3://src-bucket/d", message="m"))
    assert operation in str(err.value) and "s3://src-bucket/" in str(err.value)
    assert not err.value.permanent
    if operation != "PutObject":
        assert_nothing_written(s3, "src-bucket")


def test_connection_error_is_transient(s3: Any, packager: Packager, settings: Settings) -> None:
    make_bucket(s3, "src-bucket")
    put(s3, "src-bucket", "d/a.txt", b"A")

    def refuse(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://s3.example")

    packager.s3.meta.events.register("before-call.s3.HeadObject", refuse)
    with pytest.raises(TransientError, match=r"HeadObject on s3://src-bucket/d/a.txt: connection failed"):
        packager.package(request(settings, source_prefix="s3://src-bucket/d", message="m"))


def test_allow_list_rejects_before_any_s3_call(s3: Any, settings: Settings) -> None:
    req = request(settings, source_prefix="s3://src-bucket/d", registry="reg-bucket", message="m")
    # an endpoint nothing listens on: any S3 call would fail as a connection error, not a rejection
    packager = Packager(Settings(allowed_registries=["allowed-bucket"]), endpoint_url="http://127.0.0.1:9")
    log = CallLog(packager.s3)
    with pytest.raises(PermanentError) as err:
        packager.package(req)
    assert "'reg-bucket' is not an allowed registry" in str(err.value)
    assert log.calls == []


def test_quilt3_uses_the_packager_client(
    s3: Any, packager: Packager, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    for i in range(3):
        put(s3, "src-bucket", f"d/{i}.txt", f"{i}")
    put(s3, "reg-bucket", ".quilt/workflows/config.yml", CONFIG.format(required="false", default="beta"))
    built: list[str] = []
    real_client = boto3.session.Session.client

    def counting_client(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service)
        return real_client(self, service, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", counting_client)
    log = CallLog(packager.s3)
    packager.package(
        request(
            settings,
            source_prefix="s3://src-bucket/d",
            registry="reg-bucket",
            package_name="beta/p",
            should_copy=True,
            message="m",
        )
    )
    assert built == []  # quilt3's workflow read, copies and manifest writes all went through packager.s3
    assert log.count("CopyObject", "reg-bucket") == 3
    assert log.count("PutObject", "reg-bucket") == 3  # manifest, timestamp pointer, latest
    assert log.count("GetObject", "reg-bucket") >= 1  # workflows config


def test_errors_are_one_line_and_typed() -> None:
    from qps_core.aws import classify

    def client_error(code: str, status: int, message: str = "multi\nline message") -> Exception:
        return botocore.exceptions.ClientError(
            {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
        )

    cases = {
        ("NoSuchBucket", 404): (PermanentError, "no such bucket"),
        ("AccessDenied", 403): (PermanentError, "access denied"),
        ("NoSuchKey", 404): (PermanentError, "no such object"),
        ("SlowDown", 503): (TransientError, "throttled"),
        ("Throttling", 400): (TransientError, "throttled"),
        ("InternalError", 500): (TransientError, "temporary"),
        ("RequestTimeout", 400): (TransientError, "temporary"),
        ("PreconditionFailed", 412): (TransientError, "changed"),
        ("InvalidArgument", 400): (PermanentError, "refused"),
    }
    for (code, status), (kind, words) in cases.items():
        err = classify(client_error(code, status), "GetObject", "s3://b/k")
        assert type(err) is kind, code
        assert str(err).startswith("GetObject on s3://b/k: ") and words in str(err)
        assert "\n" not in str(err)
    timeout = botocore.exceptions.ReadTimeoutError(endpoint_url="https://x")
    assert isinstance(classify(timeout, "GetObject", "s3://b/k"), TransientError)
    assert isinstance(classify(botocore.exceptions.NoCredentialsError(), "GetObject", "s3://b/k"), PermanentError)


class _CutOff:
    """A response body that breaks after a few bytes, as a reset connection does."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read(self, *_: Any, **__: Any) -> bytes:
        raise self.error

    def stream(self, *_: Any, **__: Any) -> Any:
        yield self.read()
        self.read()

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


@pytest.mark.parametrize("kind", ["protocol", "reset", "incomplete"])
def test_workflow_config_cut_off_or_reset_is_transient(
    s3: Any, packager: Packager, settings: Settings, workflow_registry: str, kind: str
) -> None:
    """Reading .quilt/workflows/config.yml: a body cut off mid-way or a reset is transient, like every read."""
    import http.client

    import urllib3.exceptions
    from botocore.response import StreamingBody

    error: BaseException = {
        "protocol": urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(8 bytes read)"),
        "reset": ConnectionResetError(104, "Connection reset by peer"),
        "incomplete": http.client.IncompleteRead(b"version:", 90),
    }[kind]

    def stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["qps_key"] = params.get("Key")

    def cut(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("qps_key") == ".quilt/workflows/config.yml" and "Body" in parsed:
            parsed["Body"] = StreamingBody(_CutOff(error), 98)

    packager.s3.meta.events.register("before-parameter-build.s3.GetObject", stash)
    packager.s3.meta.events.register("after-call.s3.GetObject", cut)
    body = {"source_prefix": "s3://src-bucket/d", "registry": "reg-bucket", "message": "m", "workflow": "alpha"}
    with pytest.raises(TransientError) as err:
        packager.package(request(settings, **body, metadata={"project": "p"}))
    assert "config.yml" in str(err.value) and "\n" not in str(err.value)
    assert_nothing_written(s3, "reg-bucket")


@pytest.mark.parametrize("parts", [50, pytest.param(1000, marks=pytest.mark.slow)])
def test_a_crate_costs_one_read_more_than_its_folder(s3: Any, settings: Settings, parts: int) -> None:
    """A crate of N parts: one GetObject of the crate (which also gives its hash) beside the folder
    listing, and per part only the hashing's own requests; the same folder with the crate's bytes
    under another name (no crate) makes the same requests plus a HeadObject to hash that file."""
    make_bucket(s3, "src-bucket")
    make_bucket(s3, "reg-bucket")
    names = [f"out/p{i:04d}.txt" for i in range(parts)]
    for folder in ("with", "without"):
        for name in names:
            put(s3, "src-bucket", f"{folder}/{name}", name)
    graph = [
        {"@id": "ro-crate-metadata.json", "about": {"@id": "./"}},
        {"@id": "./", "@type": "Dataset", "name": "n", "hasPart": [{"@id": n} for n in names]},
        *({"@id": n, "@type": "File", "contentSize": len(n)} for n in names),
    ]
    put(s3, "src-bucket", "with/ro-crate-metadata.json", json.dumps({"@graph": graph}))
    put(s3, "src-bucket", "without/notes.json", json.dumps({"@graph": graph}))
    counts = {}
    for folder in ("with", "without"):
        packager = Packager(settings)
        log = CallLog(packager.s3)
        result = packager.package(request(settings, source_prefix=f"s3://src-bucket/{folder}", registry="reg-bucket"))
        assert result.files == parts + 1
        counts[folder] = Counter(op for op, bucket, _ in log.calls if bucket == "src-bucket")
    assert counts["with"]["GetObject"] == parts + 1  # the crate, and the hashing's read of each small part
    assert counts["with"]["HeadObject"] == parts  # the hashing's own, none for the crate
    assert counts["with"] + Counter({"HeadObject": 1}) == counts["without"], counts


def test_the_demo_crate_is_consistent(s3: Any, packager: Packager, settings: Settings) -> None:
    """`qps demo` and `make serve --embedded` seed an nf-prov run whose crate lists exactly its parts."""
    from qps_core.demo import DATA_BUCKET, PACKAGES_BUCKET, seed

    seed(s3)
    req = request(settings, source_prefix=f"s3://{DATA_BUCKET}/nextflow/rnaseq-nf-20250314", registry=PACKAGES_BUCKET)
    result = packager.package(req)
    assert result.rocrate is not None
    assert (result.rocrate["mode"], result.rocrate["parts"]) == ("parts", 6)
    assert result.rocrate["validation"] == {"level": "ok", "issues": []}
    pkg = browse(result.package_name, PACKAGES_BUCKET)
    assert "work/ab/12cd/.command.log" not in {k for k, _ in pkg.walk()}
    assert pkg.meta["ro-crate"]["run"]["endTime"] == "2025-03-14T09:38:51.902Z"
