"""quilt3 as the packaging code imports it: quiet environment defaults, and without its admin and
API-key (GraphQL) modules until something uses them.

`prepare()` runs once, when `qps_core.packaging` is first imported (so before any of its modules
imports quilt3): it sets `QUILT_DISABLE_USAGE_METRICS` and `QUILT_MINIMIZE_STDOUT` unless they are
set, and installs the deferral below. Nothing outside `qps_core.packaging` imports quilt3.

`import quilt3` imports `quilt3.admin` and `quilt3.api_keys`, and with them a generated GraphQL
client: ~170 ms of a cold start (docs/design.md §6) that packaging never uses. `defer()` installs a
`sys.meta_path` hook that, when quilt3 is first imported (and only then: nothing named quilt3
appears in `sys.modules` before), puts a placeholder module for each into `sys.modules`: quilt3
binds the placeholders, and the first attribute looked up on one imports the real module in its
place. It does nothing if quilt3 is already imported.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import types
from typing import Any

DEFERRED = ("quilt3.admin", "quilt3.api_keys")
_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute it does not have is looked up."""

    def __getattr__(self, attr: str) -> Any:
        with _LOCK:
            real = sys.modules.get(self.__name__)
            if real is None or real is self:
                sys.modules.pop(self.__name__, None)
                real = importlib.import_module(self.__name__)
                parent, _, child = self.__name__.rpartition(".")
                setattr(sys.modules[parent], child, real)
            self.__dict__.update(real.__dict__)  # references to the placeholder work from now on
        return getattr(real, attr)


class _BeforeQuilt3:
    """A meta-path finder that finds nothing: it only sees quilt3's first import go by."""

    @staticmethod
    def find_spec(fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == "quilt3":
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(_HOOK)
            for name in DEFERRED:
                sys.modules.setdefault(name, _Deferred(name))


_HOOK = _BeforeQuilt3()


def defer() -> None:
    if "quilt3" in sys.modules or _HOOK in sys.meta_path:
        return
    sys.meta_path.insert(0, _HOOK)


QUIET_DEFAULTS = {"QUILT_DISABLE_USAGE_METRICS": "true", "QUILT_MINIMIZE_STDOUT": "true"}


def prepare() -> None:
    """quilt3's quiet defaults (unless set) and the deferral of its admin modules."""
    for name, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(name, value)
    defer()
