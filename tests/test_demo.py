"""`qps demo`: the main job, on an embedded local endpoint, with no AWS account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import clean_env


@pytest.mark.slow  # end to end: the whole demo, twice, on its own endpoint
def test_demo_creates_three_packages_then_finds_them_unchanged(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
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


def test_demo_without_keep_ends_by_telling_how_to_keep_the_endpoint_not_with_a_dead_url() -> None:
    from qps_core.demo.walkthrough import closing_lines

    lines = closing_lines("http://127.0.0.1:5999", endpoint_stays=False, qps=".venv/bin/qps")
    assert "  .venv/bin/qps demo --keep" in lines
    assert not any("127.0.0.1:5999" in line for line in lines)


@pytest.mark.slow  # end to end: the demo with --keep, then qps show against its endpoint
def test_demo_keep_ends_with_show_commands_that_work_after_it_exits(tmp_path: Path) -> None:
    import shlex
    import signal

    env = clean_env(tmp_path)
    qps = Path(sys.executable).parent / "qps"
    out = subprocess.run([str(qps), "demo", "--keep"], capture_output=True, text=True, env=env, timeout=300)
    state = tmp_path / "state" / "qps" / "demo-endpoint.json"
    try:
        assert out.returncode == 0, out.stderr[-3000:]
        commands = [line.strip() for line in out.stdout.splitlines()[-3:] if " show " in line]
        assert len(commands) == 2, out.stdout[-1000:]
        for command in commands:  # the demo has exited; the commands it printed still work
            shown = subprocess.run(shlex.split(command), capture_output=True, text=True, env=env, timeout=120)
            assert shown.returncode == 0, shown.stderr[-2000:]
            assert shlex.split(command)[3] in shown.stdout  # the package name, read back from the registry
            if "omics-quilt/3395667" in command:  # the HealthOmics run carries its GetRun provenance
                assert '"enrichment": "GetRun"' in shown.stdout and '"workflowVersionName": "3.14.0"' in shown.stdout
                assert "message: HealthOmics run 3395667 (rnaseq-3395667) COMPLETED" in shown.stdout
    finally:
        if state.exists():  # stop the endpoint this test started
            os.kill(json.loads(state.read_text())["pid"], signal.SIGTERM)
