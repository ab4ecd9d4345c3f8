"""qps_core.testing, the kit adapter authors test with: it plans like `qps plan` and fails loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qps_core.adapter_api import ConfigError, Event, PackageRequest, RejectedEvent, hookimpl
from qps_core.testing import (
    fresh_settings,
    load_event,
    make_runner,
    only_request,
    plan,
    plan_one,
    rejection_of,
    requests_of,
    sqs_batch,
)

EVENTS = Path(__file__).resolve().parent / "fixtures" / "events"
BODY = {"source_prefix": "s3://bkt/runs/run-1/"}


class Folder:
    """Plans `{"folder": ...}` bodies; rejects them without a string folder."""

    @hookimpl
    def qps_describe_event(self, event: Event) -> list[PackageRequest] | None:
        if not (isinstance(event.payload, dict) and "folder" in event.payload):
            return None
        if not isinstance(event.payload["folder"], str):
            raise RejectedEvent("folder: must be an s3:// URI")
        return [PackageRequest.parse({"source_prefix": event.payload["folder"]})]


def test_make_runner_with_ids_consults_only_those_installed_adapters() -> None:
    assert make_runner("omics", "edp").adapters.order == ["edp", "omics"]  # the usual order, alphabetical here
    assert {"omics", "rocrate", "uri", "edp", "description", "mapped"} <= set(make_runner().adapters.order)
    with pytest.raises(AssertionError, match="not installed: nope"):
        make_runner("nope")


def test_make_runner_with_plugins_registers_only_them() -> None:
    runner = make_runner(plugins={"folder": Folder()})
    assert runner.adapters.order == ["folder"]
    assert only_request(plan_one({"folder": "s3://bkt/a/b"}, runner)).source_prefix == "s3://bkt/a/b/"
    assert plan_one(BODY, runner).status == "ignored"  # `description` is not consulted


def test_make_runner_fails_with_the_adapters_one_line_error() -> None:
    class BrokenStartup:
        @hookimpl
        def qps_startup(self) -> None:
            raise ConfigError("rules file missing")

    with pytest.raises(AssertionError, match="adapter 'broken': rules file missing"):
        make_runner(plugins={"broken": BrokenStartup()})


def test_settings_overrides_and_caller_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPS_DEFAULT_PREFIX", "from-env")
    assert fresh_settings().default_prefix == "package"
    request = only_request(plan_one({"source_prefix": "s3://bkt/only/"}, make_runner(default_prefix="x")))
    assert request.package_name == "x/only"


def test_plan_reads_files_text_bytes_values_and_envelopes() -> None:
    path = EVENTS / "sqs-uri-query.json"
    text = path.read_text()
    by_path, by_text, by_bytes = plan(path), plan(text), plan(text.encode())
    by_value = plan(load_event(path))
    assert [p.requests for p in by_path] == [p.requests for p in by_text] == [p.requests for p in by_bytes]
    assert [p.requests for p in by_value] == [p.requests for p in by_path]
    assert [p.adapter for p in plan(sqs_batch(BODY, json.dumps({"uri": "s3://bkt/x"})))] == ["description", "uri"]
    assert plan_one("{oops").status == "rejected"  # text is parsed strictly, as `qps plan` reads files


def test_failures_name_what_happened() -> None:
    runner = make_runner(plugins={"folder": Folder()})
    rejected = plan_one({"folder": 7}, runner)
    assert rejection_of(rejected) == "folder: must be an s3:// URI"
    with pytest.raises(AssertionError, match=r"expected planned, got rejected \(adapter folder\): folder: must be"):
        requests_of(rejected)
    with pytest.raises(AssertionError, match="expected rejected, got ignored"):
        rejection_of(plan_one(BODY, runner))
    with pytest.raises(AssertionError, match="holds 2 events, not 1"):
        plan_one([BODY, BODY])
    two = make_runner(plugins={"two": _Two()})
    assert len(requests_of(plan_one(BODY, two))) == 2
    with pytest.raises(AssertionError, match="2 requests planned, not 1"):
        only_request(plan_one(BODY, two))


class _Two:
    @hookimpl
    def qps_describe_event(self) -> list[PackageRequest]:
        return [PackageRequest.parse({"source_prefix": f"s3://bkt/{n}/"}) for n in "ab"]
