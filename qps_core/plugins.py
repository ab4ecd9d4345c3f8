"""Adapter discovery: entry points in the `qps.adapters` group, enabled and disabled by id."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import IgnoredEvent, InvalidInput, describe_exception
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


@dataclass
class AdapterSet:
    """A plugin manager plus what was found, in the order adapters are consulted."""

    settings: Settings
    manager: pluggy.PluginManager
    infos: dict[str, AdapterInfo] = field(default_factory=dict)
    switched_off: dict[str, Any] = field(default_factory=dict)  # id -> describe, for adapters switched off

    def switched_off_claimant(self, event: Any) -> str | None:
        """The switched-off adapter that would have claimed this event (so the event can be ignored
        with that reason rather than as nobody's), or None."""
        for adapter_id, describe in sorted(self.switched_off.items()):
            try:
                if describe(event=event, settings=self.settings) is not None:
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
        rank = {"first": 0, "normal": 1, "last": 2}
        impls = self.manager.hook.qps_describe_event.get_hookimpls()
        by_priority = sorted(
            (rank["first" if i.tryfirst else "last" if i.trylast else "normal"], i.plugin_name) for i in impls
        )
        ids = [name for _, name in by_priority]
        preferred = [i for i in self.settings.adapter_order if i in ids]
        return preferred + [i for i in ids if i not in preferred]

    def implementations(self) -> list[tuple[str, Any]]:
        """(adapter id, describe function) pairs in consultation order."""
        by_name = {impl.plugin_name: impl.function for impl in self.manager.hook.qps_describe_event.get_hookimpls()}
        return [(name, by_name[name]) for name in self.order]

    def errors(self) -> list[str]:
        return [f"adapter {i.id!r}: {i.error}" for i in self.infos.values() if i.error and i.enabled]

    def register(self, plugin: object, adapter_id: str, *, description: str = "", distribution: str = "") -> None:
        """Register an adapter object directly (tests, embedding); it is started like any other."""
        enabled = self.settings.adapter_enabled(adapter_id)
        info = AdapterInfo(adapter_id, distribution or "(registered)", "", description, enabled)
        self.infos[adapter_id] = info
        if enabled:
            self._register(plugin, info)
        elif self.settings.switched_off(adapter_id) and hasattr(plugin, "qps_describe_event"):
            self.switched_off[adapter_id] = plugin.qps_describe_event

    def _register(self, plugin: object, info: AdapterInfo) -> None:
        self.manager.register(plugin, name=info.id)
        info.priority = _priority(self.manager, info.id)
        try:
            startup = getattr(plugin, "qps_startup", None)
            if startup is not None:
                startup(settings=self.settings)
        except Exception as exc:  # an adapter's failure never takes the others down
            self.manager.unregister(name=info.id)
            info.error = describe_exception(exc)
            log.warning("adapter %r disabled: %s", info.id, info.error)
            return
        info.loaded = True


def _priority(manager: pluggy.PluginManager, name: str) -> str:
    for impl in manager.hook.qps_describe_event.get_hookimpls():
        if impl.plugin_name == name:
            return "first" if impl.tryfirst else "last" if impl.trylast else "normal"
    return "none"


def _entry_points() -> list[EntryPoint]:
    eps = entry_points(group=ENTRY_POINT_GROUP)
    return sorted(eps, key=lambda ep: (ep.name, ep.dist.name if ep.dist else ""))


def _describe(module: ModuleType | None, ep: EntryPoint) -> str:
    doc = (module.__doc__ or "").strip() if module is not None else ""
    if doc:
        return doc.splitlines()[0].strip()
    return (ep.dist.metadata["Summary"] or "") if ep.dist else ""


def load_adapters(settings: Settings, *, load_disabled: bool = False) -> AdapterSet:
    """Discover every adapter; load and start the enabled ones (all of them with `load_disabled`).

    A duplicate id, an import error or a failing `qps_startup` marks that adapter with a one-line
    error and leaves the others working.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    adapters = AdapterSet(settings, manager)
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
        if info.enabled:
            _register_checked(adapters, module, info)
        else:
            info.loaded = True
            if switched_off and hasattr(module, "qps_describe_event"):
                adapters.switched_off[ep.name] = module.qps_describe_event
    return adapters


def _register_checked(adapters: AdapterSet, module: ModuleType, info: AdapterInfo) -> None:
    try:
        adapters._register(module, info)
    except (ValueError, pluggy.PluginValidationError) as exc:
        info.error = f"is not a valid adapter: {describe_exception(exc)}"
        log.warning("adapter %r %s", info.id, info.error)
