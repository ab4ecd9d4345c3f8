"""Live pick-up of stored settings: long-running processes (a warm Lambda, `qps worker`, `qps serve`)
re-read the store's version at most every `settings_refresh_seconds` and rebuild their runner when
it changed. No redeploy, no restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import describe_exception
from ..settings import SettingsStore, load_settings, open_store
from ..settings.effective import overlay

log = logging.getLogger("qps.settings")


class CurrentRunner:
    """Holds the runner for the current stored settings; `current()` is what each event or request asks for."""

    def __init__(
        self,
        config_file: str | Path | None = None,
        *,
        store: SettingsStore | None = None,
        build: Callable[[Any], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        base: Any = None,
        runner: Any = None,
        **overrides: Any,
    ) -> None:
        """`base`: settings built without the store (the API's context); stored values are laid
        over them. `runner`: the runner already built from `base` (kept while nothing is stored)."""
        if build is None:
            from ..runner import Runner

            build = Runner
        self._config_file = config_file
        self._overrides = overrides
        self._build = build
        self._clock = clock
        self.base = base
        self._lock = threading.Lock()
        self.store = store or open_store(base if base is not None else load_settings(config_file, **overrides))
        stored = self.store.read()
        self.version = stored.version
        if runner is not None and stored.version == 0:
            self.runner = runner
        else:
            self.runner = build(self._settings(stored.values))
        self._checked = clock()

    @classmethod
    def following(cls, settings: Any, runner: Any) -> CurrentRunner:
        """Follow the store that `settings` name, over `settings` (built without it), starting from
        `runner` (already built from them)."""
        return cls(base=settings, runner=runner)

    def _settings(self, stored: dict[str, Any]) -> Any:
        if self.base is not None:
            return overlay(self.base, stored)
        return load_settings(self._config_file, stored=stored, **self._overrides)

    def force(self) -> Any:
        """Re-read now (after this process wrote the store)."""
        with self._lock:
            self._checked = float("-inf")
        return self.current()

    def current(self) -> Any:
        """The runner for the next event: rebuilt when the stored settings changed since the last check."""
        with self._lock:
            interval = self.runner.settings.settings_refresh_seconds
            if self._clock() - self._checked < interval:
                return self.runner
            self._checked = self._clock()
            try:
                version = self.store.version()
                if version == self.version:
                    return self.runner
                stored = self.store.read()
                self.runner = self._build(self._settings(stored.values))
            except Exception as exc:  # keep working with what we have; the next check tries again
                log.warning("could not refresh the stored settings: %s", describe_exception(exc))
                return self.runner
            log.info("stored settings changed (version %d -> %d): reloaded", self.version, stored.version)
            self.version = stored.version
            return self.runner
