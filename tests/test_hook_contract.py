"""pluggy's hook contract, kept: an implementation may take any subset of the spec's arguments, a
misspelled hook is refused at load with one line naming it, dispatch is ordered once, and every
hook spec is documented (with its signature) and tested."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pluggy
import pytest

from qps_core import hookspecs, plugins
from qps_core.adapter_api import Event, PackageRequest, hookimpl
from qps_core.plugins import HOOK_NAMES, new_adapter_set
from qps_core.settings import Settings
from qps_core.testing import make_runner, only_request, plan_one

ROOT = Path(__file__).resolve().parents[1]
QPS = Path(sys.executable).parent / "qps"
SUBSET_EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Folder Ready",
    "source": "com.example.subset",
    "account": "123456789012",
    "time": "2025-03-14T12:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"folder": "s3://subset-bucket/runs/run-7/"},
}

# Adapter modules as a third party would write them (installed below as real distributions).
SUBSET_ADAPTER = '''"""Takes only the event: valid pluggy, and valid QPS."""
from qps_core.adapter_api import PackageRequest, hookimpl


@hookimpl
def qps_describe_event(event):
    if event.source != "com.example.subset":
        return None
    return [PackageRequest.parse({"source_prefix": event.detail["folder"]})]
'''
TYPO_ADAPTER = '''"""Misspells the hook: would load and never run."""
from qps_core.adapter_api import hookimpl


@hookimpl
def qps_describe_events(event, settings):
    return None
'''


def install_distribution(site: Path, dist: str, modules: dict[str, str]) -> None:
    """A minimal installed distribution under `site`: modules plus a dist-info with entry points."""
    entry_points = ["[qps.adapters]"]
    for adapter_id, source in modules.items():
        (site / f"qps_{adapter_id}_adapter.py").write_text(source)
        entry_points.append(f"{adapter_id} = qps_{adapter_id}_adapter")
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\nSummary: test adapters\n")
    (info / "entry_points.txt").write_text("\n".join(entry_points) + "\n")


def qps(site: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QPS_", "PYTHON"))}
    clean.update(env, PYTHONPATH=str(site))
    return subprocess.run([str(QPS), *map(str, args)], capture_output=True, text=True, env=clean, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install_distribution(site, "qps-contract-adapters", {"subset": SUBSET_ADAPTER, "typo": TYPO_ADAPTER})
    return site


# -- any subset of the spec's arguments ----------------------------------------------------------


def test_qps_describe_event_taking_only_event_works_in_qps_plan(site: Path, tmp_path: Path) -> None:
    event_file = tmp_path / "folder-ready.json"
    event_file.write_text(json.dumps(SUBSET_EVENT))
    out = qps(site, "plan", "--json", event_file, QPS_DISABLE_ADAPTERS="typo")
    assert out.returncode == 0, out.stderr
    [line] = [json.loads(x) for x in out.stdout.splitlines()]
    assert (line["status"], line["adapter"]) == ("planned", "subset")
    assert [p["source_prefix"] for p in line["packages"]] == ["s3://subset-bucket/runs/run-7/"]
    assert "TypeError" not in out.stderr


def test_qps_describe_event_and_qps_startup_with_any_subset_of_arguments() -> None:
    seen: list[str] = []

    class NoArguments:
        @hookimpl
        def qps_startup(self) -> None:
            seen.append("startup()")

        @hookimpl
        def qps_describe_event(self) -> None:
            seen.append("describe()")

    class SettingsOnly:
        @hookimpl
        def qps_startup(self, settings: Settings) -> None:
            seen.append(f"startup({settings.default_prefix})")

        @hookimpl
        def qps_describe_event(self, settings: Settings) -> list[PackageRequest]:
            seen.append("describe(settings)")
            return [PackageRequest.parse({"source_prefix": f"s3://bkt/{settings.default_prefix}/x/"})]

    runner = make_runner(plugins={"a-none": NoArguments(), "b-settings": SettingsOnly()}, default_prefix="pp")
    request = only_request(plan_one({"x": 1}, runner))
    assert request.source_prefix == "s3://bkt/pp/x/"
    assert seen == ["startup()", "startup(pp)", "describe()", "describe(settings)"]


def test_qps_describe_event_argument_the_spec_lacks_is_refused() -> None:
    class Extra:
        @hookimpl
        def qps_describe_event(self, event: Event, context: Any) -> None:
            return None

    adapters = new_adapter_set(Settings())
    with pytest.raises(pluggy.PluginValidationError, match="context"):
        adapters.register(Extra(), "extra")
    assert adapters.order == []


# -- the packaging-time hook: optional, any subset of arguments, never called while planning ------


class _Recorded:
    """A packager double: what it was asked to package."""

    def __init__(self) -> None:
        self.requests: list[PackageRequest] = []

    def package(self, request: PackageRequest) -> Any:
        from qps_core.packaging import PackageResult

        self.requests.append(request)
        return PackageResult(status="created", top_hash="f" * 64, files=1, bytes=1, request=request)


class _Silent:
    def publish(self, outcome: Any) -> None:
        return None


def _eln_adapter(seen: list[str], signature: str) -> Any:
    """A third-party adapter pattern: a thin event names an entry; the entry is fetched when packaging."""

    class Eln:
        @hookimpl
        def qps_describe_event(self, event: Event) -> list[PackageRequest] | None:
            if event.source != "com.example.eln":
                return None
            return [
                PackageRequest.parse({"source_prefix": "s3://eln-bucket/entries/e-1/", "metadata": {"entry": "e-1"}})
            ]

    def with_both(self: Any, request: PackageRequest, settings: Settings) -> PackageRequest:
        seen.append(f"prepare(request, settings={settings.default_prefix})")
        return request.model_copy(update={"metadata": {"entry": "e-1", "title": "Assay 7"}})

    def request_only(self: Any, request: PackageRequest) -> PackageRequest:
        seen.append("prepare(request)")
        return request.model_copy(update={"metadata": {"entry": "e-1", "title": "Assay 7"}})

    def nothing(self: Any) -> None:
        seen.append("prepare()")

    impl: Any = {"both": with_both, "request": request_only, "none": nothing}[signature]
    Eln.qps_prepare_request = hookimpl(impl)  # type: ignore[attr-defined]
    return Eln()


ELN_EVENT = {**SUBSET_EVENT, "source": "com.example.eln", "detail-type": "Entry Signed", "detail": {"entry": "e-1"}}


@pytest.mark.parametrize("signature", ["both", "request", "none"])
def test_qps_prepare_request_with_any_subset_of_arguments_runs_at_packaging_only(signature: str) -> None:
    seen: list[str] = []
    packager = _Recorded()
    runner = make_runner(plugins={"eln": _eln_adapter(seen, signature)}, default_prefix="pp")
    runner._packager, runner._notifier = packager, _Silent()
    plan = plan_one(ELN_EVENT, runner)
    assert plan.status == "planned" and seen == []  # planning never calls it (qps plan stays offline)
    _, [outcome] = runner.run_event(plan.event)
    assert outcome.status == "created"
    expected = {
        "both": ["prepare(request, settings=pp)"],
        "request": ["prepare(request)"],
        "none": ["prepare()"],
    }[signature]
    assert seen == expected
    metadata = packager.requests[0].metadata
    assert metadata == ({"entry": "e-1"} if signature == "none" else {"entry": "e-1", "title": "Assay 7"})


def test_qps_prepare_request_is_called_only_for_the_adapter_that_planned() -> None:
    seen: list[str] = []
    packager = _Recorded()
    runner = make_runner(plugins={"eln": _eln_adapter(seen, "request")})
    runner._packager, runner._notifier = packager, _Silent()
    request = PackageRequest.parse({"source_prefix": "s3://eln-bucket/entries/e-1/"})
    assert runner.package(request, "uri").status == "created"
    assert runner.package(request, None).status == "created"
    assert seen == [] and [r.metadata for r in packager.requests] == [None, None]
    assert runner.package(request, "eln").status == "created"
    assert seen == ["prepare(request)"]


@pytest.mark.parametrize(
    ("raised", "status", "retryable"),
    [
        ("transient", "failed", True),
        ("permanent", "failed", False),
        ("rejected", "rejected", False),
        ("bug", "failed", True),
    ],
)
def test_qps_prepare_request_failures_are_outcomes_never_tracebacks(raised: str, status: str, retryable: bool) -> None:
    from qps_core.adapter_api import PermanentError, RejectedEvent, TransientError

    class Failing:
        @hookimpl
        def qps_describe_event(self) -> None:
            return None

        @hookimpl
        def qps_prepare_request(self, request: PackageRequest) -> None:
            if raised == "transient":
                raise TransientError("the ELN is busy, retry later")
            if raised == "permanent":
                raise PermanentError("the ELN entry is locked")
            if raised == "rejected":
                raise RejectedEvent("entry: no such entry")
            raise KeyError("oops")

    packager = _Recorded()
    runner = make_runner(plugins={"eln": Failing()})
    runner._packager, runner._notifier = packager, _Silent()
    outcome = runner.package(PackageRequest.parse({"source_prefix": "s3://eln-bucket/e/"}), "eln")
    assert (outcome.status, outcome.retryable) == (status, retryable)
    assert outcome.error and "\n" not in outcome.error and "Traceback" not in outcome.error
    assert packager.requests == []


def test_qps_prepare_request_must_replace_a_deferred_folder() -> None:
    from qps_core.adapter_api import deferred_request

    class Lazy:
        @hookimpl
        def qps_describe_event(self) -> None:
            return None

    packager = _Recorded()
    runner = make_runner(plugins={"lazy": Lazy()}, allowed_registries=["eln-bucket"])
    runner._packager, runner._notifier = packager, _Silent()
    request = deferred_request(runner.settings, "lazy", "e-1")  # not refused by the allow-list while planned
    assert request.deferred and request.source_prefix == "s3://sthree-qps-deferred/lazy/e-1/"
    outcome = runner.package(request, "lazy")
    assert outcome.status == "rejected" and "did not replace" in (outcome.error or "")
    assert packager.requests == []


# -- misspelled or unmarked hooks ----------------------------------------------------------------


def test_misspelled_hook_is_reported_by_qps_adapters_in_one_line(site: Path) -> None:
    out = qps(site, "adapters", "--json")
    assert out.returncode == 0, out.stderr
    infos = {a["id"]: a for a in map(json.loads, out.stdout.splitlines())}
    typo = infos["typo"]
    assert typo["loaded"] is False
    assert typo["error"] == (
        "is not a valid adapter: unknown hook 'qps_describe_events' (QPS hooks: qps_describe_event, "
        "qps_prepare_request, qps_startup)"
    )
    assert infos["subset"]["loaded"] is True and infos["subset"]["error"] is None


def test_misspelled_hook_makes_qps_plan_fail_and_says_why(site: Path, tmp_path: Path) -> None:
    event_file = tmp_path / "folder-ready.json"
    event_file.write_text(json.dumps(SUBSET_EVENT))
    out = qps(site, "plan", "--json", event_file)
    assert out.returncode == 1
    assert json.loads(out.stdout)["adapter"] == "subset"  # the others still work
    [warning] = [line for line in out.stderr.splitlines() if "typo" in line]
    assert "unknown hook 'qps_describe_events'" in warning


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "@hookimpl\ndef qps_describe_events(event, settings):\n    return None\n",
            "unknown hook 'qps_describe_events'",
        ),
        ("def qps_describe_evnt(event, settings):\n    return None\n", "unknown hook 'qps_describe_evnt'"),
        ("def qps_describe_event(event, settings):\n    return None\n", "'qps_describe_event' is not marked"),
        ("@hookimpl\ndef qps_statup(settings):\n    pass\n", "unknown hook 'qps_statup'"),
        ("@hookimpl\ndef qps_prepare_requests(request):\n    return None\n", "unknown hook 'qps_prepare_requests'"),
        ("def qps_prepare_request(request):\n    return None\n", "'qps_prepare_request' is not marked"),
        (
            "@hookimpl(wrapper=True)\ndef qps_describe_event(event):\n    return (yield)\n",
            "'qps_describe_event' is a hook wrapper",
        ),
    ],
    ids=[
        "marked-typo",
        "unmarked-typo",
        "unmarked-hook",
        "startup-typo",
        "prepare-typo",
        "prepare-unmarked",
        "wrapper",
    ],
)
def test_qps_describe_event_misspelled_or_unmarked_fails_to_load(
    monkeypatch: pytest.MonkeyPatch, source: str, message: str
) -> None:
    module = types.ModuleType("qps_test_contract_bad")
    module.__dict__["hookimpl"] = hookimpl
    exec(compile(source, "<adapter>", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    good = types.ModuleType("qps_test_contract_good")
    exec(compile(SUBSET_ADAPTER, "<adapter>", "exec"), good.__dict__)
    monkeypatch.setitem(sys.modules, good.__name__, good)
    eps = [
        plugins.EntryPoint(name="bad", value=module.__name__, group=plugins.ENTRY_POINT_GROUP),
        plugins.EntryPoint(name="good", value=good.__name__, group=plugins.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(plugins, "_entry_points", lambda: eps)
    adapters = plugins.load_adapters(Settings())
    error = adapters.infos["bad"].error or ""
    assert message in error and "\n" not in error
    assert adapters.order == ["good"]
    assert "bad" not in {name for name, _ in adapters.manager.list_name_plugin()}


# -- dispatch ordered once -----------------------------------------------------------------------


def test_qps_describe_event_dispatch_is_ordered_at_load_not_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = plugins._call_as_pluggy_does

    def counting(impl: pluggy.HookImpl) -> Any:
        built.append(impl.plugin_name)
        return real(impl)

    monkeypatch.setattr(plugins, "_call_as_pluggy_does", counting)
    runner = make_runner()
    assert sorted(built) == sorted(runner.adapters.order)  # ordered by load_adapters, before any event
    dispatch = runner.adapters.implementations()
    built.clear()
    for n in range(5):
        runner.plan_value({"uri": f"s3://bkt/a/b{n}"})
    assert built == [] and runner.adapters.implementations() is dispatch
    runner.adapters.register(types.SimpleNamespace(), "late")  # a later registration re-orders, once
    runner.plan_value({"uri": "s3://bkt/a/b"})
    runner.plan_value({"uri": "s3://bkt/a/c"})
    assert sorted(built) == sorted(runner.adapters.order)


# -- every hook spec documented and tested -------------------------------------------------------


def hook_specs() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(getattr(hookspecs, name)) for name in HOOK_NAMES}


def test_every_hook_spec_is_documented_with_its_signature() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert set(hook_specs()) == {"qps_describe_event", "qps_prepare_request", "qps_startup"}
    for name, signature in hook_specs().items():
        shown = f"`{name}({', '.join(signature.parameters)})`"
        assert shown in guide, f"docs/plugins.md does not document {shown}"


def test_every_hook_spec_has_a_test() -> None:
    """A test function named after each hook (`test_<hook>_...` or containing it), outside this check."""
    names: set[str] = set()
    for path in [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob("adapters/*/tests/test_*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    names -= {"test_every_hook_spec_has_a_test", "test_every_hook_spec_is_documented_with_its_signature"}
    for hook in hook_specs():
        assert [n for n in names if hook in n], f"no test is named after {hook}"
