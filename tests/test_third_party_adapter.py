"""A third party adds an adapter with pip: build the example into a fresh venv beside qps-core."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

from tests.helpers import stop_if_offline

# A fresh virtual environment and a pip install from the package index: slow, and needs the network.
pytestmark = [pytest.mark.slow, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "qps-adapter-lims"


def run(cmd: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    pip = run([home / "bin" / "python", "-m", "pip", "install", "--quiet", ROOT, EXAMPLE, "pytest"])
    if pip.returncode != 0:
        stop_if_offline(pip.stdout + pip.stderr, "installing the example adapter into a fresh venv")
    assert pip.returncode == 0, pip.stderr[-2000:]
    return home


def test_qps_adapters_lists_the_pip_installed_adapter(fresh_venv: Path) -> None:
    out = run([fresh_venv / "bin" / "qps", "adapters", "--json"])
    assert out.returncode == 0, out.stderr
    adapters = {a["id"]: a for a in map(json.loads, out.stdout.splitlines())}
    # qps-core brings its two built-ins; the example brings `lims`; first-party adapters were not installed.
    assert set(adapters) == {"description", "mapped", "lims"}
    assert adapters["lims"]["distribution"] == "qps-adapter-lims"
    assert adapters["lims"]["enabled"] is True and adapters["lims"]["loaded"] is True


def test_qps_plan_dispatches_to_the_pip_installed_adapter(fresh_venv: Path) -> None:
    out = run([fresh_venv / "bin" / "qps", "plan", "--json", EXAMPLE / "tests" / "export-completed.json"])
    assert out.returncode == 0, out.stderr
    [line] = [json.loads(x) for x in out.stdout.splitlines()]
    assert line["status"] == "planned" and line["adapter"] == "lims"
    assert [p["package_name"] for p in line["packages"]] == ["batches/batch-0412"]


def test_disabling_the_third_party_adapter_by_id(fresh_venv: Path) -> None:
    env_cmd: list[str | Path] = [
        "env",
        "QPS_DISABLE_ADAPTERS=lims",
        fresh_venv / "bin" / "qps",
        "plan",
        "--json",
        EXAMPLE / "tests" / "export-completed.json",
    ]
    out = run(env_cmd)
    line = json.loads(out.stdout)
    assert line["status"] == "ignored" and line["adapter"] is None


def test_the_example_adapters_own_tests_pass(fresh_venv: Path) -> None:
    out = run(
        [fresh_venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", EXAMPLE / "tests"], cwd=EXAMPLE
    )
    assert out.returncode == 0, out.stdout[-2000:]
