"""`qps demo`: the main job, on an embedded local endpoint, with no AWS account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # end to end: the whole demo, twice, on its own endpoint
def test_demo_creates_three_packages_then_finds_them_unchanged(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "AWS_"))}
    env.update(
        XDG_STATE_HOME=str(tmp_path / "state"),
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "cfg"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "creds"),
    )
    qps = Path(sys.executable).parent / "qps"
    out = subprocess.run([str(qps), "demo", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    first, second = lines[:3], lines[3:]
    assert [x["status"] for x in first] == ["created"] * 3
    assert [x["status"] for x in second] == ["unchanged"] * 3
    assert {x["adapter"] for x in first} == {"omics", "rocrate", "description"}
    assert {(x["registry"], x["package_name"]) for x in first} == {
        ("qps-demo-data", "omics-quilt/3395667"),
        ("qps-demo-data", "nextflow/rnaseq-nf-20250314"),
        ("qps-demo-packages", "lims/batch-0301"),
    }
    assert [x["top_hash"] for x in first] == [x["top_hash"] for x in second]
    assert all(len(x["top_hash"]) == 64 and x["files"] > 0 for x in first)
    # The endpoint was stopped on exit: nothing is left recorded for reuse.
    assert not (tmp_path / "state" / "qps" / "demo-endpoint.json").exists()
