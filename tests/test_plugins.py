"""Adapter discovery, enabling/disabling, isolation of failures and dispatch order (plugins + runner)."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import qps_core.plugins as plugins
from qps_core.errors import ConfigError, IgnoredEvent, RejectedEvent
from qps_core.events import Event
from qps_core.hookspecs import hookimpl
from qps_core.models import PackageRequest
from qps_core.outcomes import Plan
from qps_core.plugins import ENTRY_POINT_GROUP, AdapterSet, load_adapters
from qps_core.runner import Runner
from qps_core.settings import Settings, load_settings

FIRST_PARTY = {"omics", "rocrate", "uri", "edp", "description", "mapped"}
BODY = Event("body", {"x": 1})


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("QPS_"):
            monkeypatch.delenv(name)


def request(folder: str = "s3://bkt/a/b/", **fields: Any) -> PackageRequest:
    return PackageRequest.parse({"source_prefix": folder, **fields})


def plans_folder(folder: str = "s3://bkt/a/b/") -> Callable[[Event, Settings], list[PackageRequest]]:
    return lambda event, settings: [request(folder)]


def fake_module(
    adapter_id: str,
    describe: Callable[[Event, Settings], Any] | None = None,
    *,
    tryfirst: bool = False,
    trylast: bool = False,
    startup: Callable[[Settings], None] | None = None,
    calls: list[str] | None = None,
) -> types.ModuleType:
    """A throw-away adapter module, like the ones entry points load."""
    module = types.ModuleType(f"qps_test_fake_{adapter_id}")
    module.__doc__ = f"Fake adapter {adapter_id}.\n\nMore text."

    def qps_describe_event(event: Event, settings: Settings) -> Any:
        if calls is not None:
            calls.append(adapter_id)
        return describe(event, settings) if describe else None

    module.__dict__["qps_describe_event"] = hookimpl(tryfirst=tryfirst, trylast=trylast)(qps_describe_event)
    if startup is not None:

        def qps_startup(settings: Settings) -> None:
            startup(settings)

        module.__dict__["qps_startup"] = hookimpl(qps_startup)
    return module


class FakeAdapter:
    """A throw-away adapter class for `AdapterSet.register`."""

    def __init__(
        self, name: str, describe: Callable[[Event, Settings], Any] | None = None, calls: list[str] | None = None
    ) -> None:
        self.name = name
        self.describe = describe
        self.calls = calls if calls is not None else []

    @hookimpl
    def qps_describe_event(self, event: Event, settings: Settings) -> Any:
        self.calls.append(self.name)
        return self.describe(event, settings) if self.describe else None


class FirstAdapter(FakeAdapter):
    @hookimpl(tryfirst=True)
    def qps_describe_event(self, event: Event, settings: Settings) -> Any:
        return super().qps_describe_event(event, settings)


class LastAdapter(FakeAdapter):
    @hookimpl(trylast=True)
    def qps_describe_event(self, event: Event, settings: Settings) -> Any:
        return super().qps_describe_event(event, settings)


class StartupFails(FakeAdapter):
    @hookimpl
    def qps_startup(self, settings: Settings) -> None:
        raise ConfigError("rules file\nrules.yaml is broken")


def install(monkeypatch, modules: dict[str, types.ModuleType], extra: Sequence[EntryPoint] = ()) -> None:
    """Make `modules` the only installed adapters (through the real `_entry_points` sorting)."""
    eps = list(extra)
    for adapter_id, module in modules.items():
        monkeypatch.setitem(sys.modules, module.__name__, module)
        eps.append(EntryPoint(name=adapter_id, value=module.__name__, group=ENTRY_POINT_GROUP))

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return list(reversed(eps))  # discovery order must not matter

    monkeypatch.setattr(plugins, "entry_points", fake_entry_points)


def empty_set(monkeypatch, settings: Settings | None = None) -> AdapterSet:
    install(monkeypatch, {})
    return load_adapters(settings or Settings())


def plan(adapters: AdapterSet, event: Event = BODY) -> Plan:
    return Runner(adapters.settings, adapters).plan_event(event)


# -- the real installation ---------------------------------------------------------------------


def test_first_party_adapters_are_installed_and_load_cleanly():
    adapters = load_adapters(Settings())
    assert set(adapters.infos) >= FIRST_PARTY
    assert adapters.errors() == []
    for adapter_id in FIRST_PARTY:
        info = adapters.infos[adapter_id]
        assert info.enabled and info.loaded and info.error is None
        assert info.description and "\n" not in info.description
        assert info.version
    assert set(adapters.order) >= FIRST_PARTY


def test_first_party_priorities():
    infos = load_adapters(Settings()).infos
    assert infos["mapped"].priority == "first"
    assert infos["description"].priority == "last"
    assert infos["omics"].priority == "normal"


def test_env_disable_adapters(monkeypatch):
    monkeypatch.setenv("QPS_DISABLE_ADAPTERS", "omics,edp")
    settings = load_settings()
    adapters = load_adapters(settings)
    for adapter_id in ("omics", "edp"):
        info = adapters.infos[adapter_id]
        assert info.enabled is False and info.loaded is False
        assert adapter_id not in adapters.order
    assert {"rocrate", "uri", "description", "mapped"} <= set(adapters.order)


def test_env_disable_adapters_ignores_spaces(monkeypatch):
    monkeypatch.setenv("QPS_DISABLE_ADAPTERS", " omics , edp ,")
    assert load_settings().disable_adapters == ["omics", "edp"]


def test_env_enable_adapters(monkeypatch):
    monkeypatch.setenv("QPS_ENABLE_ADAPTERS", "uri,description")
    adapters = load_adapters(load_settings())
    assert sorted(adapters.order) == ["description", "uri"]
    assert adapters.infos["omics"].enabled is False


def test_env_disable_wins_over_enable(monkeypatch):
    monkeypatch.setenv("QPS_ENABLE_ADAPTERS", "uri,description")
    monkeypatch.setenv("QPS_DISABLE_ADAPTERS", "uri")
    assert load_adapters(load_settings()).order == ["description"]


def test_disabled_real_adapter_is_not_consulted(monkeypatch):
    omics_event = Event(
        "eventbridge",
        {
            "source": "aws.omics",
            "detail-type": "Run Status Change",
            "detail": {"status": "COMPLETED", "runOutputUri": "s3://bkt/omics/1"},
        },
    )
    assert Runner(Settings()).plan_event(omics_event).adapter == "omics"
    monkeypatch.setenv("QPS_DISABLE_ADAPTERS", "omics")
    result = Runner(load_settings()).plan_event(omics_event)
    assert result.status == "ignored" and result.adapter is None


def test_load_disabled_describes_but_does_not_register(monkeypatch):
    monkeypatch.setenv("QPS_DISABLE_ADAPTERS", "omics")
    adapters = load_adapters(load_settings(), load_disabled=True)
    info = adapters.infos["omics"]
    assert info.enabled is False and info.loaded is True and info.description
    assert "omics" not in adapters.order


# -- enabling and disabling fake adapters -------------------------------------------------------


def test_settings_enable_only_listed(monkeypatch):
    calls: list[str] = []
    install(monkeypatch, {i: fake_module(i, calls=calls) for i in ("a1", "b1", "c1")})
    adapters = load_adapters(Settings(enable_adapters=["b1"]))
    assert adapters.order == ["b1"]
    assert [i.enabled for i in (adapters.infos["a1"], adapters.infos["c1"])] == [False, False]
    plan(adapters)
    assert calls == ["b1"]


def test_settings_disable_listed(monkeypatch):
    calls: list[str] = []
    install(monkeypatch, {i: fake_module(i, calls=calls) for i in ("a1", "b1", "c1")})
    adapters = load_adapters(Settings(disable_adapters=["b1"]))
    assert adapters.order == ["a1", "c1"]
    plan(adapters)
    assert sorted(calls) == ["a1", "c1"]


def test_disabled_adapter_that_would_win_is_not_consulted(monkeypatch):
    calls: list[str] = []
    install(
        monkeypatch,
        {
            "first": fake_module("first", plans_folder("s3://bkt/first/x/"), tryfirst=True, calls=calls),
            "other": fake_module("other", plans_folder("s3://bkt/other/x/"), calls=calls),
        },
    )
    result = plan(load_adapters(Settings(disable_adapters=["first"])))
    assert result.adapter == "other" and result.also_claimed_by == []
    assert calls == ["other"]


def test_disabled_adapter_module_is_not_imported(monkeypatch):
    install(
        monkeypatch,
        {"ok": fake_module("ok")},
        extra=[EntryPoint(name="off", value="no_such_module_for_disabled_qps", group=ENTRY_POINT_GROUP)],
    )
    adapters = load_adapters(Settings(disable_adapters=["off"]))
    assert adapters.infos["off"].error is None
    assert adapters.errors() == []


def test_register_honours_disable_setting(monkeypatch):
    adapters = empty_set(monkeypatch, Settings(disable_adapters=["fake"]))
    adapters.register(FakeAdapter("fake", plans_folder()), "fake")
    assert "fake" not in adapters.order


# -- failures are isolated ----------------------------------------------------------------------


def boom(event: Event, settings: Settings) -> Any:
    raise RuntimeError("kaboom\nsecond line")


def test_describe_raising_is_reported_by_id_and_others_plan(monkeypatch):
    install(
        monkeypatch,
        {
            "aaa": fake_module("aaa", boom),
            "bbb": fake_module("bbb", plans_folder()),
        },
    )
    result = plan(load_adapters(Settings()))
    assert result.status == "planned" and result.adapter == "bbb"
    assert len(result.adapter_errors) == 1
    error = result.adapter_errors[0]
    assert "'aaa'" in error and "RuntimeError" in error and "kaboom" in error and "\n" not in error
    assert result.as_dict()["adapter_errors"] == result.adapter_errors


def test_describe_raising_with_registered_plugins(monkeypatch):
    adapters = empty_set(monkeypatch)
    adapters.register(FakeAdapter("broken", boom), "broken")
    adapters.register(FakeAdapter("good", plans_folder()), "good")
    result = plan(adapters)
    assert result.status == "planned" and result.adapter == "good"
    assert [e.split(":")[0] for e in result.adapter_errors] == ["adapter 'broken' failed"]


def test_only_claimant_raising_means_rejected_with_its_error(monkeypatch):
    adapters = empty_set(monkeypatch)
    adapters.register(FakeAdapter("broken", boom), "broken")
    result = plan(adapters)
    assert result.status == "rejected"
    assert "'broken'" in result.error and "\n" not in result.error


def test_adapter_returning_wrong_type_is_an_adapter_error(monkeypatch):
    adapters = empty_set(monkeypatch)
    adapters.register(FakeAdapter("wrong", lambda e, s: [{"source_prefix": "s3://bkt/a/"}]), "wrong")
    adapters.register(FakeAdapter("good", plans_folder()), "good")
    result = plan(adapters)
    assert result.adapter == "good"
    assert "'wrong'" in result.adapter_errors[0] and "PackageRequest" in result.adapter_errors[0]


def test_startup_raising_disables_only_that_adapter_registered(monkeypatch):
    adapters = empty_set(monkeypatch)
    calls: list[str] = []
    adapters.register(StartupFails("bad", plans_folder(), calls), "bad")
    adapters.register(FakeAdapter("good", plans_folder("s3://bkt/good/x/"), calls), "good")
    info = adapters.infos["bad"]
    assert info.loaded is False
    assert info.error == "rules file rules.yaml is broken"
    assert adapters.order == ["good"]
    assert adapters.errors() == ["adapter 'bad': rules file rules.yaml is broken"]
    result = plan(adapters)
    assert result.adapter == "good" and calls == ["good"]


def test_startup_raising_unexpected_exception_is_one_line(monkeypatch):
    def startup(settings: Settings) -> None:
        raise KeyError("missing\nthing")

    install(
        monkeypatch,
        {
            "bad": fake_module("bad", plans_folder(), startup=startup),
            "good": fake_module("good", plans_folder()),
        },
    )
    adapters = load_adapters(Settings())
    info = adapters.infos["bad"]
    assert info.enabled and not info.loaded
    assert info.error.startswith("KeyError") and "\n" not in info.error
    assert adapters.order == ["good"]
    assert plan(adapters).adapter == "good"


def test_startup_receives_settings(monkeypatch):
    seen: list[Settings] = []
    install(monkeypatch, {"a1": fake_module("a1", startup=seen.append)})
    settings = Settings(default_prefix="zz")
    load_adapters(settings)
    assert seen == [settings]


def test_entry_point_that_fails_to_import(monkeypatch):
    real = plugins._entry_points()
    broken = EntryPoint(name="broken", value="no_such_module_xyz", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*real, broken])
    adapters = load_adapters(Settings())
    info = adapters.infos["broken"]
    assert info.id == "broken"
    assert info.enabled and not info.loaded
    assert "no_such_module_xyz" in info.error and "\n" not in info.error
    assert info.error.startswith("cannot be imported")
    assert adapters.errors() == [f"adapter 'broken': {info.error}"]
    assert "broken" not in adapters.order
    assert set(adapters.order) >= FIRST_PARTY
    result = Runner(adapters.settings, adapters).plan_event(Event("body", {"uri": "s3://bkt/a"}))
    assert result.status == "planned" and result.adapter == "uri"


def test_entry_point_module_raising_on_import(monkeypatch):
    real = plugins._entry_points()
    # json.decoder exists but an attribute that does not is an import-time failure too
    broken = EntryPoint(name="broken2", value="json:no_such_attribute", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*real, broken])
    adapters = load_adapters(Settings())
    assert "AttributeError" in adapters.infos["broken2"].error
    assert set(adapters.order) >= FIRST_PARTY


def test_entry_point_with_invalid_hook_is_reported(monkeypatch):
    module = types.ModuleType("qps_test_fake_invalid")

    @hookimpl
    def qps_describe_event(evt, cfg):  # wrong argument names
        return None

    module.__dict__["qps_describe_event"] = qps_describe_event
    install(monkeypatch, {"invalid": module, "good": fake_module("good", plans_folder())})
    adapters = load_adapters(Settings())
    assert "not a valid adapter" in adapters.infos["invalid"].error
    assert adapters.order == ["good"]


def test_duplicate_entry_point_id_uses_the_first(monkeypatch):
    one = fake_module("dup", plans_folder("s3://bkt/one/x/"))
    two = types.ModuleType("qps_test_fake_dup_two")
    monkeypatch.setitem(sys.modules, one.__name__, one)
    monkeypatch.setitem(sys.modules, two.__name__, two)
    eps = [
        EntryPoint(name="dup", value=one.__name__, group=ENTRY_POINT_GROUP),
        EntryPoint(name="dup", value=two.__name__, group=ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(plugins, "_entry_points", lambda: eps)
    adapters = load_adapters(Settings())
    assert adapters.order == ["dup"]
    assert adapters.infos["dup"].module == one.__name__


def test_description_is_first_docstring_line(monkeypatch):
    install(monkeypatch, {"a1": fake_module("a1")})
    assert load_adapters(Settings()).infos["a1"].description == "Fake adapter a1."


def test_adapter_info_as_dict():
    info = load_adapters(Settings()).infos["uri"]
    assert {"id", "distribution", "version", "enabled", "description"} <= set(info.as_dict())
    assert info.as_dict()["id"] == "uri"


# -- conflict resolution --------------------------------------------------------------------


def test_alphabetical_within_normal_priority(monkeypatch):
    install(monkeypatch, {i: fake_module(i, plans_folder(f"s3://bkt/{i}/x/")) for i in ("zeta", "alpha", "mid")})
    adapters = load_adapters(Settings())
    assert adapters.order == ["alpha", "mid", "zeta"]
    result = plan(adapters)
    assert result.adapter == "alpha"
    assert result.requests[0].source_prefix == "s3://bkt/alpha/x/"
    assert result.also_claimed_by == ["mid", "zeta"]


def test_alphabetical_within_tryfirst_priority(monkeypatch):
    install(monkeypatch, {i: fake_module(i, plans_folder(), tryfirst=True) for i in ("f2", "f1")})
    result = plan(load_adapters(Settings()))
    assert (result.adapter, result.also_claimed_by) == ("f1", ["f2"])


def test_alphabetical_within_trylast_priority(monkeypatch):
    install(monkeypatch, {i: fake_module(i, plans_folder(), trylast=True) for i in ("l2", "l1")})
    adapters = load_adapters(Settings())
    assert adapters.order == ["l1", "l2"]


def test_first_party_trylast_order():
    order = load_adapters(Settings()).order
    assert order.index("description") < order.index("uri")


def test_priority_classes_ordered(monkeypatch):
    install(
        monkeypatch,
        {
            "aaa_last": fake_module("aaa_last", plans_folder(), trylast=True),
            "mmm_normal": fake_module("mmm_normal", plans_folder()),
            "zzz_first": fake_module("zzz_first", plans_folder(), tryfirst=True),
        },
    )
    adapters = load_adapters(Settings())
    assert adapters.order == ["zzz_first", "mmm_normal", "aaa_last"]
    result = plan(adapters)
    assert result.adapter == "zzz_first"
    assert result.also_claimed_by == ["mmm_normal", "aaa_last"]
    assert [adapters.infos[i].priority for i in adapters.order] == ["first", "normal", "last"]


def test_normal_beats_trylast(monkeypatch):
    install(
        monkeypatch,
        {
            "aaa": fake_module("aaa", plans_folder(), trylast=True),
            "zzz": fake_module("zzz", plans_folder()),
        },
    )
    result = plan(load_adapters(Settings()))
    assert (result.adapter, result.also_claimed_by) == ("zzz", ["aaa"])


def test_adapter_order_setting_overrides_priority(monkeypatch):
    install(
        monkeypatch,
        {
            "alpha": fake_module("alpha", plans_folder(), tryfirst=True),
            "beta": fake_module("beta", plans_folder()),
            "gamma": fake_module("gamma", plans_folder(), trylast=True),
        },
    )
    adapters = load_adapters(Settings(adapter_order=["gamma", "beta", "not-installed"]))
    assert adapters.order == ["gamma", "beta", "alpha"]
    result = plan(adapters)
    assert (result.adapter, result.also_claimed_by) == ("gamma", ["beta", "alpha"])


def test_adapter_order_from_env(monkeypatch):
    install(monkeypatch, {i: fake_module(i, plans_folder()) for i in ("alpha", "beta")})
    monkeypatch.setenv("QPS_ADAPTER_ORDER", "beta")
    assert plan(load_adapters(load_settings())).adapter == "beta"


def test_adapter_order_skips_disabled(monkeypatch):
    install(monkeypatch, {i: fake_module(i, plans_folder()) for i in ("alpha", "beta")})
    adapters = load_adapters(Settings(adapter_order=["beta"], disable_adapters=["beta"]))
    assert adapters.order == ["alpha"]


def test_winner_is_deterministic_across_loads(monkeypatch):
    install(monkeypatch, {i: fake_module(i, plans_folder()) for i in ("c3", "a1", "b2")})
    winners = {(plan(load_adapters(Settings())).adapter) for _ in range(3)}
    assert winners == {"a1"}


def test_registered_adapters_alphabetical_within_priority(monkeypatch):
    adapters = empty_set(monkeypatch)
    adapters.register(FakeAdapter("alpha", plans_folder()), "alpha")
    adapters.register(FakeAdapter("beta", plans_folder()), "beta")
    assert plan(adapters).adapter == "alpha"


def test_registered_adapters_priorities(monkeypatch):
    adapters = empty_set(monkeypatch)
    adapters.register(LastAdapter("last", plans_folder()), "last")
    adapters.register(FakeAdapter("normal", plans_folder()), "normal")
    adapters.register(FirstAdapter("first", plans_folder()), "first")
    assert adapters.order == ["first", "normal", "last"]
    assert [adapters.infos[i].priority for i in adapters.order] == ["first", "normal", "last"]
    result = plan(adapters)
    assert (result.adapter, result.also_claimed_by) == ("first", ["normal", "last"])


def test_rejection_also_claims(monkeypatch):
    def rejects(event: Event, settings: Settings) -> Any:
        raise RejectedEvent("source_prefix: nope")

    install(monkeypatch, {"aaa": fake_module("aaa", rejects), "bbb": fake_module("bbb", plans_folder())})
    result = plan(load_adapters(Settings()))
    assert result.status == "rejected" and result.adapter == "aaa"
    assert result.error == "source_prefix: nope"
    assert result.also_claimed_by == ["bbb"]


def test_later_rejection_is_no_competing_claim(monkeypatch):
    def rejects(event: Event, settings: Settings) -> Any:
        raise RejectedEvent("bad")

    install(monkeypatch, {"aaa": fake_module("aaa", plans_folder()), "bbb": fake_module("bbb", rejects)})
    result = plan(load_adapters(Settings()))
    assert (result.status, result.adapter, result.also_claimed_by) == ("planned", "aaa", [])


def test_later_plan_after_a_rejection_is_listed(monkeypatch):
    def rejects(event: Event, settings: Settings) -> Any:
        raise RejectedEvent("bad")

    install(monkeypatch, {"aaa": fake_module("aaa", rejects), "bbb": fake_module("bbb", plans_folder())})
    result = plan(load_adapters(Settings()))
    assert (result.status, result.adapter, result.also_claimed_by) == ("rejected", "aaa", ["bbb"])


def test_ignoring_is_a_claim_decided_in_order(monkeypatch):
    def ignores(event: Event, settings: Settings) -> Any:
        raise IgnoredEvent("status is RUNNING")

    install(monkeypatch, {"aaa": fake_module("aaa", ignores), "zzz": fake_module("zzz", plans_folder())})
    result = plan(load_adapters(Settings()))
    assert (result.status, result.adapter, result.reason) == ("ignored", "aaa", "status is RUNNING")
    assert result.also_claimed_by == ["zzz"]
    install(monkeypatch, {"aaa": fake_module("aaa", plans_folder()), "zzz": fake_module("zzz", ignores)})
    result = plan(load_adapters(Settings()))
    assert (result.status, result.adapter, result.also_claimed_by) == ("planned", "aaa", [])


def test_ignored_event_alone_is_ignored_with_reason_and_adapter(monkeypatch):
    def ignores(event: Event, settings: Settings) -> Any:
        raise IgnoredEvent("status is RUNNING")

    install(monkeypatch, {"aaa": fake_module("aaa", ignores), "zzz": fake_module("zzz")})
    result = plan(load_adapters(Settings()))
    assert (result.status, result.adapter, result.reason) == ("ignored", "aaa", "status is RUNNING")
    assert set(result.as_dict()) == {"status", "adapter", "packages", "reason"}


def test_first_ignoring_adapter_gives_the_reason(monkeypatch):
    def ignores(why: str) -> Callable[[Event, Settings], Any]:
        def describe(event: Event, settings: Settings) -> Any:
            raise IgnoredEvent(why)

        return describe

    install(monkeypatch, {"aaa": fake_module("aaa", ignores("one")), "bbb": fake_module("bbb", ignores("two"))})
    result = plan(load_adapters(Settings()))
    assert (result.adapter, result.reason) == ("aaa", "one")


def test_no_claimant_is_ignored_without_adapter(monkeypatch):
    install(monkeypatch, {"aaa": fake_module("aaa"), "bbb": fake_module("bbb")})
    event = Event("eventbridge", {"source": "aws.ec2", "detail-type": "EC2 Instance State-change", "detail": {}})
    result = plan(load_adapters(Settings()), event)
    assert result.status == "ignored" and result.adapter is None
    assert "no enabled adapter" in result.reason


def test_empty_list_claims_and_ignores(monkeypatch):
    install(monkeypatch, {"aaa": fake_module("aaa", lambda e, s: []), "bbb": fake_module("bbb", plans_folder())})
    result = plan(load_adapters(Settings()))
    assert (result.status, result.adapter, result.also_claimed_by) == ("ignored", "aaa", ["bbb"])


def test_every_plan_is_attributed(monkeypatch):
    def rejects(event: Event, settings: Settings) -> Any:
        raise RejectedEvent("no")

    install(
        monkeypatch,
        {
            "planner": fake_module("planner", plans_folder()),
            "rejecter": fake_module("rejecter", rejects),
        },
    )
    for only in ("planner", "rejecter"):
        result = plan(load_adapters(Settings(enable_adapters=[only])))
        assert result.adapter == only
        assert result.as_dict()["adapter"] == only
        assert result.status in ("planned", "rejected")


def test_default_message_is_deterministic_and_the_same_for_every_adapter(monkeypatch):
    install(monkeypatch, {"aaa": fake_module("aaa", plans_folder())})
    adapters = load_adapters(Settings())
    first, second = plan(adapters), plan(adapters)
    assert first.requests[0].message == "QPS: package s3://bkt/a/b/"
    assert first.requests == second.requests
    assert first.adapter == "aaa"  # attribution is the plan's, not the commit message's
    install(monkeypatch, {"bbb": fake_module("bbb", plans_folder())})
    assert plan(load_adapters(Settings())).requests == first.requests


def test_adapter_message_kept(monkeypatch):
    install(monkeypatch, {"aaa": fake_module("aaa", lambda e, s: [request(message="mine")])})
    assert plan(load_adapters(Settings())).requests[0].message == "mine"


def test_several_requests_from_one_adapter(monkeypatch):
    two = lambda e, s: [request("s3://bkt/a/"), request("s3://bkt/b/")]  # noqa: E731
    install(monkeypatch, {"aaa": fake_module("aaa", two)})
    result = plan(load_adapters(Settings()))
    assert [r.source_prefix for r in result.requests] == ["s3://bkt/a/", "s3://bkt/b/"]
    assert len(result.as_dict()["packages"]) == 2


def test_adapters_receive_event_and_settings(monkeypatch):
    seen: list[tuple[Event, Settings]] = []
    install(monkeypatch, {"aaa": fake_module("aaa", lambda e, s: seen.append((e, s)))})
    settings = Settings(default_prefix="qq")
    plan(load_adapters(settings))
    assert seen == [(BODY, settings)]


# -- events never offered to adapters -----------------------------------------------------------


def s3_event(key: str) -> Event:
    return Event("s3", {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "bkt"}, "object": {"key": key}}})


@pytest.mark.parametrize("key", [".quilt/named_packages/a/b/latest", ".quilt/packages/abc", ".quilt"])
def test_quilt_internal_keys_never_offered(monkeypatch, key):
    calls: list[str] = []
    install(monkeypatch, {"aaa": fake_module("aaa", plans_folder(), calls=calls)})
    result = plan(load_adapters(Settings()), s3_event(key))
    assert result.status == "ignored" and ".quilt/" in result.reason
    assert calls == []


def test_nested_quilt_folder_is_offered(monkeypatch):
    calls: list[str] = []
    install(monkeypatch, {"aaa": fake_module("aaa", plans_folder(), calls=calls)})
    assert plan(load_adapters(Settings()), s3_event("data/.quilt/x")).status == "planned"
    assert calls == ["aaa"]


def test_broken_and_skipped_events_not_offered(monkeypatch):
    calls: list[str] = []
    install(monkeypatch, {"aaa": fake_module("aaa", plans_folder(), calls=calls)})
    adapters = load_adapters(Settings())
    broken = plan(adapters, Event("broken", "x", note="SQS body: invalid JSON"))
    skipped = plan(adapters, Event("skipped", {}, note="S3 test event"))
    assert (broken.status, broken.error, broken.adapter) == ("rejected", "SQS body: invalid JSON", None)
    assert (skipped.status, skipped.reason) == ("ignored", "S3 test event")
    assert calls == []


def test_plan_value_and_plan_bytes(monkeypatch):
    install(monkeypatch, {"aaa": fake_module("aaa", plans_folder())})
    runner = Runner(Settings(), load_adapters(Settings()))
    assert [p.status for p in runner.plan_value([{"a": 1}, {"b": 2}])] == ["planned", "planned"]
    assert [p.status for p in runner.plan_bytes(b"{oops")] == ["rejected"]


def test_register_honours_enable_setting(monkeypatch):
    adapters = empty_set(monkeypatch, Settings(enable_adapters=["on"]))
    adapters.register(FakeAdapter("on", plans_folder()), "on")
    adapters.register(FakeAdapter("off", plans_folder()), "off")
    assert adapters.order == ["on"]
    assert adapters.infos["off"].enabled is False
