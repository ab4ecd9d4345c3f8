"""The Lambda bundle (deploy/build_lambda.sh, `make lambda`): entry points survive, adapters load from it alone."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import stop_if_offline

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "build_lambda.sh"
FIRST_PARTY_ADAPTERS = {"omics", "rocrate", "uri", "edp", "description", "mapped"}
DISTRIBUTIONS = {"qps_core", "qps_adapter_omics", "qps_adapter_rocrate", "qps_adapter_uri", "qps_adapter_edp"}
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
# Runs as Lambda runs it: `python -B -S -s` (no site-packages, nothing written) with PYTHONPATH = the
# bundle and nothing else, from an empty directory.
PROBE = r"""
import json, os, sys, sysconfig

bundle = sys.argv[1]
leaks = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
assert not leaks, f"sys.path is not bundle + stdlib: {leaks}"

import importlib._bootstrap_external as bootstrap

compiled = []
_source_to_code = bootstrap.SourceLoader.source_to_code
def _counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)
bootstrap.SourceLoader.source_to_code = _counting

import qps_core.lambda_handler

ignored = qps_core.lambda_handler.handler(
    {"source": "aws.omics", "detail-type": "Run Status Change", "detail": {"status": "RUNNING"}}, None
)
adapters = qps_core.lambda_handler.processor().runner.adapters
stdlib = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}
roots = tuple(stdlib) + (os.path.realpath(bundle),)
outside = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None) and not os.path.realpath(module.__file__).startswith(roots)
)
print(json.dumps({
    "adapters": {i.id: {"loaded": i.loaded, "error": i.error, "distribution": i.distribution}
                 for i in adapters.infos.values()},
    "outside": outside,
    "ignored": [r["status"] for r in ignored["results"]],
    "compiled": [p for p in compiled if os.path.realpath(p).startswith(os.path.realpath(bundle))],
}))
"""


def test_unreachable_index_skips_saying_so_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    output = "WARNING: Retrying ... Failed to establish a new connection: [Errno 101] Network is unreachable"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs the network"):
        stop_if_offline(output, "building the Lambda bundle")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs the network"):
        stop_if_offline(output, "building the Lambda bundle")
    stop_if_offline("ERROR: No matching distribution found for qps-core", "building it")  # a real failure


def build_bundle(out: Path) -> Path:
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        stop_if_offline(output, "building the Lambda bundle")
        pytest.fail(f"{SCRIPT.name} failed ({result.returncode}):\n{output[-6000:]}")
    assert out.is_file()
    assert "MiB unzipped" in result.stdout, "the build script prints the bundle's size"
    return out


@pytest.fixture(scope="module")
def bundle_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("lambda") / "qps-lambda.zip")


@pytest.mark.network
@pytest.mark.slow
def test_the_bundle_is_reproducible(bundle_zip: Path, tmp_path: Path) -> None:
    """Built twice, byte for byte the same zip: no build path in byte code or metadata, fixed times."""
    again = build_bundle(tmp_path / "again.zip")
    with zipfile.ZipFile(bundle_zip) as one, zipfile.ZipFile(again) as two:
        first = {i.filename: i.CRC for i in one.infolist()}
        second = {i.filename: i.CRC for i in two.infolist()}
        differing = sorted(n for n in first.keys() | second.keys() if first.get(n) != second.get(n))
        assert differing == [], differing[:10]
        pyc = f"qps_core/__pycache__/__init__.{sys.implementation.cache_tag}.pyc"
        if pyc in first:  # built by Lambda's Python: tracebacks name the file where Lambda has it
            assert b"/var/task/qps_core/__init__.py" in one.read(pyc)
    assert bundle_zip.read_bytes() == again.read_bytes()


@pytest.fixture(scope="module")
def bundle_dir(bundle_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("bundle")
    with zipfile.ZipFile(bundle_zip) as zf:
        zf.extractall(target)
    return target


@pytest.mark.network
@pytest.mark.slow
def test_bundle_fits_lambda_and_keeps_entry_points(bundle_zip: Path) -> None:
    with zipfile.ZipFile(bundle_zip) as zf:
        infos = zf.infolist()
    names = {i.filename for i in infos}
    unzipped = sum(i.file_size for i in infos)
    assert bundle_zip.stat().st_size < LAMBDA_UNZIPPED_LIMIT
    assert unzipped < LAMBDA_UNZIPPED_LIMIT, f"{unzipped / 2**20:.0f} MiB unzipped exceeds Lambda's 250 MB"
    # installed, not editable: each distribution's metadata (and so its entry points) is in the zip
    dist_infos = {n.split("/", 1)[0] for n in names if ".dist-info/" in n}
    for dist in DISTRIBUTIONS:
        matching = [d for d in dist_infos if d.startswith(f"{dist}-")]
        assert matching, f"{dist} has no .dist-info in the bundle"
        assert f"{matching[0]}/entry_points.txt" in names
    assert not [n for n in names if n.endswith(".pyo")]
    if sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11):  # Lambda's: byte code is built
        tag = sys.implementation.cache_tag
        with zipfile.ZipFile(bundle_zip) as zf:
            for package in ("qps_core", "boto3", "botocore", "quilt3", "pydantic", "qps_adapter_omics"):
                sources = [n for n in names if n.startswith(f"{package}/") and n.endswith(".py")]
                assert sources, package
                for source in sources:
                    folder, _, file = source.rpartition("/")
                    pyc = f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc"
                    assert pyc in names, f"{source} has no byte code in the bundle"
                    # PEP 552 flags: hash-based (bit 0), source not checked (bit 1 clear)
                    flags = int.from_bytes(zf.read(pyc)[4:8], "little")
                    assert flags == 0b01, f"{pyc} is not an unchecked-hash pyc (flags {flags:#x})"
    else:
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith((".pth", ".egg-link")) or "__editable__" in n]
    for needed in ("qps_core/plugins.py", "boto3/__init__.py", "botocore/__init__.py", "quilt3/__init__.py"):
        assert needed in names, needed


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.skipif(
    not (
        sys.platform == "linux"
        and platform.machine() == "x86_64"
        and sys.version_info[:2] == (3, 11)
        and sys.implementation.name == "cpython"
    ),
    reason="the bundle holds Lambda's CPython 3.11 manylinux x86_64 wheels; this interpreter cannot import them",
)
def test_adapters_load_from_the_bundle_alone(bundle_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
        "QUILT_DISABLE_USAGE_METRICS": "true",
        # what the Lambda runtime provides
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LAMBDA_TASK_ROOT": str(bundle_dir),
        "PYTHONPATH": str(bundle_dir),
    }
    result = subprocess.run(
        [sys.executable, "-B", "-S", "-s", "-c", PROBE, str(bundle_dir)],  # -B: /var/task is read-only
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    adapters = report["adapters"]
    print("adapters loaded from the bundle:", sorted(adapters))
    assert set(adapters) == FIRST_PARTY_ADAPTERS
    for adapter_id, info in adapters.items():
        assert info["loaded"] and info["error"] is None, (adapter_id, info)
    assert report["outside"] == [], f"modules imported from outside the bundle and stdlib: {report['outside']}"
    assert report["ignored"] == ["ignored"]
    assert report["compiled"] == [], f"compiled from source at import, no byte code used: {report['compiled'][:5]}"
