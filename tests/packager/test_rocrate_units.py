"""The pure RO-Crate functions: parts selection, metadata mapping, validation (no S3)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from qps_core.errors import PermanentError
from qps_core.packaging import rocrate_meta, rocrate_parts, rocrate_validation
from qps_core.packaging.listing import SourceObject


def obj(key: str, size: int = 3, checksum: str | None = None) -> SourceObject:
    return SourceObject(
        key=f"f/{key}", logical_key=key, size=size, version_id=None, etag=None, algorithms=None, checksum=checksum
    )


def crate(parts: list[Any], *extra: dict[str, Any], **root: Any) -> dict[str, Any]:
    return {
        "@graph": [
            {
                "@id": "ro-crate-metadata.json",
                "about": {"@id": "./"},
                "conformsTo": {"@id": "https://w3id.org/ro/crate/1.2"},
            },
            {
                "@id": "./",
                "@type": "Dataset",
                "hasPart": [{"@id": p} if isinstance(p, str) else p for p in parts],
                **root,
            },
            *extra,
        ]
    }


SENTINEL = obj("ro-crate-metadata.json")


def select(doc: Any, objects: list[SourceObject], **kw: Any) -> rocrate_parts.Selection:
    return rocrate_parts.select(doc, SENTINEL, [SENTINEL, *objects], source="b/f/", **kw)


def test_parts_datasets_skipped_and_missing() -> None:
    objects = [obj("a.txt"), obj("d/x"), obj("d/y/z"), obj("dx"), obj("extra.log"), obj("with space.txt")]
    doc = crate(
        [
            "a.txt",
            "d/",
            "#frag",
            "https://example.org/x",
            "file:///tmp/t",
            "urn:uuid:1",
            "gone.txt",
            "with%20space.txt",
            "a.txt",
        ],
    )
    sel = select(doc, objects)
    assert sel.mode == "parts"
    assert {o.logical_key for o in sel.objects} == {"ro-crate-metadata.json", "a.txt", "d/x", "d/y/z", "with space.txt"}
    assert sel.skipped == ["#frag", "https://example.org/x", "file:///tmp/t", "urn:uuid:1"]
    assert sel.missing == ["gone.txt"]


def test_dataset_by_type_and_file_inside_it_keeps_its_entity() -> None:
    f = {"@id": "d/x", "@type": "File", "encodingFormat": "text/csv", "contentSize": 3}
    doc = crate(["d", "d/x"], {"@id": "d", "@type": "Dataset"}, f)
    sel = select(doc, [obj("d/x"), obj("d/y")])
    assert {o.logical_key for o in sel.objects} == {"ro-crate-metadata.json", "d/x", "d/y"}
    assert sel.entities["d/x"] is f


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "a/%2E%2E/%2E%2E/x", "/abs", "a//b", ".", "%2e%2e/x"])
def test_escaping_ids_rejected_naming_them(bad: str) -> None:
    with pytest.raises(PermanentError, match="hasPart member " + repr(bad).replace(".", r"\.")):
        select(crate([bad]), [obj("x")])


def test_s3_members() -> None:
    genome = {"@id": "s3://other/ref/genome.fa", "@type": "File", "encodingFormat": "text/x-fasta"}
    doc = crate(["s3://other/ref/genome.fa", "s3://b/f/a.txt"], genome)
    sel = select(doc, [obj("a.txt")])
    assert sel.entities["genome.fa"] is genome
    assert [(e.bucket, e.key, e.logical_key) for e in sel.external] == [("other", "ref/genome.fa", "genome.fa")]
    assert {o.logical_key for o in sel.objects} == {"ro-crate-metadata.json", "a.txt"}  # its own folder: in place
    with pytest.raises(PermanentError, match="outside the allowed sources"):
        select(doc, [obj("a.txt")], allowed=lambda bucket, key: bucket == "b")
    with pytest.raises(PermanentError, match="two objects, one key"):
        select(crate(["a.txt", "s3://other/x/a.txt"]), [obj("a.txt")])
    with pytest.raises(PermanentError, match="two objects, one key"):
        select(crate(["s3://o1/a.txt", "s3://o2/a.txt"]), [])


@pytest.mark.parametrize(
    ("doc", "unusable", "why"),
    [
        (crate([]), None, "no hasPart"),
        ({"@graph": [{"@id": "other"}]}, None, "no root Dataset"),
        ({"x": 1}, None, "no @graph"),
        (None, "the crate file is not valid JSON", "not valid JSON"),
    ],
)
def test_unusable_haspart_means_folder(doc: Any, unusable: str | None, why: str) -> None:
    sel = select(doc, [obj("a"), obj("b")], unusable=unusable)
    assert sel.mode == "folder" and why in (sel.reason or "")
    assert len(sel.objects) == 3


def test_folder_setting() -> None:
    sel = select(crate(["a"]), [obj("a"), obj("b")], contents="folder")
    assert sel.mode == "folder" and sel.reason is None and len(sel.objects) == 3


def test_package_meta_mapping() -> None:
    doc = crate(
        ["main.nf"],
        {
            "@id": "main.nf",
            "@type": ["File", "ComputationalWorkflow"],
            "name": "wf",
            "version": "1.2",
            "programmingLanguage": {"@id": "#nf"},
            "codeRepository": "https://git/x",
        },
        {"@id": "#nf", "name": "Nextflow"},
        {
            "@id": "#run1",
            "@type": "CreateAction",
            "instrument": {"@id": "main.nf"},
            "endTime": "2025-01-01",
            "object": [{"@id": "#p1"}],
        },
        {
            "@id": "#run2",
            "@type": "CreateAction",
            "instrument": {"@id": "main.nf"},
            "startTime": "2025-02-01T00:00Z",
            "endTime": "2025-02-02",
            "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
            "object": [{"@id": "#p2"}, {"@id": "#p3"}, {"@id": "data.csv"}],
            "agent": {"@id": "https://orcid.org/1"},
        },
        {"@id": "#other", "@type": "CreateAction", "instrument": {"@id": "#tool"}, "endTime": "2030-01-01"},
        {"@id": "#p1", "@type": "PropertyValue", "name": "old", "value": "x"},
        {"@id": "#p2", "@type": "PropertyValue", "name": "reads", "value": "s3://r/*.fq"},
        {"@id": "#p3", "@type": "PropertyValue", "name": "n", "value": 7},
        {"@id": "https://orcid.org/1", "@type": "Person", "name": "Ada"},
        {
            "@id": "#pkg",
            "@type": "PropertyValue",
            "propertyID": "https://w3id.org/quilt/ro-crate#packageName",
            "value": "team/run-1",
        },
        name="n" * 3000,
        license={"@id": "https://spdx.org/licenses/MIT", "name": "MIT"},
        keywords="a, b,,c",
        author={"@id": "https://orcid.org/1"},
        identifier={"@id": "#pkg"},
        mainEntity={"@id": "main.nf"},
        unknownField="dropped",
    )
    meta = rocrate_meta.package_meta(doc, "ro-crate-metadata.json")
    assert len(meta["name"]) == 2000
    assert meta["license"] == {"@id": "https://spdx.org/licenses/MIT", "name": "MIT"}
    assert meta["keywords"] == ["a", "b", "c"]
    assert meta["creator"] == [{"@id": "https://orcid.org/1", "name": "Ada"}]
    assert meta["workflow"] == {
        "name": "wf",
        "version": "1.2",
        "codeRepository": "https://git/x",
        "programmingLanguage": {"@id": "#nf", "name": "Nextflow"},
    }
    assert meta["run"] == {
        "startTime": "2025-02-01T00:00Z",
        "endTime": "2025-02-02",
        "actionStatus": "http://schema.org/CompletedActionStatus",
        "agent": [{"@id": "https://orcid.org/1", "name": "Ada"}],
        "parameters": {"reads": "s3://r/*.fq", "n": 7},
    }
    assert meta["identifier"] == [{"propertyID": "https://w3id.org/quilt/ro-crate#packageName", "value": "team/run-1"}]
    assert "unknownField" not in meta and "description" not in meta and "publisher" not in meta
    assert rocrate_meta.package_name(doc, "ro-crate-metadata.json") == "team/run-1"
    assert rocrate_meta.package_name(crate([]), "ro-crate-metadata.json") is None
    assert rocrate_meta.package_meta(None, "x") == {}


def test_bounds() -> None:
    params = [{"@id": f"#p{i}", "@type": "PropertyValue", "name": f"p{i}", "value": i} for i in range(150)]
    doc = crate(
        [],
        {"@id": "w", "name": "w"},
        {
            "@id": "#r",
            "@type": "CreateAction",
            "instrument": {"@id": "w"},
            "object": [{"@id": p["@id"]} for p in params],
        },
        *params,
        mainEntity={"@id": "w"},
        keywords=[f"k{i}" for i in range(80)],
    )
    meta = rocrate_meta.package_meta(doc, "ro-crate-metadata.json")
    assert len(meta["run"]["parameters"]) == 100
    assert len(meta["keywords"]) == 50


def test_entry_meta() -> None:
    entity = {
        "@id": "a.csv",
        "@type": "File",
        "name": "A",
        "encodingFormat": ["text/csv", {"@id": "#fmt"}],
        "contentSize": "12",
        "sha256": "ab",
        "conformsTo": {"@id": "https://x"},
        "author": "not kept",
    }
    assert rocrate_meta.entry_meta(entity, {"#fmt": {"@id": "#fmt", "name": "CSV"}}) == {
        "name": "A",
        "encodingFormat": ["text/csv", {"@id": "#fmt", "name": "CSV"}],
        "contentSize": "12",
        "sha256": "ab",
        "conformsTo": {"@id": "https://x"},
    }


def quilt_hash(data: bytes) -> str:
    inner = hashlib.sha256(data).digest()
    return base64.b64encode(hashlib.sha256(inner).digest() if data else inner).decode()


def test_validation_sizes_and_sha256() -> None:
    data = b"hello"
    good = obj("a", 5, quilt_hash(data))
    empty = obj("e", 0, quilt_hash(b""))
    entities: dict[str, dict[str, Any]] = {
        "a": {"@id": "a", "contentSize": 5, "sha256": hashlib.sha256(data).hexdigest()},
        "e": {"@id": "e", "contentSize": "0", "sha256": hashlib.sha256(b"").hexdigest()},
    }
    assert rocrate_validation.part_issues(entities, [good, empty]) == []
    entities["a"] = {"@id": "a", "contentSize": "4", "sha256": hashlib.sha256(b"other").hexdigest()}
    issues = rocrate_validation.part_issues(entities, [good])
    assert [(i["level"], i["id"]) for i in issues] == [("error", "a"), ("error", "a")]
    big = obj("big", 9 * 1024 * 1024, "x" * 44)  # several chunks: the hash does not pin the SHA-256
    assert rocrate_validation.sha256_matches(big, "00" * 32) is None
    report = rocrate_validation.report([rocrate_validation.issue("warning", "./", "w")] * 60 + issues)
    assert report["level"] == "error" and len(report["issues"]) == 50 and report["issues"][0]["level"] == "error"
    assert rocrate_validation.report([]) == {"level": "ok", "issues": []}


def test_validation_root_fields_and_duplicate_ids() -> None:
    doc = crate(["a"], {"@id": "a"}, {"@id": "a"}, name="N")
    issues = rocrate_validation.crate_issues(doc, "ro-crate-metadata.json")
    messages = {(i["id"], i["message"]) for i in issues}
    assert ("./", "the root Dataset has no description (RECOMMENDED)") in messages
    assert ("./", "the root Dataset has no name (RECOMMENDED)") not in messages
    assert ("a", "more than one entity has this @id") in messages


def test_huge_parameters_are_left_out_with_a_warning() -> None:
    from qps_core.packaging.rocrate_step import MAX_META_BYTES, _within_limit

    deep: Any = "x" * 2000
    for _ in range(3):
        deep = [deep] * 50
    meta = {"run": {"name": "r", "parameters": {"p": deep}}, "validation": {"level": "ok", "issues": []}}
    out = _within_limit(meta)
    assert out["run"] == {"name": "r"} and out["validation"]["level"] == "warning"
    assert len(json.dumps(out)) < MAX_META_BYTES
    small = {"run": {"parameters": {"p": 1}}, "validation": {"level": "ok", "issues": []}}
    assert _within_limit(small) is small


def test_validation_without_a_descriptor() -> None:
    doc = {"@graph": [{"@id": "./", "@type": "Dataset", "name": "n", "hasPart": []}]}
    issues = rocrate_validation.crate_issues(doc, "ro-crate-metadata.json")
    assert {
        "level": "warning",
        "id": "ro-crate-metadata.json",
        "message": "no metadata descriptor (an entity with this @id, about the root)",
    } in issues
    assert not any(
        "descriptor" in i["message"] for i in rocrate_validation.crate_issues(crate([]), "ro-crate-metadata.json")
    )
