"""The habits of a maintained project, checked: licence metadata, bounded core dependency, pinned
versions, and the same lint and type checks in make and pre-commit."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ["omics", "rocrate", "uri", "edp"]
PLUGIN_PROJECTS = [ROOT / "adapters" / a / "pyproject.toml" for a in ADAPTERS] + [
    ROOT / "examples" / "qps-adapter-lims" / "pyproject.toml"
]
MAKEFILE = (ROOT / "Makefile").read_text()


def project(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def make_recipe(target: str) -> list[str]:
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", MAKEFILE, re.M)
    assert match, f"no `make {target}`"
    return [line.strip() for line in match[1].splitlines()]


def test_every_pyproject_has_an_spdx_license_string_and_a_setuptools_that_reads_it() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    for path in [ROOT / "pyproject.toml", *PLUGIN_PROJECTS]:
        data = project(path)
        assert data["project"]["license"] == "Apache-2.0", path  # a string: the table form is deprecated
        assert data["build-system"]["requires"] == ["setuptools>=77"], path  # the first to read SPDX strings


def test_adapters_and_the_example_depend_on_a_bounded_qps_core() -> None:
    major, minor, _ = project(ROOT / "pyproject.toml")["project"]["version"].split(".")
    bounded = f"qps-core>={major}.{minor},<{major}.{int(minor) + 1}"
    for path in PLUGIN_PROJECTS:
        assert project(path)["project"]["dependencies"] == [bounded], path


def test_constraints_pin_exact_versions_and_install_uses_them() -> None:
    lines = [x for x in (ROOT / "constraints.txt").read_text().splitlines() if x and not x.startswith("#")]
    names = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[^=\s]+", line) for line in lines), lines
    assert {"pluggy", "pydantic", "quilt3", "boto3", "pytest", "moto", "ruff", "mypy"} <= names
    assert not [n for n in names if n.startswith("qps-")]  # the project itself is never pinned
    assert any("-c $(CONSTRAINTS)" in line for line in make_recipe("$(STAMP)"))
    assert any("pip freeze" in line for line in make_recipe("lock"))


def test_pre_commit_runs_what_make_lint_and_make_typecheck_run() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    lint = [line.replace("$(BIN)", ".venv/bin").split(" $(LINTED)")[0] for line in make_recipe("lint")]
    assert lint == [".venv/bin/ruff check", ".venv/bin/ruff format --check"]
    assert entries == [*lint, "make typecheck"]
    assert make_recipe("typecheck") == ["$(BIN)/mypy $(TYPED)"]
    assert "possibly-undefined" in project(ROOT / "pyproject.toml")["tool"]["mypy"]["enable_error_code"]


def test_test_fast_leaves_out_exactly_the_registered_slow_and_network_markers() -> None:
    markers = {m.split(":")[0] for m in project(ROOT / "pyproject.toml")["tool"]["pytest"]["ini_options"]["markers"]}
    assert markers == {"slow", "network"}
    assert make_recipe("test-fast") == ['$(BIN)/pytest -m "not slow and not network"']


def test_no_test_manipulates_sys_path() -> None:
    """Tests import helpers as `tests.<package>.<module>` and adapters' tests use `qps_core.testing`."""
    offenders = []
    for path in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("adapters/*/tests/*.py"), *ROOT.glob("examples/*/tests/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                targets = [node.func.value]  # sys.path.insert(...), .append(...)
            elif isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign):
                targets = [node.target]
            if any(ast.unparse(t) == "sys.path" for t in targets):
                offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    assert offenders == []
