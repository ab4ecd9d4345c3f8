"""The embedded demo: realistic run folders in a local S3 endpoint, packaged by the real runner."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

DATA_BUCKET = "qps-demo-data"
PACKAGES_BUCKET = "qps-demo-packages"
EVENTS = resources.files(__name__) / "events"


def _blob(name: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes, so every demo run yields the same top hashes."""
    out = bytearray()
    seed = name.encode()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


def _tsv(rows: int) -> bytes:
    lines = ["gene_id\tgene_name\tsample1\tsample2\tsample3"]
    for i in range(rows):
        lines.append(f"ENSG{i:011d}\tGENE{i}\t{(i * 37) % 1000}\t{(i * 53) % 1000}\t{(i * 71) % 1000}")
    return ("\n".join(lines) + "\n").encode()


def demo_objects() -> Iterator[tuple[str, bytes, bool]]:
    """(key, body, with_sha256_checksum) for every object the demo puts in the data bucket."""
    crate = (resources.files(__name__) / "ro-crate-metadata.json").read_bytes()
    omics = "omics-quilt/3395667/"
    yield omics + "out/bam/sample1.markdup.sorted.bam", _blob("bam1", 300_000), True
    yield omics + "out/bam/sample2.markdup.sorted.bam", _blob("bam2", 280_000), True
    yield omics + "out/salmon/salmon.merged.gene_counts.tsv", _tsv(2000), True
    yield omics + "out/multiqc/multiqc_report.html", b"<html><body><h1>MultiQC report</h1></body></html>\n", False
    yield omics + "logs/run.log", b"2025-03-14T10:02:45Z run 3395667 started\n2025-03-14T11:02:40Z done\n", False
    yield omics + "out/", b"", False  # a folder marker, as the console creates: never packaged
    nf = "nextflow/rnaseq-nf-20250314/"
    yield nf + "main.nf", b"#!/usr/bin/env nextflow\nworkflow { RNASEQ(params.reads) }\n", True
    yield nf + "nextflow.config", b"params.reads = 's3://qps-demo-data/reads/*_{1,2}.fq.gz'\n", True
    yield nf + "README.md", b"# rnaseq-nf\n\nA proof-of-concept RNA-seq pipeline run.\n", True
    yield nf + "fastqc_ggal_gut_logs/ggal_gut_1_fastqc.html", b"<html><body>FastQC ggal_gut_1</body></html>\n", True
    yield nf + "fastqc_ggal_gut_logs/ggal_gut_2_fastqc.html", b"<html><body>FastQC ggal_gut_2</body></html>\n", True
    yield nf + "multiqc_report.html", b"<html><body>rnaseq-nf</body></html>\n", True
    # not one of the crate's parts (a work file left in the outdir): never packaged
    yield nf + "work/ab/12cd/.command.log", b"scratch\n", False
    yield nf + "ro-crate-metadata.json", crate, True
    lims = "lims/batch-0301/"
    samples = "sample_id,well,volume_ul\n" + "".join(
        f"S{i:03d},{'ABCDEFGH'[i % 8]}{i // 8 + 1},{20 + i}\n" for i in range(12)
    )
    yield lims + "samples.csv", samples.encode(), True
    yield lims + "plate-map.csv", b"plate,barcode\nP1,PL0301\n", False
    params = b"<RunParameters><Flowcell>22FJKLLT3</Flowcell></RunParameters>\n"
    yield lims + "instrument/run-parameters.xml", params, True


def seed(s3: Any) -> None:
    """Create the demo buckets and objects (idempotent: unchanged objects are not rewritten)."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (DATA_BUCKET, PACKAGES_BUCKET):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if DATA_BUCKET in existing:
        return
    for key, body, with_checksum in demo_objects():
        extra = {"ChecksumAlgorithm": "SHA256"} if with_checksum else {}
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body, **extra)


QUEUE = "qps-demo-queue"
DEAD_LETTER_QUEUE = "qps-demo-dead-letters"


def local_queues(sqs: Any, max_receive_count: int = 3) -> tuple[str, str]:
    """The local QuiltPackager queue and its dead-letter queue (redrive after `max_receive_count`
    receives), as the stack makes them: (queue URL, dead-letter queue URL). Idempotent."""
    dlq = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receive_count)})
    queue = sqs.create_queue(QueueName=QUEUE, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return queue, dlq


def event_files() -> list[Path]:
    return sorted(Path(str(p)) for p in EVENTS.iterdir() if p.name.endswith(".json"))


def load_events() -> list[tuple[str, Any]]:
    return [(p.name, json.loads(p.read_text())) for p in event_files()]
