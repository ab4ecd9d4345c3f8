"""Adapter discovery: entry points in the `qps.adapters` group, enabled and disabled by id."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import IgnoredEvent, InvalidInput, describe_exception, one_line
from .settings import Settings

ENTRY_POINT_GROUP = "qps.adapters"
log = logging.getLogger("qps.plugins")


@dataclass
class AdapterInfo:
    """What `qps adapters` reports about one installed adapter."""

    id: str
    distribution: str
    version: str
    description: str
    enabled: bool
    loaded: bool = False
    error: str | None = None
    priority: str = "normal"
    module: str = ""
    label: str = ""  # the adapter module's `LABEL`: how people call the source (admin page, reasons)
    switch_description: str = ""  # its `SWITCH_DESCRIPTION`: what switching the source on does

    def __post_init__(self) -> None:
        self.label = self.label or self.id

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "distribution": self.distribution,
            "version": self.version,
            "enabled": self.enabled,
            "loaded": self.loaded,
            "description": self.description,
            "priority": self.priority,
            "module": self.module,
            "error": self.error,
        }


Describe = Callable[..., list[Any]]
"""One adapter's `qps_describe_event` as pluggy calls hooks: keyword arguments in, the list of its
non-None results out (`[]` when the adapter returned None)."""


@dataclass
class AdapterSet:
    """A plugin manager plus what was found, in the order adapters are consulted."""

    settings: Settings
    manager: pluggy.PluginManager
    infos: dict[str, AdapterInfo] = field(default_factory=dict)
    switched_off: dict[str, Any] = field(default_factory=dict)  # id -> describe, for adapters switched off
    _dispatch: list[tuple[str, Describe]] | None = field(default=None, init=False, repr=False)

    def label(self, adapter_id: str) -> str:
        """How people call an adapter's source (its `LABEL`), else its id."""
        info = self.infos.get(adapter_id)
        return info.label if info is not None else adapter_id

    def switched_off_claimant(self, event: Any) -> str | None:
        """The switched-off adapter that would have claimed this event (so the event can be ignored
        with that reason rather than as nobody's), or None."""
        for adapter_id, describe in sorted(self.switched_off.items()):
            try:
                if describe(event=event, settings=self.settings):
                    return adapter_id
            except (IgnoredEvent, InvalidInput):
                return adapter_id
            except Exception:
                continue
        return None

    @property
    def order(self) -> list[str]:
        """Enabled, loaded adapter ids in consultation order: the `adapter_order` setting first, then
        `tryfirst` adapters, normal ones and `trylast` ones, alphabetically by id within each."""
        return [adapter_id for adapter_id, _ in self.implementations()]

    def implementations(self) -> list[tuple[str, Describe]]:
        """(adapter id, describe caller) pairs in consultation order, worked out once after loading
        (again only if an adapter is registered later), never per event.

        Each caller calls that adapter's implementation as pluggy does, so it may take any subset of
        the spec's arguments (`def qps_describe_event(event):`), in any order.
        """
        if self._dispatch is None:
            rank = {"first": 0, "normal": 1, "last": 2}
            impls = self.manager.hook.qps_describe_event.get_hookimpls()
            ids = [name for _, name in sorted((rank[_impl_priority(i)], i.plugin_name) for i in impls)]
            preferred = [i for i in self.settings.adapter_order if i in ids]
            ordered = preferred + [i for i in ids if i not in preferred]
            by_name = {impl.plugin_name: impl for impl in impls}
            self._dispatch = [(name, _call_as_pluggy_does(by_name[name])) for name in ordered]
        return self._dispatch

    def preparer(self, adapter_id: str | None) -> Describe | None:
        """The packaging-time `qps_prepare_request` of that adapter, called as pluggy does (any subset
        of the spec's arguments), or None when the adapter has none (most adapters)."""
        if adapter_id is None:
            return None
        for impl in self.manager.hook.qps_prepare_request.get_hookimpls():
            if impl.plugin_name == adapter_id:
                return _call_as_pluggy_does(impl)
        return None

    def _hook_of(self, adapter_id: str, hook_name: str) -> Describe:
        """pluggy's hook caller for `hook_name` that calls only this adapter's implementation."""
        others = [plugin for name, plugin in self.manager.list_name_plugin() if name != adapter_id]
        return self.manager.subset_hook_caller(hook_name, others)

    def errors(self) -> list[str]:
        return [f"adapter {i.id!r}: {i.error}" for i in self.infos.values() if i.error and i.enabled]

    def register(self, plugin: object, adapter_id: str, *, description: str = "", distribution: str = "") -> None:
        """Register an adapter object directly (tests, embedding); it is checked and started like any
        other. A plugin pluggy refuses (an argument the spec lacks) or one that defines an unknown
        `qps_*` hook raises `pluggy.PluginValidationError` with one line naming the problem."""
        enabled = self.settings.adapter_enabled(adapter_id)
        info = AdapterInfo(adapter_id, distribution or "(registered)", "", description, enabled)
        self.infos[adapter_id] = info
        if enabled:
            self._register(plugin, info)
        elif self.settings.switched_off(adapter_id) and hasattr(plugin, "qps_describe_event"):
            self.switched_off[adapter_id] = _switched_off_caller(plugin.qps_describe_event)

    def _register(self, plugin: object, info: AdapterInfo) -> None:
        self._dispatch = None
        self.manager.register(plugin, name=info.id)
        try:
            _check_hook_names(self.manager, plugin)
        except pluggy.PluginValidationError:
            self.manager.unregister(name=info.id)
            raise
        info.priority = _priority(self.manager, info.id)
        try:
            self._hook_of(info.id, "qps_startup")(settings=self.settings)
        except Exception as exc:  # an adapter's failure never takes the others down
            self.manager.unregister(name=info.id)
            self._dispatch = None
            info.error = describe_exception(exc)
            log.warning("adapter %r disabled: %s", info.id, info.error)
            return
        info.loaded = True


HOOK_NAMES = tuple(sorted(name for name in vars(hookspecs) if name.startswith("qps_")))


def _check_hook_names(manager: pluggy.PluginManager, plugin: object) -> None:
    """Refuse what would load as a healthy adapter and never run: a `qps_*` function the spec does not
    know (a misspelled hook, marked or not) or a hook function not marked `@hookimpl`. Like
    `PluginManager.check_pending()`, for one plugin, with one line naming the function."""
    hooks = ", ".join(HOOK_NAMES)
    for caller in manager.get_hookcallers(plugin) or []:
        if not caller.has_spec():
            raise pluggy.PluginValidationError(plugin, f"unknown hook {caller.name!r} (QPS hooks: {hooks})")
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                raise pluggy.PluginValidationError(
                    plugin, f"{caller.name!r} is a hook wrapper; QPS calls each adapter alone"
                )
    for name in dir(plugin):
        if not name.startswith("qps_") or not callable(getattr(plugin, name, None)):
            continue
        if name not in HOOK_NAMES:
            raise pluggy.PluginValidationError(plugin, f"unknown hook {name!r} (QPS hooks: {hooks})")
        if manager.parse_hookimpl_opts(plugin, name) is None:
            raise pluggy.PluginValidationError(plugin, f"{name!r} is not marked with @hookimpl, so it would never run")


def _call_as_pluggy_does(impl: pluggy.HookImpl) -> Describe:
    """Call one implementation as pluggy's `_multicall` does: the spec's keyword arguments in, passed
    positionally by the names the implementation declares (`HookImpl.argnames`, any subset of the
    spec's); its result out as pluggy's list of non-None results."""
    function, argnames = impl.function, impl.argnames

    def call(**kwargs: Any) -> list[Any]:
        result = function(*[kwargs[name] for name in argnames])
        return [] if result is None else [result]

    return call


def _switched_off_caller(function: Callable[..., Any]) -> Describe:
    """A switched-off adapter's `qps_describe_event` (not registered), called like the others."""
    import inspect

    names = [n for n in inspect.signature(function).parameters if n in ("event", "settings")]

    def call(**kwargs: Any) -> list[Any]:
        result = function(**{name: kwargs[name] for name in names})
        return [] if result is None else [result]

    return call


def _impl_priority(impl: pluggy.HookImpl) -> str:
    return "first" if impl.tryfirst else "last" if impl.trylast else "normal"


def _priority(manager: pluggy.PluginManager, name: str) -> str:
    for impl in manager.hook.qps_describe_event.get_hookimpls():
        if impl.plugin_name == name:
            return _impl_priority(impl)
    return "none"


def _entry_points() -> list[EntryPoint]:
    eps = entry_points(group=ENTRY_POINT_GROUP)
    return sorted(eps, key=lambda ep: (ep.name, ep.dist.name if ep.dist else ""))


def _describe(module: ModuleType | None, ep: EntryPoint) -> str:
    doc = (module.__doc__ or "").strip() if module is not None else ""
    if doc:
        return doc.splitlines()[0].strip()
    return (ep.dist.metadata["Summary"] or "") if ep.dist else ""


def _label(info: AdapterInfo, module: ModuleType) -> None:
    """The adapter's own words for people: `LABEL` and `SWITCH_DESCRIPTION` (optional strings)."""
    label = getattr(module, "LABEL", None)
    does = getattr(module, "SWITCH_DESCRIPTION", None)
    if isinstance(label, str) and label.strip():
        info.label = label.strip()
    if isinstance(does, str) and does.strip():
        info.switch_description = does.strip()


def new_adapter_set(settings: Settings) -> AdapterSet:
    """An adapter set with the QPS hook specification and no adapter yet (see `AdapterSet.register`)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return AdapterSet(settings, manager)


def load_adapters(settings: Settings, *, load_disabled: bool = False) -> AdapterSet:
    """Discover every adapter; load and start the enabled ones (all of them with `load_disabled`).

    A duplicate id, an import error or a failing `qps_startup` marks that adapter with a one-line
    error and leaves the others working.
    """
    adapters = new_adapter_set(settings)
    chosen: list[EntryPoint] = []
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist else "(unknown)"
        if ep.name in adapters.infos:
            first = adapters.infos[ep.name].distribution
            log.warning("adapter id %r is provided by both %s and %s; using %s", ep.name, first, dist, first)
            continue
        version = ep.dist.version if ep.dist else ""
        adapters.infos[ep.name] = AdapterInfo(
            ep.name, dist, version, "", settings.adapter_enabled(ep.name), module=ep.value
        )
        chosen.append(ep)
    named = set(settings.enable_adapters) | set(settings.disable_adapters) | set(settings.adapter_order)
    for unknown in sorted(named - set(adapters.infos)):
        log.warning("setting names adapter %r, which is not installed", unknown)
    for ep in chosen:
        info = adapters.infos[ep.name]
        switched_off = settings.switched_off(ep.name)  # loaded to name it when it would claim an event
        if not (info.enabled or load_disabled or switched_off):
            info.description = (ep.dist.metadata["Summary"] or "") if ep.dist else ""
            continue
        try:
            module = ep.load()
        except Exception as exc:
            info.error = f"cannot be imported: {describe_exception(exc)}"
            info.description = _describe(None, ep)
            log.warning("adapter %r %s", ep.name, info.error)
            continue
        info.description = _describe(module, ep)
        _label(info, module)
        if info.enabled:
            _register_checked(adapters, module, info)
        else:
            info.loaded = True
            if switched_off and hasattr(module, "qps_describe_event"):
                adapters.switched_off[ep.name] = _switched_off_caller(module.qps_describe_event)
    adapters.implementations()  # the consultation order, worked out once, here
    return adapters


def _register_checked(adapters: AdapterSet, module: ModuleType, info: AdapterInfo) -> None:
    try:
        adapters._register(module, info)
    except (ValueError, pluggy.PluginValidationError) as exc:
        reason = one_line(exc) if isinstance(exc, pluggy.PluginValidationError) else describe_exception(exc)
        info.error = f"is not a valid adapter: {reason}"
        log.warning("adapter %r %s", info.id, info.error)
