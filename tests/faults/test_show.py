"""`qps show` reads a revision back through the default credential chain and AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from qps_core.cli import describe_package
from qps_core.models import PackageRequest
from qps_core.packaging.packager import Packager
from qps_core.settings import Settings
from tests.faults.scenario import unique

QPS = Path(sys.executable).parent / "qps"


def _package(s3: Any) -> tuple[str, str]:
    bucket = unique("show")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="runs/7/a.txt", Body=b"alpha")
    request = PackageRequest.parse({"source_prefix": f"s3://{bucket}/runs/7", "metadata": {"k": "v"}, "message": "m"})
    result = Packager(Settings()).package(request)
    return bucket, result.top_hash


def _qps(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPS_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())
    return subprocess.run([str(QPS), *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_defect_qps_show_without_endpoint_url_uses_aws_endpoint_url(s3: Any, tmp_path: Path) -> None:
    """Before: `qps show` without --endpoint-url crashed with UnboundLocalError, so it never worked on AWS."""
    bucket, top_hash = _package(s3)
    assert "AWS_ENDPOINT_URL" in os.environ  # the default chain's endpoint, as on AWS with no override

    shown = _qps("show", f"s3://{bucket}", "runs/7", "--json", tmp_path=tmp_path)

    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["top_hash"] == top_hash and info["message"] == "m" and info["metadata"] == {"k": "v"}
    assert [e["logical_key"] for e in info["entries"]] == ["a.txt"]
    text = _qps("show", bucket, "runs/7", "--top-hash", top_hash, tmp_path=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"s3://{bucket} runs/7@{top_hash}" in text.stdout and "a.txt" in text.stdout


def test_qps_show_errors_are_one_line(s3: Any, tmp_path: Path) -> None:
    bucket, _ = _package(s3)
    missing = _qps("show", bucket, "no/such", tmp_path=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"qps: error: cannot read package no/such from s3://{bucket}")
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    bad = _qps("show", bucket, "not a name", tmp_path=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_describe_package_in_process(s3: Any, moto_url: str, monkeypatch: Any) -> None:
    bucket, top_hash = _package(s3)
    assert describe_package(bucket, "runs/7")["top_hash"] == top_hash
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert describe_package(f"s3://{bucket}", "runs/7", endpoint_url=moto_url)["top_hash"] == top_hash
